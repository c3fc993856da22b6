"""First contact (issue 13, goal 2): the first run after a fresh install against a warm run of the same command.

Goal: the first run costs at most 5 s more than a warm run, on the imaging and the spectroscopy demo.

* imaging: ``tso3x simulate nrc_tsimage_wlp8 D --nints 60 --nseg 2 --seed 1`` (not timed), then the run
  command it prints (into a fresh output folder each time);
* spectroscopy: ``tso3x demo OUT`` (NRS_BRIGHTOBJ: simulation and run, the README's first command).

Each demo gets a fresh, empty ``TSO3X_CACHE_DIR`` (``NUMBA_CACHE_DIR`` and ``TSO3X_KERNELS`` unset), and
tso3x's ``__pycache__`` folders are removed first, as after ``pip install -e``. The command is timed on the
cold cache (the run uses the numpy kernels and starts the background compilation), then, once that
compilation has written its marker (``python -m tso3x.jit --status``), timed again (warm: the compiled
kernels loaded from the cache). ``--inline`` also times a cold run that compiles in the run
(``TSO3X_KERNELS=numba``: what a first run cost before). ``--fresh-venv`` first runs the README's set-up
command (``python3 -m venv .venv && .venv/bin/pip install -q -e .``) into a temporary venv and benchmarks
that installation.

Examples
--------
python benchmarks/bench_first_run.py
python benchmarks/bench_first_run.py --inline --repeat 3 --fresh-venv
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _measure import measure

REPO = Path(__file__).resolve().parent.parent
DEVNULL = subprocess.DEVNULL
GOAL_S = 5.0
IMAGING = ["nrc_tsimage_wlp8", "--nints", "60", "--nseg", "2", "--seed", "1"]


@dataclass
class Install:
    python: str
    tso3x: str
    isolated: bool = False  #: a fresh venv: PYTHONPATH is not passed on


@dataclass
class Result:
    demo: str
    cold_s: float
    warm_s: float
    compile_s: float
    inline_s: float | None = None

    def row(self) -> str:
        extra = self.cold_s - self.warm_s
        verdict = "met" if extra <= GOAL_S else "NOT met"
        inline = f"{self.inline_s:9.1f} s" if self.inline_s is not None else "        -  "
        return (
            f"{self.demo:<14s} {self.cold_s:9.1f} s {self.warm_s:9.1f} s {extra:+9.1f} s  {verdict:<8s}"
            f" {self.compile_s:9.0f} s {inline}"
        )


def fresh_venv(scratch: Path) -> Install:
    """The README's set-up command into ``scratch/venv`` (from this repository)."""
    venv = scratch / "venv"
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-e", str(REPO)], check=True)
    return Install(str(venv / "bin" / "python"), str(venv / "bin" / "tso3x"), isolated=True)


def this_install() -> Install:
    """tso3x of this interpreter's environment (its console script, or ``python -m tso3x``)."""
    script = Path(sys.executable).with_name("tso3x")
    return Install(sys.executable, str(script) if script.exists() else f"{sys.executable} -m tso3x")


def environment(cache: Path, install: Install) -> dict:
    drop = ("NUMBA_CACHE_DIR", "TSO3X_KERNELS", "PYTHONPATH" if install.isolated else "")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["TSO3X_CACHE_DIR"] = str(cache)
    return env


def clear_pycache(install: Install, env: dict) -> None:
    """Remove tso3x's compiled bytecode (a fresh installation has none)."""
    code = "import os, tso3x; print(os.path.dirname(tso3x.__file__))"
    package = subprocess.run([install.python, "-c", code], env=env, capture_output=True, text=True, check=True)
    for folder in Path(package.stdout.strip()).rglob("__pycache__"):
        shutil.rmtree(folder, ignore_errors=True)


def wait_until_compiled(install: Install, env: dict, cache: Path, timeout: float) -> float:
    """Seconds until ``python -m tso3x.jit --status`` says ready (the background compilation's marker)."""
    start = time.perf_counter()
    status = [install.python, "-m", "tso3x.jit", "--status"]
    while subprocess.run(status, env=env, capture_output=True).returncode != 0:
        log = cache / "compile.log"
        ended = not (cache / "compile.lock").exists() and time.perf_counter() - start > 5
        if ended and subprocess.run(status, env=env, capture_output=True).returncode != 0:  # ended meanwhile?
            sys.exit(f"the background compilation ended without its marker:\n{log.read_text() if log.exists() else ''}")
        if time.perf_counter() - start > timeout:
            sys.exit(f"the background compilation takes over {timeout:.0f} s")
        time.sleep(2)
    return time.perf_counter() - start


def imaging_commands(install: Install, scratch: Path, env: dict):
    """Simulate the imaging exposure once; the run command it prints, for a given output folder."""
    cmd = [*shlex.split(install.tso3x), "simulate", IMAGING[0], str(scratch / "imaging"), *IMAGING[1:]]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    (line,) = [w for w in out.splitlines() if w.startswith("next:")]
    words = shlex.split(line.removeprefix("next:"))
    at = words.index("--output-dir")

    def command(output_dir: Path) -> list[str]:
        return [*shlex.split(install.tso3x), *words[1:at], "--output-dir", str(output_dir), *words[at + 2 :]]

    return command


def spectroscopy_commands(install: Install, scratch: Path, env: dict):
    def command(output_dir: Path) -> list[str]:
        return [*shlex.split(install.tso3x), "demo", str(output_dir)]

    return command


def once(demo: str, command, install: Install, scratch: Path, args, i: int) -> Result:
    """One cold run on a fresh cache, the wait for the background compilation, one warm run."""
    cache = scratch / f"cache-{demo}-{i}"
    env = environment(cache, install)
    inline = None
    if args.inline:  # before issue 13: the first run compiles what it uses
        clear_pycache(install, env)
        inline_env = {**environment(scratch / f"cache-{demo}-{i}-inline", install), "TSO3X_KERNELS": "numba"}
        inline = measure(f"{demo} inline", command(scratch / f"{demo}-{i}-inline"), env=inline_env, stderr=DEVNULL)
    clear_pycache(install, env)
    started = time.perf_counter()
    cold = measure(f"{demo} cold", command(scratch / f"{demo}-{i}-cold"), env=env, stderr=DEVNULL).wall_s
    wait_until_compiled(install, env, cache, args.timeout)
    compiled = time.perf_counter() - started
    warm = measure(f"{demo} warm", command(scratch / f"{demo}-{i}-warm"), env=env, stderr=DEVNULL).wall_s
    return Result(demo, cold, warm, compiled, inline.wall_s if inline else None)


def bench(demo: str, make, install: Install, scratch: Path, args) -> Result:
    """The fastest of ``--repeat`` cold runs and of as many warm runs (this machine is shared)."""
    command = make(install, scratch, environment(scratch / "cache-simulate", install))
    runs = [once(demo, command, install, scratch, args, i) for i in range(args.repeat)]
    for r in runs:
        print(f"  {r.row()}", file=sys.stderr)
    inline = [r.inline_s for r in runs if r.inline_s is not None]
    return Result(
        demo,
        min(r.cold_s for r in runs),
        min(r.warm_s for r in runs),
        min(r.compile_s for r in runs),
        min(inline) if inline else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fresh-venv", action="store_true", help="first the README's set-up into a temporary venv")
    parser.add_argument("--inline", action="store_true", help="also a cold run compiling in the run (as before)")
    parser.add_argument("--timeout", type=float, default=1200, help="longest wait for the background compilation [s]")
    parser.add_argument("--repeat", type=int, default=1, help="cold/warm pairs per demo (fastest shown)")
    parser.add_argument("--scratch", default=None, help="parent folder of the scratch data (default: $TMPDIR)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="tso3x-bench-first-run-", dir=args.scratch))
    try:
        install = fresh_venv(scratch) if args.fresh_venv else this_install()
        results = [
            bench("imaging", imaging_commands, install, scratch, args),
            bench("spectroscopy", spectroscopy_commands, install, scratch, args),
        ]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; tso3x: {install.tso3x}")
    print("imaging: nrc_tsimage_wlp8 60 integrations, 2 segments (tso3x run); spectroscopy: tso3x demo (NRS_BRIGHTOBJ)")
    head = ("first run", "warm run", "first-warm")
    print(f"{'demo':<14s} " + " ".join(f"{h:>11s}" for h in head) + f"  goal<=5s {'compiled':>11s} {'inline':>11s}")
    for result in results:
        print(result.row())
    print(f"fastest of {args.repeat}. first run: empty TSO3X_CACHE_DIR, numpy kernels, background compilation started;")
    print("warm run: after it wrote its marker. compiled: from the first run's start to the marker. inline: a first")
    print("run with TSO3X_KERNELS=numba (compiling in the run, as before).")


if __name__ == "__main__":
    main()
