"""trl's fused log-prob head on the CPU projects only labelled positions; log-probs and grads unchanged."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM
from trl.kernels import chunked_logprob
from trl.trainer import utils as trl_utils
from trl.trainer.utils import add_fused_lm_head

from pluralign_core.training import fused_head


@pytest.fixture
def restore_trl():
    """Leave trl's module globals as the test found them."""
    saved = trl_utils._use_triton, trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE, chunked_logprob.TOKEN_CHUNK_SIZE
    yield
    trl_utils._use_triton, trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE, chunked_logprob.TOKEN_CHUNK_SIZE = saved


def _inputs(vocab: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-padded rows: a prompt without labels, then an answer with labels (as DPO and GRPO build them)."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(3, vocab, (3, 12), generator=generator)
    attention = torch.ones_like(ids)
    attention[0, :4] = 0  # padding
    labels = ids.clone()
    labels[:, :7] = -100  # prompt positions
    labels[1, 10:] = -100  # a short answer, right-padded
    return ids, attention, labels


def _run(
    model_dir, labelled_only: bool, rows_seen: list[int], monkeypatch
) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    add_fused_lm_head(model)
    fused_head.shrink_logprob_tiles(tokens=8, vocab=64)  # several tiles even on the tiny model
    fused_head.project_labelled_positions_only(labelled_only)
    original_apply = trl_utils._ChunkedLogProbFunction.apply

    def counting_apply(hidden, *args):
        rows_seen.append(hidden.shape[0])
        return original_apply(hidden, *args)

    with monkeypatch.context() as patch:
        patch.setattr(trl_utils._ChunkedLogProbFunction, "apply", counting_apply)
        ids, attention, labels = _inputs(model.config.vocab_size)
        outputs = model(input_ids=ids, attention_mask=attention, labels=labels, fused_lm_head=True)
        outputs.log_probs.sum().backward()
    return outputs.log_probs.detach(), model.model.layers[0].mlp.up_proj.weight.grad.clone()


def test_labelled_positions_only_give_the_same_log_probs_and_gradients(
    tiny_model_dir, restore_trl, monkeypatch
):
    every_row: list[int] = []
    labelled_rows: list[int] = []
    all_positions, all_grad = _run(tiny_model_dir, False, every_row, monkeypatch)
    labelled, labelled_grad = _run(tiny_model_dir, True, labelled_rows, monkeypatch)
    _, _, labels = _inputs(10)
    assert every_row == [3 * 11]  # trl's CPU default: every shifted position
    assert labelled_rows == [int((labels[:, 1:] != -100).sum())]  # 4 + 2 + 4 labelled positions
    torch.testing.assert_close(labelled, all_positions, rtol=1e-5, atol=1e-6)
    assert (labelled[labels[:, 1:] == -100] == 0).all()
    assert labelled.abs().sum() > 0
    torch.testing.assert_close(labelled_grad, all_grad, rtol=1e-5, atol=1e-7)


def test_switching_back_restores_trl_s_own_choice(restore_trl):
    fused_head.project_labelled_positions_only()
    fused_head.project_labelled_positions_only()  # twice: still wraps trl's function once
    assert trl_utils._use_triton(torch.device("cpu"))
    assert trl_utils._use_triton.pluralign_original is chunked_logprob._use_triton
    fused_head.project_labelled_positions_only(False)
    assert trl_utils._use_triton is chunked_logprob._use_triton
    assert not trl_utils._use_triton(torch.device("cpu"))


def test_a_cpu_run_loads_its_base_with_labelled_positions_only(tiny_model_dir, restore_trl):
    from pluralign_core.training.common import load_base
    from tests.training_data import tiny_run_config

    fused_head.project_labelled_positions_only(False)
    load_base(tiny_run_config(tiny_model_dir, preference_set="unused: load_base reads no pairs"))
    assert trl_utils._use_triton(torch.device("cpu"))
    assert chunked_logprob.TOKEN_CHUNK_SIZE == 1024
