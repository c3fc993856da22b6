"""``tso3x verify OUTPUT_DIR``: check every product against its run manifest and its FITS checksums.

Each ``*_manifest.json`` of the folder is read; every product it lists must exist with the recorded size
and hash (XXH3-128), and a FITS product must also pass its CHECKSUM/DATASUM test (every HDU sums to −0, DATASUM
matches the data). A manifest whose run did not complete is itself a problem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Tso3xInputError
from .io import checksum
from .io.fitsfile import read_layout
from .manifest import _READ_BYTES, HASH, MANIFEST_VERSION, hash_file, new_digest, read_manifest
from .product_names import SUFFIXES

_ALL_ONES = 0xFFFFFFFF


@dataclass
class Report:
    """What :func:`verify` found: the files checked and one line per problem."""

    checked: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _region_sum(f, offset: int, size: int, digest) -> int:
    """Ones'-complement sum of ``size`` bytes at ``offset`` (a multiple of 4), also fed to ``digest``."""
    total, done = 0, 0
    f.seek(offset)
    while done < size:
        buf = f.read(min(_READ_BYTES, size - done))
        if not buf:
            raise EOFError
        digest.update(buf)
        total = checksum.add(total, checksum.bytes_sum(buf[: len(buf) - len(buf) % 4]))
        done += len(buf)
    return total


def fits_problems(path: str | os.PathLike) -> tuple[list[str], str]:
    """CHECKSUM/DATASUM problems of a FITS file (``<file>[<HDU>]: <problem>``, one pass) and its manifest hash."""
    try:
        layout = read_layout(path)
    except Tso3xInputError as exc:
        return [f"{path}: {exc.problem}"], hash_file(path)
    problems: list[str] = []
    digest = new_digest()
    with open(path, "rb") as f:
        for hdu in layout:
            where = f"{path}[{hdu.name if hdu.index else 'PRIMARY'}]"
            try:
                head = _region_sum(f, hdu.header_offset, hdu.data_offset - hdu.header_offset, digest)
                data = _region_sum(f, hdu.data_offset, hdu.data_size, digest)
            except EOFError:
                problems.append(f"{where}: truncated")
                break
            if "CHECKSUM" not in hdu.header or "DATASUM" not in hdu.header:
                problems.append(f"{where}: no CHECKSUM/DATASUM")
            elif str(hdu.header["DATASUM"]) != str(data):
                problems.append(f"{where}: damaged (DATASUM does not match the data)")
            elif checksum.add(head, data) != _ALL_ONES:
                problems.append(f"{where}: damaged (CHECKSUM does not match)")
        while buf := f.read(_READ_BYTES):  # bytes after the last HDU
            digest.update(buf)
    return problems, digest.hexdigest()


def verify_manifest(manifest_path: Path) -> Report:
    """Check the products of one manifest (in the manifest's folder)."""
    report = Report()
    manifest = read_manifest(manifest_path)
    if manifest is None:
        report.problems.append(f"{manifest_path}: unreadable manifest")
        return report
    if manifest.get("manifest_version") != MANIFEST_VERSION:
        version = manifest.get("manifest_version")
        report.problems.append(f"{manifest_path}: manifest version {version}; rerun with this tso3x to verify")
        return report
    if manifest.get("status") != "complete":
        reason = manifest.get("reason") or "it did not finish"
        report.problems.append(f"{manifest_path}: run {manifest.get('status')}: {reason}")
    for name, entry in manifest["products"].items():
        path = manifest_path.parent / name
        report.checked.append(path)
        if not entry.get(HASH):
            report.problems.append(f"{path}: missing (the run did not write it)")
            continue
        if not path.is_file():
            report.problems.append(f"{path}: missing")
            continue
        if path.stat().st_size != entry.get("size"):
            report.problems.append(f"{path}: damaged (size differs from the manifest)")
            continue
        if path.suffix == ".fits":
            problems, digest = fits_problems(path)
            report.problems += problems
        else:
            digest = hash_file(path)
        if digest != entry[HASH]:
            report.problems.append(f"{path}: damaged (hash differs from the manifest)")
    return report


def verify(output_dir: str | os.PathLike) -> Report:
    """Check every product of an output folder against its manifest(s) and FITS checksums.

    Parameters
    ----------
    output_dir : path
        A folder ``tso3x run`` wrote into.

    Returns
    -------
    Report
        ``report.ok`` is True when every product of every manifest is present and intact.

    Raises
    ------
    Tso3xInputError
        If the folder does not exist or holds no manifest.
    """
    out = Path(output_dir)
    if not out.is_dir():
        raise Tso3xInputError(out, "output directory not found")
    manifests = sorted(out.glob(f"*{SUFFIXES['manifest']}"))
    if not manifests:
        raise Tso3xInputError(out, f"no *{SUFFIXES['manifest']} in the output directory")
    report = Report()
    for path in manifests:
        one = verify_manifest(path)
        report.checked += one.checked
        report.problems += one.problems
    return report
