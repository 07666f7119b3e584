"""Evaluation: generation on held-out prompts, classifier + group reward scores, stored and reloadable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pluralign_core.evaluation.config import CLASSIFIER_SCORER, SUMMARY_COLUMNS, EvaluationConfig
from pluralign_core.evaluation.evaluate import evaluate_model
from pluralign_core.evaluation.results import evaluations, load_evaluation, relative_change
from pluralign_core.evaluation.scoring import bootstrap_ci, summarise
from pluralign_core.evaluation.toxicity_classifier import ProfanityCheckClassifier, lexicon_score
from pluralign_core.rewards.training import train_group_reward_models
from pluralign_core.store.selection import RaterSelection
from tests.factories import tiny_bundle


@pytest.fixture(autouse=True)
def _one_thread():
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _fill(store) -> None:
    bundle = tiny_bundle(n_prompts=5, responses_per_prompt=3)
    bundle.prompts["split"] = ["train", "train", "train", "heldout", "heldout"]
    store.write_dataset(bundle)
    train_group_reward_models(store, "tiny", RaterSelection({"gender": ("woman",)}))
    train_group_reward_models(store, "tiny", RaterSelection({"gender": ("man",)}), dimensions=["toxicity"])


def _config(tiny_model_dir: Path, **overrides) -> EvaluationConfig:
    values = dict(
        dataset_id="tiny", base_model=str(tiny_model_dir), languages=["en"], max_new_tokens=6, n_bootstrap=50
    )
    return EvaluationConfig(**{**values, **overrides})


def test_evaluation_of_base_model_is_stored_and_reloads(store, tiny_model_dir):
    _fill(store)
    result = evaluate_model(store, _config(tiny_model_dir))
    assert len(result.generations) == 2
    assert set(result.generations.prompt_id) == {"p3", "p4"}
    folder = Path(result.path)
    for name in ("config.yaml", "generations.jsonl", "scores.parquet", "summary.json"):
        assert (folder / name).exists(), name
    registered = evaluations(store, "tiny")
    assert list(registered.artifact_id) == [result.evaluation_id]
    assert registered.config.iloc[0]["model_id"] == "base"
    scorers = set(result.scores.scorer)
    assert CLASSIFIER_SCORER in scorers and len(scorers) == 1 + 3  # classifier + 2 woman dims + 1 man dim
    groups = set(result.summary.group)
    assert {"classifier", RaterSelection({"gender": ("woman",)}).label} <= groups
    reloaded = load_evaluation(store, result.evaluation_id)
    assert reloaded.config == result.config
    pd.testing.assert_frame_equal(reloaded.generations[result.generations.columns], result.generations)
    pd.testing.assert_frame_equal(reloaded.scores, result.scores)
    pd.testing.assert_frame_equal(reloaded.summary, result.summary, check_dtype=False)
    again = evaluate_model(store, _config(tiny_model_dir))
    assert list(again.generations.response) == list(result.generations.response)  # greedy, fixed


def test_adapter_evaluation_and_relative_change(store, tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    _fill(store)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = get_peft_model(
        model,
        LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM"),
    )
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    store.register_artifact(
        "adapter",
        "random adapter",
        path=adapter,
        dataset_id="tiny",
        config={"base_model": str(tiny_model_dir)},
        artifact_id="adapter-x",
    )
    base = evaluate_model(store, _config(tiny_model_dir))
    tuned = evaluate_model(store, _config(tiny_model_dir, model_id="adapter-x", base_model=""))
    assert tuned.config.model_id == "adapter-x"
    change = relative_change(tuned, base)
    row = change[
        (change.scorer_kind == "reward_model") & (change.dimension == "toxicity") & (change.language == "all")
    ].iloc[0]
    expected = (row["mean"] - row["base_mean"]) / (row["base_mean"] - 1.0) * 100
    assert row.change_pct == pytest.approx(expected)
    assert row.improvement_pct == pytest.approx(-expected)


def test_relative_change_by_hand():
    def summary(tox: float, helpful: float, prob: float) -> pd.DataFrame:
        rows = [
            ["rm-1", "women", "toxicity", "all", False, 1.0, 5.0, tox, np.nan, np.nan, 4],
            ["rm-2", "women", "helpfulness", "all", True, 1.0, 5.0, helpful, np.nan, np.nan, 4],
            [CLASSIFIER_SCORER, "classifier", "toxicity", "all", False, 0.0, 1.0, prob, np.nan, np.nan, 4],
        ]
        return pd.DataFrame(
            rows,
            columns=SUMMARY_COLUMNS,
        )

    change = relative_change(summary(2.0, 4.0, 0.1), summary(3.0, 3.0, 0.2)).set_index(
        ["scorer_kind", "dimension"]
    )
    assert change.loc[("reward_model", "toxicity"), "change_pct"] == pytest.approx(-50.0)  # (2-3)/(3-1)
    assert change.loc[("reward_model", "toxicity"), "improvement_pct"] == pytest.approx(50.0)
    assert change.loc[("reward_model", "helpfulness"), "improvement_pct"] == pytest.approx(50.0)  # 1/2
    assert change.loc[(CLASSIFIER_SCORER, "toxicity"), "improvement_pct"] == pytest.approx(50.0)  # .1/.2


def test_bootstrap_interval_contains_mean_and_summary_pools_languages():
    mean, low, high = bootstrap_ci(np.array([1.0, 2.0, 3.0, 4.0]), n_resamples=200)
    assert mean == 2.5 and low <= mean <= high and low >= 1.0 and high <= 4.0
    assert np.isnan(bootstrap_ci(np.array([3.0]))[1])
    scores = pd.DataFrame(
        {
            "prompt_id": ["a", "b", "c"],
            "prompt_key": ["a", "b", "c"],
            "language": ["en", "en", "de"],
            "scorer": "s",
            "group": "g",
            "dimension": "d",
            "higher_is_better": True,
            "scale_min": 1.0,
            "scale_max": 5.0,
            "score": [1.0, 3.0, 5.0],
        }
    )
    table = summarise(scores, n_resamples=50).set_index("language")
    assert table.loc["all", "mean"] == 3.0 and table.loc["en", "mean"] == 2.0 and table.loc["de", "n"] == 1


def test_toxicity_classifier_separates_insults_and_covers_german_with_the_lexicon():
    classifier = ProfanityCheckClassifier()
    scores = classifier.score(["Thank you, that is a kind question.", "Shut up, you stupid idiot."])
    assert scores[1] > 0.5 > scores[0]
    german = "Du bist ein Versager und ein Trottel."
    assert lexicon_score(german) == 0.99 and lexicon_score("Das ist eine hilfreiche Antwort.") == 0.0
    assert classifier.score([german], ["de"])[0] >= 0.99
    assert classifier.score([""], ["en"])[0] == 0.0
    with pytest.raises(TypeError):
        classifier.score("one string")


def test_cli_evaluates_and_compares(store, tiny_model_dir, capsys):
    from pluralign_core import cli

    _fill(store)
    args = [
        "evaluate",
        "--dataset",
        "tiny",
        "--base-model",
        str(tiny_model_dir),
        "--languages",
        "en",
        "--max-new-tokens",
        "4",
    ]
    assert cli.main(args) == 0
    first = evaluations(store, "tiny").artifact_id.iloc[0]
    assert cli.main([*args, "--compare", first]) == 0
    out = capsys.readouterr().out
    assert "improvement_pct" in out and "gender=woman" in out
    assert cli.main(["evaluate", "--list"]) == 0
    capsys.readouterr()
    assert cli.main(["jobs", "list", "--kind", "evaluate"]) == 0  # run in the foreground, listed as a job
    listed = capsys.readouterr().out
    assert first in listed and listed.count("completed") == 2
