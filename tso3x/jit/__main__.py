"""``python -m tso3x.jit``: compile every tso3x kernel into the cache now (e.g. in a container build).

``--status`` prints the cache folder and whether it is ready (exit status 0 if it is, 1 if not);
``--background`` is the detached compilation a run starts on a cold cache (:mod:`tso3x.jit.background`).
"""

from __future__ import annotations

import argparse
import sys

from . import background
from .cache import cache_dir, ready, shown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tso3x.jit",
        description="Compile tso3x's kernels into the cache ($TSO3X_CACHE_DIR, default ~/.cache/tso3x).",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--status", action="store_true", help="say where the cache is and whether it is ready")
    group.add_argument("--background", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.status:
        ok = ready()
        print(f"cache: {shown(cache_dir())}\nkernels: {'ready' if ok else 'not compiled'}")
        return 0 if ok else 1
    if args.background:
        return background.compile_in_background()
    from .warmup import compile_all

    compile_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
