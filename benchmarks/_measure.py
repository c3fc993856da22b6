"""Shared helpers of the benchmark scripts: run a command, sample the memory of its process tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass

import psutil


@dataclass
class Measurement:
    label: str
    wall_s: float
    peak_rss_mb: float

    def row(self) -> str:
        return f"{self.label:<34s} {self.wall_s:9.2f} s {self.peak_rss_mb:9.0f} MB"


def tree_rss(proc: psutil.Process) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def measure(label: str, cmd: list[str], interval: float = 0.2, env: dict | None = None, stderr=None) -> Measurement:
    """Run ``cmd`` after flushing dirty pages; return its wall time and the peak RSS of its process tree
    (``stderr``: where its stderr goes, default ours)."""
    os.sync()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, tree_rss(ps))
        except psutil.Error:
            pass
        time.sleep(interval)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"benchmark step failed ({label}): {' '.join(cmd)} exited {proc.returncode}")
    return Measurement(label, wall, peak / 2**20)


def warm_page_cache(paths) -> None:
    """Read files once so every contender starts with them in the page cache."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(64 * 2**20):
                pass


def best_of(label: str, cmd: list[str], repeat: int, output_dir) -> Measurement:
    """The fastest of ``repeat`` runs of ``cmd`` (peak memory: the largest seen); ``output_dir`` is emptied
    before each run and holds the last run's output afterwards."""
    runs = []
    for _ in range(max(1, repeat)):
        shutil.rmtree(output_dir, ignore_errors=True)
        os.makedirs(output_dir)
        runs.append(measure(label, cmd))
    return Measurement(label, min(r.wall_s for r in runs), max(r.peak_rss_mb for r in runs))
