"""Evaluation results are staged under a unique name (issue 17, finding 5)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from pluralign_core.evaluation.config import EvaluationConfig
from pluralign_core.evaluation.results import load_result, save_result


def test_two_writers_of_one_evaluation_do_not_delete_each_others_staging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forced interleaving: with the fixed ``.staging`` name the second writer removed the first's files."""
    folder = tmp_path / "evaluation-1"
    config = EvaluationConfig(dataset_id="t")
    generations = pd.DataFrame({"prompt_id": ["p"], "model_id": ["base"], "completion": ["hi"]})
    scores = pd.DataFrame(
        {"prompt_id": ["p"], "model_id": ["base"], "dimension": ["toxicity"], "score": [1.0]}
    )
    summary = pd.DataFrame({"model_id": ["base"], "dimension": ["toxicity"], "mean": [1.0]})
    real_to_parquet = pd.DataFrame.to_parquet
    interleaved: list[bool] = []

    def to_parquet_with_a_second_writer(self, path, *args, **kwargs):
        if not interleaved:
            interleaved.append(True)
            save_result(folder, config, generations, scores, summary, {"writer": "second"})
        return real_to_parquet(self, path, *args, **kwargs)

    monkeypatch.setattr(pd.DataFrame, "to_parquet", to_parquet_with_a_second_writer)
    save_result(folder, config, generations, scores, summary, {"writer": "first"})
    monkeypatch.undo()
    assert interleaved
    assert load_result(folder).meta["writer"] == "first"
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []
