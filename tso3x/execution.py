"""Where tso3x's dask graphs run, and the progress shown while they do.

:func:`cluster` picks the ``distributed.Client`` of a run: the one given, one connected to a scheduler
address (what dask-jobqueue, dask-gateway or a Kubernetes deployment hand out), the active client, or a
``LocalCluster`` started for the run and closed after it. ``scheduler="threads"`` or ``"synchronous"``
runs on dask's local schedulers instead (no cluster; handy for debugging).

:func:`compute` is what every step calls instead of :func:`dask.compute`: on a distributed client it
submits the graph, shows the progress of its tasks (:class:`Progress`: a bar on a terminal, occasional log
lines elsewhere; nothing when the run is quiet) and gathers the small per-chunk results. The choices travel
in dask's config (``tso3x.progress``) set by :func:`cluster`, so the steps take no extra arguments.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Protocol

import dask

from . import console

log = logging.getLogger(__name__)

LOCAL_SCHEDULERS = ("threads", "synchronous")


def _active_client():
    from distributed import get_client

    try:
        return get_client()
    except ValueError:
        return None


def default_workers() -> tuple[int, int]:
    """(workers, threads per worker) of the default LocalCluster: one worker using every core.

    tso3x's kernels release the GIL (numpy, numba, file reads), so threads share chunks without copies.
    That default worker runs inside the calling process (``processes=False``): no worker process to start
    and import tso3x in, no results crossing processes (7 s of a 24 s run on the 2.8 GB benchmark
    exposure). ``--workers N`` starts N worker processes instead.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return 1, max(1, cores)


@contextlib.contextmanager
def cluster(
    client=None,
    scheduler: str | None = None,
    workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: str | None = None,
    quiet: bool = False,
) -> Iterator[object]:
    """Run the enclosed tso3x computations on a dask cluster; yields the client (None for local schedulers).

    Parameters
    ----------
    client : distributed.Client, optional
        Use this client (not closed afterwards).
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``), or ``"threads"`` / ``"synchronous"`` for
        dask's local schedulers.
    workers, threads_per_worker : int, optional
        Size of the LocalCluster started when there is no client, address or active client: ``workers``
        worker processes, or by default one in-process worker with a thread per core
        (:func:`default_workers`).
    memory_limit : str, optional
        Memory limit per worker of that LocalCluster (dask syntax: ``"4GB"``, ``"auto"``).
    quiet : bool
        No progress and no dashboard link (at info level; debug has it).
    """
    progress = not quiet
    # tso3x rechunks only to merge small pieces: plain tasks beat the p2p shuffle distributed defaults to
    settings = {"tso3x.progress": progress, "array.rechunk.method": "tasks"}
    # a graph grows with the integrations (~3 kB each: chunk tasks and their file offsets); that is expected
    settings["distributed.admin.large-graph-warning-threshold"] = "1GB"
    if scheduler in LOCAL_SCHEDULERS:
        with dask.config.set(scheduler=scheduler, **settings):
            yield None
        return
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if client is None and scheduler is not None:
            client = stack.enter_context(Client(scheduler))
            log.info("connected to the dask scheduler at %s", scheduler)
        if client is None:
            client = _active_client()
        if client is None:
            n, threads = default_workers()
            local = stack.enter_context(
                LocalCluster(
                    n_workers=workers or n,
                    processes=bool(workers),
                    threads_per_worker=threads_per_worker or (threads if not workers else 1),
                    memory_limit=memory_limit or "auto",
                    dashboard_address=":0",
                    silence_logs=logging.CRITICAL,  # workers losing the scheduler at shutdown is not news
                )
            )
            client = stack.enter_context(Client(local))
            log.log(logging.INFO if progress else logging.DEBUG, "dask dashboard: %s", client.dashboard_link)
        with dask.config.set(scheduler=client, **settings):
            yield client


class Progress:
    """The progress of one phase while its tasks complete.

    On a terminal, a bar on the console (:mod:`tso3x.console`: log lines never run into it), redrawn every
    ``tick`` seconds so its clock runs, and cleared at the end. Elsewhere (a log file, a batch job) a plain
    info line ``<label>: <done>/<total> tasks, <t> s`` after 10 s and then ever less often (every time the
    elapsed time has grown by half). Either way the phase ends with one info line, ``<label>: <n> tasks in
    <t> s``. Shown only while the run is not quiet (dask config ``tso3x.progress``).

    Parameters
    ----------
    label : str
        The phase.
    total : int
        Its tasks.
    tick : float
        Seconds between redraws and checks.
    start : float, optional
        When the phase started (``time.perf_counter()``; default: now).
    """

    first_report = 10.0

    def __init__(self, label: str, total: int, tick: float = 0.5, start: float | None = None) -> None:
        self.label, self.total, self.done = label, total, 0
        self.start = time.perf_counter() if start is None else start
        self._lock = threading.Lock()  # the ticker thread shows the progress too
        self.shown = bool(dask.config.get("tso3x.progress", False))
        self.console = console.current()
        self.bar = self.shown and self.console.is_terminal()
        self._next_report = self.first_report
        self._stop = threading.Event()
        self._ticker = None
        if self.shown:
            self._ticker = threading.Thread(target=self._tick, args=(tick,), daemon=True, name="tso3x-progress")
            self._ticker.start()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def update(self, done: int) -> None:
        """``done`` tasks of the phase are complete."""
        self.done = done
        self._show()

    def _show(self) -> None:
        with self._lock:
            if self.bar:
                self.console.draw_bar(console.bar_text(self.label, self.done, self.total, self.elapsed()))
            elif self.shown and self.elapsed() >= self._next_report and self.done < self.total:
                log.info("%s: %d/%d tasks, %.0f s", self.label, self.done, self.total, self.elapsed())
                self._next_report = max(self._next_report + self.first_report, 1.5 * self.elapsed())

    def _tick(self, every: float) -> None:
        while not self._stop.wait(every):
            self._show()

    def close(self, completed: bool = True) -> None:
        """Stop showing the phase; with ``completed``, log how long it took."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self.bar:
            self.console.clear_bar()
        if completed:
            log.info("%s: %d tasks in %.1f s", self.label, self.total, self.elapsed())


def compute(*collections, label: str = "computing") -> tuple:
    """:func:`dask.compute` on the run's scheduler, with a progress bar on a distributed client.

    Parameters
    ----------
    *collections
        Dask collections (or nested lists of them) whose results are small.
    label : str
        The phase shown next to the bar.
    """
    return compute_alongside(collections, (), label=label)


def _compute_flat(flat: list, **kwargs) -> list:
    """``dask.compute`` of a flat list, with Delayed objects last: dask 2026.8 mis-assigns the results of
    collections that follow an xarray ``to_zarr(compute=False)`` Delayed in one call."""
    from dask.delayed import Delayed

    order = sorted(range(len(flat)), key=lambda i: isinstance(flat[i], Delayed))
    results = dask.compute(*(flat[i] for i in order), **kwargs)
    out: list = [None] * len(flat)
    for i, value in zip(order, results, strict=True):
        out[i] = value
    return out


def _run_client():
    """The distributed client the run's computations go to, or None on dask's local schedulers."""
    scheduler = dask.config.get("scheduler", None)
    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler
    return _active_client() if scheduler is None else None


def on_client() -> bool:
    """Whether computations run on a distributed client, which finishes each group of
    :func:`compute_each` as soon as it is done, so products can share one pass over the data."""
    return _run_client() is not None


def compute_each(items: list[list], label: str = "computing") -> Iterator[tuple[int, list]]:
    """Compute several groups of dask collections in one submission; yield ``(index, results)`` of each
    group as soon as all of its tasks are done (so its product can be finished while the others run).

    A failing task fails its groups only: the others still complete and are yielded (a crfints of an
    earlier segment is finished even when a later one cannot be written), then the first failure is
    raised from the generator. On dask's local schedulers the groups are computed one after the other
    (tasks they share are computed again: see :func:`on_client`).
    """
    client = _run_client()
    if client is None or not any(items):
        for i, group in enumerate(items):
            yield i, _compute_flat(group)
        return
    from distributed import as_completed, futures_of

    start = time.perf_counter()
    flat = client.persist([c for group in items for c in group])  # one graph: shared tasks are one task
    persisted, k = [], 0
    for group in items:
        persisted.append(flat[k : k + len(group)])
        k += len(group)
    owner, left = {}, []
    for i, group in enumerate(persisted):
        keys = {f.key: f for f in futures_of(group)}
        left.append(len(keys))
        for key in keys:
            owner.setdefault(key, []).append(i)
    futures = [f for group in persisted for f in futures_of(group)]
    unique = list({f.key: f for f in futures}.values())
    for i, n in enumerate(left):
        if n == 0:
            yield i, _compute_flat(persisted[i], scheduler=client)
    progress, failure = Progress(label, len(unique), start=start), None
    try:
        for done, future in enumerate(as_completed(unique), start=1):
            progress.update(done)
            if future.status == "error":
                failure = failure or future  # its groups never complete; the others go on
                continue
            for i in owner[future.key]:
                left[i] -= 1
                if left[i] == 0:
                    yield i, _compute_flat(persisted[i], scheduler=client)
    finally:
        progress.close(completed=failure is None and progress.done == len(unique))
    if failure is not None:
        failure.result()  # raises the task's exception


class PendingGroups(Protocol):
    """Products whose dask tasks come in groups, each finished (sealed, renamed) as soon as it is done."""

    groups: list[list]

    def finish(self, i: int, results: list) -> None: ...


def compute_alongside(main: list | tuple, pending: Sequence[PendingGroups] = (), label: str = "computing") -> tuple:
    """Compute ``main`` (dask collections, possibly in nested lists) in one submission with the groups of
    other products, finishing each of those as soon as its tasks are done; returns ``main``'s results.

    Tasks shared between them (the flagged chunks that both the crfints writes and the extraction read) run
    once: this is how an exposure is flagged, written and measured in a single pass.
    """
    flat, structure = _flatten(main)
    owners = [(p, j) for p in pending for j in range(len(p.groups))]
    groups = [p.groups[j] for p, j in owners] + [flat]
    main_results: list = []
    for i, results in compute_each(groups, label=label):
        if i < len(owners):
            owner, j = owners[i]
            owner.finish(j, results)
        else:
            main_results = results
    return _rebuild(main_results, structure)


def _flatten(items) -> tuple[list, object]:
    """Dask collections of nested lists/tuples, in order, and the nesting to rebuild the results with."""
    flat: list = []

    def walk(item):
        if isinstance(item, (list, tuple)):
            return (type(item), [walk(x) for x in item])
        if not dask.is_dask_collection(item):
            return ("constant", item)
        flat.append(item)
        return None

    return flat, walk(tuple(items))


def _rebuild(results: list, structure) -> object:
    results = iter(results)

    def build(node):
        if node is None:
            return next(results)
        kind, children = node
        if kind == "constant":
            return children
        return kind(build(c) for c in children)

    return build(structure)
