"""Evaluator cards: can a scorer tell a hostile answer from a kind one, and what does it say to junk?

An evaluator (a group reward model, or the toxicity classifier) is only worth reporting if it ranks the
dataset's own *reference* answers the right way on prompts it was not trained on, and if a broken model
cannot fool it. The card measures both, per language, never pooled:

* **reference pairs** - on every held-out prompt, each problematic reference answer (intended harm level
  >= :data:`BAD_LEVEL` on a dimension where lower is better, e.g. the hostile and stereotyped answers) is
  paired with each acceptable one (harm <= :data:`GOOD_LEVEL`, the neutral and empathetic answers). The
  pairwise accuracy is the share of pairs in which the evaluator scores the problematic answer worse
  (ties count half); 0.5 is chance.
* **degenerate answers** - for each held-out prompt: an empty answer, one word repeated, "No, no, no…",
  the best reference answer cut after three words, and that answer in another language. For each kind
  the card gives the mean score, the share of (degenerate, problematic) pairs in which the junk scores
  *better* than the problematic answer and the share of (degenerate, acceptable) pairs in which it
  scores better than the acceptable answer - the second is how often a broken model would look more
  aligned than a good one.

Everything is computed from the store and the evaluator; :func:`card_markdown` renders the JSON.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pluralign_core.store.database import Store

BAD_LEVEL = 3.0
GOOD_LEVEL = 2.0
TRUNCATED_WORDS = 3
REPEATS = 24
NO_NO = {"en": "No", "de": "Nein", "fr": "Non", "es": "No", "it": "No", "nl": "Nee"}
DEGENERATE_KINDS = ("empty", "repeated_word", "no_no", "truncated", "other_language")

# (prompts, texts, languages) -> scores on the evaluator's own scale
ScoreFunction = Callable[[Sequence[str], Sequence[str], Sequence[str]], np.ndarray]


def reference_answers(store: Store, dataset_id: str) -> pd.DataFrame:
    """Held-out prompts' reference answers with their harm level and ``role`` (``bad``/``good``/``other``).

    The harm level is the highest intended level (``response_levels``) over the dimensions where lower is
    better; a dataset without intended levels or held-out prompts gets a clear error.
    """
    harm_dimensions = [d.name for d in store.dimensions(dataset_id) if not d.higher_is_better]
    if not harm_dimensions:
        raise ValueError(f"dataset {dataset_id!r} has no dimension where lower is better (e.g. toxicity)")
    marks = ", ".join("?" * len(harm_dimensions))
    frame = store.query(
        f"""
        SELECT r.response_id, r.prompt_id, p.prompt_key, p.text AS prompt_text, r.text,
               coalesce(r.language, p.language) AS language, max(l.level)::DOUBLE AS harm
        FROM responses r
        JOIN prompts p ON p.dataset_id = r.dataset_id AND p.prompt_id = r.prompt_id
        JOIN response_levels l ON l.dataset_id = r.dataset_id AND l.response_id = r.response_id
        WHERE r.dataset_id = ? AND p.split = 'heldout' AND l.dimension IN ({marks})
        GROUP BY ALL
        ORDER BY r.prompt_id, r.response_id
        """,
        [dataset_id, *harm_dimensions],
    )
    if frame.empty:
        raise ValueError(
            f"dataset {dataset_id!r} has no held-out prompts with intended response levels, so its "
            "evaluators cannot be validated; mark prompts split='heldout' and give response levels"
        )
    acceptable = np.where(frame.harm <= GOOD_LEVEL, "good", "other")
    frame["role"] = np.where(frame.harm >= BAD_LEVEL, "bad", acceptable)
    frame["language"] = frame.language.fillna("unknown")
    return frame


def degenerate_answers(references: pd.DataFrame) -> pd.DataFrame:
    """The junk a broken model produces, one row per (held-out prompt, kind) where the kind applies."""
    rows = []
    good = references[references.role == "good"].sort_values("harm", kind="stable")
    best = good.groupby("prompt_id", sort=False).first()
    for prompt_id, prompt in references.groupby("prompt_id", sort=True):
        first = prompt.iloc[0]
        language = str(first.language)
        answer = str(best.text.get(prompt_id, "")) if prompt_id in best.index else ""
        first_word = answer.split()[0].strip(",.;:!?") if answer.split() else "the"
        no = NO_NO.get(language[:2], "No")
        texts = {
            "empty": "",
            "repeated_word": " ".join([first_word.lower()] * REPEATS),
            "no_no": ", ".join([no] + [no.lower()] * 11) + "…",
            "truncated": " ".join(answer.split()[:TRUNCATED_WORDS]) if answer else None,
        }
        other = best[(best.prompt_key == first.prompt_key) & (best.language != language)]
        texts["other_language"] = str(other.text.iloc[0]) if len(other) and first.prompt_key else None
        for kind, text in texts.items():
            if text is not None:
                rows.append((prompt_id, str(first.prompt_text), language, kind, text))
    return pd.DataFrame(rows, columns=["prompt_id", "prompt_text", "language", "kind", "text"])


def _share_better(junk: np.ndarray, others: np.ndarray) -> tuple[float, int]:
    """Share of (junk, other) pairs where junk's badness is lower; ties count half."""
    if junk.size == 0 or others.size == 0:
        return math.nan, 0
    diff = junk[:, None] - others[None, :]
    return float(((diff < 0).sum() + 0.5 * (diff == 0).sum()) / diff.size), int(diff.size)


def validate_evaluator(
    store: Store, dataset_id: str, score: ScoreFunction, *, higher_is_worse: bool
) -> dict[str, Any]:
    """Per-language validation numbers (see module doc) for one evaluator; the body of its card."""
    references = reference_answers(store, dataset_id)
    junk = degenerate_answers(references)
    texts = list(references.text) + list(junk.text)
    prompts = list(references.prompt_text) + list(junk.prompt_text)
    languages = list(references.language) + list(junk.language)
    raw = np.asarray(score(prompts, texts, languages), dtype=float)
    badness = raw if higher_is_worse else -raw
    references = references.assign(score=raw[: len(references)], badness=badness[: len(references)])
    junk = junk.assign(score=raw[len(references) :], badness=badness[len(references) :])
    per_language: dict[str, Any] = {}
    for language, part in references.groupby("language", sort=True):
        right, pairs = 0.0, 0
        for _, prompt in part.groupby("prompt_id", sort=False):
            bad = prompt.badness[prompt.role == "bad"].to_numpy()
            good = prompt.badness[prompt.role == "good"].to_numpy()
            diff = bad[:, None] - good[None, :]
            right += float((diff > 0).sum() + 0.5 * (diff == 0).sum())
            pairs += diff.size
        entry: dict[str, Any] = {
            "n_prompts": int(part.prompt_id.nunique()),
            "pairwise_accuracy": right / pairs if pairs else math.nan,
            "n_pairs": pairs,
            "mean_score_bad": float(part.score[part.role == "bad"].mean()),
            "mean_score_good": float(part.score[part.role == "good"].mean()),
            "degenerate": {},
        }
        for kind in DEGENERATE_KINDS:
            rows = junk[(junk.language == language) & (junk.kind == kind)]
            if rows.empty:
                continue
            above_bad = above_good = n_bad = n_good = 0.0
            for row in rows.itertuples():
                prompt = part[part.prompt_id == row.prompt_id]
                share, n = _share_better(
                    np.array([row.badness]), prompt.badness[prompt.role == "bad"].to_numpy()
                )
                above_bad += 0 if n == 0 else share * n
                n_bad += n
                share, n = _share_better(
                    np.array([row.badness]), prompt.badness[prompt.role == "good"].to_numpy()
                )
                above_good += 0 if n == 0 else share * n
                n_good += n
            entry["degenerate"][kind] = {
                "n": len(rows),
                "mean_score": float(rows.score.mean()),
                "better_than_bad": above_bad / n_bad if n_bad else math.nan,
                "better_than_good": above_good / n_good if n_good else math.nan,
            }
        per_language[str(language)] = entry
    return {
        "dataset_id": dataset_id,
        "higher_is_worse": higher_is_worse,
        "bad_level": BAD_LEVEL,
        "good_level": GOOD_LEVEL,
        "languages": per_language,
        "created": time.time(),
    }


def card_markdown(card: dict[str, Any]) -> str:
    """The card as a short markdown document (what the Evaluate page and the model folder show)."""
    direction = "higher = worse" if card.get("higher_is_worse", True) else "higher = better"
    lines = [
        f"# Evaluator card: {card.get('evaluator', 'evaluator')}",
        "",
        f"Dataset `{card.get('dataset_id')}`, held-out prompts only; scores on the evaluator's scale "
        f"({direction}). Reference pairs: intended harm >= {card.get('bad_level')} vs <= "
        f"{card.get('good_level')}; accuracy 0.5 = chance.",
        "",
        *([f"Not validated: {card['unavailable']}", ""] if card.get("unavailable") else []),
        "| language | prompts | pairwise accuracy | pairs | mean score, problematic | mean score, OK |",
        "|---|---|---|---|---|---|",
    ]
    for language, entry in card.get("languages", {}).items():
        lines.append(
            f"| {language} | {entry['n_prompts']} | {_fmt(entry['pairwise_accuracy'])} | {entry['n_pairs']} "
            f"| {_fmt(entry['mean_score_bad'])} | {_fmt(entry['mean_score_good'])} |"
        )
    lines += [
        "",
        "Degenerate answers: mean score, and how often the junk scores *better* than a problematic / an "
        "acceptable (OK) reference answer to the same prompt.",
        "",
        "| language | kind | n | mean score | better than problematic | better than acceptable |",
        "|---|---|---|---|---|---|",
    ]
    for language, entry in card.get("languages", {}).items():
        for kind, values in entry.get("degenerate", {}).items():
            lines.append(
                f"| {language} | {kind} | {values['n']} | {_fmt(values['mean_score'])} "
                f"| {_fmt(values['better_than_bad'])} | {_fmt(values['better_than_good'])} |"
            )
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def reward_model_card(store: Store, model: Any) -> dict[str, Any]:
    """The card of a group reward model, validated on its own dataset's held-out prompts."""
    card = {
        "evaluator": model.name or f"{model.selection_label} · {model.dimension}",
        "kind": f"group reward model ({model.config.features})",
        "dimension": model.dimension,
        "group": model.selection_label,
    }
    try:
        body = validate_evaluator(
            store,
            model.dataset_id,
            lambda prompts, texts, languages: model.predict(prompts, texts),
            higher_is_worse=not model.higher_is_better,
        )
    except ValueError as error:
        return {**card, "dataset_id": model.dataset_id, "unavailable": str(error), "languages": {}}
    return {**card, **body}


def write_card(store: Store, model: Any) -> dict[str, Any]:
    """Compute the reward model's card and save it as JSON and markdown in its folder."""
    import json

    from pluralign_core.rewards.config import CARD_JSON, CARD_MARKDOWN

    card = reward_model_card(store, model)
    if model.path is not None:
        (model.path / CARD_JSON).write_text(json.dumps(card, indent=2, default=str), "utf-8")
        (model.path / CARD_MARKDOWN).write_text(card_markdown(card), "utf-8")
    return card


def load_card(folder: Any) -> dict[str, Any] | None:
    """The card saved in a reward model folder, or None for a model trained before cards existed."""
    import json
    from pathlib import Path

    from pluralign_core.rewards.config import CARD_JSON

    file = Path(folder) / CARD_JSON
    return json.loads(file.read_text("utf-8")) if file.exists() else None
