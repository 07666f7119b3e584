"""``lora_top_layers``: adapters on the last layers only, and the backward pass stops below them."""

from __future__ import annotations

import pytest

from tests.tiny_models import make_tiny_causal_lm
from tests.training_data import tiny_run_config as _tiny_run_config


def tiny_run_config(folder, **overrides):
    return _tiny_run_config(folder, preference_set="unused", **overrides)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory):
    from transformers import AutoModelForCausalLM

    folder = make_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"))
    return folder, lambda: AutoModelForCausalLM.from_pretrained(folder)


def _adapted_layers(peft_model) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    for name, _ in peft_model.named_parameters():
        if "lora_A" in name:
            parts = name.split(".")
            layer = int(parts[parts.index("layers") + 1])
            found.setdefault(layer, set()).add(parts[parts.index("lora_A") - 1])
    return found


@pytest.mark.parametrize("targets", [["all-linear"], ["q_proj", "v_proj"]])
def test_adapters_sit_on_the_last_layers_only(tiny_model, targets) -> None:
    from peft import get_peft_model

    from pluralign_core.training.common import lora_config

    folder, load = tiny_model
    model = load()
    config = tiny_run_config(folder, lora_target_modules=targets, lora_top_layers=1)
    adapted = _adapted_layers(get_peft_model(model, lora_config(config, model)))
    assert set(adapted) == {1}
    expected = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert adapted[1] == (expected if targets == ["all-linear"] else set(targets))


def test_every_layer_by_default(tiny_model) -> None:
    from peft import get_peft_model

    from pluralign_core.training.common import lora_config

    folder, load = tiny_model
    model = load()
    config = tiny_run_config(folder, lora_target_modules=["all-linear"])
    assert set(_adapted_layers(get_peft_model(model, lora_config(config, model)))) == {0, 1}


def test_the_backward_pass_stops_below_the_adapters(tiny_model) -> None:
    """No gradient reaches the first layer's activations when only the last layer is adapted."""
    import torch
    from peft import get_peft_model

    from pluralign_core.training.common import lora_config

    folder, load = tiny_model
    model = load()
    config = tiny_run_config(folder, lora_target_modules=["all-linear"], lora_top_layers=1)
    peft_model = get_peft_model(model, lora_config(config, model))
    seen: dict[str, bool] = {}
    layers = peft_model.base_model.model.model.layers
    layers[0].register_forward_hook(lambda m, i, o: seen.__setitem__("first", o[0].requires_grad))
    layers[1].register_forward_hook(lambda m, i, o: seen.__setitem__("last", o[0].requires_grad))
    ids = torch.randint(5, 50, (2, 8))
    peft_model(input_ids=ids).logits.sum().backward()
    assert seen == {"first": False, "last": True}


def test_more_layers_than_the_model_has_means_every_layer(tiny_model) -> None:
    from peft import get_peft_model

    from pluralign_core.training.common import lora_config

    folder, load = tiny_model
    model = load()
    config = tiny_run_config(folder, lora_target_modules=["all-linear"], lora_top_layers=10)
    assert set(_adapted_layers(get_peft_model(model, lora_config(config, model)))) == {0, 1}
    with pytest.raises(ValueError, match="lora_top_layers"):
        tiny_run_config(folder, lora_top_layers=-1)
