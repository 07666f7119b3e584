"""Many answers to few prompts in one forward each: every distinct prompt runs once, its answers on top.

The likelihood measure and the hidden-state reward features both read answers *in the context of their
prompt*, and both see several answers per prompt (four reference answers per held-out prompt, a GRPO
group's samples). With SmolLM2's default system turn the prompt is about half of every row's tokens, so
running it once per answer spends about half the pass on repeated work. Here a chunk of whole prompts is
run once (left-padded, ``use_cache``), each prompt's keys and values are copied to its answers
(``batch_select_indices``), and the answers run on top of them (right-padded, position ids continuing the
prompt's). Attention sees exactly the tokens it would see in one unpadded row, so the outputs match a
row-by-row pass to float rounding (tests/models/test_shared_prompts.py).
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

Prompt = tuple[int, ...]


@dataclass
class AnswerOutputs:
    """One chunk's answers: ``rows`` index the caller's answers; tensors are ``[len(rows), longest, …]``.

    ``ids`` are the answers' token ids (right-padded) and ``mask`` marks the real ones.
    ``first_logits`` (``[rows, vocab]``) are the logits at each prompt's last position (they predict the
    answer's first token); ``logits`` at the answer positions; ``hidden`` the last hidden states at the
    answer positions (``output_hidden_states``' last entry).
    """

    rows: list[int]
    ids: Any
    mask: Any
    first_logits: Any = None
    logits: Any = None
    hidden: Any = None


def chunks_by_prompt(prompts: Sequence[Prompt], batch_size: int) -> list[list[tuple[Prompt, list[int]]]]:
    """Whole prompts with at most ``batch_size`` answers per chunk (a prompt with more answers is a chunk
    of its own), shortest prompts first, so that little padding is computed."""
    by_prompt: dict[Prompt, list[int]] = {}
    for row, prompt in enumerate(prompts):
        by_prompt.setdefault(tuple(prompt), []).append(row)
    chunks: list[list[tuple[Prompt, list[int]]]] = []
    size = 0
    for prompt, rows in sorted(by_prompt.items(), key=lambda item: len(item[0])):
        if not chunks or size + len(rows) > batch_size:
            chunks.append([])
            size = 0
        chunks[-1].append((prompt, rows))
        size += len(rows)
    return chunks


def cache_argument(model: Any) -> str:
    """The forward argument that takes a key/value cache: ``cache`` in recent transformers 5, before that
    ``past_key_values``."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model  # a PEFT wrapper's **kwargs
    return "cache" if "cache" in inspect.signature(inner.forward).parameters else "past_key_values"


def answers_on_shared_prompts(
    model: Any,
    prompts: Sequence[Sequence[int]],
    answers: Sequence[Sequence[int]],
    *,
    pad_id: int,
    batch_size: int = 8,
    logits: bool = False,
    hidden: bool = False,
) -> Iterator[AnswerOutputs]:
    """Run ``answers[i]`` (token ids) after ``prompts[i]`` (token ids, each non-empty), prompt by prompt.

    Yields one :class:`AnswerOutputs` per chunk of prompts, in inference mode; ``logits`` / ``hidden`` say
    which outputs to keep (the vocabulary projection over the answer tokens is skipped when not asked for).
    Chunks whose answers are all empty are skipped.
    """
    import torch

    if len(prompts) != len(answers):
        raise ValueError(f"{len(prompts)} prompts but {len(answers)} answers")
    device = next(model.parameters()).device
    argument = cache_argument(model)
    for chunk in chunks_by_prompt([tuple(p) for p in prompts], batch_size):
        rows = [row for _, members in chunk for row in members]
        longest = max(len(answers[row]) for row in rows)
        if longest == 0:
            continue
        width = max(len(prompt) for prompt, _ in chunk)
        prompt_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        prompt_mask = torch.zeros((len(chunk), width), dtype=torch.long)
        for index, (prompt, _) in enumerate(chunk):
            prompt_ids[index, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            prompt_mask[index, width - len(prompt) :] = 1
        owner = torch.tensor([index for index, (_, members) in enumerate(chunk) for _ in members])
        answer_ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
        answer_mask = torch.zeros((len(rows), longest), dtype=torch.long)
        for index, row in enumerate(rows):
            answer_ids[index, : len(answers[row])] = torch.tensor(list(answers[row]), dtype=torch.long)
            answer_mask[index, : len(answers[row])] = 1
        with torch.inference_mode():
            prompt_pass = model(
                input_ids=prompt_ids.to(device),
                attention_mask=prompt_mask.to(device),
                position_ids=(prompt_mask.cumsum(-1) - 1).clamp(min=0).to(device),
                use_cache=True,
                logits_to_keep=1,
            )
            cache = getattr(prompt_pass, "cache", None) or prompt_pass.past_key_values
            cache.batch_select_indices(owner.to(device))
            answer_pass = model(
                input_ids=answer_ids.to(device),
                attention_mask=torch.cat([prompt_mask[owner], answer_mask], dim=-1).to(device),
                position_ids=(prompt_mask.sum(-1)[owner, None] + torch.arange(longest)).to(device),
                use_cache=True,
                logits_to_keep=0 if logits else 1,
                output_hidden_states=hidden,
                **{argument: cache},
            )
        yield AnswerOutputs(
            rows=rows,
            ids=answer_ids,
            mask=answer_mask,
            first_logits=prompt_pass.logits[owner.to(device), -1] if logits else None,
            logits=answer_pass.logits if logits else None,
            hidden=answer_pass.hidden_states[-1] if hidden else None,
        )
