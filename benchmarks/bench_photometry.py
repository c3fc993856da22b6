"""Imaging TSO photometry: tso3x against jwst 3.0.0's tso_photometry step, on one simulated exposure.

Simulates a NIRCam SUB160P (160x160) exposure in a scratch folder outside the repository (removed
afterwards), warms the page cache, then measures in one run, one after the other, the photometry of the
calints segments (unit conversion, two centroid passes, Gaussian PSF fit, aperture photometry, catalog):

* jwst 3.0.0 ``TSOPhotometryStep`` on each segment (``save_catalog``);
* ``tso3x.photometry`` on the exposure Dataset and ``tso3x.write_phot_ecsv``.

Two figures per contender: the wall time of the whole command (Python start-up and imports included,
with the peak resident memory of its process tree), and the time spent after the imports (reading the
segments, photometry, writing the catalogs), which is what the ratio is computed from. The catalogs
are compared (largest relative difference per column group) before the figures are printed.

Examples
--------
python benchmarks/bench_photometry.py                 # 2000 integrations in 2 segments (~1.2 GB)
python benchmarks/bench_photometry.py --nints 200     # a quick look
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from _measure import measure, warm_page_cache
from astropy.table import QTable, vstack

from tso3x.simulate import simulate

GROUPS = {
    "fluxes": ("aperture_sum", "annulus_sum", "net_aperture_sum", "net_aperture_sum_err"),
    "positions": ("aperture_x", "aperture_y", "aperture_ra_icrs"),
    "centroids": ("centroid_x", "centroid_y"),
    "psf fit": ("psf_width_x", "psf_width_y", "psf_flux"),
}


def compare(ours: Path, theirs: list[Path]) -> None:
    """Print the largest relative difference of tso3x's catalog from jwst's, per column group."""
    a = QTable.read(ours)
    b = vstack([QTable.read(p) for p in theirs])
    print(f"rows: tso3x {len(a)}, jwst {len(b)}")
    for group, cols in GROUPS.items():
        worst = 0.0
        for col in cols:
            x, y = np.asarray(a[col].value, float), np.asarray(b[col].value, float)
            same_nan = np.array_equal(np.isnan(x), np.isnan(y))
            ok = ~np.isnan(y)
            worst = max(worst, float(np.max(np.abs(x[ok] - y[ok]) / np.abs(y[ok]))) if ok.any() else 0.0)
            if not same_nan:
                worst = np.inf
        print(f"  {group:<10s} max relative difference {worst:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nints", type=int, default=2000)
    parser.add_argument("--nseg", type=int, default=2)
    parser.add_argument("--scratch", help="scratch folder (default: a new temporary folder, removed)")
    args = parser.parse_args()

    scratch = Path(args.scratch or tempfile.mkdtemp(prefix="tso3x-bench-phot-"))
    runner = str(Path(__file__).with_name("_phot_runner.py"))
    try:
        exp = simulate("nrc_tsimage_clear", scratch / "data", nints=args.nints, nseg=args.nseg, seed=1)
        size_gb = sum(p.stat().st_size for p in exp.segments) / 1e9
        print(f"nrc_tsimage_clear SUB160P 160x160, {args.nints} integrations in {args.nseg} segments: {size_gb:.2f} GB")
        warm_page_cache(exp.segments)
        common = [str(exp.asn), str(exp.gain)]
        ours = measure("tso3x photometry", [sys.executable, runner, "tso3x", *common, str(scratch / "tso3x")])
        theirs = measure("jwst 3.0.0 tso_photometry", [sys.executable, runner, "jwst", *common, str(scratch / "jwst")])
        compare(scratch / "tso3x" / "tso3x_phot.ecsv", sorted((scratch / "jwst").glob("*_phot.ecsv")))
        inner = {r.label: float((scratch / d / "seconds").read_text()) for r, d in ((ours, "tso3x"), (theirs, "jwst"))}
        print(f"\n{'':<34s} {'wall':>11s} {'peak RSS':>12s} {'after imports':>15s}")
        for r in (theirs, ours):
            print(f"{r.row()} {inner[r.label]:13.2f} s")
        t_jwst, t_ours = inner[theirs.label], inner[ours.label]
        print(
            f"\nafter imports: jwst {t_jwst:.1f} s ({1e3 * t_jwst / args.nints:.1f} ms/integration), "
            f"tso3x {t_ours:.1f} s ({1e3 * t_ours / args.nints:.2f} ms/integration): "
            f"tso3x is {t_jwst / t_ours:.1f}x faster"
        )
        ratio = theirs.wall_s / ours.wall_s
        print(f"whole commands: jwst {theirs.wall_s:.1f} s, tso3x {ours.wall_s:.1f} s: {ratio:.1f}x")
    finally:
        if not args.scratch:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
