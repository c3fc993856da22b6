"""Outlier detection: tso3x against jwst 3.0.0 and the I/O floor, on one simulated exposure.

Simulates an exposure in a scratch folder outside the repository (removed afterwards), warms the page
cache, then measures in one run, one after the other:

* the I/O floor: plain copies of the input segments into an output folder (``cp``);
* jwst 3.0.0 calwebb_tso3 outlier detection (reads the segments, writes the crfints);
* tso3x outlier detection on the same association (``_tso3x_outliers.py``: the same span, read, flag,
  write crfints, through the functions ``tso3x run`` uses);
* with ``--flat``: the same on an exposure with twice the integrations, to show peak memory does
  not grow with the number of integrations.

Every figure is wall time of the whole command and the peak resident memory of its process tree,
sampled every 0.2 s; the floor and tso3x are run ``--repeat`` times and the fastest run is kept
(disk write-back of earlier runs makes single runs noisy). The crfints of both are compared (DQ
exactly) before figures are printed.

Examples
--------
python benchmarks/bench_outliers.py                 # NRS_BRIGHTOBJ 32x2048, 1800 ints, 3 segments (~2.7 GB)
python benchmarks/bench_outliers.py --size small    # a 10x smaller exposure, for a quick look
python benchmarks/bench_outliers.py --flat --skip-jwst
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from _measure import best_of, measure, warm_page_cache
from astropy.io import fits

from tso3x.simulate import simulate

SIZES = {"full": 1800, "small": 180}


def compare(ours: Path, theirs: Path) -> int:
    """Number of crfints whose DQ and SCI match jwst's exactly (NaN patterns included)."""
    same = 0
    for mine in sorted(ours.glob("*_crfints.fits")):
        with fits.open(mine) as a, fits.open(theirs / mine.name) as b:
            ok = np.array_equal(a["DQ"].data, b["DQ"].data) and np.array_equal(
                a["SCI"].data, b["SCI"].data, equal_nan=True
            )
        same += ok
        print(f"  {mine.name}: {'identical' if ok else 'DIFFERENT'} to jwst")
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=SIZES, default="full")
    parser.add_argument("--mode", default="nrs_brightobj")
    parser.add_argument("--shape", default="32x2048")
    parser.add_argument("--nseg", type=int, default=3)
    parser.add_argument("--flat", action="store_true", help="also run tso3x on 2x the integrations")
    parser.add_argument("--skip-jwst", action="store_true")
    parser.add_argument("--repeat", type=int, default=2, help="runs of the floor and tso3x (best kept)")
    parser.add_argument("--scratch", help="scratch folder (default: a new temporary folder, removed)")
    args = parser.parse_args()

    shape = tuple(int(v) for v in args.shape.split("x"))
    nints = SIZES[args.size]
    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="tso3x-bench-"))
    # outlier detection only, the span jwst's runner times (``tso3x run`` would also extract spectra)
    tso3x_cmd = [sys.executable, str(Path(__file__).with_name("_tso3x_outliers.py"))]
    try:
        exposure = simulate(args.mode, scratch / "data", nints=nints, nseg=args.nseg, seed=1, shape=shape)
        size_gb = sum(p.stat().st_size for p in exposure.segments) / 1e9
        print(f"{args.mode} {shape[0]}x{shape[1]}, {nints} integrations in {args.nseg} segments: {size_gb:.2f} GB")
        warm_page_cache(exposure.segments)
        floor = scratch / "floor"
        results = [
            best_of("I/O floor (cp inputs)", ["cp", *map(str, exposure.segments), str(floor)], args.repeat, floor)
        ]
        shutil.rmtree(floor)
        ours = [*tso3x_cmd, str(exposure.asn), str(scratch / "tso3x")]
        results.append(best_of("tso3x outlier detection", ours, args.repeat, scratch / "tso3x"))
        if not args.skip_jwst:
            runner = Path(__file__).with_name("_jwst_outliers.py")
            results.append(
                measure(
                    "jwst 3.0.0 outlier_detection",
                    [sys.executable, str(runner), str(exposure.asn), str(scratch / "jwst")],
                )
            )
            same = compare(scratch / "tso3x", scratch / "jwst")
            print(f"crfints identical to jwst: {same}/{len(exposure.segments)}")
        if args.flat:
            big = simulate(args.mode, scratch / "data2", nints=2 * nints, nseg=2 * args.nseg, seed=2, shape=shape)
            warm_page_cache(big.segments)
            shutil.rmtree(scratch / "data")
            twice = [*tso3x_cmd, str(big.asn), str(scratch / "tso3x2")]
            results.append(best_of(f"tso3x, {2 * nints} integrations", twice, args.repeat, scratch / "tso3x2"))
        print(f"\n{'':<34s} {'wall':>11s} {'peak RSS':>12s}")
        for r in results:
            print(r.row())
        by = {r.label: r for r in results}
        ours, floor = by["tso3x outlier detection"], by["I/O floor (cp inputs)"]
        print(f"\ntso3x / I/O floor: {ours.wall_s / floor.wall_s:.2f}x")
        if "jwst 3.0.0 outlier_detection" in by:
            jwst = by["jwst 3.0.0 outlier_detection"]
            print(
                f"jwst / tso3x: {jwst.wall_s / ours.wall_s:.1f}x faster; "
                f"peak memory jwst {jwst.peak_rss_mb:.0f} MB, tso3x {ours.peak_rss_mb:.0f} MB"
            )
        if args.flat:
            twice = results[-1]
            print(
                f"tso3x peak memory at {nints} / {2 * nints} integrations: {ours.peak_rss_mb:.0f} / "
                f"{twice.peak_rss_mb:.0f} MB ({twice.peak_rss_mb / ours.peak_rss_mb:.2f}x)"
            )
    finally:
        if not args.scratch:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
