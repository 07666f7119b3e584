"""The likelihood measure's cost: scoring the held-out pairs' answers with rows batched by length.

Every grid cell and every demo adapter scores the distinct answers of the held-out preference pairs (144 on
the default data) under its model. Rows are left-padded per batch, so batching answers of similar length
avoids computing through padding. Baseline, measured in the same run: the same call in the data's own order
(each batch of 8 taken as it comes, which is what the code did before). Needs the embedded model; on a fresh
machine it de-quantizes it once first (not timed).
"""

from __future__ import annotations

import os
import time

import numpy as np

from bench.results import Figure, emit


def main() -> None:
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
    answer_logprobs(model, tokenizer, prompts[:8], texts[:8])  # warm-up

    started = time.perf_counter()
    baseline = np.concatenate(
        [
            answer_logprobs(model, tokenizer, prompts[i : i + 8], texts[i : i + 8])
            for i in range(0, len(texts), 8)
        ]
    )
    baseline_s = time.perf_counter() - started
    started = time.perf_counter()
    batched = answer_logprobs(model, tokenizer, prompts, texts, batch_size=8)
    sorted_s = time.perf_counter() - started
    print(f"machine: {os.cpu_count()} cores; {len(texts)} answers of {dataset_id}")
    print(
        f"in data order {baseline_s:.1f} s, batched by length {sorted_s:.1f} s; max |difference| "
        f"{float(np.max(np.abs(baseline - batched))):.2e}"
    )
    emit(
        Figure(
            "likelihood",
            f"score {len(texts)} held-out answers, batches of 8 by length",
            sorted_s,
            "s",
            baseline_name="batches of 8 in data order",
            baseline_value=baseline_s,
            target="faster than the baseline, same values",
            met=sorted_s < baseline_s and bool(np.allclose(baseline, batched, atol=1e-4)),
        )
    )


if __name__ == "__main__":
    main()
