"""Answers to the held-out prompts: which prompts, which model, and fixed decoding.

One answer per prompt and language, with greedy decoding by default (seeded sampling otherwise), so two
evaluations of the same model give the same text and differences between models are the models'.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from pluralign_core.evaluation.config import EvaluationConfig
from pluralign_core.models.adapters import check_adapter_folder
from pluralign_core.models.base import EMBEDDED_MODEL
from pluralign_core.progress import ProgressCallback
from pluralign_core.store.database import Store


def heldout_prompts(store: Store, config: EvaluationConfig) -> pd.DataFrame:
    """The prompts to answer: ``split`` prompts in each language, at most ``max_prompts`` per language.

    Prompts are taken in ``prompt_key`` order so that the same keys (the EN and DE version of one prompt)
    are picked in both languages.
    """
    prompts = store.query(
        "SELECT prompt_id, prompt_key, text, language, topic FROM prompts "
        "WHERE dataset_id = ? AND split = ? ORDER BY prompt_key, language, prompt_id",
        [config.dataset_id, config.split],
    )
    prompts = prompts[prompts.language.isin(config.languages)]
    if prompts.empty:
        raise ValueError(
            f"dataset {config.dataset_id!r} has no {config.split!r} prompts in {config.languages}: mark some "
            "prompts split='heldout' on import, or choose other languages"
        )
    if config.max_prompts:
        prompts = prompts.groupby("language", group_keys=False).head(config.max_prompts)
    return prompts.reset_index(drop=True)


def resolve_model_ref(store: Store, config: EvaluationConfig) -> tuple[str, str | None, str]:
    """``(base model ref, adapter folder or None, display label)`` for the configured model."""
    if config.model_id == "base":
        base = config.base_model or EMBEDDED_MODEL
        return base, None, "base"
    artifact = store.artifact(config.model_id)
    if artifact["kind"] != "adapter":
        raise ValueError(
            f"{config.model_id} is a {artifact['kind']}, not an adapter: evaluate an adapter or 'base'"
        )
    adapter = Path(str(artifact["path"]))
    if not (adapter / "adapter_config.json").exists():
        raise FileNotFoundError(f"adapter {config.model_id}: {adapter} has no adapter_config.json")
    base = config.base_model or (artifact.get("config") or {}).get("base_model") or EMBEDDED_MODEL
    return base, str(adapter), str(artifact["name"])


def load_model(base_ref: str, adapter_path: str | None) -> tuple[Any, Any]:
    """The base model with the adapter applied (merged for speed), in eval mode, tokenizer left-padded."""
    from pluralign_core.models.base import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(base_ref)
    if adapter_path:
        from peft import PeftModel

        check_adapter_folder(adapter_path)
        model = PeftModel.from_pretrained(model, adapter_path).merge_and_unload()
    tokenizer.padding_side = "left"
    model.eval()
    return model, tokenizer


def generate_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    config: EvaluationConfig,
    progress: ProgressCallback | None = None,
) -> list[str]:
    """One answer per prompt (chat template, batched, fixed seed); plain text without special tokens."""
    import torch

    answers: list[str] = []
    sampling: dict[str, Any] = (
        {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        if config.greedy
        else {"do_sample": True, "temperature": config.temperature, "top_p": config.top_p}
    )
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for start in range(0, len(prompts), config.batch_size):
        batch = list(prompts[start : start + config.batch_size])
        texts = [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            )
            for p in batch
        ]
        inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        torch.manual_seed(config.seed + start)
        with torch.inference_mode():
            output = model.generate(
                **inputs, max_new_tokens=config.max_new_tokens, pad_token_id=pad, **sampling
            )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        answers += [t.strip() for t in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
        if progress:
            progress(
                min(1.0, (start + len(batch)) / len(prompts)), f"generated {len(answers)}/{len(prompts)}"
            )
    return answers
