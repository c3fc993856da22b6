"""tso3x.notes: a message about every segment is logged once; segments are named where it matters."""

from __future__ import annotations

import logging

import pytest

from tso3x import notes

log = logging.getLogger("tso3x.test_notes")
SEGMENTS = [f"/data/jw01234001001_04101_00001-seg00{i}_nrs1_calints.fits" for i in (1, 2, 3, 4)]


def _messages(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == log.name]


def _per_segment(say, paths=SEGMENTS) -> None:
    with notes.gathered():
        for k, path in enumerate(paths):
            with notes.segment(path):
                say(k)


@pytest.fixture(autouse=True)
def _info(caplog):
    caplog.set_level(logging.DEBUG, logger=log.name)


def test_a_message_every_segment_gives_is_logged_once_without_names(caplog):
    _per_segment(lambda k: notes.warning(log, "spectral_order is None; using %d", 1))
    assert _messages(caplog) == ["spectral_order is None; using 1"]
    assert caplog.records[-1].levelno == logging.WARNING


def test_a_message_some_segments_give_names_them(caplog):
    _per_segment(lambda k: notes.warning(log, "The photom step has not been run.") if k in (1, 3) else None)
    assert _messages(caplog) == ["The photom step has not been run. (seg002, seg004)"]


def test_runs_of_segments_are_ranges(caplog):
    paths = [f"x-seg{i:03d}_nis_calints.fits" for i in range(1, 8)]
    _per_segment(lambda k: notes.info(log, "odd") if k != 3 else None, paths)
    assert _messages(caplog) == ["odd (seg001 to seg003, seg005 to seg007)"]


def test_a_value_that_differs_is_listed_on_one_line(caplog):
    values = ["32.59,30.59", "32.58,30.58", "32.59,30.59", "32.59,30.59"]
    _per_segment(lambda k: notes.info(log, "Using median centroid x,y = %s", values[k]))
    assert _messages(caplog) == [
        "Using median centroid x,y = 32.59,30.59 (seg001, seg003, seg004); 32.58,30.58 (seg002)"
    ]


def test_a_numeric_value_keeps_its_format(caplog):
    _per_segment(lambda k: notes.warning(log, "%d integrations without a centroid", k + 1))
    assert _messages(caplog) == ["1 (seg001); 2 (seg002); 3 (seg003); 4 (seg004) integrations without a centroid"]


def test_several_values_that_differ_give_a_line_each(caplog):
    _per_segment(lambda k: notes.info(log, "x %d y %d", k // 2, 0))
    assert _messages(caplog) == ["x 0 y 0 (seg001, seg002)", "x 1 y 0 (seg003, seg004)"]


def test_detectors_are_named_when_segment_numbers_repeat(caplog):
    paths = [SEGMENTS[0], SEGMENTS[0].replace("nrs1", "nrs2")]
    _per_segment(lambda k: notes.info(log, "only %s", "here") if k else None, paths)
    assert _messages(caplog) == ["only here (seg001_nrs2)"]


def test_nested_gatherings_join_the_outer_one(caplog):
    with notes.gathered():
        _per_segment(lambda k: notes.info(log, "same"), SEGMENTS[:2])
        _per_segment(lambda k: notes.info(log, "same"), SEGMENTS[2:])
        assert _messages(caplog) == []
    assert _messages(caplog) == ["same"]


def test_held_messages_are_logged_when_the_gathering_fails(caplog):
    with pytest.raises(ValueError), notes.gathered():
        for path in SEGMENTS[:2]:
            with notes.segment(path):
                notes.warning(log, "spectral_order is None; using 1")
        raise ValueError("a later segment is bad")
    assert _messages(caplog) == ["spectral_order is None; using 1"]


def test_a_segment_on_its_own_is_named_by_its_file(caplog):
    with notes.segment(SEGMENTS[1]):
        notes.warning(log, "VAR_FLAT shape differs from SCI")
    assert _messages(caplog) == [f"VAR_FLAT shape differs from SCI ({SEGMENTS[1].rsplit('/', 1)[1]})"]


def test_outside_a_gathering_a_note_is_logged_at_once(caplog):
    notes.info(log, "now %s", "please")
    assert _messages(caplog) == ["now please"]


def test_a_percent_sign_without_arguments_survives_naming(caplog):
    _per_segment(lambda k: notes.info(log, "100% odd") if k == 0 else None)
    assert _messages(caplog) == ["100% odd (seg001)"]
