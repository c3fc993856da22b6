"""Box extraction + white light: tso3x against jwst 3.0.0 ``extract_1d`` + ``white_light``, same run.

Simulates an exposure in a scratch folder outside the repository (removed afterwards), warms the page
cache, then times in this process, one after the other:

* jwst: for each segment, open it as a datamodel and run ``extract.run_extract1d`` (the function
  ``Extract1dStep`` calls, with the simulator's EXTRACT1D file: aperture, background), then ``white_light``
  on the combined TSOMultiSpecModel;
* tso3x: ``open_exposures`` + ``extract_1d`` (computed with dask) + ``white_light``.

Both read the calints (no outlier detection) and compute the same spectra; FLUX is compared before the
figures are printed. Wall times are the best of ``--repeat`` runs for tso3x (one jwst run).

Examples
--------
python benchmarks/bench_extract.py                       # NRS_BRIGHTOBJ 32x2048, 1800 ints, 3 segments
python benchmarks/bench_extract.py --mode nrc_tsgrism --shape 64x2048
python benchmarks/bench_extract.py --nints 180           # quick look
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
from pathlib import Path

import dask
import numpy as np
from _measure import warm_page_cache

import tso3x
from tso3x.modes.spectroscopy import extract_1d
from tso3x.simulate import simulate
from tso3x.steps.white_light import white_light


def run_jwst(exp) -> tuple[float, np.ndarray]:
    from jwst.extract_1d import extract
    from jwst.white_light.white_light import white_light as jwst_white_light
    from stdatamodels.jwst import datamodels

    start = time.perf_counter()
    x1d = datamodels.TSOMultiSpecModel()
    for seg in exp.segments:
        with datamodels.open(seg) as model:
            result = extract.run_extract1d(model, extract_ref_name=str(exp.extract1d), apcorr_ref_name="N/A")[0]
        x1d.spec.extend(result.spec)
    x1d.meta.instrument.filter = result.meta.instrument.filter
    jwst_white_light(x1d)
    wall = time.perf_counter() - start
    return wall, np.concatenate([s.spec_table["FLUX"] for s in x1d.spec])


def run_tso3x(exp) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    exposures = tso3x.open_exposures(tso3x.open_asn(exp.asn).members)
    spectra = list(dask.compute(*[extract_1d(ds, exp.extract1d) for ds in exposures]))
    white_light(spectra)
    wall = time.perf_counter() - start
    return wall, np.concatenate([s["FLUX"].values for s in spectra])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="nrs_brightobj")
    parser.add_argument("--shape", default="32x2048")
    parser.add_argument("--nints", type=int, default=1800)
    parser.add_argument("--nseg", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    shape = tuple(int(v) for v in args.shape.split("x"))
    scratch = Path(tempfile.mkdtemp(prefix="tso3x-bench-extract-"))
    try:
        exp = simulate(args.mode, scratch / "sim", nints=args.nints, nseg=args.nseg, shape=shape, seed=1)
        warm_page_cache(exp.segments)
        t_jwst, f_jwst = run_jwst(exp)
        t_ours, f_ours = min((run_tso3x(exp) for _ in range(max(1, args.repeat))), key=lambda r: r[0])
        same = np.allclose(f_ours, f_jwst, rtol=1e-6, equal_nan=True)
        print(f"{args.mode} {args.shape} x {args.nints} integrations, {args.nseg} segments")
        print(f"  FLUX {'matches' if same else 'DIFFERS from'} jwst (rtol 1e-6)")
        print(f"  jwst extract_1d + white_light  {t_jwst:8.2f} s")
        print(f"  tso3x extract_1d + white_light {t_ours:8.2f} s")
        print(f"  speed-up                       {t_jwst / t_ours:8.1f} x")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
