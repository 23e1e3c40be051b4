"""Golden ids: short, stable, never reused.

A new cluster's id is derived from its smallest member key, so a full rebuild of the same data in
any order mints the same ids; an existing cluster keeps the id it already has (see store).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

ID_PREFIX = "G"
_DIGEST_CHARS = 12


def mint_golden_id(member_keys: Iterable[str], salt: int = 0) -> str:
    """Return the id for a new cluster; `salt` > 0 gives the next candidate after a collision.

    Args:
        member_keys: stable keys of the cluster's members, such as ``source/stream/source_id``.
        salt: bumped by the caller when the first candidate is already taken or was retired.
    """
    smallest = min(member_keys)
    material = smallest if salt == 0 else f"{smallest}#{salt}"
    digest = hashlib.blake2b(material.encode("utf-8"), digest_size=8).hexdigest()
    return f"{ID_PREFIX}{digest[:_DIGEST_CHARS].upper()}"
