"""dedupe_csv end to end on generated files: quality thresholds and record-key rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crmhub.demo_data import generate_customers
from crmhub.golden_record.ids import mint_golden_id
from crmhub.matching.dedupe import dedupe_csv, record_keys


def pairwise(predicted: pd.Series, truth: pd.Series) -> tuple[float, float]:
    def pairs(*columns: pd.Series) -> int:
        sizes = pd.concat(columns, axis=1).value_counts()
        return int((sizes * (sizes - 1) // 2).sum())

    both = pairs(predicted, truth)
    return both / pairs(predicted), both / pairs(truth)


@pytest.fixture(scope="module")
def deduped(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame, object]:
    folder = tmp_path_factory.mktemp("dedupe")
    data = generate_customers(5_000, seed=5)
    data.drop(columns=["entity_id"]).to_csv(folder / "in.csv", index=False)
    summary = dedupe_csv(folder / "in.csv", folder / "out.csv")
    return data, pd.read_csv(folder / "out.csv", dtype=str), summary


def test_quality_on_generated_customers(deduped: tuple[pd.DataFrame, pd.DataFrame, object]) -> None:
    data, out, _ = deduped
    precision, recall = pairwise(out["cluster_id"], data["entity_id"].reset_index(drop=True))
    assert precision >= 0.97, precision
    assert recall >= 0.88, recall


def test_output_rows_and_columns(deduped: tuple[pd.DataFrame, pd.DataFrame, object]) -> None:
    data, out, summary = deduped
    assert list(out.columns) == ["source", "source_id", "cluster_id"]
    assert out["source_id"].tolist() == data["source_id"].tolist()  # input order kept
    assert out["cluster_id"].str.fullmatch(r"G[0-9A-F]{12}").all()
    assert summary.rows == len(data)
    assert summary.clusters == out["cluster_id"].nunique()
    assert summary.key_columns == ("source", "source_id")
    assert summary.match_pairs > 0


def test_cluster_id_is_minted_from_the_smallest_member_key(
    deduped: tuple[pd.DataFrame, pd.DataFrame, object],
) -> None:
    _, out, _ = deduped
    keys = out["source"] + "/" + out["source_id"]
    for cluster_id, members in (
        keys.groupby(out["cluster_id"]).head(10_000).groupby(out["cluster_id"])
    ):
        assert mint_golden_id(members) == cluster_id


def write(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


PEOPLE = pd.DataFrame(
    {
        "first_name": ["Ann", "ANN", "Bob", "Carla"],
        "last_name": ["Lee", "Lee", "Stone", "Diaz"],
        "email": ["ann.lee@x.com", "Ann.Lee@x.com", "bob@y.org", None],
        "phone": ["212 456 7890", "(212) 456-7890", None, "646 555 0101"],
        "notes": ["a", "b", "c", "d"],  # carried, not needed
    }
)


def test_key_is_source_and_source_id(tmp_path: Path) -> None:
    frame = PEOPLE.assign(source=["crm", "erp", "crm", "erp"], source_id=["7", "007", "8", "9"])
    dedupe_csv(write(tmp_path / "in.csv", frame), tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert list(out.columns) == ["source", "source_id", "cluster_id"]
    assert out["source_id"].tolist() == ["7", "007", "8", "9"]  # text survives: no int parsing
    assert out["cluster_id"][0] == out["cluster_id"][1] == mint_golden_id(["crm/7", "erp/007"])
    assert out["cluster_id"][2] == mint_golden_id(["crm/8"])


def test_key_is_id_without_source(tmp_path: Path) -> None:
    frame = PEOPLE.assign(id=["c-1", "c-2", "c-3", "c-4"], source_id=["x", "y", "z", "w"])
    dedupe_csv(write(tmp_path / "in.csv", frame), tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert list(out.columns) == ["id", "cluster_id"]
    assert out["cluster_id"][0] == out["cluster_id"][1] == mint_golden_id(["c-1"])


def test_key_is_row_number_otherwise(tmp_path: Path) -> None:
    dedupe_csv(write(tmp_path / "in.csv", PEOPLE), tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", dtype=str)
    assert list(out.columns) == ["row_number", "cluster_id"]
    assert out["row_number"].tolist() == ["1", "2", "3", "4"]
    assert out["cluster_id"][0] == out["cluster_id"][1] == mint_golden_id(["1"])
    assert len(set(out["cluster_id"])) == 3


def test_record_keys_fill_missing_parts() -> None:
    columns, keys = record_keys(pd.DataFrame({"source": ["a", None], "source_id": ["1", "2"]}))
    assert columns == ("source", "source_id")
    assert keys.tolist() == ["a/1", "/2"]


def test_subset_of_columns_and_utf8_bom(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes("\ufeffemail,last_name\nA@x.com,Núñez\na@X.com,NUNEZ\n".encode())
    summary = dedupe_csv(path, tmp_path / "out.csv")
    assert summary.identity_columns == ("last_name", "email")
    assert summary.clusters == 1


def test_latin1_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(
        "first_name,last_name,email\nJosé,Núñez,j@x.com\nJOSE,NUNEZ,J@X.COM\n".encode("latin-1")
    )
    assert dedupe_csv(path, tmp_path / "out.csv").clusters == 1


def test_no_identity_columns_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "in.csv", pd.DataFrame({"foo": [1, 2]}))
    with pytest.raises(ValueError, match="no identity columns"):
        dedupe_csv(path, tmp_path / "out.csv")


def test_missing_input_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        dedupe_csv(tmp_path / "nope.csv", tmp_path / "out.csv")


def test_same_file_gives_same_ids(tmp_path: Path) -> None:
    data = generate_customers(800, seed=9).drop(columns=["entity_id"])
    write(tmp_path / "a.csv", data)
    write(tmp_path / "b.csv", data.iloc[np.random.default_rng(1).permutation(len(data))])
    dedupe_csv(tmp_path / "a.csv", tmp_path / "a_out.csv")
    dedupe_csv(tmp_path / "b.csv", tmp_path / "b_out.csv")
    first = pd.read_csv(tmp_path / "a_out.csv", dtype=str).set_index(["source", "source_id"])
    second = pd.read_csv(tmp_path / "b_out.csv", dtype=str).set_index(["source", "source_id"])
    agree = (first["cluster_id"] == second.loc[first.index, "cluster_id"]).mean()
    assert agree > 0.99  # row order may move a borderline pair, never the bulk


def test_the_learnt_model_is_saved_as_json_and_loads_back(tmp_path: Path) -> None:
    import json

    from crmhub.matching.engine import match_records
    from crmhub.matching.scoring import MatchModel, score_levels

    data = generate_customers(1500, seed=11).drop(columns=["entity_id"])
    data.to_csv(tmp_path / "in.csv", index=False)
    dedupe_csv(tmp_path / "in.csv", tmp_path / "out.csv", model_path=tmp_path / "model.json")
    text = (tmp_path / "model.json").read_text()
    saved = json.loads(text)  # plain JSON: readable and diffable, no pickle
    assert saved["format"] == "crmhub-match-model/1"
    assert {c["kind"] for c in saved["comparisons"]} >= {"name", "email", "date"}
    model = MatchModel.from_dict(saved)
    fitted = match_records(data.assign(record_id=np.arange(len(data)))).model
    assert model.describe().equals(fitted.describe())
    levels = np.zeros((3, len(model.comparisons)), dtype=np.int64)
    assert np.allclose(score_levels(levels, model), score_levels(levels, fitted))
    with pytest.raises(ValueError, match="not a crmhub match model"):
        MatchModel.from_dict({"format": "pickle"})
