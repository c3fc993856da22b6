"""tso3x.console: log lines and progress bars that never share a line; the end-of-run summary."""

from __future__ import annotations

import io
import json
import logging
import re

import dask
import pytest

from tso3x import console, execution


class FakeTerminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _lines_as_seen(text: str) -> list[str]:
    """What a terminal shows: ``\r`` returns to the line's start, ``ESC[K`` erases from there to its end."""
    shown, line, col = [], "", 0
    for piece in re.split(r"(\r|\x1b\[K|\n)", text):
        if piece == "\r":
            col = 0
        elif piece == "\x1b[K":
            line = line[:col]
        elif piece == "\n":
            shown.append(line)
            line, col = "", 0
        else:
            line = line[:col] + piece + line[col + len(piece) :]
            col += len(piece)
    return shown + ([line] if line else [])


def test_a_log_line_clears_the_bar_and_the_bar_comes_back_below_it():
    term = FakeTerminal()
    con = console.Console(term)
    con.draw_bar("phase [###---] 1/2")
    con.write_line("warning: something odd")
    con.draw_bar("phase [######] 2/2")
    con.clear_bar()
    text = term.getvalue()
    assert "1/2warning" not in text and "\r\x1b[Kwarning: something odd\n" in text
    assert _lines_as_seen(text) == ["warning: something odd"]


def test_no_bar_and_no_control_characters_when_not_a_terminal():
    plain = io.StringIO()
    con = console.Console(plain)
    con.draw_bar("phase [###---] 1/2")
    con.write_line("info: a line")
    con.clear_bar()
    assert plain.getvalue() == "info: a line\n"


def test_the_handler_writes_level_prefixed_lines_through_the_console(caplog):
    term = FakeTerminal()
    with console.cli_logging(stream=term) as con:
        con.draw_bar("phase [#-----] 1/6")
        logging.getLogger("tso3x.steps.test").warning("odd %s", "value")
        logging.getLogger("tso3x.steps.test").debug("not shown")
    text = term.getvalue()
    assert "\r\x1b[Kwarning: odd value\nphase [#-----] 1/6" in text
    assert "tso3x.steps" not in text and "not shown" not in text
    assert not re.search(r"\d\d:\d\d:\d\d", text)
    assert caplog.records[-1].levelname == "WARNING", "other handlers see the record unchanged"


def test_verbose_shows_debug_times_and_logger_names():
    plain = io.StringIO()
    with console.cli_logging(verbose=True, stream=plain):
        logging.getLogger("tso3x.steps.test").debug("details")
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} debug: tso3x\.steps\.test: details\n", plain.getvalue())


def test_quiet_shows_errors_only_and_logging_is_restored_after():
    plain = io.StringIO()
    root_handlers = list(logging.getLogger().handlers)
    with console.cli_logging(quiet=True, stream=plain):
        logging.getLogger("tso3x.x").warning("hidden")
        logging.getLogger("distributed.x").warning("hidden too")
        logging.getLogger("tso3x.x").error("shown")
    assert plain.getvalue() == "error: shown\n"
    assert logging.getLogger().handlers == root_handlers and console.current().stream is not plain


def test_a_python_warning_is_shown_once_as_a_warning_line():
    import warnings

    plain = io.StringIO()
    with console.cli_logging(stream=plain):
        for _ in range(3):
            with warnings.catch_warnings():  # resets the registry: Python would show it again
                warnings.simplefilter("default")
                warnings.warn("the default will change", FutureWarning, stacklevel=1)
    lines = plain.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("warning: ") and "FutureWarning: the default will change" in lines[0]


def test_distributed_records_go_through_the_console_once():
    import distributed  # noqa: F401 - gives the "distributed" logger its own stderr handler

    plain = io.StringIO()
    own = list(logging.getLogger("distributed").handlers)
    with console.cli_logging(stream=plain):
        logging.getLogger("distributed.worker").warning("lost a worker")
        logging.getLogger("distributed.worker").info("chatter")
    assert plain.getvalue() == "warning: lost a worker\n"
    assert logging.getLogger("distributed").handlers == own


@pytest.mark.parametrize("tty", [True, False])
def test_progress_of_a_phase(tty, caplog, monkeypatch):
    stream = FakeTerminal() if tty else io.StringIO()
    monkeypatch.setattr(execution.Progress, "first_report", 0.0)  # report at once where there is no bar
    with console.cli_logging(stream=stream), dask.config.set({"tso3x.progress": True}):
        progress = execution.Progress("phase", 4, tick=60)
        progress.update(2)
        logging.getLogger("tso3x.x").info("meanwhile")
        progress.update(4)
        progress.close()
    text = stream.getvalue()
    seen = _lines_as_seen(text)
    assert seen[-1].startswith("info: phase: 4 tasks in ")
    assert "info: meanwhile" in seen
    if tty:
        assert "[###############---------------] 2/4" in text
    else:
        assert "\r" not in text and "\x1b" not in text
        assert seen[0].startswith("info: phase: 2/4 tasks, ")


def test_quiet_progress_shows_nothing():
    stream = FakeTerminal()
    with console.cli_logging(stream=stream), dask.config.set({"tso3x.progress": False}):
        progress = execution.Progress("phase", 2, tick=60)
        progress.update(1)
        progress.close(completed=False)
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("nbytes", "text"), [(0, "0 B"), (999, "999 B"), (1500, "1.50 kB"), (12_345_678, "12.3 MB"), (2.8e11, "280 GB")]
)
def test_human_size(nbytes, text):
    assert console.human_size(int(nbytes)) == text


def test_summary_lists_products_manifest_outliers_and_next_steps(tmp_path):
    crf = tmp_path / "a_o001_crfints.fits"
    crf.write_bytes(b"x" * 2880)
    x1d = tmp_path / "p_x1dints.fits"
    x1d.write_bytes(b"x" * 5760)
    manifest = tmp_path / "p_manifest.json"
    entries = {crf.name: {"outliers": {"flagged": 25, "pixels": 10_000}}, x1d.name: {}}
    manifest.write_text(json.dumps({"products": entries}))
    lines = console.summary([crf, x1d], tmp_path, 12.34)
    assert lines[0] == f"done in 12.3 s: 3 files in {tmp_path}"
    assert [line.split() for line in lines[1:4]] == [
        [crf.name, "2.88", "kB"],
        [x1d.name, "5.76", "kB"],
        [manifest.name, str(manifest.stat().st_size), "B"],
    ]
    assert "outliers: 25 of 10,000 pixels flagged (0.25 %)" in lines
    assert lines[-2] == f"next: tso3x plot {tmp_path} --to {tmp_path / 'plots'}"
    assert lines[-1] == f'  or  in Python: tso3x.open_products("{tmp_path}")'


def test_crfints_only_can_be_plotted_not_opened(tmp_path):
    crf = tmp_path / "a_o001_crfints.fits"
    crf.write_bytes(b"x")
    lines = console.summary([crf], tmp_path, 1.0)
    assert lines[-1] == f"next: tso3x plot {tmp_path} --to {tmp_path / 'plots'}"


def test_plots_drawn_already_are_counted_not_suggested(tmp_path):
    x1d, png = tmp_path / "p_x1dints.fits", tmp_path / "plots" / "white_light.png"
    png.parent.mkdir()
    for path in (x1d, png):
        path.write_bytes(b"x")
    lines = console.summary([x1d, png], tmp_path, 1.0)
    assert f"plots: 1 PNG files in {png.parent}" in lines and not any("tso3x plot" in line for line in lines)
    assert lines[-1].startswith("next: in Python: tso3x.open_products(")


def test_no_outlier_line_when_a_crfints_has_no_count(tmp_path):
    manifest = tmp_path / "p_manifest.json"
    counted = {"outliers": {"flagged": 1, "pixels": 2}}
    manifest.write_text(json.dumps({"products": {"a_crfints.fits": counted, "b_crfints.fits": {}}}))
    assert console.outlier_totals(manifest) is None
