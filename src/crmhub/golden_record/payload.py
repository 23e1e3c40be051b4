"""What `source_record.raw` holds, and how the source's full record is rebuilt from a stored row.

A field that is the single source of a canonical column is stored once, in that column, as
long as the column gives it back exactly: a non-empty string (the canonical text of a string
is the string itself). Everything else stays in `raw`: unmapped fields, fields that are only
part of a joined mapping, and one-to-one fields whose value is null, empty or not a string
(numbers, booleans). So `raw` plus the canonical columns is the record the source sent, value
for value, and the content hash (always computed over that full record) can be recomputed
from a stored row. Halving the bytes per staged row is what makes bulk loads fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
import sqlalchemy as sa

_DUMPS_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def single_sources(mapping: Mapping[str, str | Iterable[str]]) -> dict[str, str]:
    """Source field -> the canonical column it alone fills (first such column wins)."""
    out: dict[str, str] = {}
    for canonical, sources in mapping.items():
        fields = (sources,) if isinstance(sources, str) else tuple(sources)
        if len(fields) == 1:
            out.setdefault(fields[0], canonical)
    return out


def is_in_column(value: Any) -> bool:
    """True when a one-to-one field's value lives in its canonical column instead of `raw`."""
    return value.__class__ is str and value != ""


def raw_fields(record: Mapping[str, Any], sources: Mapping[str, str]) -> dict[str, Any]:
    """The fields of `record` that `raw` keeps (see the module docstring)."""
    return {k: v for k, v in record.items() if k not in sources or not is_in_column(v)}


def dump_raw(
    record: Mapping[str, Any], sources: Mapping[str, str], default: Callable[[Any], Any]
) -> str:
    """`raw` of a record: its kept fields as JSON with sorted keys."""
    kept = raw_fields(record, sources)
    return orjson.dumps(kept, default=default, option=_DUMPS_OPTIONS).decode()


def rebuild_record(
    raw: str | Mapping[str, Any] | None,
    canonical: Mapping[str, Any] | sa.RowMapping,
    sources: Mapping[str, str],
) -> dict[str, Any]:
    """The record as the source holds it: `raw` plus the one-to-one fields from their columns.

    Args:
        raw: the stored `raw` (JSON text, or already parsed).
        canonical: the row's canonical columns by name (other keys are ignored).
        sources: `single_sources` of the stream's mapping.
    """
    record = dict(raw) if isinstance(raw, Mapping) else (orjson.loads(raw) if raw else {})
    for field, column in sources.items():
        if field not in record:
            value = canonical.get(column)
            if value is not None:
                record[field] = value
    return record
