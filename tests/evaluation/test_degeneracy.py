"""Length and degeneracy sit beside every score, so a model that says nothing cannot look less toxic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pluralign_core.evaluation.config import CLASSIFIER_SCORER, SUMMARY_WITH_ANSWERS, EvaluationConfig
from pluralign_core.evaluation.degeneracy import degeneracy_table, repetition_rate, words
from pluralign_core.evaluation.scoring import headline_metrics, score_generations, summarise


def test_repetition_rate_by_hand():
    assert repetition_rate("No, no, no, no, no.") == pytest.approx(1 - 1 / 3)  # 3-grams: (no no no) x3
    assert repetition_rate("the the") == 0.5  # short: word 1-grams
    assert repetition_rate("I am sorry to hear that, it sounds hard.") == 0.0
    assert repetition_rate("") == 0.0 and words(None) == []


@settings(deadline=None, max_examples=60)  # shared CPUs: no per-example time limit
@given(st.lists(st.sampled_from(["a", "b", "c", "word", "no"]), max_size=40))
def test_repetition_is_a_share(tokens):
    rate = repetition_rate(" ".join(tokens))
    assert 0.0 <= rate < 1.0
    if len(set(tokens)) == len(tokens):
        assert rate == 0.0


def test_degeneracy_flags_empty_short_and_repetitive_answers():
    table = degeneracy_table(
        ["", "Okay.", "no " * 20, "Grief after a loss is normal; talk to a friend you trust."]
    )
    assert list(table.words) == [0, 1, 20, 12]
    assert list(table.degenerate) == [1.0, 1.0, 1.0, 0.0]


class _ByLength:
    """A scorer that calls long answers toxic, so the empty model looks 'less toxic' by score alone."""

    name = "by-length"

    def score(self, texts, languages=None):
        return np.array([min(len(t) / 50, 1.0) for t in texts])


def test_summary_shows_the_broken_model_next_to_its_lower_score(store):
    prompts = pd.DataFrame(
        {
            "prompt_id": ["p1-en", "p2-en", "p1-de"],
            "prompt_key": ["p1", "p2", "p1"],
            "language": ["en", "en", "de"],
            "prompt_text": ["q1", "q2", "f1"],
        }
    )
    config = EvaluationConfig(dataset_id="none")
    good = prompts.assign(response=["You are not alone; many people feel this way after a move."] * 3)
    broken = prompts.assign(response=["", "no no no no no no no no", ""])
    summaries = {}
    for name, generations in (("good", good), ("broken", broken)):
        scores = score_generations(store, generations, config, classifier=_ByLength())
        assert {"words", "repetition", "degenerate"} <= set(scores.columns)
        summaries[name] = summarise(scores, n_resamples=20).set_index("language")
    assert list(summaries["good"].columns) == [c for c in SUMMARY_WITH_ANSWERS if c != "language"]
    broken_en, good_en = summaries["broken"].loc["en"], summaries["good"].loc["en"]
    assert broken_en.scorer == CLASSIFIER_SCORER
    assert broken_en["mean"] < good_en["mean"]  # the score alone would praise the broken model
    assert broken_en.degenerate == 1.0 and good_en.degenerate == 0.0
    assert broken_en.words == 4.0 and good_en.words == 12.0
    assert summaries["broken"].loc["de"].degenerate == 1.0
    headline = headline_metrics(summaries["broken"].reset_index())
    assert headline["answers_degenerate · en"] == 1.0 and headline["answers_words · de"] == 0.0


def test_summary_without_answer_columns_leaves_them_empty():
    scores = pd.DataFrame(
        {
            "prompt_id": ["a", "b"],
            "prompt_key": ["a", "b"],
            "language": ["en", "en"],
            "scorer": "s",
            "group": "g",
            "dimension": "d",
            "higher_is_better": True,
            "scale_min": 1.0,
            "scale_max": 5.0,
            "score": [1.0, 2.0],
        }
    )
    table = summarise(scores, n_resamples=10)
    assert table.words.isna().all() and table.degenerate.isna().all()
