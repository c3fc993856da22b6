"""The ``tso3x`` command: ``run``, ``verify``, ``plot``, ``simulate`` and ``demo``.

Option names follow one rule: ``--`` + the jwst parameter name with ``_`` → ``-``.
Exit status: 0 done; 2 bad input (one line ``tso3x: error: <file>: <problem>`` on stderr, nothing written);
1 a run that failed while writing (complete products kept) or ``verify`` finding problems; 130 interrupted.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import logging
import sys
from pathlib import Path

from . import __version__
from .errors import Tso3xInputError, Tso3xRunError
from .io.calints import DEFAULT_CHUNK_MB

log = logging.getLogger("tso3x")


def _shape(text: str) -> tuple[int, int]:
    try:
        ny, nx = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must look like 32x2048, not {text!r}") from None
    return ny, nx


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, not {text!r}")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output-dir", default=".", help="folder for the products (default: current folder)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="recompute every product (default: keep products an earlier run completed with the same inputs "
        "and parameters, if they still match the manifest)",
    )
    od = p.add_argument_group("outlier_detection (jwst names and defaults)")
    od.add_argument("--rolling-window-width", type=int, default=25, help="rolling median window (integrations)")
    od.add_argument("--snr", default="5.0", help='detection threshold in sigma, e.g. "5" or "5.0 4.0" (first used)')
    od.add_argument("--maskpt", type=float, default=0.7, help="weight threshold fraction")
    od.add_argument("--good-bits", default="~DO_NOT_USE", help="DQ bits counted as good")
    od.add_argument("--skip-outlier-detection", action="store_true", help="skip outlier detection (no crfints)")
    ph = p.add_argument_group("tso_photometry (imaging; jwst names and defaults)")
    ph.add_argument("--radius", type=float, default=3.0, help="aperture radius [pix]")
    ph.add_argument("--radius-inner", type=float, default=4.0, help="background annulus inner radius [pix]")
    ph.add_argument("--radius-outer", type=float, default=5.0, help="background annulus outer radius [pix]")
    ph.add_argument(
        "--centroid-source",
        type=_bool,
        default=True,
        metavar="BOOL",
        help="centroid the source before photometry (default true)",
    )
    ph.add_argument("--search-box-width", type=int, default=41, help="first centroid box width [pix]")
    ph.add_argument("--fit-box-width", type=int, default=11, help="second centroid and PSF-fit box width [pix]")
    ph.add_argument(
        "--moving-centroid",
        type=_bool,
        default=False,
        metavar="BOOL",
        help="use each integration's centroid instead of the median (default false)",
    )
    sp = p.add_argument_group("extract_1d and white_light (spectroscopy; jwst names, defaults from the reference file)")
    sp.add_argument("--subtract-background", type=_bool, metavar="BOOL", help="subtract the background")
    sp.add_argument("--use-source-posn", type=_bool, metavar="BOOL", help="place the aperture at the source position")
    sp.add_argument("--position-offset", type=float, default=0.0, help="aperture offset [pix] (default 0)")
    sp.add_argument("--smoothing-length", type=int, help="background smoothing length [pix]")
    sp.add_argument("--bkg-fit", choices=("poly", "mean", "median"), help="background fit type")
    sp.add_argument("--bkg-order", type=int, help="background polynomial order")
    sp.add_argument("--min-wavelength", type=float, help="white-light lower wavelength [micron]")
    sp.add_argument("--max-wavelength", type=float, help="white-light upper wavelength [micron]")
    sp.add_argument(
        "--spec-bins",
        metavar="N|EDGES",
        help="also write <product>_speclc.ecsv: N equal-width bins over the white-light range, or bin edges "
        '[micron] ("2.9,3.2,3.5")',
    )
    pr = p.add_argument_group("pixel_replace (spectroscopy; jwst names and defaults)")
    pr.add_argument("--pixel-replace", action="store_true", help="run pixel_replace before extraction (jwst: skipped)")
    pr.add_argument("--algorithm", default="mingrad", help="mingrad (default) or fit_profile")
    pr.add_argument("--n-adjacent-cols", default=3, help="fit_profile: profiles used on each side (default 3)")
    ref = p.add_argument_group("reference files")
    ref.add_argument("--override-gain", metavar="FILE", help="gain reference file (photometry of DN/s data)")
    ref.add_argument("--override-extract1d", metavar="FILE", help="EXTRACT1D reference file (JSON)")
    ref.add_argument("--override-apcorr", metavar="FILE", help="APCORR reference file, or N/A")
    p.add_argument(  # also accepted after the command; SUPPRESS keeps the global -q when not given here
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="only warnings and errors, no progress"
    )
    ex = p.add_argument_group("execution (dask.distributed)")
    ex.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="dask scheduler to run on (tcp://host:8786), or threads / synchronous (no cluster); "
        "default: a LocalCluster sized to this machine",
    )
    ex.add_argument(
        "--workers", type=int, help="LocalCluster worker processes (default: one in-process worker, a thread per core)"
    )
    ex.add_argument("--threads-per-worker", type=int, help="LocalCluster threads per worker")
    ex.add_argument("--memory-limit", help="LocalCluster memory limit per worker, e.g. 4GB (default: auto)")
    st = p.add_argument_group("integration store")
    st.add_argument("--zarr", metavar="PATH", help="also write the per-integration results to this zarr store")
    st.add_argument("--zarr-cube", action="store_true", help="store the flagged cube (sci, err, dq) too")
    p.add_argument(
        "--chunk-mb",
        type=float,
        default=DEFAULT_CHUNK_MB,
        help=f"megabytes of all arrays of one chunk of integrations (default {DEFAULT_CHUNK_MB:g})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tso3x", description="JWST calwebb_tso3 on dask.")
    parser.add_argument("--version", action="version", version=f"tso3x {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors, no progress bars")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="process a tso3 association")
    run.add_argument("asn", help="Level-3 tso3 association (JSON)")
    _add_run_options(run)

    sim = sub.add_parser("simulate", help="write a synthetic real-format exposure with its association")
    sim.add_argument("mode", help="simulated mode (see tso3x.simulate.MODES)")
    sim.add_argument("outdir", help="folder for the calints, association and reference files")
    sim.add_argument("--nints", type=int, default=60, help="integrations in the exposure")
    sim.add_argument("--nseg", type=int, default=2, help="segments")
    sim.add_argument("--seed", type=int, default=0, help="random seed")
    sim.add_argument("--shape", type=_shape, help="frame shape NYxNX")
    sim.add_argument("--bunit", help="BUNIT of SCI (e.g. MJy/sr, DN/s)")
    sim.add_argument("--detectors", help="comma-separated detectors (nrs_brightobj: NRS1,NRS2)")

    plot = sub.add_parser("plot", help="write quick-look PNGs of an output folder or zarr store (needs matplotlib)")
    plot.add_argument("output_dir", help="folder a run wrote into, or a zarr store")
    plot.add_argument("--to", required=True, metavar="FOLDER", help="folder for the PNG files (created)")
    plot.add_argument("--bins", type=int, default=10, help="spectroscopic bins when there is no speclc (default 10)")
    plot.add_argument("--product", help="product name, when the folder holds several")

    ver = sub.add_parser("verify", help="check the products of an output folder against its manifest and checksums")
    ver.add_argument("output_dir", help="folder a tso3x run wrote into")

    demo = sub.add_parser("demo", help="simulate a small exposure and run the pipeline on it")
    demo.add_argument("outdir", nargs="?", default="tso3x-demo", help="folder for data and products")
    demo.add_argument("--mode", default="nrs_brightobj", help="simulated mode")
    return parser


def _run_params(args: argparse.Namespace, run) -> dict:
    """Every keyword of :func:`tso3x.run` that the parsed options carry (options share jwst's names)."""
    names = [n for n in inspect.signature(run).parameters if n not in ("asn", "output_dir")]
    return {name: getattr(args, name) for name in names if hasattr(args, name)}


def _simulate(args: argparse.Namespace):
    from .simulate import MODES, simulate

    if args.mode not in MODES:
        raise Tso3xInputError(None, f"unknown mode {args.mode!r}; choose from {', '.join(MODES)}")
    detectors = tuple(d.strip().upper() for d in args.detectors.split(",")) if args.detectors else None
    return simulate(
        args.mode,
        args.outdir,
        nints=args.nints,
        nseg=args.nseg,
        seed=args.seed,
        shape=args.shape,
        bunit=args.bunit,
        detectors=detectors,
    )


def _verify(output_dir: str) -> int:
    """``tso3x verify``: one line per product checked or problem found; 0 only when everything is intact."""
    from .verification import verify

    report = verify(output_dir)
    for problem in report.problems:
        print(problem)
    print(f"{len(report.checked)} products checked, {len(report.problems)} problems", file=sys.stderr)
    return 0 if report.ok else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tso3x`` console script."""
    args = build_parser().parse_args(argv)
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    if args.command in ("run", "demo") and not args.verbose:
        import distributed  # noqa: F401 - sets its loggers' levels on import; ours override them after

        # the LocalCluster's start/stop chatter is not the user's business
        for name in ("distributed", "bokeh", "tornado"):
            logging.getLogger(name).setLevel(logging.WARNING)
    from .pipeline import run

    # the modules imported so far never become garbage: keep the collector from re-scanning them on every
    # full collection while the run allocates (about 1.5 s of CPU on a 1800-integration exposure)
    gc.freeze()
    try:
        if args.command == "run":
            products = run(args.asn, args.output_dir, **_run_params(args, run))
        elif args.command == "plot":
            from .plot import write_plots

            try:
                products = write_plots(args.output_dir, args.to, bins=args.bins, product=args.product)
            except (FileNotFoundError, ValueError) as exc:
                raise Tso3xInputError(args.output_dir, str(exc)) from None
        elif args.command == "verify":
            return _verify(args.output_dir)
        elif args.command == "simulate":
            exposure = _simulate(args)
            print(f"association: {exposure.asn}")
            for path in exposure.segments:
                print(f"segment:     {path}")
            return 0
        else:
            from .simulate import simulate

            exposure = simulate(args.mode, Path(args.outdir) / "data", nints=80, nseg=2, seed=1)
            print(f"simulated {args.mode}: {exposure.asn}")
            products = run(
                exposure.asn,
                Path(args.outdir) / "products",
                override_gain=exposure.gain,
                override_extract1d=exposure.extract1d,
            )
    except Tso3xInputError as exc:
        print(f"tso3x: error: {exc}", file=sys.stderr)
        return 2
    except Tso3xRunError as exc:
        print(f"tso3x: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tso3x: error: interrupted; complete products are kept, run again to finish", file=sys.stderr)
        return 130
    for path in products:
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
