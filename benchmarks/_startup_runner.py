"""Run ``tso3x`` (``tso3x.cli.main``) with timers around a few of its functions; write the timings as JSON.

Usage: python _startup_runner.py REPORT.json run ASN --output-dir OUT [tso3x options ...]

Nothing in tso3x is changed: the functions listed in :data:`PROBES` are wrapped (monkeypatched) when their
module is imported, in their module or class and wherever another tso3x module imported them by name, so
the wrappers run wherever the code runs, including the threads of the default in-process LocalCluster
worker. Times are seconds since the process started (its start time from ``/proc/self/stat`` via psutil).

tso3x's modules are being reshaped: when a function moves or is renamed, fix its row in :data:`PROBES`
(a probe that is not found is reported under ``"missing"``, it does not stop the run).
"""

from __future__ import annotations

import time

T_RUNNER = time.time()  # first statement: the interpreter's start-up ends here

import functools  # noqa: E402
import importlib.abc  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

import psutil  # noqa: E402

#: (module, function or Class.method, event key, kind). Kinds: "call" (timed call), "context" (a
#: contextmanager: its ``__enter__`` and ``__exit__`` are timed), "chunk" (a chunk-level kernel task run by
#: the dask workers: the first such call outside the main thread is the first chunk task), "read" (a chunk
#: read, timed like "chunk" but not counted as a kernel).
PROBES = [
    ("tso3x.pipeline", "run", "run", "call"),
    ("tso3x.io.asn", "open_asn", "open_asn", "call"),
    ("tso3x.io.calints", "open_exposures", "open_exposures", "call"),
    ("tso3x.modes", "mode_for", "input_checks", "call"),
    ("tso3x.pipeline", "_ledger", "manifest", "call"),
    ("tso3x.execution", "cluster", "cluster", "context"),
    ("tso3x.steps.outliers", "detect_outliers", "detect_outliers", "call"),
    ("tso3x.steps.outliers", "_any_good_pixel", "any_good_pixel", "call"),
    ("tso3x.io.crfints", "plan_crfints", "crfints_templates", "call"),
    ("tso3x.modes.spectroscopy", "Spectroscopy.write", "stage3_write", "call"),
    ("tso3x.modes.imaging", "Imaging.write", "stage3_write", "call"),
    ("tso3x.steps.extract", "extract_1d", "extract_graph", "call"),
    ("tso3x.io.x1dints", "allocate", "x1dints_template", "call"),
    ("tso3x.execution", "compute_each", "submit", "call"),
    ("tso3x.io.fitsfile", "ImageSource.read_planes", "read_planes", "read"),
    ("tso3x.steps.outliers", "_median_chunk", "rolling_median_chunk", "chunk"),
    ("tso3x.kernels.outliers", "flag_outliers_dq", "flag_outliers_dq", "chunk"),
    ("tso3x.io.crfints", "_write_chunk", "crfints_write_chunk", "chunk"),
    ("tso3x.steps.extract", "_extract_chunk", "extract_chunk", "chunk"),
    ("tso3x.steps.photometry", "photometry", "photometry_graph", "call"),
]

_lock = threading.Lock()
_events: dict[str, dict] = {}
_main = threading.main_thread()
_missing: list[str] = []


def _record(key: str, start: float, end: float) -> None:
    in_main = threading.current_thread() is _main
    with _lock:
        e = _events.setdefault(key, {"calls": 0, "total_s": 0.0, "main_calls": 0, "main_s": 0.0})
        e["calls"] += 1
        e["total_s"] += end - start
        e.setdefault("first_start", start)
        e.setdefault("first_end", end)
        e["last_end"] = max(e.get("last_end", end), end)
        if in_main:
            e["main_calls"] += 1
            e["main_s"] += end - start
        else:
            e["first_worker_start"] = min(e.get("first_worker_start", start), start)


class _TimedContext:
    def __init__(self, key, cm):
        self.key, self.cm = key, cm

    def __enter__(self):
        start = time.time()
        try:
            return self.cm.__enter__()
        finally:
            _record(self.key + ".enter", start, time.time())

    def __exit__(self, *exc):
        start = time.time()
        try:
            return self.cm.__exit__(*exc)
        finally:
            _record(self.key + ".exit", start, time.time())


def _wrap(fn, key: str, kind: str):
    if kind == "context":

        @functools.wraps(fn)
        def opener(*args, **kwargs):
            return _TimedContext(key, fn(*args, **kwargs))

        return opener

    @functools.wraps(fn)
    def timed(*args, **kwargs):
        start = time.time()
        try:
            return fn(*args, **kwargs)
        finally:
            _record(key, start, time.time())

    return timed


def _patch_module(name: str) -> None:
    """Wrap the probes defined in module ``name`` (just imported), there and in the tso3x modules loaded."""
    module = sys.modules[name]
    for mod, qualname, key, kind in PROBES:
        if mod != name:
            continue
        owner, attr = module, qualname
        if "." in qualname:
            cls_name, attr = qualname.split(".", 1)
            owner = getattr(module, cls_name, None)
        original = getattr(owner, attr, None) if owner is not None else None
        if original is None:
            _missing.append(f"{mod}.{qualname}")
            continue
        if getattr(original, "_startup_probe", False):
            continue
        wrapper = _wrap(original, key, kind)
        wrapper._startup_probe = True
        setattr(owner, attr, wrapper)
        if owner is module:  # names imported with ``from module import fn`` by modules loaded already
            for other_name, other in list(sys.modules.items()):
                if other_name.startswith("tso3x") and other is not module:
                    for var, value in list(vars(other).items()):
                        if value is original:
                            setattr(other, var, wrapper)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches a probed module as soon as it is executed (so lazily imported modules are timed too, without
    importing them earlier than tso3x does)."""

    def __init__(self, names: set[str]):
        self.names = names

    def find_spec(self, fullname, path, target=None):
        if fullname not in self.names:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _patch_module(fullname)

        spec.loader.exec_module = exec_and_patch
        return spec


def main() -> int:
    report, argv = sys.argv[1], sys.argv[2:]
    created = psutil.Process().create_time()
    probed = {mod for mod, *_ in PROBES}
    sys.meta_path.insert(0, _PatchOnImport(probed))
    t_import = time.time()
    import tso3x.cli

    t_imported = time.time()
    for name in sorted(probed):
        if name in sys.modules:
            _patch_module(name)
    status = None
    try:
        status = tso3x.cli.main(argv)
    finally:
        t_end = time.time()
        rel = {
            k: {
                f: (v - created if f in ("first_start", "first_end", "last_end", "first_worker_start") else v)
                for f, v in e.items()
            }
            for k, e in _events.items()
        }
        out = {
            "runner_start": T_RUNNER - created,
            "import_start": t_import - created,
            "imported": t_imported - created,
            "main_returned": t_end - created,
            "status": status,
            "missing": sorted(set(_missing)),
            "chunk_keys": sorted({key for *_, key, kind in PROBES if kind == "chunk"}),
            "read_keys": sorted({key for *_, key, kind in PROBES if kind == "read"}),
            "events": rel,
        }
        with open(report, "w") as f:
            json.dump(out, f, indent=1)
    return status


if __name__ == "__main__":
    sys.exit(main())
