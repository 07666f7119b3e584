"""Answers run on top of their prompt's cached keys and values give what one unpadded row gives."""

from __future__ import annotations

import pytest
import torch

from pluralign_core.models.shared_prompts import answers_on_shared_prompts, plan_passes

torch.set_num_threads(1)


def test_passes_group_prompts_and_chunk_their_answers_by_length():
    prompts = [(1, 2, 3), (9,), (1, 2, 3), (4, 5), (9,), (1, 2, 3), (4, 5)]
    lengths = [30, 5, 10, 7, 50, 20, 1]
    groups = plan_passes(prompts, lengths, batch_size=3, prompts_per_pass=2)
    assert [group.prompts for group in groups] == [[(9,), (4, 5)], [(1, 2, 3)]]
    assert [group.answer_chunks for group in groups] == [[[6, 1, 3], [4]], [[2, 5, 0]]]
    (single,) = plan_passes(prompts, lengths, batch_size=100, prompts_per_pass=100)
    assert sorted(row for chunk in single.answer_chunks for row in chunk) == list(range(len(prompts)))


@pytest.mark.parametrize(("batch_size", "prompts_per_pass"), [(1, 1), (3, 2), (16, 16)])
def test_outputs_equal_one_unpadded_row_at_a_time(tiny_model_dir, batch_size, prompts_per_pass):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    short, long = [5, 6, 7], [11, 12, 13, 14, 15, 16, 17, 18]
    prompts = [long, short, long, short, long, [21]]
    answers = [[30, 31, 32, 33], [40], [50, 51], [60, 61, 62, 63, 64, 65], [], [70, 71, 72]]
    seen = {}
    for chunk in answers_on_shared_prompts(
        model,
        prompts,
        answers,
        pad_id=0,
        batch_size=batch_size,
        prompts_per_pass=prompts_per_pass,
        logits=True,
        hidden=True,
    ):
        for index, row in enumerate(chunk.rows):
            seen[row] = (chunk, index)
    # an empty answer has nothing to compute: it is absent, or present with no tokens
    assert set(seen) >= {row for row, answer in enumerate(answers) if answer}
    for row, (prompt, answer) in enumerate(zip(prompts, answers, strict=True)):
        if row not in seen:
            continue
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
