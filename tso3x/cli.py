"""The ``tso3x`` command: ``run``, ``verify``, ``plot``, ``simulate`` and ``demo``.

Option names follow one rule: ``--`` + the jwst parameter name with ``_`` → ``-``.
Exit status: 0 done; 2 bad input (one line ``tso3x: error: <file>: <problem>`` on stderr, nothing written);
1 a run that failed while writing (complete products kept), ``verify`` finding problems, or ``plot`` leaving out a
curve it cannot normalise (warnings say which); 130 interrupted.

Output: stdout carries the command's result for scripts (``run``, ``demo`` and ``plot``: one product path a line; on
a terminal ``run`` and ``demo`` leave it to the summary, which lists the same products, unless ``-q``). stderr is
for people (:mod:`tso3x.console`): ``info: …``/``warning: …`` lines, each phase's progress (a bar on a terminal,
plain lines otherwise) and, closing ``run`` and ``demo``, a summary (the products with their sizes and the manifest,
the outliers flagged, the wall time, what to try next). ``-q``: errors only on stderr (stdout unchanged); ``-v``:
debug messages with times and logger names. The last line of a failure is always ``tso3x: error: …``, also with
``-q``.
"""

from __future__ import annotations

import argparse
import difflib
import gc
import logging
import shlex
import sys
import time
from pathlib import Path

from . import config, console
from ._version import __version__
from .errors import Tso3xInputError, Tso3xRunError
from .simulate.modes import MODES

log = logging.getLogger("tso3x")
QUIET_HELP = "errors only on stderr: no messages, progress or summary (stdout still lists the products)"


def _shape(text: str) -> tuple[int, int]:
    try:
        ny, nx = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"shape must look like 32x2048, not {text!r}") from None
    return ny, nx


def _default_text(field, spec: config.Spec) -> str:
    if spec.default_text is not None:
        return spec.default_text
    default = field.default
    if isinstance(default, bool):
        return "true" if default else "false"
    return "none" if default is None else str(default)


def add_parameter_options(parser: argparse.ArgumentParser) -> None:
    """One option per parameter of :mod:`tso3x.config`, grouped by step: ``--`` + the name with ``_`` → ``-``.

    Options left out are not passed to :func:`tso3x.run` (``argparse.SUPPRESS``), so the defaults are the
    config classes' only; values are validated there too, so a bad one is one line, as any bad input.
    """
    for kind in config.SECTIONS.values():
        group = parser.add_argument_group(kind.title)
        for field in kind.fields():
            spec = config.spec_of(field)
            if spec.cli == "none":
                continue
            option = "--" + field.name.replace("_", "-")
            text = spec.help
            if spec.choices:
                text += f"; one of {', '.join(spec.choices)}"
            if spec.cli == "flag":
                group.add_argument(option, action="store_true", default=argparse.SUPPRESS, help=text)
                continue
            text += f" (default: {_default_text(field, spec)})"
            if spec.cli == "bool":
                kw = {"type": config.bool_text, "metavar": "BOOL"}
            else:
                default = field.default
                kind_of = spec.type or (type(default) if default is not None else str)
                kw = {"type": kind_of, "metavar": spec.metavar or field.name.upper()}
            group.add_argument(option, default=argparse.SUPPRESS, help=text, **kw)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output-dir", default=".", help="folder for the products (default: current folder)")
    p.add_argument(  # also accepted after the command; SUPPRESS keeps the global -q when not given here
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP
    )
    add_parameter_options(p)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tso3x", description="JWST calwebb_tso3 on dask.")
    parser.add_argument("--version", action="version", version=f"tso3x {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug messages, with times and logger names")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="process a tso3 association")
    run.add_argument("asn", help="Level-3 tso3 association (JSON)")
    _add_run_options(run)

    sim = sub.add_parser("simulate", help="write a synthetic real-format exposure with its association")
    sim.add_argument("mode", help=f"simulated mode, one of: {', '.join(MODES)}")
    sim.add_argument("outdir", help="folder for the calints, association and reference files")
    sim.add_argument(
        "--nints", type=int, help="integrations in the exposure (default: the mode's; 20 for nis_soss, 60 otherwise)"
    )
    sim.add_argument("--nseg", type=int, default=2, help="segments (default: 2)")
    sim.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    sim.add_argument("--shape", type=_shape, help="frame shape NYxNX (default: the mode's)")
    sim.add_argument("--bunit", help="BUNIT of SCI (e.g. MJy/sr, DN/s)")
    sim.add_argument("--detectors", help="comma-separated detectors (nrs_brightobj: NRS1,NRS2)")
    sim.add_argument(
        "--subarray",
        help="nis_soss only (refused for other modes): SUBSTRIP96 (default), SUBSTRIP256 or FULL (give FULL a "
        "small --shape; jwst skips its extraction)",
    )
    sim.add_argument(
        "--filter", help="nis_soss only (refused for other modes): CLEAR (default) or F277W (jwst skips it)"
    )
    sim.add_argument(
        "--order3",
        type=config.bool_text,
        metavar="BOOL",
        help="nis_soss only (refused for other modes): whether SOSS order 3 carries light, true|false (default: true)",
    )

    plot = sub.add_parser(
        "plot",
        help="write quick-look PNGs of an output folder or zarr store (needs matplotlib)",
        epilog="exit status: 0 everything drawn; 1 something left out (a light curve that cannot be normalised, "
        "...: the warnings say what and why), every other plot written; 2 bad input",
    )
    plot.add_argument("output_dir", help="folder a run wrote into, or a zarr store")
    plot.add_argument("--to", required=True, metavar="FOLDER", help="folder for the PNG files (created)")
    plot.add_argument("--bins", type=int, default=10, help="spectroscopic bins when there is no speclc (default 10)")
    plot.add_argument("--product", help="product name, when the folder holds several")
    plot.add_argument(  # as after run: SUPPRESS keeps the global -q when not given here
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP
    )

    ver = sub.add_parser("verify", help="check the products of an output folder against its manifest and checksums")
    ver.add_argument("output_dir", help="folder a tso3x run wrote into")

    demo = sub.add_parser("demo", help="simulate a small exposure and run the pipeline on it")
    demo.add_argument("outdir", nargs="?", default="tso3x-demo", help="folder for data and products")
    demo.add_argument(
        "--mode", default="nrs_brightobj", help=f"simulated mode, one of: {', '.join(MODES)} (default: nrs_brightobj)"
    )
    parser.set_defaults(_commands=dict(sub.choices))
    return parser


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line; an unknown option is reported with its command's usage and the closest option."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        command = args._commands.get(args.command, parser)
        known = [o for action in command._actions for o in action.option_strings]
        hints = []
        for word in extra:
            close = difflib.get_close_matches(word.split("=")[0], known, n=1) if word.startswith("-") else []
            hints.append(f"{word} (did you mean {close[0]}?)" if close else word)
        command.error(f"unrecognized arguments: {' '.join(hints)}")
    del args._commands
    return args


def _run_command(exposure) -> str:
    """The ``tso3x run`` command line for a simulated exposure, with its reference files.

    NIS_SOSS: its files as ``--override-pastasoss`` … ``--soss-estimate``, ``--override-area N/A`` (no AREA file
    is simulated; jwst does not use it for SOSS) and ``--soss-atoca false`` (the box path, seconds; ATOCA with
    the simulated estimate takes minutes on its adaptive grid).
    """
    words = ["tso3x", "run", str(exposure.asn), "--output-dir", str(Path(exposure.asn).parent.parent / "products")]
    if exposure.extract1d is not None:
        words += ["--override-extract1d", str(exposure.extract1d)]
    soss = ("pastasoss", "specprofile", "speckernel", "photom", "wavelengthrange")  # SimulatedExposure fields
    for field, name in [(f, f"override_{f}") for f in soss] + [("soss_estimate", "soss_estimate")]:
        path = getattr(exposure, field, None)
        if path is not None:
            words += ["--" + name.replace("_", "-"), str(path)]
    if getattr(exposure, "pastasoss", None) is not None:
        words += ["--override-area", "N/A", "--soss-atoca", "false"]
    words += ["--override-gain", str(exposure.gain)]
    return " ".join(shlex.quote(w) for w in words)


def _run_params(args: argparse.Namespace) -> dict:
    """Every :func:`tso3x.run` parameter given on the command line (options share the parameters' names)."""
    return {name: getattr(args, name) for name in config.parameter_names() if hasattr(args, name)}


def _simulate(args: argparse.Namespace):
    """``tso3x simulate``: :func:`tso3x.simulate.simulate` with the command's options (``--nints`` omitted: the
    mode's own; ``--subarray``, ``--filter`` and ``--order3`` only for nis_soss).

    Raises
    ------
    Tso3xInputError
        An unknown mode, a SOSS-only option for another mode, or an argument the simulator refuses.
    """
    from .simulate import MODES, simulate

    if args.mode not in MODES:
        raise Tso3xInputError(None, f"unknown mode {args.mode!r}; choose from {', '.join(MODES)}")
    if args.order3 is not None and args.mode != "nis_soss":
        raise Tso3xInputError(None, f"--order3 can only be chosen for nis_soss, not {args.mode}")
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
        subarray=args.subarray,
        filter=args.filter,
        order3=True if args.order3 is None else args.order3,
    )


def _verify(output_dir: str, quiet: bool = False) -> int:
    """``tso3x verify``: one line per problem found on stdout, the count on stderr (unless ``quiet``); 0 only
    when everything is intact."""
    from .verification import verify

    report = verify(output_dir)
    for problem in report.problems:
        print(problem)
    if not quiet:
        console.current().write_line(f"{len(report.checked)} products checked, {len(report.problems)} problems")
    return 0 if report.ok else 1


def _demo(mode: str, outdir: Path) -> list[Path]:
    """``tso3x demo``: simulate a small exposure into ``outdir/data``, process it into ``outdir/products`` and
    draw its plots into ``outdir/plots`` (skipped with a warning when matplotlib is not installed)."""
    from .pipeline import run
    from .simulate import simulate

    exposure = simulate(mode, outdir / "data", nints=80, nseg=2, seed=1)
    print(f"simulated {mode}: {exposure.asn}")
    out = outdir / "products"
    products = run(exposure.asn, out, override_gain=exposure.gain, override_extract1d=exposure.extract1d)
    try:
        from .plot import write_plots

        products += write_plots(out, outdir / "plots")
    except ImportError:
        log.warning("no plots: they need matplotlib (pip install 'tso3x[plot]')")
    return products


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``tso3x`` console script."""
    args = _parse(argv)
    start = time.perf_counter()
    if args.command in ("run", "demo"):
        import distributed  # noqa: F401 - configures its loggers on import; cli_logging routes them to the console
    from .pipeline import run

    with console.cli_logging(quiet=args.quiet, verbose=args.verbose):
        status, products = _dispatch(args, run)
        if status == 0 and args.command in ("run", "demo") and not args.quiet:
            out = Path(args.output_dir) if args.command == "run" else Path(args.outdir) / "products"
            for line in console.summary(products, out, time.perf_counter() - start):
                console.current().write_line(line)
    return status


def _error(text: str) -> None:
    """The last line of a failed command, ``tso3x: error: …`` (shown even with ``-q``)."""
    console.current().write_line(f"tso3x: error: {text}")


def _dispatch(args: argparse.Namespace, run) -> tuple[int, list[Path]]:
    """Run the command: its exit status and the products it printed on stdout."""
    # the modules imported so far never become garbage: keep the collector from re-scanning them on every
    # full collection while the run allocates (about 1.5 s of CPU on a 1800-integration exposure)
    gc.freeze()
    try:
        if args.command == "run":
            products = run(args.asn, args.output_dir, **_run_params(args))
        elif args.command == "plot":  # 0 all drawn, 1 something skipped (warnings say what), 2 bad input
            from .plot import write_plots

            try:
                written = write_plots(args.output_dir, args.to, bins=args.bins, product=args.product)
            except ImportError as exc:
                if not (exc.name or "").startswith("matplotlib"):
                    raise
                raise Tso3xInputError(None, "tso3x plot needs matplotlib: pip install 'tso3x[plot]'") from None
            for path in written:
                print(path)
            if written.skipped:
                print(f"tso3x: {len(written.skipped)} item(s) not drawn; the warnings above say why", file=sys.stderr)
            return (1 if written.skipped else 0), []
        elif args.command == "verify":
            return _verify(args.output_dir, args.quiet), []
        elif args.command == "simulate":
            exposure = _simulate(args)
            print(f"association: {exposure.asn}")
            for path in exposure.segments:
                print(f"segment:     {path}")
            print(f"next:        {_run_command(exposure)}")
            return 0, []
        else:
            products = _demo(args.mode, Path(args.outdir))
    except Tso3xInputError as exc:
        _error(str(exc))
        return 2, []
    except Tso3xRunError as exc:
        _error(str(exc))
        return 1, []
    except KeyboardInterrupt:
        _error("interrupted; complete products are kept, run again to finish")
        return 130, []
    if args.quiet or not sys.stdout.isatty():  # on a terminal the summary lists them
        for path in products:
            print(path)
    return 0, products


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
