"""Answers run on top of their prompt's cached keys and values give what one unpadded row gives."""

from __future__ import annotations

import pytest
import torch

from pluralign_core.models.shared_prompts import answers_on_shared_prompts, chunks_by_prompt

torch.set_num_threads(1)


def test_chunks_keep_a_prompts_answers_together_and_bound_the_size():
    prompts = [(1, 2, 3), (9,), (1, 2, 3), (4, 5), (9,), (1, 2, 3), (4, 5)]
    chunks = chunks_by_prompt(prompts, batch_size=3)
    assert [[(p, rows) for p, rows in chunk] for chunk in chunks] == [
        [((9,), [1, 4])],
        [((4, 5), [3, 6])],
        [((1, 2, 3), [0, 2, 5])],
    ]
    assert chunks_by_prompt(prompts, batch_size=1)[-1] == [((1, 2, 3), [0, 2, 5])]  # never split
    assert sum(len(rows) for chunk in chunks_by_prompt(prompts, 100) for _, rows in chunk) == len(prompts)


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_outputs_equal_one_unpadded_row_at_a_time(tiny_model_dir, batch_size):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    short, long = [5, 6, 7], [11, 12, 13, 14, 15, 16, 17, 18]
    prompts = [long, short, long, short, long, [21]]
    answers = [[30, 31, 32, 33], [40], [50, 51], [60, 61, 62, 63, 64, 65], [], [70, 71, 72]]
    seen = {}
    for chunk in answers_on_shared_prompts(
        model, prompts, answers, pad_id=0, batch_size=batch_size, logits=True, hidden=True
    ):
        for index, row in enumerate(chunk.rows):
            seen[row] = (chunk, index)
    assert sorted(seen) == list(range(len(prompts)))
    for row, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        chunk, index = seen[row]
        length = int(chunk.mask[index].sum())
        assert length == len(answer) and chunk.ids[index, :length].tolist() == answer
        if not answer:
            continue
        with torch.inference_mode():
            full = model(input_ids=torch.tensor([prompt + answer]), output_hidden_states=True)
        start = len(prompt)
        torch.testing.assert_close(chunk.first_logits[index], full.logits[0, start - 1], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(chunk.logits[index, :length], full.logits[0, start:], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(
            chunk.hidden[index, :length], full.hidden_states[-1][0, start:], atol=1e-5, rtol=1e-5
        )


def test_nothing_asked_nothing_projected(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    (chunk,) = answers_on_shared_prompts(model, [[1, 2]], [[3, 4, 5]], pad_id=0, hidden=True)
    assert chunk.logits is None and chunk.first_logits is None and chunk.hidden.shape[:2] == (1, 3)
    with pytest.raises(ValueError, match="2 prompts but 1 answers"):
        list(answers_on_shared_prompts(model, [[1], [2]], [[3]], pad_id=0))
