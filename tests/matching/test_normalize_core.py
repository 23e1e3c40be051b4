"""The column machinery under every normaliser: input types, distinct values, missing values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import polars as pl
import pytest

from crmhub.canonical import IDENTITY_FIELDS
from crmhub.matching import normalize_core
from crmhub.matching.normalize import normalize_frame, normalize_name
from crmhub.matching.normalize_core import factorize, replace_words, to_polars

CELLS = [
    ("text", "text"),
    (None, None),
    (np.nan, None),
    (pd.NA, None),
    (pd.NaT, None),
    (12, "12"),
    (np.int64(12), "12"),
    (2124567890.0, "2124567890"),  # whole floats lose ".0"
    (1.5, "1.5"),
    (True, "True"),
    (dt.date(2001, 5, 6), "2001-05-06"),
    (dt.datetime(2001, 5, 6, 7, 8), "2001-05-06T07:08:00"),
]


@pytest.mark.parametrize(("cell", "expected"), CELLS)
def test_to_polars_writes_cells_as_text(cell: object, expected: str | None) -> None:
    values = pd.Series(["x", cell], dtype=object)
    assert to_polars(values).to_list() == ["x", expected]


@pytest.mark.parametrize("dtype", ["string[python]", "string[pyarrow]", "str"])
def test_to_polars_reads_pandas_string_columns(dtype: str) -> None:
    values = pd.Series(["a", None, "b"], dtype=dtype)
    assert to_polars(values).to_list() == ["a", None, "b"]


def test_factorize_groups_equal_values_and_skips_nulls() -> None:
    codes, uniques = factorize(pl.Series(["b", None, "a", "b", None, "a"]))
    assert sorted(uniques.to_list()) == ["a", "b"]
    assert codes.tolist()[1] == codes.tolist()[4] == -1
    restored = [None if c < 0 else uniques[int(c)] for c in codes]
    assert restored == ["b", None, "a", "b", None, "a"]


def test_factorize_falls_back_when_the_hash_check_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A (simulated) hash collision must not merge different values."""
    monkeypatch.setattr(normalize_core.np, "array_equal", lambda *_: False)
    codes, uniques = factorize(pl.Series(["b", None, "a", "b"]))
    assert [None if c < 0 else uniques[int(c)] for c in codes] == ["b", None, "a", "b"]


def test_equal_inputs_share_one_output_object() -> None:
    """Work and memory go per distinct value: repeated inputs share one result string."""
    out = normalize_name(pd.Series(["Ann", "ANN"] * 3, dtype=object))
    assert out.tolist() == ["ann"] * 6
    assert len({id(value) for value in out}) == 2


def test_replace_words_handles_neighbours_and_longest_keys() -> None:
    mapping = {"n": "north", "st": "street", "twenty first": "21st", "first": "1st"}
    texts = pl.Series(["12 n st", "twenty first st", "first n st n", "stn", ""])
    assert replace_words(texts, mapping).to_list() == [
        "12 north street",
        "21st street",
        "1st north street north",
        "stn",
        "",
    ]


def test_normalize_frame_on_csv_typed_columns() -> None:
    """Columns read from CSV are Arrow-backed strings; the output is still object with None."""
    index = [3, 4]
    records = pd.DataFrame(
        {
            "first_name": pd.Series(["Ann", None], dtype="str", index=index),
            "email": pd.Series([None, "A@B.CO"], dtype="str", index=index),
            "birth_date": pd.Series(["1980-02-29", "31/04/1980"], dtype="str", index=index),
        }
    )
    out = normalize_frame(records)
    assert list(out.columns) == list(IDENTITY_FIELDS)
    assert all(dtype == np.dtype(object) for dtype in out.dtypes)
    assert out["first_name"].tolist() == ["ann", None]
    assert out["email"].tolist() == [None, "a@b.co"]
    assert out["birth_date"].tolist() == ["1980-02-29", None]
    assert out["phone"].tolist() == [None, None]
    assert list(out.index) == [3, 4]


def test_normalize_frame_on_no_rows() -> None:
    out = normalize_frame(pd.DataFrame({"first_name": pd.Series([], dtype=object)}))
    assert list(out.columns) == list(IDENTITY_FIELDS)
    assert len(out) == 0
