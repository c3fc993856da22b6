"""Peak memory of ``tso3x run`` at 1x and 4x the integrations: it must not grow with the exposure.

Simulates the same mode twice in a scratch folder outside the repository (removed afterwards; the 4x input
is ~8 GB for the default BOTS 32x2048 x 1300 integrations), then runs the whole ``tso3x run`` command on each
(its default LocalCluster: client, scheduler and worker, in one process unless --workers is given) and
samples the resident memory of the whole process tree every 0.2 s. Prints both peaks, their ratio and the
wall times.

Examples
--------
python benchmarks/bench_memory.py                          # NRS_BRIGHTOBJ 32x2048, 1300 and 5200 integrations
python benchmarks/bench_memory.py --nints 200 --factor 4   # a quick look
python benchmarks/bench_memory.py --mode nrc_tsimage_clear --nints 3000
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
from pathlib import Path

from _measure import measure, warm_page_cache

from tso3x.simulate import simulate


def run_one(mode: str, shape, nints: int, nseg: int, scratch: Path):
    data = scratch / f"sim{nints}"
    exp = simulate(mode, data, nints=nints, nseg=nseg, shape=shape, seed=1)
    size_gb = sum(p.stat().st_size for p in exp.segments) / 1e9
    warm_page_cache(exp.segments)
    cmd = [sys.executable, "-m", "tso3x", "-q", "run", str(exp.asn), "--output-dir", str(scratch / f"out{nints}")]
    if exp.extract1d:
        cmd += ["--override-extract1d", str(exp.extract1d)]
    if exp.gain:
        cmd += ["--override-gain", str(exp.gain)]
    result = measure(f"tso3x run, {nints} integrations", cmd)
    subprocess.run(["rm", "-rf", str(data), str(scratch / f"out{nints}")], check=False)
    return size_gb, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="nrs_brightobj")
    parser.add_argument("--shape", default="32x2048", help="frame shape NYxNX ('' for the mode's)")
    parser.add_argument("--nints", type=int, default=1300, help="integrations of the 1x exposure")
    parser.add_argument("--factor", type=int, default=4)
    parser.add_argument("--nseg", type=int, default=3, help="segments of the 1x exposure (scaled with it)")
    parser.add_argument("--scratch", default=None, help="parent folder of the scratch data (default: $TMPDIR)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    shape = tuple(int(v) for v in args.shape.split("x")) if args.shape else None
    scratch = Path(tempfile.mkdtemp(prefix="tso3x-bench-memory-", dir=args.scratch))
    try:
        small = run_one(args.mode, shape, args.nints, args.nseg, scratch)
        large = run_one(args.mode, shape, args.nints * args.factor, args.nseg * args.factor, scratch)
    finally:
        subprocess.run(["rm", "-rf", str(scratch)], check=False)
    print(f"{args.mode} {args.shape}: peak RSS of the whole process tree (sampled every 0.2 s)")
    for size_gb, r in (small, large):
        print(f"  {size_gb:6.2f} GB of calints  {r.row()}")
    print(f"  growth {args.factor}x integrations: {large[1].peak_rss_mb / small[1].peak_rss_mb:.2f}x")


if __name__ == "__main__":
    main()
