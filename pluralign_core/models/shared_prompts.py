"""Many answers to few prompts in one forward each: every distinct prompt runs once, its answers on top.

The likelihood measure and the hidden-state reward features both read answers *in the context of their
prompt*, and both see several answers per prompt (four reference answers per held-out prompt, a GRPO
group's samples). With SmolLM2's default system turn the prompt is about half of every row's tokens, so
running it once per answer spends about half the pass on repeated work. Here a group of prompts is
run once (left-padded, ``use_cache``), each prompt's keys and values are copied to its answers, and
the answers run on top of them (right-padded, position ids continuing the
prompt's). Attention sees exactly the tokens it would see in one unpadded row, so the outputs match a
row-by-row pass to float rounding (tests/models/test_shared_prompts.py). Answers are chunked by
length across the prompts of a pass, not prompt by prompt: a hostile answer of 20 tokens and an
empathetic one of 66 to the same prompt in one chunk would spend a third of the answer pass on padding.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

Prompt = tuple[int, ...]
#: Prompts run together in one prompt pass; their keys and values are kept while their answers run.
PROMPTS_PER_PASS = 16


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


@dataclass
class PromptGroup:
    """Prompts run in one pass, and the answer chunks that run on top of their keys and values."""

    prompts: list[Prompt]
    answer_chunks: list[list[int]]  # rows of the caller's answers, each chunk of similar lengths


def plan_passes(
    prompts: Sequence[Prompt], answer_lengths: Sequence[int], batch_size: int, prompts_per_pass: int
) -> list[PromptGroup]:
    """Distinct prompts, shortest first, in groups of at most ``prompts_per_pass``; each group's answers
    sorted by length into chunks of at most ``batch_size``, so that neither pass computes much padding."""
    by_prompt: dict[Prompt, list[int]] = {}
    for row, prompt in enumerate(prompts):
        by_prompt.setdefault(tuple(prompt), []).append(row)
    distinct = sorted(by_prompt, key=len)
    groups = []
    for start in range(0, len(distinct), max(1, prompts_per_pass)):
        members = distinct[start : start + max(1, prompts_per_pass)]
        rows = sorted(
            (row for prompt in members for row in by_prompt[prompt]), key=lambda r: answer_lengths[r]
        )
        chunks = [rows[i : i + max(1, batch_size)] for i in range(0, len(rows), max(1, batch_size))]
        groups.append(PromptGroup(list(members), chunks))
    return groups


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
    prompts_per_pass: int = PROMPTS_PER_PASS,
) -> Iterator[AnswerOutputs]:
    """Run ``answers[i]`` (token ids) after ``prompts[i]`` (token ids, each non-empty), prompt by prompt.

    Yields one :class:`AnswerOutputs` per chunk of at most ``batch_size`` answers, in inference mode
    (:func:`plan_passes` says which prompts run together and which answers); ``logits`` / ``hidden`` say
    which outputs to keep (the vocabulary projection over the answer tokens is skipped when not asked for).
    Chunks whose answers are all empty are skipped (their rows appear in no output).
    """
    import torch

    if len(prompts) != len(answers):
        raise ValueError(f"{len(prompts)} prompts but {len(answers)} answers")
    device = next(model.parameters()).device
    argument = cache_argument(model)
    lengths = [len(answer) for answer in answers]
    for group in plan_passes([tuple(p) for p in prompts], lengths, batch_size, prompts_per_pass):
        width = max(len(prompt) for prompt in group.prompts)
        prompt_ids = torch.full((len(group.prompts), width), pad_id, dtype=torch.long)
        prompt_mask = torch.zeros((len(group.prompts), width), dtype=torch.long)
        for index, prompt in enumerate(group.prompts):
            prompt_ids[index, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            prompt_mask[index, width - len(prompt) :] = 1
        with torch.inference_mode():
            prompt_pass = model(
                input_ids=prompt_ids.to(device),
                attention_mask=prompt_mask.to(device),
                position_ids=(prompt_mask.cumsum(-1) - 1).clamp(min=0).to(device),
                use_cache=True,
                logits_to_keep=1,
            )
        cache = getattr(prompt_pass, "cache", None) or prompt_pass.past_key_values
        prompt_states = [(layer.keys, layer.values) for layer in cache.layers]
        index_of = {prompt: index for index, prompt in enumerate(group.prompts)}
        for rows in group.answer_chunks:
            longest = max(len(answers[row]) for row in rows)
            if longest == 0:
                continue
            owner = torch.tensor([index_of[tuple(prompts[row])] for row in rows])
            owner_there = owner.to(device)
            answer_ids = torch.full((len(rows), longest), pad_id, dtype=torch.long)
            answer_mask = torch.zeros((len(rows), longest), dtype=torch.long)
            for index, row in enumerate(rows):
                answer_ids[index, : len(answers[row])] = torch.tensor(list(answers[row]), dtype=torch.long)
                answer_mask[index, : len(answers[row])] = 1
            # each answer reads its own prompt's keys and values; the pass appends to copies, never to these
            for layer, (keys, values) in zip(cache.layers, prompt_states, strict=True):
                layer.keys, layer.values = keys[owner_there], values[owner_there]
            with torch.inference_mode():
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
                first_logits=prompt_pass.logits[owner_there, -1] if logits else None,
                logits=answer_pass.logits if logits else None,
                hidden=answer_pass.hidden_states[-1] if hidden else None,
            )


def rendered_answers_on_shared_prompts(
    model: Any, tokenizer: Any, rendered: Sequence[tuple[Sequence[int], int]], **options: Any
) -> Iterator[AnswerOutputs]:
    """:func:`answers_on_shared_prompts` for rendered conversations: each ``(ids, answer_start)`` is split
    into its prompt and answer, and padding uses the tokenizer's pad id (0 when it has none)."""
    return answers_on_shared_prompts(
        model,
        [ids[:start] for ids, start in rendered],
        [ids[start:] for ids, start in rendered],
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
        **options,
    )
