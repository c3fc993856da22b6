"""End to end: jwst 3.0.0 ``calwebb_tso3`` against ``tso3x run`` on the same simulated exposure, same run.

Simulates a realistic exposure in a scratch folder outside the repository (removed afterwards), warms the
page cache, then measures one after the other, each as a separate command (start-up included):

* the I/O floor: a plain copy of the input segments into an output folder (``cp``);
* jwst: the whole calwebb_tso3 (offline: local gain / EXTRACT1D overrides, no CRDS);
* tso3x: ``tso3x run`` with the same reference files (on its default LocalCluster).

Peak memory is the largest sum of the resident memory of the command's process tree (client,
scheduler, workers), sampled every 0.2 s. The products are compared (crfints SCI/DQ exactly; x1dints
FLUX / catalog aperture sums to 1e-6) before the table is printed.

Examples
--------
python benchmarks/bench_e2e.py                                   # NRS_BRIGHTOBJ 32x2048, 1800 ints, 3 segments
python benchmarks/bench_e2e.py --mode nrc_tsgrism --shape 64x2048
python benchmarks/bench_e2e.py --mode nrc_tsimage_clear --nints 2000   # SUB160P imaging
python benchmarks/bench_e2e.py --size 0.25                       # a quick look at a quarter of the integrations
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _measure import measure, warm_page_cache
from astropy.io import fits
from astropy.table import Table

from tso3x.simulate import simulate

HERE = Path(__file__).resolve().parent


def _products(folder: Path, suffix: str) -> list[Path]:
    return sorted(folder.glob(f"*_{suffix}"))


def compare(jwst_dir: Path, ours_dir: Path) -> str:
    """One line saying whether the products agree (crfints exactly, measurements to 1e-6)."""
    problems = []
    theirs, ours = _products(jwst_dir, "crfints.fits"), _products(ours_dir, "crfints.fits")
    if [p.name for p in theirs] != [p.name for p in ours]:
        problems.append("crfints names differ")
    for a, b in zip(theirs, ours, strict=False):
        with fits.open(a) as ha, fits.open(b) as hb:
            for ext in ("SCI", "DQ"):
                if not np.array_equal(ha[ext].data, hb[ext].data, equal_nan=True):
                    problems.append(f"{b.name} {ext} differs")
    for suffix, hdu, col in (("x1dints.fits", "EXTRACT1D", "FLUX"), ("phot.ecsv", None, "aperture_sum")):
        a, b = _products(jwst_dir, suffix), _products(ours_dir, suffix)
        if not a and not b:
            continue
        if len(a) != 1 or len(b) != 1:
            problems.append(f"{suffix}: jwst wrote {len(a)}, tso3x {len(b)}")
            continue
        if hdu:
            with fits.open(a[0]) as ha, fits.open(b[0]) as hb:
                x = np.concatenate([h.data[col].ravel() for h in ha if h.name == hdu])
                y = np.concatenate([h.data[col].ravel() for h in hb if h.name == hdu])
        else:
            x, y = np.asarray(Table.read(a[0])[col]), np.asarray(Table.read(b[0])[col])
        if x.shape != y.shape or not np.allclose(y, x, rtol=1e-6, equal_nan=True):
            problems.append(f"{suffix} {col} differs")
    return "products agree" if not problems else "PRODUCTS DIFFER: " + "; ".join(problems)


def simulate_exposure(scratch: Path, mode: str, shape: tuple[int, int] | None, nints: int, nseg: int):
    """The benchmark exposure (seed 1) in ``scratch/sim``, read once into the page cache."""
    exp = simulate(mode, scratch / "sim", nints=nints, nseg=nseg, shape=shape, seed=1)
    warm_page_cache(exp.segments)
    return exp


def reference_files(exp) -> tuple[str, str]:
    """(gain, extract1d) of a simulated exposure, "N/A" when it has none."""
    gain = str(exp.gain) if getattr(exp, "gain", None) else "N/A"
    extract1d = str(exp.extract1d) if getattr(exp, "extract1d", None) else "N/A"
    return gain, extract1d


def tso3x_options(exp) -> list[str]:
    """``tso3x run`` options naming the exposure's reference files (as jwst gets them)."""
    gain, extract1d = reference_files(exp)
    opts = []
    if gain != "N/A":
        opts += ["--override-gain", gain]
    if extract1d != "N/A":
        opts += ["--override-extract1d", extract1d]
    return opts


def tso3x_command(exp, output_dir: Path) -> list[str]:
    return [sys.executable, "-m", "tso3x", "run", str(exp.asn), "--output-dir", str(output_dir), "--quiet"] + (
        tso3x_options(exp)
    )


def jwst_command(exp, output_dir: Path) -> list[str]:
    return [sys.executable, str(HERE / "_jwst_tso3.py"), str(exp.asn), str(output_dir), *reference_files(exp)]


def compare_commands(exp, scratch: Path, skip_jwst: bool = False) -> tuple[list, str]:
    """The I/O floor, jwst (unless skipped) and ``tso3x run`` on ``exp``, one after the other; returns the
    measurements (in that order) and whether the products agree. Outputs go to ``scratch/{jwst,tso3x}``."""
    rows = []
    floor_dir = scratch / "floor"
    floor_dir.mkdir()
    rows.append(measure("I/O floor (cp inputs)", ["cp", *map(str, exp.segments), str(floor_dir)]))
    shutil.rmtree(floor_dir)
    jwst_dir, ours_dir = scratch / "jwst", scratch / "tso3x"
    if not skip_jwst:
        rows.append(measure("jwst calwebb_tso3", jwst_command(exp, jwst_dir)))
    rows.append(measure("tso3x run", tso3x_command(exp, ours_dir)))
    verdict = "jwst not run" if skip_jwst else compare(jwst_dir, ours_dir)
    return rows, verdict


def print_comparison(label: str, size_gb: float, rows: list, verdict: str) -> None:
    print(f"{label}: {size_gb:.2f} GB of calints; {verdict}")
    print(f"{'':34s} {'wall':>11s} {'peak RSS':>12s}")
    for r in rows:
        print(r.row())
    floor, ours = rows[0].wall_s, rows[-1].wall_s
    if len(rows) == 3:
        print(f"speed-up tso3x / jwst: {rows[1].wall_s / ours:.1f} x")
    print(f"tso3x / I/O floor: {ours / floor:.2f} x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="nrs_brightobj", help="simulated mode (tso3x.simulate.MODES)")
    parser.add_argument("--shape", default=None, help="frame shape NYxNX (default: the mode's)")
    parser.add_argument("--nints", type=int, default=1800)
    parser.add_argument("--nseg", type=int, default=3)
    parser.add_argument("--size", type=float, default=1.0, help="scale the number of integrations")
    parser.add_argument("--skip-jwst", action="store_true", help="only the floor and tso3x")
    parser.add_argument("--scratch", default=None, help="parent folder of the scratch data (default: $TMPDIR)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    shape = tuple(int(v) for v in args.shape.split("x")) if args.shape else None
    nints = max(2, int(round(args.nints * args.size)))
    scratch = Path(tempfile.mkdtemp(prefix="tso3x-bench-e2e-", dir=args.scratch))
    try:
        exp = simulate_exposure(scratch, args.mode, shape, nints, args.nseg)
        size_gb = sum(p.stat().st_size for p in exp.segments) / 1e9
        rows, verdict = compare_commands(exp, scratch, args.skip_jwst)
        label = f"{args.mode} {'x'.join(map(str, shape)) if shape else ''} {nints} integrations, {args.nseg} segments"
        print_comparison(label, size_gb, rows, verdict)
    finally:
        subprocess.run(["rm", "-rf", str(scratch)], check=False)


if __name__ == "__main__":
    main()
