"""The run manifest ``<product>_manifest.json``: what a run read, with which parameters, and what it wrote.

::

    {"manifest_version": 2, "tso3x_version": "...", "status": "running" | "complete" | "failed",
     "reason": null | "why it failed", "started": ISO time, "finished": ISO time or null, "host": ..., "pid": ...,
     "kernels": "numba" | "numpy", "association": path, "parameters": {...},
     "inputs": {path: {"role": ..., "xxh3_128": ..., "size": ..., "mtime_ns": ..., "ctime_ns": ..., "ino": ...}},
     "products": {name: {"xxh3_128": hex or null (not written), "size": ..., "recipe": hex or null,
                         "outliers": {"flagged": ..., "pixels": ...} (crfints only),
                         "kernels": "numba" | "numpy" | null}}}

``kernels`` says which kernels computed the products (:func:`tso3x.jit.choose`): the run's, and for each
product the run's that wrote it (a product kept from an earlier run keeps its entry).

Files are identified by their XXH3 128-bit hash (``xxhash``): a checksum against damage and changed
inputs, not a cryptographic signature, and about 15 times faster than SHA-256, so hashing the inputs and
products of a run costs well under a second of CPU per 10 GB read from the page cache. A product's
*recipe* is the SHA-256 of everything it is made from (tso3x version, the parameters that matter to it,
the hashes of its inputs): a rerun keeps a product whose recipe is unchanged and whose file still has the
recorded hash. A crfints also records the pixels outlier detection flagged in it out of all its pixels (SCI
values), which ``tso3x run`` sums up at its end. Manifests of version 1 (SHA-256) are read but their hashes
are not trusted: a rerun recomputes every product. The manifest is rewritten atomically (temporary file,
``fsync``, rename) whenever a product is complete, so after any interruption it lists only complete products.

:class:`Ledger` keeps the manifest of the run in progress; it hashes inputs and products on a background
thread so the hashing overlaps the computation.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import mmap
import os
import socket
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import xxhash

from ._version import __version__

log = logging.getLogger(__name__)

MANIFEST_VERSION = 2
#: the key of a file's hash in the manifest, and the algorithm
HASH = "xxh3_128"
_READ_BYTES = 8 * 2**20
#: what a product's entry may record besides its hash, size and recipe (kept with a product a rerun keeps)
_FACTS = ("outliers",)
_STAMP = ("size", "mtime_ns", "ctime_ns", "ino")


def new_digest():
    """A fresh digest of the manifest's hash (:data:`HASH`)."""
    return xxhash.xxh3_128()


#: Bytes of a file mapped at a time while hashing it (a multiple of mmap's granularity).
_HASH_WINDOW = 64 * 2**20


def hash_file(path: str | os.PathLike) -> str:
    """The manifest's hash (:data:`HASH`, hex) of a file, read through memory maps of
    :data:`_HASH_WINDOW` bytes one after the other (no copy out of the page cache, and at most one window of
    the file counted in the process's resident memory)."""
    digest = new_digest()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        for offset in range(0, size, _HASH_WINDOW):
            length = min(_HASH_WINDOW, size - offset)
            with mmap.mmap(f.fileno(), length, offset=offset, access=mmap.ACCESS_READ) as view:
                digest.update(view)
    return digest.hexdigest()


def stamp(path: str | os.PathLike) -> dict:
    """Size, modification and change times and inode of a file: if all are unchanged, so is the file."""
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "ino": st.st_ino}


def recipe(parameters: dict, input_hashes: list[str]) -> str:
    """SHA-256 of the tso3x version, parameters and input hashes a product is made from."""
    text = json.dumps(
        {"tso3x": __version__, "parameters": parameters, "inputs": input_hashes}, sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


def read_manifest(path: str | os.PathLike) -> dict | None:
    """A manifest, or None if there is none or it cannot be read (then a warning says so)."""
    try:
        manifest = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable manifest ignored (%s); every product is recomputed", path, exc)
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("products"), dict):
        log.warning("%s: not a tso3x manifest; ignored, every product is recomputed", path)
        return None
    return manifest


def _hashes_trusted(manifest: dict | None) -> dict:
    """The inputs and products of an earlier manifest whose hashes this version can compare."""
    if manifest is None or manifest.get("manifest_version") != MANIFEST_VERSION:
        if manifest is not None:
            log.info("manifest of an earlier tso3x version: every product is recomputed")
        return {"inputs": {}, "products": {}}
    return manifest


def write_manifest(path: str | os.PathLike, manifest: dict, tmp_dir: str | os.PathLike) -> None:
    """Write a manifest atomically: in ``tmp_dir`` first, flushed to disk, then renamed over ``path``."""
    tmp = Path(tmp_dir) / (Path(path).name + f".{os.getpid()}")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class Ledger:
    """The manifest of a run in progress.

    Parameters
    ----------
    path : Path
        ``OUTPUT_DIR/<product>_manifest.json``.
    tmp_dir : Path
        Where the manifest is written before it is renamed into place.
    association : Path
        The association file.
    parameters : dict
        The run's parameters (JSON-serialisable).
    inputs : dict
        Input file → role (``association``, ``segment``, ``override_gain`` …).
    previous : dict, optional
        The manifest an earlier run left (reused input hashes and products); None to recompute everything.
    kernels : {"numba", "numpy"}, optional
        The kernels the run computes with (recorded for the run and each product it writes).
    """

    def __init__(
        self,
        path: Path,
        tmp_dir: Path,
        association: Path,
        parameters: dict,
        inputs: dict[Path, str],
        previous: dict | None = None,
        kernels: str | None = None,
    ):
        self.path, self.tmp_dir = Path(path), Path(tmp_dir)
        self.kernels = kernels
        self.previous = _hashes_trusted(previous)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="tso3x-hash")
        self._inputs: dict[str, tuple[str, dict, Future | str]] = {}
        for file, role in inputs.items():
            key = os.fspath(file)
            now = stamp(file)
            old = self.previous["inputs"].get(key, {})
            same = old.get(HASH) and all(old.get(k) == now[k] for k in _STAMP)
            self._inputs[key] = (role, now, old[HASH] if same else self._pool.submit(hash_file, file))
        self._products: dict[str, dict] = {}
        self._facts: dict[str, dict] = {}  #: product → its _FACTS
        self._pending: dict[str, tuple[Path, Future]] = {}
        self._recipes: dict[str, tuple[dict, list[str]]] = {}
        self.manifest = {
            "manifest_version": MANIFEST_VERSION,
            "tso3x_version": __version__,
            "status": "running",
            "reason": None,
            "started": _now(),
            "finished": None,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "kernels": kernels,
            "association": os.fspath(association),
            "parameters": parameters,
        }

    def input_hash(self, file: str | os.PathLike) -> str:
        """The hash of an input (waits for it)."""
        value = self._inputs[os.fspath(file)][2]
        return value if isinstance(value, str) else value.result()

    def _recipe(self, name: str) -> str | None:
        """A product's recipe, or None while the hashes of its inputs are still being computed."""
        parameters, files = self._recipes[name]
        values = [self._inputs[f][2] for f in files]
        if not all(isinstance(v, str) or v.done() for v in values):
            return None
        return recipe(parameters, [self.input_hash(f) for f in files])

    def expect(self, name: str, parameters: dict, inputs: list[str | os.PathLike]) -> None:
        """Declare a product of the run, made from ``inputs`` with ``parameters``."""
        self._recipes[name] = (parameters, [os.fspath(f) for f in inputs])
        self._products[name] = {HASH: None, "size": None}

    def reusable(self, name: str, path: Path) -> bool:
        """Whether the product an earlier run left at ``path`` has this run's recipe and is intact."""
        old = self.previous["products"].get(name) or {}
        if not old.get(HASH) or not path.is_file():
            return False
        parameters, files = self._recipes[name]
        if old.get("recipe") != recipe(parameters, [self.input_hash(f) for f in files]):
            return False
        if path.stat().st_size != old.get("size") or hash_file(path) != old[HASH]:
            log.warning("%s: damaged since it was written; recomputing it", path.name)
            return False
        self._products[name] = {HASH: old[HASH], "size": old["size"], "kernels": old.get("kernels")}
        self._facts[name] = {k: old[k] for k in _FACTS if k in old}
        log.info("%s: complete and unchanged; kept", path.name)
        return True

    def done(self, name: str, path: Path, **facts) -> None:
        """Record a product that is complete (its hash is computed in the background), with what else its
        entry records (``outliers``)."""
        self._facts[name] = {k: v for k, v in facts.items() if k in _FACTS}
        self._pending[name] = (Path(path), self._pool.submit(hash_file, path))
        self.save()

    def drop(self, name: str) -> None:
        """Forget a declared product that the run does not write after all (NIS_SOSS spectra)."""
        self._products.pop(name, None)
        self._recipes.pop(name, None)

    def complete(self) -> tuple[int, int]:
        """(products complete, products of the run)."""
        done = sum(1 for name, entry in self._products.items() if entry[HASH] or name in self._pending)
        return done, len(self._products)

    def _collect(self, wait: bool) -> None:
        for name, (path, future) in list(self._pending.items()):
            if wait or future.done():
                self._products[name] = {HASH: future.result(), "size": path.stat().st_size, "kernels": self.kernels}
                del self._pending[name]

    def save(self, status: str = "running", reason: str | None = None, wait: bool = False) -> None:
        """Write the manifest with what is known now (``wait``: every hash)."""
        self._collect(wait)
        inputs = {}
        for key, (role, st, value) in self._inputs.items():
            digest = value if isinstance(value, str) else value.result() if (wait or value.done()) else None
            inputs[key] = {"role": role, HASH: digest, **st}
        products = {}
        for name, entry in self._products.items():
            entry = dict(entry)
            entry["recipe"] = self._recipe(name) if entry[HASH] else None
            products[name] = {**entry, **self._facts.get(name, {})}
        self.manifest.update(status=status, reason=reason, inputs=inputs, products=products)
        if status != "running":
            self.manifest["finished"] = _now()
        write_manifest(self.path, self.manifest, self.tmp_dir)

    def finish(self, status: str, reason: str | None = None) -> bool:
        """Wait for every hash, write the final manifest (status ``complete`` or ``failed``), stop hashing.

        Returns False (after logging why) if the manifest could not be written.
        """
        try:
            self.save(status, reason, wait=True)
        except OSError as exc:
            log.error("%s: could not write the manifest (%s)", self.path, exc)
            return False
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)
        return True
