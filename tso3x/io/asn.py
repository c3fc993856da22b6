"""Read a Level-3 ``tso3`` association (JSON) the way calwebb_tso3 reads it."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import Tso3xInputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Association:
    """The parts of a tso3 association that calwebb_tso3 uses.

    Attributes
    ----------
    path : Path
        The association file.
    asn_id : str
        Candidate identifier (``o001``, ``c1001``, ``a3001``…), inserted into crfints names.
    asn_pool : str
        Pool name, recorded as ASNPOOL in the products.
    product_name : str
        ``products[0].name``: the stem of the Stage 3 products.
    members : tuple of Path
        Science members (``exptype`` matching "science"), resolved relative to the association's folder,
        in association order.
    """

    path: Path
    asn_id: str
    asn_pool: str
    product_name: str
    members: tuple[Path, ...]

    @property
    def table_name(self) -> str:
        """File name of the association (ASNTABLE)."""
        return self.path.name


def _is_science(exptype: object) -> bool:
    """jwst keeps a member when ``re.match(exptype, "science", re.IGNORECASE)`` matches."""
    try:
        return re.match(str(exptype), "science", flags=re.IGNORECASE) is not None
    except re.error:
        return False


def open_asn(path: str | Path) -> Association:
    """Read and check a tso3 association.

    Parameters
    ----------
    path : str or Path
        The association JSON file.

    Returns
    -------
    Association

    Raises
    ------
    Tso3xInputError
        If the file is missing or not JSON, lacks ``asn_id``/``asn_pool``/``products``, has no science
        members, lists a member twice or names a member file that does not exist.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise Tso3xInputError(path, "association file not found") from None
    except IsADirectoryError:
        raise Tso3xInputError(path, "association is a directory, not a JSON file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise Tso3xInputError(path, f"cannot read association ({exc})") from None
    try:
        asn = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Tso3xInputError(path, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(asn, dict):
        raise Tso3xInputError(path, "association must be a JSON object")

    if asn.get("asn_type") != "tso3":
        log.warning("%s: asn_type is %r, not 'tso3'; processing it as a tso3 association", path, asn.get("asn_type"))
    for key in ("asn_id", "asn_pool"):
        if not isinstance(asn.get(key), str) or not asn[key]:
            raise Tso3xInputError(path, f"association has no '{key}'")

    products = asn.get("products")
    if not isinstance(products, list) or not products:
        raise Tso3xInputError(path, "association has no products")
    product = products[0]
    if not isinstance(product, dict) or not isinstance(product.get("name"), str) or not product["name"]:
        raise Tso3xInputError(path, "products[0] has no name")
    members = product.get("members")
    if not isinstance(members, list):
        raise Tso3xInputError(path, "products[0] has no members list")

    science: list[Path] = []
    for i, member in enumerate(members):
        if not isinstance(member, dict) or "expname" not in member or "exptype" not in member:
            raise Tso3xInputError(path, f"member {i} lacks 'expname' or 'exptype'")
        if not _is_science(member["exptype"]):
            continue
        science.append((path.parent / str(member["expname"])).resolve())
    if not science:
        raise Tso3xInputError(path, "association has no science members")
    seen: set[Path] = set()
    for member_path in science:
        if member_path in seen:
            raise Tso3xInputError(path, f"member {member_path.name} is listed twice")
        seen.add(member_path)
        if not member_path.is_file():
            raise Tso3xInputError(member_path, "member file not found")

    return Association(
        path=path.resolve(),
        asn_id=asn["asn_id"],
        asn_pool=asn["asn_pool"],
        product_name=product["name"],
        members=tuple(science),
    )
