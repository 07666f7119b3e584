"""The lean decoding loop against transformers on the tiny Llama: logits at every step, greedy tokens,
sampling distributions, LoRA adapters, in-place packing, and what it refuses to run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pluralign_core.chat.llama_decoder import PROJECTIONS, LlamaDecoder, unsupported_reason
from pluralign_core.chat.token_sampling import TokenSampler

PROMPT = "Why are some people so rude? Women and men rate answers differently."
ADAPTERS = {
    "every": {"r": 4, "lora_alpha": 8, "target_modules": list(PROJECTIONS)},
    "attention": {"r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "v_proj"]},
    "mlp": {"r": 3, "lora_alpha": 3, "target_modules": ["up_proj", "down_proj"]},
}


def load(folder: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder).eval()


def adapted(folder: Path):
    """The tiny model in a ``PeftModel`` with three LoRA adapters of random, non-zero weights."""
    from peft import LoraConfig, get_peft_model

    names = list(ADAPTERS)
    model = get_peft_model(load(folder), LoraConfig(**ADAPTERS[names[0]]), adapter_name=names[0])
    for name in names[1:]:
        model.add_adapter(name, LoraConfig(**ADAPTERS[name]))
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for parameter_name, parameter in model.named_parameters():
            if "lora_" in parameter_name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return model.eval()


def prompt_ids(folder: Path) -> torch.Tensor:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)(PROMPT, return_tensors="pt").input_ids[0]


def reference_logits(model, ids: torch.Tensor, adapter: str | None) -> torch.Tensor:
    """transformers' own next-token logits after ``ids``, for the base or one adapter."""
    with torch.inference_mode():
        if adapter is None:
            with model.disable_adapter():
                return model(input_ids=ids[None]).logits[0, -1]
        model.set_adapter(adapter)
        return model(input_ids=ids[None]).logits[0, -1]


@pytest.mark.parametrize("adapter", [None, *ADAPTERS])
@pytest.mark.parametrize("split_k", [True, False])
def test_logits_match_transformers_at_every_step(tiny_model_dir, adapter, split_k):
    reference, served = adapted(tiny_model_dir), adapted(tiny_model_dir)
    decoder = LlamaDecoder(served)
    decoder.split_k = split_k  # both ways of running a one-token product compute the same
    ids = prompt_ids(tiny_model_dir)
    follow_up = torch.tensor([5, 17, 42, 3, 99, 8])
    cache = decoder.new_cache(len(ids) + len(follow_up))
    with torch.inference_mode():
        logits = decoder.forward(ids, 0, cache, adapter)
    torch.testing.assert_close(logits, reference_logits(reference, ids, adapter), rtol=1e-4, atol=1e-5)
    for step, token in enumerate(follow_up):
        ids = torch.cat([ids, token[None]])
        with torch.inference_mode():
            logits = decoder.forward(token[None], len(ids) - 1, cache, adapter)
        expected = reference_logits(reference, ids, adapter)
        torch.testing.assert_close(logits, expected, rtol=1e-4, atol=1e-5, msg=f"step {step}")
    if adapter is not None:  # the adapter really changes the logits, so the comparison above means something
        assert not torch.allclose(expected, reference_logits(reference, ids, None), atol=1e-3)


@pytest.mark.parametrize("adapter", [None, "every", "attention"])
@pytest.mark.parametrize("split_k", [True, False])
def test_greedy_tokens_match_generate(tiny_model_dir, adapter, split_k):
    reference, served = adapted(tiny_model_dir), adapted(tiny_model_dir)
    decoder = LlamaDecoder(served)
    decoder.split_k = split_k  # both ways of running a one-token product compute the same
    ids = prompt_ids(tiny_model_dir)
    with torch.inference_mode():
        if adapter is None:
            with reference.disable_adapter():
                expected = reference.generate(input_ids=ids[None], max_new_tokens=16, do_sample=False)
        else:
            reference.set_adapter(adapter)
            expected = reference.generate(input_ids=ids[None], max_new_tokens=16, do_sample=False)
    tokens = decoder.generate(ids, max_new_tokens=16, adapter=adapter, sampling={"do_sample": False})
    assert tokens == expected[0, len(ids) :].tolist()


def test_packing_keeps_the_model_its_results_and_its_memory(tiny_model_dir):
    model = load(tiny_model_dir)
    ids = prompt_ids(tiny_model_dir)
    with torch.inference_mode():
        before = model(input_ids=ids[None]).logits
    parameter_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    decoder = LlamaDecoder(model)
    with torch.inference_mode():
        after = model(input_ids=ids[None]).logits
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)
    layer = model.model.layers[0]
    packed = decoder.layers[0].qkv.untyped_storage().data_ptr()
    for name in ("q_proj", "k_proj", "v_proj"):
        assert getattr(layer.self_attn, name).weight.untyped_storage().data_ptr() == packed
    storages = {p.untyped_storage().data_ptr(): p.untyped_storage().nbytes() for p in model.parameters()}
    assert sum(storages.values()) == parameter_bytes  # every byte once: nothing was copied or kept twice
    layer.self_attn.k_proj.weight.data = layer.self_attn.k_proj.weight.data.clone()  # replaced, not changed
    with pytest.raises(ValueError, match="k_proj no longer reads"):
        decoder.generate(ids, max_new_tokens=2)


def test_sampler_gives_the_distribution_generate_would_sample_from(tiny_model_dir):
    model = load(tiny_model_dir)
    generator = torch.Generator().manual_seed(0)
    vocabulary = model.config.vocab_size
    sequence = torch.randint(0, vocabulary, (1, 30), generator=generator)
    settings = [
        {"do_sample": True, "temperature": 0.7, "top_p": 0.9},  # the chat page's defaults (top-k 50 applies)
        {"do_sample": True, "top_k": 5, "top_p": 0.5},
        {"do_sample": True, "temperature": 1.3, "top_k": 0, "top_p": 0.8},  # no top-k: full-vocabulary path
        {"do_sample": True, "repetition_penalty": 1.5, "top_p": 0.95, "min_p": 0.05},
    ]
    for setting in settings:
        sampler = TokenSampler(model, setting, prompt_length=20)
        generation_config, _ = model._prepare_generation_config(None, **setting)
        processors = model._get_logits_processor(
            generation_config=generation_config, input_ids_seq_length=20, device="cpu"
        )
        for _ in range(5):
            logits = torch.randn(vocabulary, generator=generator) * 4
            expected = torch.softmax(processors(sequence, logits[None].clone())[0], dim=-1)
            candidates, probabilities = sampler.distribution(sequence, logits.clone())
            got = torch.zeros(vocabulary).index_put_((candidates,), probabilities)
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-7, msg=str(setting))
            assert 0 < len(candidates) < vocabulary
            assert sampler.next_token(sequence, logits.clone()) in set(candidates.tolist())


def test_seeded_sampling_reproduces_and_seeds_differ(tiny_model_dir):
    decoder = LlamaDecoder(adapted(tiny_model_dir))
    ids = prompt_ids(tiny_model_dir)
    sampling = {"do_sample": True, "temperature": 1.5, "top_k": 0, "top_p": 1.0}

    def sample(seed: int) -> list[int]:
        return decoder.generate(ids, max_new_tokens=12, adapter="every", sampling=sampling, seed=seed)

    assert sample(1) == sample(1)
    assert len({tuple(sample(seed)) for seed in range(4)}) > 1


def test_generation_stops_when_asked_and_reports_each_token(tiny_model_dir):
    decoder = LlamaDecoder(load(tiny_model_dir))
    seen: list[int] = []
    tokens = decoder.generate(
        prompt_ids(tiny_model_dir),
        max_new_tokens=50,
        sampling={"do_sample": False},
        on_token=seen.append,
        should_stop=lambda: len(seen) >= 3,
    )
    assert tokens == seen and len(tokens) == 3
    with pytest.raises(ValueError, match="exceed the model's context"):
        decoder.generate(prompt_ids(tiny_model_dir), max_new_tokens=10_000)


def test_what_the_lean_loop_refuses_is_named(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    biased = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=50,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            attention_bias=True,
        )
    )
    assert "biases" in unsupported_reason(biased)
    with pytest.raises(ValueError, match="biases"):
        LlamaDecoder(biased)
    assert unsupported_reason(load(tiny_model_dir)) is None

    model = get_peft_model(
        load(tiny_model_dir), LoraConfig(r=2, target_modules=["q_proj"], use_dora=True), adapter_name="dora"
    )
    model.add_adapter("head", LoraConfig(r=2, target_modules=["q_proj", "lm_head"]))
    model.add_adapter("plain", LoraConfig(r=2, target_modules=["q_proj"]))
    decoder = LlamaDecoder(model)
    assert "DoRA" in decoder.adapter_unsupported_reason("dora")
    assert "lm_head" in decoder.adapter_unsupported_reason("head")
    assert "no adapter named" in decoder.adapter_unsupported_reason("missing")
    assert decoder.adapter_unsupported_reason("plain") is None
    with pytest.raises(ValueError, match="DoRA"):
        decoder.generate(prompt_ids(tiny_model_dir), max_new_tokens=2, adapter="dora")
