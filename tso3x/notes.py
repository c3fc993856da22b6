"""Messages about each segment of an exposure, logged once for all of them.

A step that looks at every segment in turn (its headers, its aperture, its centroid) would otherwise log
the same line once per segment. Inside :func:`gathered`, the messages given to :func:`note` (or
:func:`warning`, :func:`info`, :func:`debug`) while :func:`segment` names the segment in hand are held, and
logged when the gathering ends (also when it ends with an exception):

- a message every segment gave alike, once: ``spectral_order is None; using 1``;
- one that only some segments gave, once with their names: ``The photom step has not been run. (seg002)``;
- one whose single value differs between segments, as one line listing each value with its segments:
  ``Using median centroid x,y = 32.59,30.58 (seg001, seg003); 32.58,30.58 (seg002)``.

Gatherings nest: an inner one joins the outer, so a whole exposure (or several, one per detector) is said
once. A :func:`segment` outside a gathering is one of its own, whose messages end with the segment's file
name. Outside both (or in another thread: dask tasks) :func:`note` logs at once, as ``logging``.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

#: a %-conversion of a logging message (``%%`` is not one)
_CONVERSION = re.compile(r"%(?:%|[#0\- +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa])")
_SEGMENT = re.compile(r"-(seg\d+)(_[^_.]+)?")


@dataclass
class _Gathering:
    """The segments seen and the messages held, in order."""

    segments: list[str | None] = field(default_factory=list)  #: segment files (None: a segment without one)
    current: int | None = None  #: index of the segment in hand
    named: bool = False  #: name the segments even when every one gave a message (one segment on its own)
    #: (logger, level, message) → the message's text → its arguments and the segments that gave it
    held: dict[tuple[str, int, str], dict[str, tuple[tuple, list[int | None]]]] = field(default_factory=dict)

    def labels(self) -> list[str]:
        """Short names of the segments: ``seg001`` (``seg001_nrs1`` when several detectors), else the file name."""
        names = [Path(p).name if p is not None else f"segment {i + 1}" for i, p in enumerate(self.segments)]
        if self.named:
            return names
        found = [_SEGMENT.search(name) for name in names]
        if all(found):
            for short in ([m.group(1) for m in found], [m.group(1) + (m.group(2) or "") for m in found]):
                if len(set(short)) == len(short):
                    return short
        return names

    def names(self, where: list[int | None]) -> str:
        """``seg001, seg003`` or ``seg001 to seg004`` (runs of three or more consecutive segments)."""
        labels, indices = self.labels(), sorted({i for i in where if i is not None})
        runs: list[list[int]] = []
        for i in indices:
            if runs and runs[-1][-1] == i - 1:
                runs[-1].append(i)
            else:
                runs.append([i])
        parts = []
        for run in runs:
            if len(run) >= 3:
                parts.append(f"{labels[run[0]]} to {labels[run[-1]]}")
            else:
                parts.extend(labels[i] for i in run)
        return ", ".join(parts)

    def emit(self) -> None:
        every = set(range(len(self.segments)))
        for (name, level, msg), by_text in self.held.items():
            logger = logging.getLogger(name)
            conversions = [m.group(0) for m in _CONVERSION.finditer(msg) if m.group(0) != "%%"]
            variants = list(by_text.values())
            said_of_all = len(variants) == 1 and (None in variants[0][1] or set(variants[0][1]) >= every)
            if said_of_all and not self.named:
                logger.log(level, msg, *variants[0][0])
            elif len(variants) > 1 and len(conversions) == 1 and all(len(args) == 1 for args, _ in variants):
                values = "; ".join(f"{conversions[0] % args} ({self.names(where)})" for args, where in variants)
                logger.log(level, _CONVERSION.sub(lambda m: "%" if m.group(0) == "%%" else "%s", msg), values)
            else:
                for args, where in variants:
                    said_of = self.names(where)
                    if said_of:  # without arguments, logging leaves a message's % alone: so must the suffix
                        logger.log(level, (msg if args else msg.replace("%", "%%")) + " (%s)", *args, said_of)
                    else:
                        logger.log(level, msg, *args)


_active: ContextVar[_Gathering | None] = ContextVar("tso3x_notes", default=None)


@contextlib.contextmanager
def gathered() -> Iterator[None]:
    """Hold the notes given inside, and log each once when the block ends (see the module documentation)."""
    if _active.get() is not None:
        yield
        return
    gathering = _Gathering()
    token = _active.set(gathering)
    try:
        yield
    finally:
        _active.reset(token)
        gathering.emit()


@contextlib.contextmanager
def segment(path: str | Path | None) -> Iterator[None]:
    """The notes given inside are about the segment read from ``path`` (None: one without a file)."""
    gathering = _active.get()
    if gathering is None:  # a segment on its own: its messages name its file
        with gathered(), segment(path):
            _active.get().named = True
            yield
        return
    gathering.segments.append(None if path is None else str(path))
    previous, gathering.current = gathering.current, len(gathering.segments) - 1
    try:
        yield
    finally:
        gathering.current = previous


def note(logger: logging.Logger, level: int, msg: str, *args) -> None:
    """Log ``msg % args`` on ``logger``: at once, or when the enclosing :func:`gathered` ends."""
    gathering = _active.get()
    if gathering is None:
        logger.log(level, msg, *args)
    elif logger.isEnabledFor(level):
        try:
            text = msg % args if args else msg
        except (TypeError, ValueError):  # a bad message: let logging report it as it would
            logger.log(level, msg, *args)
            return
        held = gathering.held.setdefault((logger.name, level, msg), {})
        held.setdefault(text, (args, []))[1].append(gathering.current)


def warning(logger: logging.Logger, msg: str, *args) -> None:
    """:func:`note` at warning level."""
    note(logger, logging.WARNING, msg, *args)


def info(logger: logging.Logger, msg: str, *args) -> None:
    """:func:`note` at info level."""
    note(logger, logging.INFO, msg, *args)


def debug(logger: logging.Logger, msg: str, *args) -> None:
    """:func:`note` at debug level."""
    note(logger, logging.DEBUG, msg, *args)
