"""Evaluate a model (the base model or a trained adapter) on the dataset's held-out prompts.

The study compares models by what they *say* to prompts they were not tuned on. An evaluation therefore:

1. generates one answer per held-out prompt, in every requested language, with fixed decoding
   (:mod:`.generation`);
2. scores every answer with the independent toxicity classifier and the group reward models, and
   summarises per scorer, group, dimension and language with bootstrap CIs over prompts (:mod:`.scoring`);
3. writes ``config.yaml``, ``generations.jsonl``, ``scores.parquet`` and ``summary.json`` under
   ``<home>/evaluations/<id>/`` and registers an artifact of kind ``evaluation`` whose config names the
   evaluated model, so the Trade-offs page can be rebuilt from disk at any time (:mod:`.results`).

:func:`evaluate_model` is the one function that does this: the evaluation process the Evaluate page
queues (:mod:`.worker`), ``pluralign evaluate`` and the grid all call it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd

from pluralign_core import paths
from pluralign_core.evaluation.config import EvaluationConfig, new_evaluation_id
from pluralign_core.evaluation.generation import (
    generate_answers,
    heldout_prompts,
    load_model,
    resolve_model_ref,
)
from pluralign_core.evaluation.results import EvaluationResult, save_result
from pluralign_core.evaluation.scoring import headline_metrics, score_generations, summarise
from pluralign_core.progress import ProgressCallback
from pluralign_core.store.database import Store


def check_evaluation(store: Store, config: EvaluationConfig) -> str:
    """What the evaluation process would refuse, found before one is started; returns the model label.

    Raises ``ValueError`` (no such prompts, not an adapter), ``KeyError`` (unknown artifact or reward
    model) or ``FileNotFoundError`` (an adapter folder without ``adapter_config.json``).
    """
    from pluralign_core.rewards.training import registered_reward_models

    heldout_prompts(store, config)
    if config.reward_model_ids:
        registered = registered_reward_models(store, config.dataset_id)
        missing = sorted(set(config.reward_model_ids) - set(registered.get("artifact_id", [])))
        if missing:
            raise KeyError(
                f"reward models {missing} are not registered for dataset {config.dataset_id!r}: "
                "train them first (pluralign reward)"
            )
    return resolve_model_ref(store, config)[2]


def evaluate_model(
    store: Store,
    config: EvaluationConfig,
    progress: ProgressCallback | None = None,
    *,
    classifier: Any = None,
    evaluation_id: str | None = None,
    folder: Path | None = None,
    loaded: tuple[Any, Any] | None = None,
) -> EvaluationResult:
    """Generate, score, summarise, save under ``<home>/evaluations/<id>/`` and register the evaluation.

    ``folder`` (default: that path) is where the result files go; a queued evaluation passes its job
    folder, so the files sit beside its status and progress log. ``loaded`` is the configured model and
    tokenizer already loaded by the caller (:func:`.generation.load_model`), who keeps using it afterwards.
    """

    def report(fraction: float, message: str) -> None:
        if progress:
            progress(max(0.0, min(1.0, fraction)), message)

    started = time.time()
    prompts = heldout_prompts(store, config)
    base_ref, adapter_path, label = resolve_model_ref(store, config)
    report(0.02, f"loading {label}")
    model, tokenizer = loaded or load_model(base_ref, adapter_path)
    answers = generate_answers(
        model, tokenizer, list(prompts.text), config, progress=lambda f, m: report(0.05 + 0.8 * f, m)
    )
    del model
    generations = pd.DataFrame(
        {
            "prompt_id": prompts.prompt_id,
            "prompt_key": prompts.prompt_key,
            "language": prompts.language,
            "topic": prompts.topic,
            "prompt_text": prompts.text,
            "response": answers,
        }
    )
    report(0.88, "scoring")
    scores = score_generations(store, generations, config, classifier)
    summary = summarise(
        scores, n_resamples=config.n_bootstrap, confidence=config.confidence, seed=config.seed
    )
    evaluation_id = evaluation_id or new_evaluation_id(config)
    folder = folder or paths.subdir("evaluations") / paths.safe_name(evaluation_id)
    meta = {
        "evaluation_id": evaluation_id,
        "model_label": label,
        "base_model": base_ref,
        "adapter_path": adapter_path,
        "seconds": round(time.time() - started, 1),
        "created": time.time(),
    }
    save_result(folder, config, generations, scores, summary, meta)
    store.register_artifact(
        "evaluation",
        config.name or f"evaluation of {label}",
        path=folder,
        dataset_id=config.dataset_id,
        config={**config.to_dict(), "model_label": label, "base_model_ref": base_ref},
        metrics=headline_metrics(summary),
        artifact_id=evaluation_id,
    )
    report(1.0, "done")
    return EvaluationResult(evaluation_id, config, generations, scores, summary, folder, meta)
