"""The likelihood measure's cost: answers to the same prompt share one pass over the prompt.

Every grid cell and every demo adapter scores the distinct answers of the held-out preference pairs (144 on
the default data: 4 answers to each of 36 prompts) under its model. With SmolLM2's default system turn the
prompt is about half of every row's tokens. :func:`~pluralign_core.evaluation.likelihood.answer_logprobs`
runs each prompt once and its answers on top of its keys and values. Baseline, measured in the same run:
:func:`each_answer_with_its_prompt`, the code before 2026-12-02 (every row holds prompt and answer, rows
batched 8 at a time by length). Both use the same batch size and must give the same values. Needs the
embedded model; on a fresh machine it de-quantizes it once first (not timed).

Run: ``python -m bench.bench_likelihood [--rounds N]`` (the two paths alternate; medians are compared).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.results import Figure, emit, machine_line


def each_answer_with_its_prompt(
    model: Any, tokenizer: Any, prompts: Sequence[str], answers: Sequence[str], batch_size: int = 8
) -> np.ndarray:
    """The baseline: each row is prompt + answer, left-padded, batched by length, logits over answers only."""
    import torch

    from pluralign_core.evaluation.likelihood import MAX_ANSWER_TOKENS, _conversation_ids

    encoded = [
        _conversation_ids(tokenizer, p, a, MAX_ANSWER_TOKENS) for p, a in zip(prompts, answers, strict=True)
    ]
    out = np.full(len(encoded), np.nan)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    for start in range(0, len(encoded), batch_size):
        rows = order[start : start + batch_size]
        chunk = [encoded[i] for i in rows]
        width = max(len(ids) for ids, _ in chunk)
        lengths = [len(ids) - answer_start for ids, answer_start in chunk]
        keep = max(lengths) + 1
        input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id or 0, dtype=torch.long)
        attention = torch.zeros((len(chunk), width), dtype=torch.long)
        for row, (ids, _) in enumerate(chunk):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = model(
                input_ids=input_ids, attention_mask=attention, position_ids=positions, logits_to_keep=keep
            ).logits
        token_lp = torch.log_softmax(logits[:, :-1].float(), -1).gather(
            -1, input_ids[:, width - keep + 1 :, None]
        )
        for row, length in enumerate(lengths):
            out[rows[row]] = float(token_lp[row, token_lp.shape[1] - length :].mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from pluralign_core.evaluation.heldout_pairs import heldout_group_pairs, pair_responses
    from pluralign_core.evaluation.likelihood import answer_logprobs
    from pluralign_core.models.base import EMBEDDED_MODEL, load_model_and_tokenizer
    from pluralign_core.store.bootstrap import ensure_default_dataset
    from pluralign_core.store.database import Store

    store = Store()
    ensure_default_dataset(store)
    dataset_id = store.active_dataset()
    responses = pair_responses(heldout_group_pairs(store, dataset_id, None, "toxicity"))
    prompts, texts = responses.prompt.tolist(), responses.text.tolist()
    model, tokenizer = load_model_and_tokenizer(EMBEDDED_MODEL)
    print(machine_line())
    print(f"{len(texts)} answers to {len(set(prompts))} prompts of {dataset_id}")
    answer_logprobs(model, tokenizer, prompts[:8], texts[:8])  # warm-up

    seconds: dict[str, list[float]] = {"baseline": [], "shared": []}
    values: dict[str, np.ndarray] = {}
    for round_index in range(args.rounds):
        for name, score in (("baseline", each_answer_with_its_prompt), ("shared", answer_logprobs)):
            started = time.perf_counter()
            values[name] = score(model, tokenizer, prompts, texts, batch_size=8)
            seconds[name].append(time.perf_counter() - started)
        print(f"round {round_index + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in seconds.items()))
    baseline_s, shared_s = statistics.median(seconds["baseline"]), statistics.median(seconds["shared"])
    difference = float(np.max(np.abs(values["baseline"] - values["shared"])))
    print(
        f"median: each answer with its prompt {baseline_s:.1f} s, shared prompts {shared_s:.1f} s; "
        f"max |difference| {difference:.2e}"
    )
    emit(
        Figure(
            "likelihood",
            f"score {len(texts)} held-out answers, each prompt run once for its answers",
            shared_s,
            "s",
            baseline_name="each answer with its prompt, batches of 8 by length",
            baseline_value=baseline_s,
            target="faster than the baseline, same values (1e-4)",
            met=shared_s < baseline_s and difference < 1e-4,
        )
    )


if __name__ == "__main__":
    main()
