"""Staging of a `RecordFrame`: key, payload, hash and canonical texts as column operations.

The hashed payload is polars' JSON of a struct of the record's columns in sorted order, which
is byte for byte what orjson writes for the same record as a dict (String, Int64 and Boolean
columns; anything else is staged through the dict path instead). `raw` is assembled from the
same per-field JSON fragments, leaving out the non-empty strings that live in canonical
columns. So a record gets the same `raw` and hash whichever path staged it; the only
per-record Python left is one call of the hash function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import orjson
import polars as pl
import xxhash

from crmhub.connectors.base import RejectedRecord
from crmhub.golden_record.dates import DATE_FIELDS, find_invalid_dates

if TYPE_CHECKING:
    from crmhub.golden_record.staging import StagingPlan

JSON_DTYPES = (pl.String, pl.Int64, pl.Boolean, pl.Null)
"""Column types whose polars JSON equals orjson's JSON of the same Python values."""

PositionOf = Callable[[int], str]


def is_stageable(frame: pl.DataFrame) -> bool:
    """True when every column has a type the columnar path serialises like orjson."""
    return all(dtype in JSON_DTYPES for dtype in frame.dtypes)


def hash_payloads(payloads: pl.Series, seed: int) -> pl.Series:
    """XXH3-128 hex digest of each payload (a tight C-level loop over the bytes)."""
    digest = xxhash.xxh3_128_hexdigest
    raw = payloads.cast(pl.Binary).to_list()
    return pl.Series("content_hash", [digest(item, seed) for item in raw], dtype=pl.String)


def prepare_frame(
    frame: pl.DataFrame, plan: StagingPlan, position_of: PositionOf
) -> tuple[pl.DataFrame, list[RejectedRecord]]:
    """`(source_id, raw, content_hash, c0..cN)` per source id (last wins) and the rejects.

    Records without a key value and records whose date fields hold no date are rejected
    with their position; the rest of the batch is staged.
    """
    frame = frame.with_row_index("__crmhub_index")
    names = sorted(c for c in frame.columns if c != "__crmhub_index")
    schema = frame.schema
    sources = plan.single_sources
    payload = pl.struct(names).struct.json_encode()
    kept = [n for n in names if n not in plan.ignore_fields]
    hashed = [] if len(kept) == len(names) else [pl.struct(kept).struct.json_encode()]
    raw = _object([_raw_fragment(n, schema[n], n in sources) for n in names])
    staged = frame.select(
        pl.col("__crmhub_index"),
        _source_id(plan.key, frame.columns).alias("source_id"),
        payload.alias("__crmhub_full"),
        raw.alias("raw"),
        *[expr.alias("__crmhub_hashed") for expr in hashed],
        *[
            _canonical(plan.mapping[name], frame.columns).alias(f"c{i}")
            for i, name in enumerate(plan.columns)
        ],
    )
    rejected = _missing_keys(staged, plan.key, position_of)
    if rejected:
        staged = staged.filter(pl.col("source_id").is_not_null())
    staged, bad_dates = _drop_bad_dates(staged, plan, position_of)
    rejected.extend(bad_dates)
    if staged["source_id"].n_unique() < staged.height:
        staged = staged.unique("source_id", keep="last", maintain_order=True)
    digests = hash_payloads(
        staged["__crmhub_hashed" if hashed else "__crmhub_full"], plan.hash_seed
    )
    columns = ["source_id", "raw", "content_hash", *(f"c{i}" for i in range(len(plan.columns)))]
    return staged.with_columns(digests).select(columns), rejected


def _fragment(name: str) -> pl.Expr:
    """`"name":value` exactly as in the JSON of the whole record (polars' own encoder)."""
    encoded = pl.struct(pl.col(name)).struct.json_encode()
    return encoded.str.strip_prefix("{").str.strip_suffix("}")


def _raw_fragment(name: str, dtype: pl.DataType, is_single_source: bool) -> pl.Expr:
    """The field's fragment of `raw`; null when its value lives in its canonical column.

    Only a non-empty string is given back exactly by a text column; a null or empty string
    keeps its fragment (a constant), other types always stay in `raw`.
    """
    if not is_single_source or dtype != pl.String:
        return _fragment(name)
    key = orjson.dumps(name).decode()
    column = pl.col(name)
    return (
        pl.when(column.is_null())
        .then(pl.lit(f"{key}:null"))
        .when(column == "")
        .then(pl.lit(f'{key}:""'))
    )


def _object(fragments: list[pl.Expr]) -> pl.Expr:
    """A JSON object from `"key":value` fragments, absent (null) fragments left out."""
    if not fragments:
        return pl.lit("{}")
    body = pl.concat_str(fragments, separator=",", ignore_nulls=True)
    return pl.concat_str(pl.lit("{"), body, pl.lit("}"))


def _text(name: str, columns: Sequence[str]) -> pl.Expr:
    """A column as canonical text ('true'/'false' for booleans), null when absent."""
    if name not in columns:
        return pl.lit(None, dtype=pl.String)
    return pl.col(name).cast(pl.String)  # booleans become 'true'/'false' like canonical_text


def _canonical(sources: tuple[str, ...], columns: Sequence[str]) -> pl.Expr:
    """The canonical text of one field: the value, or non-empty values joined by spaces."""
    if len(sources) == 1:
        return _text(sources[0], columns)
    parts = [
        pl.when(_text(s, columns) == "").then(None).otherwise(_text(s, columns)) for s in sources
    ]
    joined = pl.concat_str(parts, separator=" ", ignore_nulls=True)
    return pl.when(joined == "").then(None).otherwise(joined)


def _source_id(keys: tuple[str, ...], columns: Sequence[str]) -> pl.Expr:
    """The source id (key values joined by '|'), null when any key value is empty."""
    parts = [_text(k, columns) for k in keys]
    empty = pl.any_horizontal([p.is_null() | (p == "") for p in parts])
    joined = parts[0] if len(parts) == 1 else pl.concat_str(parts, separator="|")
    return pl.when(empty).then(None).otherwise(joined)


def _missing_keys(
    staged: pl.DataFrame, keys: tuple[str, ...], position_of: PositionOf
) -> list[RejectedRecord]:
    missing = staged.filter(pl.col("source_id").is_null())
    reason = f"missing key value ({', '.join(keys)})"
    return [
        RejectedRecord(position_of(index), reason, raw)
        for index, raw in missing.select("__crmhub_index", "__crmhub_full").iter_rows()
    ]


def _drop_bad_dates(
    staged: pl.DataFrame, plan: StagingPlan, position_of: PositionOf
) -> tuple[pl.DataFrame, list[RejectedRecord]]:
    """Remove records with a date field that holds no date; reject them, first field named."""
    checks = [(name, f"c{i}") for i, name in enumerate(plan.columns) if name in DATE_FIELDS]
    if not checks or staged.height == 0:
        return staged, []
    bad = {column: find_invalid_dates(staged[column]) for _, column in checks}
    masks = iter(bad.values())
    any_bad = next(masks)
    for mask in masks:
        any_bad = any_bad | mask
    if not any_bad.any():
        return staged, []
    masks = {column: mask.filter(any_bad).to_list() for column, mask in bad.items()}
    rejected = date_rejects(staged.filter(any_bad), checks, masks, position_of)
    return staged.filter(~any_bad), rejected


def date_rejects(
    rows: pl.DataFrame,
    checks: list[tuple[str, str]],
    masks: dict[str, list[bool]],
    position_of: PositionOf,
) -> list[RejectedRecord]:
    """One reject per record, naming the first date field that is no date and its value."""
    out: list[RejectedRecord] = []
    for i, record in enumerate(rows.iter_rows(named=True)):
        name, column = next((n, c) for n, c in checks if masks[c][i])
        reason = f"{name}: not a recognisable date: {record[column]!r}"
        out.append(
            RejectedRecord(position_of(record["__crmhub_index"]), reason, record["__crmhub_full"])
        )
    return out


def positions_getter(positions: Sequence[str] | None) -> PositionOf:
    """Position text of a record index: the connector's, else ``record N`` (1-based)."""
    if positions is not None:
        return lambda index: positions[index]
    return lambda index: f"record {index + 1}"
