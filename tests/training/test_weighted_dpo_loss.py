"""The weighted DPO loss is a mean weighted by ``weight``: the weights' scale never changes the step size."""

from __future__ import annotations

import pytest
import torch

from tests.training_data import make_preference_set, moved_adapter, tiny_run_config

torch.set_num_threads(1)
N_PAIRS = 4


@pytest.fixture(scope="module")
def trainer(tiny_model_dir, tmp_path_factory):
    """A weighted trainer whose adapter moved away from the reference, so pairs have different losses."""
    from pluralign_core.training import dpo

    folder = tmp_path_factory.mktemp("weighted")
    prefs = make_preference_set(folder / "prefs", n=N_PAIRS)
    config = tiny_run_config(tiny_model_dir, preference_set=str(prefs), weighted_loss="on")
    return moved_adapter(dpo.build_trainer(config, folder / "run"))


def _batch(trainer, indices, weights=None):
    examples = [dict(trainer.train_dataset[i]) for i in indices]
    for example, weight in zip(examples, weights or [None] * len(examples), strict=True):
        example.pop("probability", None)
        if weight is None:
            example.pop("weight", None)
        else:
            example["weight"] = weight
    return trainer.data_collator(examples)


def _loss(trainer, batch) -> float:
    with torch.no_grad():
        return float(trainer.compute_loss(trainer.model, batch))


@pytest.fixture(scope="module")
def pair_losses(trainer) -> list[float]:
    """Each pair's plain DPO loss, computed alone."""
    losses = [_loss(trainer, _batch(trainer, [i])) for i in range(N_PAIRS)]
    assert max(losses) - min(losses) > 1e-3, "pairs must differ, or no weighting could show"
    return losses


@pytest.mark.parametrize("weight", [0.25, 1.0, 3.0])
def test_equal_weights_give_the_unweighted_loss(trainer, pair_losses, weight):
    everything = list(range(N_PAIRS))
    plain = _loss(trainer, _batch(trainer, everything))
    assert plain == pytest.approx(sum(pair_losses) / N_PAIRS, rel=1e-5)
    assert _loss(trainer, _batch(trainer, everything, [weight] * N_PAIRS)) == pytest.approx(plain, rel=1e-5)


def test_double_weight_on_one_half_moves_the_loss_as_a_weighted_mean(trainer, pair_losses):
    lighter = sorted(range(N_PAIRS), key=pair_losses.__getitem__)[: N_PAIRS // 2]
    weights = [2.0 if i in lighter else 1.0 for i in range(N_PAIRS)]
    weighted = _loss(trainer, _batch(trainer, list(range(N_PAIRS)), weights))
    expected = sum(w * loss for w, loss in zip(weights, pair_losses, strict=True)) / sum(weights)
    assert weighted == pytest.approx(expected, rel=1e-5)
    assert weighted < sum(pair_losses) / N_PAIRS - 1e-3  # pulled towards the doubled, lower losses


def test_gradient_accumulation_normalises_by_the_whole_steps_weight(trainer, pair_losses):
    weights = [[3.0, 3.0], [0.5, 1.5]]  # the two micro-batches carry different total weight
    batches = [_batch(trainer, [0, 1], weights[0]), _batch(trainer, [2, 3], weights[1])]
    prepared, _ = trainer.get_batch_samples(iter(batches), 2, trainer.args.device)
    step_loss = sum(_loss(trainer, batch) for batch in prepared) / len(prepared)  # as the Trainer scales it
    flat = [w for pair in weights for w in pair]
    expected = sum(w * loss for w, loss in zip(flat, pair_losses, strict=True)) / sum(flat)
    assert step_loss == pytest.approx(expected, rel=1e-5)


def test_zero_weights_teach_nothing():
    from pluralign_core.training.dpo import normalised_weights

    assert torch.equal(normalised_weights(torch.zeros(3)), torch.zeros(3))
    assert torch.allclose(normalised_weights(torch.tensor([1.0, 3.0])), torch.tensor([0.5, 1.5]))
    assert torch.allclose(normalised_weights(torch.tensor([1.0, 3.0]), 4.0), torch.tensor([0.25, 0.75]))


def test_weighted_training_with_gradient_accumulation_runs(tiny_model_dir, tmp_path, monkeypatch):
    from pluralign_core.training import dpo

    seen = []
    original = dpo.normalised_weights
    monkeypatch.setattr(dpo, "normalised_weights", lambda w, n=None: seen.append(float(n)) or original(w, n))
    prefs = make_preference_set(tmp_path / "prefs", n=N_PAIRS, weights=[0.2, 0.4, 1.0, 3.0])
    config = tiny_run_config(
        tiny_model_dir, preference_set=str(prefs), max_steps=1, gradient_accumulation_steps=2
    )
    trainer = dpo.build_trainer(config, tmp_path / "run")
    assert isinstance(trainer, dpo.WeightedDPOTrainer)
    result = trainer.train()
    assert result.global_step == 1 and 0 < result.training_loss < 10
    lora_b = [p for name, p in trainer.model.named_parameters() if "lora_B" in name]
    assert any(p.abs().sum() > 0 for p in lora_b)
    assert seen == pytest.approx([4.6 / (2 * 2)] * 2)  # the step's summed weight / (micro-batches · pairs)
