"""FITS CHECKSUM/DATASUM (the 32-bit ones'-complement checksum of the FITS standard, Appendix J).

Sums are additive over any split of the data at 32-bit word boundaries, so chunks written in parallel
each return their partial sum and :func:`add` combines them.
"""

from __future__ import annotations

import warnings

import numpy as np
from astropy.io import fits

from ..jit import NUMBA, check, frozen, njit

_MASK = 0xFFFFFFFF
_EXCLUDE = frozenset(range(0x3A, 0x41)) | frozenset(range(0x5B, 0x61))
CHECKSUM_PLACEHOLDER = "0" * 16


def fold(total: int) -> int:
    """Fold carries above 32 bits back in (end-around carry)."""
    while total > _MASK:
        total = (total & _MASK) + (total >> 32)
    return total


def add(*sums: int) -> int:
    """Ones'-complement sum of partial checksums."""
    return fold(sum(sums))


def words_sum(words: np.ndarray) -> int:
    """Ones'-complement sum of an array of 32-bit words given as their unsigned values."""
    return fold(int(np.asarray(words, dtype=np.uint32).sum(dtype=np.uint64)))


@njit(nogil=True)
def _to_disk(words, flip, out):  # pragma: no cover - numba
    total = np.uint64(0)
    for i in range(words.size):
        w = words[i] ^ flip
        total += np.uint64(w)
        out[i] = ((w & 0xFF) << 24) | ((w & 0xFF00) << 8) | ((w >> 8) & 0xFF00) | (w >> 24)
    return total


def _to_disk_np(words, flip, out):
    """:func:`_to_disk` in three numpy passes (integer arithmetic: bit-identical)."""
    np.bitwise_xor(words, flip, out=out)
    total = out.sum(dtype=np.uint64)
    out.byteswap(inplace=True)
    return total


def disk_bytes(block: np.ndarray, kernels: str = NUMBA) -> tuple[np.ndarray, int]:
    """A float32 or uint32 block as FITS stores it (big-endian; uint32 shifted by BZERO = 2**31) and the
    ones'-complement sum of its words, in one pass (``kernels="numpy"``: three passes of numpy, same result).

    Returns
    -------
    words : ndarray of uint32
        The bytes to write (``words.tobytes()`` is the on-disk data).
    partial_sum : int
        The block's contribution to DATASUM (combine with :func:`add`).
    """
    if block.dtype == np.uint32:
        flip = np.uint32(2**31)
    elif block.dtype == np.float32:
        flip = np.uint32(0)
    else:
        raise TypeError(f"disk_bytes writes float32 or uint32 blocks, not {block.dtype}")
    words = np.ascontiguousarray(block).reshape(-1).view(np.uint32)
    out = np.empty_like(words)
    impl = _to_disk if check(kernels) == NUMBA else _to_disk_np
    total = impl(frozen(words), flip, out)
    return out.reshape(block.shape), fold(int(total))


def bytes_sum(data: bytes | memoryview) -> int:
    """Ones'-complement sum of big-endian 32-bit words (length a multiple of 4)."""
    return words_sum(np.frombuffer(data, dtype=">u4"))


def encode(value: int) -> str:
    """The 16-character ASCII encoding of a 32-bit checksum value (FITS checksum convention)."""
    out = [0] * 16
    for i, byte in enumerate(value.to_bytes(4, "big")):
        quotient, remainder = divmod(byte, 4)
        ch = [quotient + 0x30] * 4
        ch[0] += remainder
        changed = True
        while changed:
            changed = False
            for j in (0, 2):
                while ch[j] in _EXCLUDE or ch[j + 1] in _EXCLUDE:
                    ch[j] += 1
                    ch[j + 1] -= 1
                    changed = True
        for j in range(4):
            out[4 * j + i] = ch[j]
    return bytes(out[15:] + out[:15]).decode("ascii")


def header_bytes(header: fits.Header) -> bytes:
    """A header as padded FITS bytes; over-long comments are truncated silently, as jwst's files have them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        return header.tostring().encode("ascii")


def reserve_cards(header: fits.Header) -> None:
    """Add (or reset) CHECKSUM and DATASUM cards so the header length is final before data are written."""
    header["CHECKSUM"] = (CHECKSUM_PLACEHOLDER, "HDU checksum")
    header["DATASUM"] = ("0", "data unit checksum")


def sealed_header(header: fits.Header, datasum: int) -> bytes:
    """Header bytes with DATASUM set and CHECKSUM making the whole HDU sum to -0."""
    header = header.copy()
    header["DATASUM"] = str(datasum)
    header["CHECKSUM"] = CHECKSUM_PLACEHOLDER
    total = add(bytes_sum(header_bytes(header)), datasum)
    header["CHECKSUM"] = encode(~total & _MASK)
    return header_bytes(header)
