"""Every input is read once: header parses per file and WCS decodes per segment during one ``tso3x.run``;
and the layering of the package (``tso3x.io`` reads and writes, it does not compute or call steps).

Header parses are counted where astropy parses them (``_BaseHDU._readfrom_internal`` reading from a file,
whichever reader calls it: ``fits.open``, stdatamodels, ``fits.getheader``), per file and header offset;
the EXTRACT1D JSON by the opens of it (except the manifest's hashing of its bytes, which parses nothing).
"""

from __future__ import annotations

import ast
import collections
import importlib
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

import tso3x

ROOT = Path(tso3x.__file__).parent

#: the open() audit hook records only while a counter is active (hooks cannot be removed)
_ACTIVE: list[collections.Counter] = []


def _audit(event: str, args) -> None:
    if event == "open" and _ACTIVE and isinstance(args[0], str | os.PathLike):
        caller = sys._getframe(1).f_code
        if caller.co_name == "hash_file" and caller.co_filename.endswith("manifest.py"):
            return  # the manifest hashes bytes; it parses nothing
        _ACTIVE[-1][os.path.realpath(os.fspath(args[0]))] += 1


sys.addaudithook(_audit)


@contextmanager
def counting(monkeypatch):
    """Yield (header parses per (file, offset), opens per file, WCS decodes per segment file)."""
    from astropy.io.fits.file import _File
    from astropy.io.fits.hdu.base import _BaseHDU

    import tso3x.io.calints as calints

    headers: collections.Counter = collections.Counter()
    texts: collections.Counter = collections.Counter()
    wcs: collections.Counter = collections.Counter()
    original = _BaseHDU._readfrom_internal.__func__

    def readfrom(cls, data, header=None, *args, **kwargs):
        if isinstance(data, _File) and header is None and isinstance(data.name, str):
            headers[(os.path.realpath(data.name), data.tell())] += 1
        return original(cls, data, header, *args, **kwargs)

    monkeypatch.setattr(_BaseHDU, "_readfrom_internal", classmethod(readfrom))
    decode = calints.decode_wcs

    def counted_decode(path, *args, **kwargs):
        wcs[os.path.realpath(path)] += 1
        return decode(path, *args, **kwargs)

    monkeypatch.setattr(calints, "decode_wcs", counted_decode)
    _ACTIVE.append(texts)
    try:
        yield headers, texts, wcs
    finally:
        _ACTIVE.remove(texts)


def per_file(headers: collections.Counter) -> dict[str, tuple[int, int]]:
    """File → (header parses, distinct headers parsed)."""
    out: dict[str, list[int]] = {}
    for (path, _), n in headers.items():
        total, distinct = out.get(path, (0, 0))
        out[path] = (total + n, distinct + 1)
    return out


def assert_read_once(headers, inputs: list[Path]) -> None:
    files = per_file(headers)
    for path in inputs:
        path = os.path.realpath(path)
        assert path in files, f"{path} was never read"
        total, distinct = files[path]
        assert total == distinct, f"{Path(path).name}: {total} header parses of {distinct} headers"


@pytest.fixture
def spectroscopic(tmp_path_factory):
    from tso3x.simulate import simulate
    from tso3x.simulate.reffiles import write_apcorr

    folder = tmp_path_factory.mktemp("read_once_spec")
    exp = simulate("nrs_brightobj", folder, nints=12, nseg=3, seed=5, shape=(32, 256))
    return exp, write_apcorr(folder / "apcorr_sim.fits", exp)


@pytest.fixture
def imaging(tmp_path_factory):
    from tso3x.simulate import simulate

    folder = tmp_path_factory.mktemp("read_once_phot")
    return simulate("nrc_tsimage_clear", folder, nints=12, nseg=3, seed=5, shape=(40, 40), bunit="DN/s")


@pytest.mark.slow
def test_spectroscopy_reads_every_input_once(spectroscopic, tmp_path, monkeypatch):
    exp, apcorr = spectroscopic
    with counting(monkeypatch) as (headers, texts, wcs):
        tso3x.run(exp.asn, tmp_path, chunk_mb=0.05, override_extract1d=exp.extract1d, override_apcorr=apcorr)
    assert_read_once(headers, [*exp.segments, apcorr])
    assert texts[os.path.realpath(exp.extract1d)] == 1
    for seg in exp.segments:
        assert wcs[os.path.realpath(seg)] <= 1, f"{seg.name}: WCS decoded {wcs[os.path.realpath(seg)]} times"


@pytest.mark.slow
def test_imaging_reads_every_input_once(imaging, tmp_path, monkeypatch):
    exp = imaging
    with counting(monkeypatch) as (headers, _, wcs):
        tso3x.run(exp.asn, tmp_path, chunk_mb=0.05, override_gain=exp.gain)
    assert_read_once(headers, [*exp.segments, exp.gain])
    for seg in exp.segments:
        assert wcs[os.path.realpath(seg)] <= 1, f"{seg.name}: WCS decoded {wcs[os.path.realpath(seg)]} times"


def _module(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _imports(path: Path, top_level: bool = False) -> set[str]:
    """Absolute names of the tso3x modules a source file imports (anywhere, or at module level only)."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            out.add(name)
            out.update(f"{name}.{alias.name}" for alias in node.names)
    return {n for n in out if n == "tso3x" or n.startswith("tso3x.")}


def _sources() -> dict[str, Path]:
    return {_module(p): p for p in ROOT.rglob("*.py") if "simulate" not in p.parts}


#: Layers point one way (kernels ← steps ← modes ← pipeline ← cli; io reads and writes): what each may not import.
FORBIDDEN = {
    "tso3x.kernels.": ("tso3x.steps", "tso3x.modes", "tso3x.pipeline", "tso3x.cli", "tso3x.io", "tso3x.execution"),
    "tso3x.io.": ("tso3x.steps", "tso3x.modes", "tso3x.pipeline", "tso3x.cli", "tso3x.execution"),
    "tso3x.steps.": ("tso3x.modes", "tso3x.pipeline", "tso3x.cli"),
    "tso3x.modes.": ("tso3x.pipeline", "tso3x.cli"),
    "tso3x.config": ("tso3x.steps", "tso3x.modes", "tso3x.pipeline", "tso3x.cli", "tso3x.io", "tso3x.execution"),
}


def test_io_imports_no_steps_or_execution():
    """io imports neither steps nor execution, and no layer imports one above it."""
    for name, path in _sources().items():
        for layer, forbidden in FORBIDDEN.items():
            if name.startswith(layer):
                bad = sorted(n for n in _imports(path) if n.startswith(forbidden))
                assert not bad, f"{name} imports {bad}"


def test_no_import_cycle():
    """The module-level imports between tso3x modules form no cycle (each module imports first alone)."""
    sources = _sources()
    graph = {
        name: {n for n in _imports(path, top_level=True) if n in sources and n != name}
        for name, path in sources.items()
    }
    for name in graph:  # a module's package __init__ runs first, so it is no edge back
        graph[name] = {n for n in graph[name] if not name.startswith(n + ".")}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt] if nxt in stack else [node, nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    for name in sorted(sources):
        importlib.import_module(name)


def test_tables_read_at_their_offset_equal_astropys(tmp_path):
    """read_table decodes rows from the parsed header: numbers, vectors, strings and logicals as astropy does."""
    import numpy as np
    from astropy.io import fits

    from tso3x.io.fitsfile import read_layout, read_table

    cols = [
        fits.Column("flags", "3L", array=np.array([[True, False, True], [False, False, True]])),
        fits.Column("ok", "L", array=[True, False]),
        fits.Column("value", "D", array=[1.5, -2.25]),
        fits.Column("vector", "2J", array=[[1, 2], [3, 4]]),
        fits.Column("name", "8A", array=["seg001", "seg002"]),
    ]
    path = tmp_path / "table.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(cols, name="T")]).writeto(path)
    ours, theirs = read_table(path, read_layout(path)[1]), fits.getdata(path, 1)
    assert ours["name"].tolist() == [b"seg001", b"seg002"]  # raw bytes, as np.array of astropy's FITS_rec
    for name in ("flags", "ok", "value", "vector"):
        assert np.asarray(ours[name]).tolist() == np.asarray(theirs[name]).tolist(), name


def test_hash_file_maps_one_window_at_a_time(tmp_path, monkeypatch):
    """The manifest's hash of a file several windows long (and of an empty one) is the hash of its bytes."""
    import mmap

    import numpy as np
    import xxhash

    from tso3x import manifest

    monkeypatch.setattr(manifest, "_HASH_WINDOW", mmap.ALLOCATIONGRANULARITY)
    data = np.random.default_rng(0).bytes(int(3.5 * mmap.ALLOCATIONGRANULARITY))
    for name, content in (("some.bin", data), ("empty.bin", b"")):
        (tmp_path / name).write_bytes(content)
        assert manifest.hash_file(tmp_path / name) == xxhash.xxh3_128(content).hexdigest()
