"""Learning from steward decisions, and scoring with a saved model instead of learning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crmhub.demo_data import generate_customers
from crmhub.errors import CrmhubError
from crmhub.matching.comparisons import NameComparison
from crmhub.matching.dedupe import dedupe_csv
from crmhub.matching.engine import match_records
from crmhub.matching.scoring import MatchModel, fit_model
from crmhub.matching.settings import MatchingSettings
from crmhub.matching.training import LABELLED_STRATUM, label_positions

TRUE_M = np.array([0.0, 0.80, 0.15, 0.05])
TRUE_U = np.array([0.0, 0.05, 0.15, 0.80])


def test_labelled_pairs_fix_their_class_in_em() -> None:
    """With every pair labelled, EM is counting: m is the matches' level shares exactly."""
    rng = np.random.default_rng(4)
    is_match = rng.random(4000) < 0.4
    levels = np.where(
        is_match[:, None],
        rng.choice(4, (4000, 2), p=TRUE_M),
        rng.choice(4, (4000, 2), p=TRUE_U),
    ).astype(np.int8)
    comparisons = [NameComparison(column=c, thresholds=(0.9,)) for c in ("a", "b")]
    model = fit_model(levels, comparisons, [TRUE_U] * 2, labels=is_match.astype(np.int8))
    assert model.prior[0] == pytest.approx(is_match.mean(), abs=1e-3)
    counts = np.bincount(levels[is_match, 0], minlength=4)[1:] + 1.0  # the pseudo-count
    assert model.m[0][0, 1:] == pytest.approx(counts / counts.sum(), abs=1e-6)
    unlabelled = fit_model(levels, comparisons, [TRUE_U] * 2)
    assert not np.allclose(unlabelled.m[0], model.m[0], atol=1e-6)  # labels did change the fit


def test_label_positions_map_ids_and_order_pairs() -> None:
    labels = pd.DataFrame(
        {"left_id": [30, 10, 99], "right_id": [10, 20, 10], "is_match": [1, 0, 1]}
    )
    out = label_positions(np.array([10, 20, 30]), labels)
    assert out.to_dict("list") == {"left": [0, 0], "right": [2, 1], "is_match": [True, False]}


def test_labels_outside_the_candidates_train_in_their_own_stratum() -> None:
    data = generate_customers(1500, seed=6)
    records = data.drop(columns=["source_id", "entity_id"]).assign(record_id=np.arange(len(data)))
    truth = data["entity_id"].to_numpy()
    # two records of one person that no rule pairs: nothing in common but the person
    same = pd.Series(np.arange(len(data))).groupby(truth).agg(list)
    left, right = next(ids[:2] for ids in same if len(ids) > 1)
    records.loc[[left, right], ["email", "phone", "street", "postal_code", "birth_date"]] = None
    records.loc[right, ["first_name", "last_name"]] = ["Zebedee", "Quimby"]
    labels = pd.DataFrame({"left_id": [left], "right_id": [right], "is_match": [True]})
    result = match_records(records, labels=labels)
    assert result.model is not None and result.model.strata[-1] == LABELLED_STRATUM


def test_saved_model_scores_a_file_without_learning(tmp_path: Path) -> None:
    data = generate_customers(2000, seed=9).drop(columns=["entity_id"])
    data.to_csv(tmp_path / "in.csv", index=False)
    dedupe_csv(tmp_path / "in.csv", tmp_path / "a.csv", model_path=tmp_path / "model.json")
    saved = json.loads((tmp_path / "model.json").read_text())
    dedupe_csv(tmp_path / "in.csv", tmp_path / "b.csv", model_in=tmp_path / "model.json")
    learnt = pd.read_csv(tmp_path / "a.csv")
    reused = pd.read_csv(tmp_path / "b.csv")
    assert learnt.equals(reused)
    assert MatchModel.from_dict(saved).strata[0] == "email"

    other_rules = MatchingSettings(blocking=[["email"], ["phone"]])
    with pytest.raises(CrmhubError, match="other blocking rules"):
        dedupe_csv(
            tmp_path / "in.csv", tmp_path / "c.csv", other_rules, model_in=tmp_path / "model.json"
        )
    (tmp_path / "junk.json").write_text('{"format": "something else"}')
    with pytest.raises(CrmhubError, match="not a usable crmhub match model"):
        dedupe_csv(tmp_path / "in.csv", tmp_path / "c.csv", model_in=tmp_path / "junk.json")


def test_labels_file_by_record_key(tmp_path: Path) -> None:
    data = generate_customers(1500, seed=12)
    data.drop(columns=["entity_id"]).to_csv(tmp_path / "in.csv", index=False)
    keys = data["source"] + "/" + data["source_id"].astype(str)
    same = data.groupby("entity_id").head(2).groupby("entity_id").filter(lambda g: len(g) == 2)
    pairs = same.index.to_numpy().reshape(-1, 2)[:40]
    labels = pd.DataFrame(
        {
            "left": keys[pairs[:, 0]].to_numpy(),
            "right": keys[pairs[:, 1]].to_numpy(),
            "is_match": "yes",
        }
    )
    labels.to_csv(tmp_path / "labels.csv", index=False)
    summary = dedupe_csv(
        tmp_path / "in.csv", tmp_path / "out.csv", labels_path=tmp_path / "labels.csv"
    )
    assert summary.clusters < len(data)

    labels.assign(is_match="perhaps").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(CrmhubError, match="is_match must be yes/no"):
        dedupe_csv(tmp_path / "in.csv", tmp_path / "out.csv", labels_path=tmp_path / "bad.csv")
    labels.assign(left="nobody/1").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(CrmhubError, match="nobody/1"):
        dedupe_csv(tmp_path / "in.csv", tmp_path / "out.csv", labels_path=tmp_path / "bad.csv")


def test_steward_decisions_override_scores_in_clustering() -> None:
    """A 'not a match' keeps an auto-merged pair apart (and out of any chain); a 'match' joins
    two records the scores would not, even when no blocking rule paired them."""
    data = generate_customers(2000, seed=14)
    records = data.drop(columns=["source_id", "entity_id"]).assign(record_id=np.arange(len(data)))
    plain = match_records(records)
    merged = plain.pairs[plain.pairs["decision"] == "match"].iloc[0]
    apart = plain.clusters.groupby("cluster")["record_id"].first().to_numpy()[:2]
    labels = pd.DataFrame(
        {
            "left_id": [merged["left_id"], apart[0]],
            "right_id": [merged["right_id"], apart[1]],
            "is_match": [False, True],
        }
    )
    decided = match_records(records, labels=labels).clusters.set_index("record_id")["cluster"]
    assert decided[merged["left_id"]] != decided[merged["right_id"]]
    assert decided[apart[0]] == decided[apart[1]]
