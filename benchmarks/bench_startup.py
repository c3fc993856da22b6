"""Start-up: ``tso3x --version``, ``import tso3x``, the whole command at 300 integrations, and where the time
goes from process start to the first chunk task. Every goal is measured in this one run.

1. ``tso3x --version`` and ``python -c "import tso3x"``: median of ``--repeat`` runs (goals < 0.5 s, < 1 s).
2. The whole command against jwst (goal >= 10x): NRS_BRIGHTOBJ 32x2048, 300 integrations in 3 segments,
   simulated in a scratch folder outside the repository, page cache warm; :mod:`bench_e2e` measures the
   I/O floor, jwst 3.0.0 calwebb_tso3 and ``tso3x run`` with the same reference files, and compares the
   products.
3. ``tso3x run`` again under ``_startup_runner.py``, which times a few tso3x functions from the outside
   (nothing in tso3x changes): the phases from process start to the first chunk task (median of
   ``--runs``), then the rest of the run.

Examples
--------
python benchmarks/bench_startup.py
python benchmarks/bench_startup.py --skip-jwst --runs 1          # quicker: no jwst run, one timed run
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _measure import measure
from bench_e2e import compare_commands, print_comparison, simulate_exposure, tso3x_options

HERE = Path(__file__).resolve().parent
GOALS = {"version": 0.5, "import": 1.0, "speedup": 10.0}


def median_wall(cmd: list[str], repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def tso3x_script() -> list[str]:
    """The ``tso3x`` console script of this interpreter's environment (``python -m tso3x`` without one)."""
    script = Path(sys.executable).with_name("tso3x")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tso3x"]


def _ev(report: dict, key: str, field: str = "first_start") -> float | None:
    event = report["events"].get(key)
    return None if event is None else event.get(field)


def phases(report: dict, wall: float) -> list[tuple[str, float | None]]:
    """(label, seconds) from process start to the first chunk task, then the rest; None when not measured."""
    ev = report["events"]
    chunk_starts = [ev[k]["first_worker_start"] for k in report["chunk_keys"] if "first_worker_start" in ev.get(k, {})]
    first_chunk = min(chunk_starts) if chunk_starts else None
    marks = [
        ("interpreter start-up (to the runner's first line)", 0.0, report["runner_start"]),
        ("runner overhead (psutil, import hook)", report["runner_start"], report["import_start"]),
        ("import tso3x.cli (tso3x, numpy, dask, xarray, astropy...)", report["import_start"], report["imported"]),
        ("CLI: parse, import distributed + pipeline", report["imported"], _ev(report, "run")),
        ("association + opening segments", _ev(report, "run"), _ev(report, "open_exposures", "last_end")),
        (
            "input checks / set-ups (WCS, reference files, manifest)",
            _ev(report, "open_exposures", "last_end"),
            _ev(report, "cluster.enter"),
        ),
        (
            "cluster start (LocalCluster + Client)",
            _ev(report, "cluster.enter"),
            _ev(report, "cluster.enter", "last_end"),
        ),
        (
            "graph building + product templates",
            _ev(report, "cluster.enter", "last_end"),
            _ev(report, "submit"),
        ),
        ("submission to the first chunk kernel task", _ev(report, "submit"), first_chunk),
    ]
    out = [(label, None if a is None or b is None else b - a) for label, a, b in marks]
    out.append(("= process start to the first chunk kernel task", first_chunk))
    out.append(("chunk tasks (first task to the results)", _diff(first_chunk, _ev(report, "cluster.exit"))))
    out.append(("cluster shutdown", _diff(_ev(report, "cluster.exit"), _ev(report, "cluster.exit", "last_end"))))
    out.append(("finishing + interpreter exit", _diff(_ev(report, "cluster.exit", "last_end"), wall)))
    out.append(("= whole command (wall, measured by the parent)", wall))
    return out


def _diff(a, b):
    return None if a is None or b is None else b - a


def details(report: dict) -> list[tuple[str, float | None]]:
    """Inside the phases: time spent in a few functions (main thread), and the first chunk task of each kind."""
    ev = report["events"]
    rows = []
    for key, label in (
        ("input_checks", "  input checks (modes.mode_for: the mode's set-ups)"),
        ("manifest", "  manifest (_ledger)"),
        ("detect_outliers", "  detect_outliers graph"),
        ("any_good_pixel", "  _any_good_pixel (reads every DQ block in the client)"),
        ("crfints_templates", "  crfints templates (plan_crfints)"),
        ("extract_graph", "  extract_1d graph"),
        ("x1dints_template", "  x1dints template (x1dints.allocate)"),
    ):
        if key in ev:
            rows.append((label, ev[key]["main_s"]))
    for k in report["read_keys"] + report["chunk_keys"]:
        rows.append((f"  first worker call of {k} at", ev.get(k, {}).get("first_worker_start")))
    reads = ev.get("read_planes", {})
    rows.append(("  chunk reads in the main thread (opening, WCS, wavelengths)", reads.get("main_s")))
    return rows


def timed_runs(exp, scratch: Path, runs: int) -> tuple[list[dict], list[float]]:
    reports, walls = [], []
    for i in range(runs):
        out = scratch / f"startup{i}"
        report = scratch / f"startup{i}.json"
        cmd = [sys.executable, str(HERE / "_startup_runner.py"), str(report), "run", str(exp.asn)]
        cmd += ["--output-dir", str(out), "--quiet", *tso3x_options(exp)]
        walls.append(measure(f"tso3x run (timed) {i}", cmd).wall_s)
        reports.append(json.loads(report.read_text()))
        shutil.rmtree(out)
    return reports, walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="nrs_brightobj")
    parser.add_argument("--shape", default="32x2048")
    parser.add_argument("--nints", type=int, default=300)
    parser.add_argument("--nseg", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5, help="runs of --version and import (median)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of the whole command (median per phase)")
    parser.add_argument("--skip-jwst", action="store_true")
    parser.add_argument("--scratch", default=None, help="parent folder of the scratch data (default: $TMPDIR)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    shape = tuple(int(v) for v in args.shape.split("x"))

    version, v_all = median_wall([*tso3x_script(), "--version"], args.repeat)
    imp, i_all = median_wall([sys.executable, "-c", "import tso3x"], args.repeat)

    scratch = Path(tempfile.mkdtemp(prefix="tso3x-bench-startup-", dir=args.scratch))
    try:
        exp = simulate_exposure(scratch, args.mode, shape, args.nints, args.nseg)
        size_gb = sum(p.stat().st_size for p in exp.segments) / 1e9
        rows, verdict = compare_commands(exp, scratch, args.skip_jwst)
        reports, walls = timed_runs(exp, scratch, args.runs)
    finally:
        subprocess.run(["rm", "-rf", str(scratch)], check=False)

    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    print(f"tso3x --version        median {version:6.3f} s of {[round(t, 3) for t in v_all]}")
    print(f'python -c "import tso3x" median {imp:6.3f} s of {[round(t, 3) for t in i_all]}')
    print()
    label = f"{args.mode} {args.shape} {args.nints} integrations, {args.nseg} segments"
    print_comparison(label, size_gb, rows, verdict)
    print()
    print(f"tso3x run under _startup_runner.py: {args.runs} run(s), walls {[round(w, 2) for w in walls]} s")
    missing = sorted({m for r in reports for m in r["missing"]})
    if missing:
        print(f"probes not found (fix PROBES in _startup_runner.py): {', '.join(missing)}")
    per_run = [phases(r, w) + details(r) for r, w in zip(reports, walls, strict=True)]
    for j, (name, _) in enumerate(per_run[0]):
        values = [run[j][1] for run in per_run if run[j][1] is not None]
        shown = f"{statistics.median(values):8.3f} s" if values else "       -  "
        print(f"  {name:<66s} {shown}")
    print()
    speedup = None if args.skip_jwst else rows[1].wall_s / rows[-1].wall_s
    print("goals:")
    for name, value in (("tso3x --version", version), ("import tso3x", imp)):
        goal = GOALS["version" if "version" in name else "import"]
        print(f"  {name} < {goal} s: {value:.2f} s {'met' if value < goal else 'NOT met'}")
    if speedup is not None:
        met = "met" if speedup >= GOALS["speedup"] else "NOT met"
        print(f"  tso3x >= {GOALS['speedup']:.0f}x jwst at {args.nints} integrations: {speedup:.1f}x {met}")


if __name__ == "__main__":
    main()
