"""Flat-file dedupe: the matching engine on one CSV, without a hub or a database.

`crmhub dedupe INPUT.csv --out OUT.csv` calls `dedupe_csv`. Input columns use canonical names
(any subset of `crmhub.canonical.IDENTITY_FIELDS`; other columns are read but not needed). Each
row is identified by a *record key*: ``source/source_id`` when both columns exist, else ``id``,
else its 1-based row number. The output has the key columns plus ``cluster_id``, the golden id
`mint_golden_id` would give the cluster, for every input row in input order, so the same file
always yields the same ids and a golden-record store built later agrees with them.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from crmhub.canonical import IDENTITY_FIELDS
from crmhub.errors import CrmhubError
from crmhub.golden_record.ids import mint_golden_id
from crmhub.matching.engine import MatchResult, match_records
from crmhub.matching.scoring import MatchModel
from crmhub.matching.settings import MatchingSettings

logger = logging.getLogger(__name__)

ROW_NUMBER_COLUMN = "row_number"


@dataclass(frozen=True)
class DedupeSummary:
    """What a dedupe run did, for the CLI to print and benchmarks to check."""

    rows: int
    clusters: int
    duplicate_rows: int
    match_pairs: int
    review_pairs: int
    key_columns: tuple[str, ...]
    identity_columns: tuple[str, ...]
    output_path: Path
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


def record_keys(frame: pd.DataFrame) -> tuple[tuple[str, ...], pd.Series]:
    """The key columns to write out and the key text of every row.

    ``source`` + ``source_id`` when both exist (key ``source/source_id``), else ``id``, else the
    1-based row number; missing parts become empty text so every row still has a key.
    """
    if {"source", "source_id"} <= set(frame.columns):
        keys = (
            frame["source"].fillna("").astype(str) + "/" + frame["source_id"].fillna("").astype(str)
        )
        return ("source", "source_id"), keys
    if "id" in frame.columns:
        return ("id",), frame["id"].fillna("").astype(str)
    numbers = pd.Series(np.arange(1, len(frame) + 1), index=frame.index)
    return (ROW_NUMBER_COLUMN,), numbers.astype(str)


def read_records(path: Path) -> pd.DataFrame:
    """Read a CSV as text (leading zeros and odd values survive); empty cells are missing.

    UTF-8 (with or without a byte-order mark) is read by polars' multi-threaded reader, ten
    times pandas' speed on a million rows; another encoding is detected and read by pandas.
    """
    try:
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8").to_pandas()
    except pl.exceptions.ComputeError:
        from charset_normalizer import from_path

        best = from_path(path).best()
        encoding = best.encoding if best is not None else "latin-1"
        frame = pd.read_csv(
            path, dtype=str, keep_default_na=False, na_values=[""], encoding=encoding
        )
    frame.columns = [str(c).lstrip("\ufeff").strip() for c in frame.columns]
    return frame


_TRUE = frozenset({"1", "true", "yes", "y", "match", "same"})
_FALSE = frozenset({"0", "false", "no", "n", "non_match", "different"})


def read_labels(path: Path, keys: pd.Series) -> pd.DataFrame:
    """Steward decisions from a CSV of ``left,right,is_match`` (record keys as in the output:
    ``source/source_id``, ``id`` or the row number) as DataFrame[left_id, right_id, is_match]
    in the row positions `dedupe_frame` uses as record ids.

    Raises:
        CrmhubError: a column is missing, a key is not in the input, or is_match is not yes/no.
    """
    labels = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"left", "right", "is_match"} - set(labels.columns)
    if missing:
        raise CrmhubError(f"{path}: needs columns left, right, is_match; missing {sorted(missing)}")
    position = pd.Series(np.arange(len(keys)), index=keys.to_numpy())
    position = position[~position.index.duplicated()]
    unknown = sorted(set(labels["left"]).union(labels["right"]) - set(position.index))
    if unknown:
        raise CrmhubError(f"{path}: record keys not in the input: {', '.join(unknown[:5])}")
    flag = labels["is_match"].str.strip().str.lower()
    bad = ~flag.isin(_TRUE | _FALSE)
    if bad.any():
        raise CrmhubError(
            f"{path}: is_match must be yes/no (or true/false, 1/0); row {int(bad.idxmax()) + 2} "
            f"has {labels['is_match'][bad].iloc[0]!r}"
        )
    return pd.DataFrame(
        {
            "left_id": position[labels["left"]].to_numpy(),
            "right_id": position[labels["right"]].to_numpy(),
            "is_match": flag.isin(_TRUE).to_numpy(),
        }
    )


def dedupe_frame(
    frame: pd.DataFrame,
    settings: MatchingSettings | None = None,
    *,
    labels_path: Path | None = None,
    model: MatchModel | None = None,
) -> tuple[pd.DataFrame, MatchResult]:
    """Cluster the rows of `frame`; returns (key columns + cluster_id, the match result).

    `labels_path` (`read_labels`) refines the learnt model; `model` replaces learning.
    """
    key_columns, keys = record_keys(frame)
    columns = {"record_id": pd.Series(np.arange(len(frame), dtype=np.int64))}
    columns["source"] = (
        frame["source"].reset_index(drop=True)
        if "source" in frame.columns
        else pd.Series("file", index=columns["record_id"].index)
    )
    for column in IDENTITY_FIELDS:
        if column in frame.columns:
            columns[column] = frame[column].reset_index(drop=True)
    records = pd.DataFrame(columns, copy=False)
    labels = None if labels_path is None else read_labels(labels_path, keys)
    result = match_records(records, settings, labels=labels, model=model, evidence=False)
    out = pd.DataFrame(index=frame.index)
    for column in key_columns:
        out[column] = frame[column] if column in frame.columns else keys
    minting = time.perf_counter()
    out["cluster_id"] = cluster_golden_ids(result.clusters["cluster"].to_numpy(), keys.to_numpy())
    result.timings["golden_ids"] = round(time.perf_counter() - minting, 3)
    return out, result


def cluster_golden_ids(cluster: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """`mint_golden_id` of each row's cluster, from the smallest key of the cluster (polars
    finds the smallest per cluster; UTF-8 byte order is code point order, Python's `min`)."""
    _, group = np.unique(cluster, return_inverse=True)
    smallest = (
        pl.DataFrame({"group": group.reshape(-1), "key": pl.Series(keys, dtype=pl.String)})
        .group_by("group")
        .agg(pl.col("key").min())
        .sort("group")["key"]
        .to_list()
    )
    golden = np.array([mint_golden_id([key]) for key in smallest], dtype=object)
    return golden[group.reshape(-1)]


def dedupe_csv(
    input_path: str | Path,
    output_path: str | Path,
    settings: MatchingSettings | None = None,
    *,
    model_path: str | Path | None = None,
    labels_path: str | Path | None = None,
    model_in: str | Path | None = None,
) -> DedupeSummary:
    """Deduplicate a CSV of customer records into `output_path` (key columns + cluster_id).

    `model_path`, when given, receives the learnt model (m, u and priors per blocking rule) as
    readable JSON (`MatchModel.to_dict`). `labels_path` is a CSV of steward decisions
    (`read_labels`) that refine what is learnt; `model_in` is a saved model to use as it is.

    Raises:
        FileNotFoundError: the input does not exist.
        ValueError: the input has none of the canonical identity columns.
    """
    started = time.perf_counter()
    input_path, output_path = Path(input_path), Path(output_path)
    frame = read_records(input_path)
    read_seconds = time.perf_counter() - started
    identity = tuple(c for c in IDENTITY_FIELDS if c in frame.columns)
    if not identity:
        raise ValueError(
            f"{input_path}: no identity columns; expected some of {', '.join(IDENTITY_FIELDS)}"
        )
    model = None
    if model_in is not None:
        try:
            model = MatchModel.from_dict(json.loads(Path(model_in).read_text(encoding="utf-8")))
        except (ValueError, KeyError) as exc:
            raise CrmhubError(f"{model_in}: not a usable crmhub match model ({exc})") from None
    out, result = dedupe_frame(
        frame,
        settings,
        labels_path=None if labels_path is None else Path(labels_path),
        model=model,
    )
    written = time.perf_counter()
    pl.from_pandas(out).write_csv(output_path)
    write_seconds = time.perf_counter() - written
    if model_path is not None:
        Path(model_path).write_text(json.dumps(result.model.to_dict(), indent=1) + "\n")
    sizes = np.bincount(np.unique(result.clusters["cluster"], return_inverse=True)[1].reshape(-1))
    decisions = result.pairs["decision"].value_counts()
    summary = DedupeSummary(
        rows=len(out),
        clusters=int(out["cluster_id"].nunique()),
        duplicate_rows=int(sizes[sizes > 1].sum()),
        match_pairs=int(decisions.get("match", 0)),
        review_pairs=int(decisions.get("review", 0)),
        key_columns=tuple(c for c in out.columns if c != "cluster_id"),
        identity_columns=identity,
        output_path=output_path,
        seconds=round(time.perf_counter() - started, 3),
        timings={
            "read": round(read_seconds, 3),
            **result.timings,
            "golden_ids": result.timings.get("golden_ids", 0.0),
            "write": round(write_seconds, 3),
        },
    )
    logger.info(
        "deduplicated %s: %d rows -> %d clusters", input_path, summary.rows, summary.clusters
    )
    return summary
