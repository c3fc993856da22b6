"""The terminal layer of the ``tso3x`` command: log lines, progress and the end-of-run summary on stderr.

One :class:`Console` owns stderr. Log records reach it through :class:`ConsoleHandler` as ``level: message``
lines (``-v``: time, level and logger name too). A progress bar (:mod:`tso3x.execution` draws one with
:meth:`Console.draw_bar` while a phase runs on a terminal) is cleared before a log line is written and redrawn
after it, so the two never share a line; when stderr is not a terminal no bar is drawn at all (the phases
report plain log lines instead).

:func:`cli_logging` installs all of this for the command's duration only: the library (``import tso3x``)
adds no handler of its own and logs through plain :mod:`logging`, so a program using it configures its
logging as it likes (without any configuration, Python shows warnings and errors only).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shlex
import shutil
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

from .product_names import CRFINTS_SUFFIX

#: Third-party loggers that write to stderr on their own (distributed configures its handlers on import,
#: astropy at import): under the command they go through the console instead.
OWN_HANDLER_LOGGERS = ("distributed", "bokeh", "tornado", "astropy")
_CLEAR_LINE = "\r\x1b[K"


class Console:
    """The stream (stderr) of one command: whole log lines and at most one progress bar, never on one line.

    Parameters
    ----------
    stream : text stream, optional
        Where to write; default ``sys.stderr`` as it is at each write (so redirections made later count).
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._bar: str | None = None
        self._lock = threading.RLock()

    @property
    def stream(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    def is_terminal(self) -> bool:
        """Whether the stream is a terminal (only then is a bar drawn)."""
        try:
            return self.stream.isatty()
        except (AttributeError, ValueError):
            return False

    def width(self) -> int:
        """Columns a bar may use: one less than the terminal's, so it never wraps (``\\r`` returns one row)."""
        return max(20, shutil.get_terminal_size((80, 24)).columns - 1)

    def write_line(self, text: str) -> None:
        """Write one line (or several); a bar being drawn is cleared first and redrawn below it."""
        with self._lock:
            stream = self.stream
            if self._bar is not None:
                stream.write(_CLEAR_LINE)
            stream.write(text + "\n")
            if self._bar is not None:
                stream.write(self._bar)
            stream.flush()

    def draw_bar(self, text: str) -> None:
        """Draw (or redraw) the bar line; only on a terminal, where it is cut to the terminal's width."""
        if not self.is_terminal():
            return
        with self._lock:
            self._bar = text[: self.width()]
            self.stream.write(_CLEAR_LINE + self._bar)
            self.stream.flush()

    def clear_bar(self) -> None:
        """Remove the bar (its line is left empty for what follows)."""
        with self._lock:
            if self._bar is not None:
                self.stream.write(_CLEAR_LINE)
                self.stream.flush()
                self._bar = None


_installed: Console | None = None


def current() -> Console:
    """The console :func:`cli_logging` installed, or one on ``sys.stderr`` (the library's progress bars)."""
    return _installed if _installed is not None else Console()


def bar_text(label: str, done: int, total: int, seconds: float, width: int = 30) -> str:
    """``label [#####-----] done/total  12.3 s``."""
    filled = width * done // max(total, 1)
    return f"{label:<22} [{'#' * filled}{'-' * (width - filled)}] {done}/{total} {seconds:6.1f} s"


class ConsoleFormatter(logging.Formatter):
    """``level: message``; verbose: ``HH:MM:SS.mmm level: logger: message``."""

    def __init__(self, verbose: bool = False) -> None:
        if verbose:
            super().__init__("%(asctime)s.%(msecs)03d %(levelname)s: %(name)s: %(message)s", datefmt="%H:%M:%S")
        else:
            super().__init__("%(levelname)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        record = logging.makeLogRecord(record.__dict__)  # other handlers see the record unchanged
        record.levelname = record.levelname.lower()
        return super().format(record).rstrip("\n")  # a Python warning ends with one


class OnceFilter(logging.Filter):
    """Lets each distinct message through once: Python warnings repeat whenever a library resets the warning
    registry (every ``warnings.catch_warnings`` does), and dask tasks repeat them per chunk."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        with self._lock:
            if text in self._seen:
                return False
            self._seen.add(text)
        return True


class ConsoleHandler(logging.StreamHandler):
    """Writes records to a :class:`Console`, so they never run into its progress bar.

    A :class:`logging.StreamHandler` (on the console's stream) so that what adjusts the stream handlers of a
    logger adjusts this one too (distributed's ``silence_logs`` sets their level while a LocalCluster runs).
    """

    def __init__(self, console: Console, level: int = logging.NOTSET) -> None:
        logging.Handler.__init__(self, level)
        self.console = console

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return self.console.stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.write_line(self.format(record))
        except Exception:  # noqa: BLE001 - logging must not raise; Handler.handleError reports it
            self.handleError(record)


def _prints(handler: logging.Handler) -> bool:
    """Whether a handler writes to a stream of its own (not a file, not a console handler)."""
    plain = not isinstance(handler, logging.FileHandler | ConsoleHandler)
    return plain and isinstance(handler, logging.StreamHandler)


def _reroute(
    names: Sequence[str], make: Callable[[int], logging.Handler]
) -> list[tuple[logging.Logger, list[logging.Handler], bool]]:
    """Replace the stderr handlers of loggers that print on their own (``names`` and their children) by
    console handlers (``make(level)``) of the same level; returns what to restore."""
    saved = []
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.split(".")[0] not in names or not isinstance(logger, logging.Logger):
            continue
        own = [h for h in logger.handlers if _prints(h)]
        if own:
            saved.append((logger, list(logger.handlers), logger.propagate))
            for handler in own:
                logger.removeHandler(handler)
                logger.addHandler(make(handler.level))
            logger.propagate = False  # astropy's logger has a handler and propagates: print its records once
    return saved


def levels(quiet: bool, verbose: bool) -> tuple[int, int]:
    """(tso3x's level, every other logger's level): errors only, tso3x's info, or tso3x's debug."""
    if quiet:
        return logging.ERROR, logging.ERROR
    if verbose:
        return logging.DEBUG, logging.INFO
    return logging.INFO, logging.WARNING


@contextlib.contextmanager
def cli_logging(quiet: bool = False, verbose: bool = False, stream: TextIO | None = None) -> Iterator[Console]:
    """Send every log record to one :class:`Console` for the duration of a command; restore logging after.

    Parameters
    ----------
    quiet : bool
        Errors only.
    verbose : bool
        tso3x's debug messages (other libraries' info), with times and logger names.
    stream : text stream, optional
        Default ``sys.stderr``.
    """
    global _installed
    console = Console(stream)
    formatter = ConsoleFormatter(verbose)

    def handler(level: int = logging.NOTSET) -> ConsoleHandler:
        made = ConsoleHandler(console, max(level, logging.ERROR) if quiet else level)
        made.setFormatter(formatter)
        return made

    ours, others = levels(quiet, verbose)
    root, main = logging.getLogger(), handler()
    set_levels = {"": others, "tso3x": ours}
    if not verbose:  # the LocalCluster's start/stop chatter is not the user's business
        set_levels.update({name: max(logging.getLogger(name).level, logging.WARNING) for name in OWN_HANDLER_LOGGERS})
    saved_levels = {name: logging.getLogger(name).level for name in set_levels}
    saved_handlers = _reroute(OWN_HANDLER_LOGGERS, handler)
    root.addHandler(main)
    for name, level in set_levels.items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(True)
    python_warnings, once = logging.getLogger("py.warnings"), OnceFilter()
    python_warnings.addFilter(once)
    previous, _installed = _installed, console
    try:
        yield console
    finally:
        console.clear_bar()
        _installed = previous
        logging.captureWarnings(False)
        python_warnings.removeFilter(once)
        root.removeHandler(main)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
        for logger, handlers, propagate in saved_handlers:
            logger.handlers[:] = handlers
            logger.propagate = propagate


def human_size(nbytes: int) -> str:
    """``512 B``, ``1.50 kB``, ``12.3 MB``, ``280 GB`` (decimal units, about three significant digits)."""
    size = float(nbytes)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            break
        size /= 1000
    if unit == "B":
        return f"{int(size)} B"
    digits = 0 if size >= 100 else 1 if size >= 10 else 2
    return f"{size:.{digits}f} {unit}"


def path_size(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (a zarr store)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def run_manifest(output_dir: Path, products: Sequence[Path]) -> Path | None:
    """The manifest of the run that just wrote ``products`` into ``output_dir``: the newest manifest there
    listing all of them (a folder is locked by one run at a time)."""
    names = {p.name for p in products if p.parent == output_dir}
    found = sorted(output_dir.glob("*_manifest.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for path in found:
        try:
            listed = json.loads(path.read_text()).get("products", {})
        except (OSError, ValueError, AttributeError):
            continue
        if names <= set(listed):
            return path
    return None


def outlier_totals(manifest: Path | None) -> tuple[int, int] | None:
    """(pixels flagged, pixels examined) over the exposure, from the manifest's crfints; None if unrecorded."""
    if manifest is None:
        return None
    try:
        products = json.loads(manifest.read_text()).get("products", {})
    except (OSError, ValueError, AttributeError):
        return None
    crfints = [entry for name, entry in products.items() if name.endswith(CRFINTS_SUFFIX)]
    if not crfints or not all(isinstance(entry.get("outliers"), dict) for entry in crfints):
        return None
    return sum(int(e["outliers"]["flagged"]) for e in crfints), sum(int(e["outliers"]["pixels"]) for e in crfints)


def summary(products: Sequence[Path], output_dir: str | Path, seconds: float) -> list[str]:
    """The lines closing ``tso3x run`` and ``demo``: the products with their sizes (and the manifest), the
    plots (``demo`` draws them), the outliers flagged, the wall time, and what to do next."""
    out = Path(output_dir)
    plots = [p for p in products if p.suffix == ".png"]
    products = [p for p in products if p.suffix != ".png"]
    manifest = run_manifest(out, products)
    listed = [*products, *([manifest] if manifest is not None else [])]
    lines = [f"done in {seconds:.1f} s: {len(listed)} files in {out}"]
    shown = [(p.name if p.parent == out else str(p), human_size(path_size(p))) for p in listed]
    width = max((len(name) for name, _ in shown), default=0)
    lines += [f"  {name:<{width}}  {size:>8}" for name, size in shown]
    if plots:
        folders = sorted({str(p.parent) for p in plots})
        lines.append(f"plots: {len(plots)} PNG files in {', '.join(folders)}")
    totals = outlier_totals(manifest)
    if totals is not None:
        flagged, pixels = totals
        lines.append(f"outliers: {flagged:,} of {pixels:,} pixels flagged ({100 * flagged / max(pixels, 1):.3g} %)")
    hints = [] if plots else [f"tso3x plot {shlex.quote(str(out))} --to {shlex.quote(str(out / 'plots'))}"]
    if any(not p.name.endswith(CRFINTS_SUFFIX) for p in products):  # open_products needs measurements (not SOSS)
        hints.append(f"in Python: tso3x.open_products({json.dumps(str(out))})")
    for k, hint in enumerate(hints):
        lines.append(("next: " if k == 0 else "  or  ") + hint)
    return lines
