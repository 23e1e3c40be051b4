"""Finding records in a JSON body and turning each into a flat record.

A record selector is a dotted path (`data.items`; `$` or empty for the body itself; numeric
segments index lists). Records are flattened like Singer's `flattening`: nested objects become
`parent.child` columns, lists become JSON text, so every value is a scalar the hub can stage.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

_MISSING = object()
_SCALARS = frozenset({str, int, float, bool, type(None)})


def path_parts(path: str | None) -> list[str]:
    """Segments of a dotted path; `$`, `$.a.b` and empty are all accepted."""
    text = (path or "").strip()
    if text in ("", "$"):
        return []
    if text.startswith("$."):
        text = text[2:]
    return [p for p in text.split(".") if p]


def select_path(body: Any, path: str | None, default: Any = _MISSING) -> Any:
    """The value at `path` in `body`; `default` when absent (KeyError when no default)."""
    value = body
    for part in path_parts(path):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif (
            isinstance(value, list)
            and part.lstrip("-").isdigit()
            and -len(value) <= int(part) < len(value)
        ):
            value = value[int(part)]
        else:
            if default is _MISSING:
                raise KeyError(part)
            return default
    return value


def select_records(body: Any, path: str | None) -> list[Any]:
    """The records a page holds; ValueError says what the body has instead.

    An explicit null (or an empty body) is an empty page; one object is one record.
    """
    if body is None:
        return []
    try:
        found = select_path(body, path)
    except KeyError as missing:
        raise ValueError(
            f"record_selector {path!r}: key {missing.args[0]!r} not found; the body has "
            f"{_describe(body)}"
        ) from None
    if found is None:
        return []
    if isinstance(found, list):
        return found
    if isinstance(found, Mapping):
        return [found]
    raise ValueError(
        f"record_selector {path!r} points at a {type(found).__name__}, not a list of records"
    )


def flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A flat record: nested objects as `a.b` columns, lists as JSON text, scalars unchanged."""
    flat: dict[str, Any] = {}
    _flatten_into(flat, record, prefix)
    return flat


def _flatten_into(flat: dict[str, Any], record: Mapping[str, Any], prefix: str) -> None:
    # exact type checks: decoded JSON holds only dict/list/scalars, and isinstance against
    # the Mapping ABC was the largest cost of reading a page
    for key, value in record.items():
        name = prefix + key if prefix else key
        kind = type(value)
        if kind in _SCALARS:
            flat[name] = value
        elif kind is dict or isinstance(value, Mapping):
            if value:
                _flatten_into(flat, value, name + ".")
            else:
                flat[name] = None
        elif kind is list or kind is tuple:
            flat[name] = orjson.dumps(value, default=str).decode()
        else:
            flat[name] = value


def _describe(body: Any) -> str:
    if isinstance(body, Mapping):
        keys = list(body)[:12]
        return "keys " + ", ".join(map(repr, keys)) if keys else "no keys"
    return f"a {type(body).__name__} at the top level (use record_selector '$')"
