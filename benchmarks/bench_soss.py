"""NIRISS SOSS end to end: jwst 3.0.0 ``calwebb_tso3`` against ``tso3x run``, box and ATOCA, same run.

Simulates NIS_SOSS exposures in a scratch folder outside the repository (removed afterwards), warms the
page cache, then measures each command one after the other (start-up included), both sides with the
simulated reference files and ``soss_estimate``:

* jwst box (``soss_atoca=False``) and tso3x box;
* jwst ATOCA (``soss_atoca=True``, the default) and tso3x ATOCA — only when tso3x writes ATOCA products
  (``--atoca``);
* tso3x at twice the integrations (box, and ATOCA with ``--atoca``), for the memory growth (peak ratio; the
  goal is ≤ 1.3).

Peak memory is the largest sum of the resident memory of the command's process tree, sampled every 0.2 s.
The x1dints FLUX of each pair is compared to 1e-6 before the table is printed.

Examples
--------
python benchmarks/bench_soss.py                                     # SUBSTRIP96 x 200 integrations, 4 segments
python benchmarks/bench_soss.py --subarray SUBSTRIP256 --nints 60
python benchmarks/bench_soss.py --atoca                             # also ATOCA on both sides
python benchmarks/bench_soss.py --skip-jwst                         # tso3x only (and the memory growth)
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _measure import measure, warm_page_cache
from astropy.io import fits

from tso3x.simulate import simulate

HERE = Path(__file__).resolve().parent
#: SimulatedExposure fields naming the SOSS reference files (reftype = field name).
SOSS_FILES = ("pastasoss", "specprofile", "speckernel", "photom", "wavelengthrange")


def jwst_steps(exp, atoca: bool) -> dict:
    """jwst step parameters for the exposure's SOSS files (as ``tests/jwst_oracle.soss_step_pars``)."""
    refs = {f"override_{f}": str(getattr(exp, f)) for f in SOSS_FILES}
    extract = {k: refs[k] for k in ("override_pastasoss", "override_specprofile", "override_speckernel")}
    extract.update(soss_atoca=atoca, soss_estimate=str(exp.soss_estimate))
    return {
        "extract_1d": extract,
        "photom": {"override_photom": refs["override_photom"], "override_area": "N/A"},
        "white_light": {"override_wavelengthrange": refs["override_wavelengthrange"]},
    }


def jwst_command(exp, out: Path, atoca: bool) -> list[str]:
    return [sys.executable, str(HERE / "_jwst_tso3.py"), str(exp.asn), str(out), str(exp.gain), "N/A"] + [
        json.dumps(jwst_steps(exp, atoca))
    ]


def tso3x_command(exp, out: Path, atoca: bool) -> list[str]:
    words = [sys.executable, "-m", "tso3x", "run", str(exp.asn), "--output-dir", str(out), "--quiet"]
    for f in SOSS_FILES:
        words += [f"--override-{f}", str(getattr(exp, f))]
    words += ["--override-area", "N/A", "--override-gain", str(exp.gain), "--soss-estimate", str(exp.soss_estimate)]
    return words + ["--soss-atoca", "true" if atoca else "false"]


def flux(folder: Path, column: str = "FLUX") -> np.ndarray | None:
    """Every EXTRACT1D ``column`` value of the folder's x1dints, in file order (None: no x1dints)."""
    files = sorted(folder.glob("*_x1dints.fits"))
    if len(files) != 1:
        return None
    with fits.open(files[0]) as hdul:
        return np.concatenate([h.data[column].ravel() for h in hdul if h.name == "EXTRACT1D"])


def agree(jwst_dir: Path, ours_dir: Path) -> str:
    a, b = flux(jwst_dir), flux(ours_dir)
    if a is None or b is None:
        return f"x1dints missing (jwst: {a is not None}, tso3x: {b is not None})"
    if a.shape != b.shape:
        return f"FLUX shapes differ {a.shape} {b.shape}"
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return "FLUX NaN patterns differ"
    ok = np.isfinite(a)
    error = flux(jwst_dir, "FLUX_ERROR")
    worst = float(np.max(np.abs(b[ok] - a[ok]) / np.maximum(np.abs(a[ok]), 1e-30))) if ok.any() else 0.0
    ok &= error > 0
    per_error = float(np.max(np.abs(b[ok] - a[ok]) / error[ok])) if ok.any() else 0.0
    verdict = f"FLUX max rel. diff {worst:.1e}, max |dFLUX|/FLUX_ERROR {per_error:.1e}"
    return verdict + ("" if worst <= 1e-6 else "  ** ABOVE 1e-6 **")


def run_pair(exp, scratch: Path, path: str, skip_jwst: bool) -> list:
    """jwst (unless skipped) and tso3x on ``exp`` for ``path`` (box | atoca); rows and the comparison."""
    atoca = path == "atoca"
    jwst_dir, ours_dir = scratch / f"jwst-{path}", scratch / f"tso3x-{path}"
    rows = []
    if not skip_jwst:
        rows.append(measure(f"jwst calwebb_tso3 ({path})", jwst_command(exp, jwst_dir, atoca)))
    rows.append(measure(f"tso3x run ({path})", tso3x_command(exp, ours_dir, atoca)))
    verdict = "" if skip_jwst else agree(jwst_dir, ours_dir)
    return rows, verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subarray", default="SUBSTRIP96", choices=("SUBSTRIP96", "SUBSTRIP256"))
    parser.add_argument("--nints", type=int, default=200)
    parser.add_argument("--nseg", type=int, default=4)
    parser.add_argument("--atoca", action="store_true", help="also ATOCA on both sides")
    parser.add_argument("--skip-jwst", action="store_true")
    parser.add_argument("--no-growth", action="store_true", help="skip the run at twice the integrations")
    parser.add_argument("--scratch", default=None, help="parent folder of the scratch data (default: $TMPDIR)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    scratch = Path(tempfile.mkdtemp(prefix="tso3x-bench-soss-", dir=args.scratch))
    try:
        exp = simulate("nis_soss", scratch / "sim", nints=args.nints, nseg=args.nseg, subarray=args.subarray, seed=1)
        warm_page_cache(exp.segments)
        size_gb = sum(p.stat().st_size for p in exp.segments) / 1e9
        print(f"NIS_SOSS {args.subarray} {args.nints} integrations, {args.nseg} segments: {size_gb:.2f} GB of calints")
        print(f"{'':34s} {'wall':>11s} {'peak RSS':>12s}")
        paths = ("box", "atoca") if args.atoca else ("box",)
        peaks = {}
        for path in paths:
            rows, verdict = run_pair(exp, scratch, path, args.skip_jwst)
            for r in rows:
                print(r.row())
            if len(rows) == 2:
                print(f"  speed-up tso3x / jwst ({path}): {rows[0].wall_s / rows[1].wall_s:.1f} x; {verdict}")
            peaks[path] = rows[-1].peak_rss_mb
        if not args.no_growth:
            big = simulate("nis_soss", scratch / "sim2", nints=2 * args.nints, nseg=args.nseg, subarray=args.subarray)
            warm_page_cache(big.segments)
            for path in paths:
                out = scratch / f"tso3x-2x-{path}"
                row = measure(f"tso3x run ({path}, {2 * args.nints} ints)", tso3x_command(big, out, path == "atoca"))
                print(row.row())
                print(f"  peak memory at 2x integrations / 1x ({path}): {row.peak_rss_mb / peaks[path]:.2f}")
    finally:
        subprocess.run(["rm", "-rf", str(scratch)], check=False)


if __name__ == "__main__":
    main()
