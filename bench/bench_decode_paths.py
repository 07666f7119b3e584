"""Where chat decoding time goes on this CPU: SmolLM2-135M greedy decoding under several weight formats.

The chat target (issue 7) is 15 tokens per second per stream. This benchmark measures, in one process
and against the fp32 base model measured in the same run:

* ``linear layers only``: one token through every ``nn.Linear`` (lm_head included) and nothing else —
  the floor for fp32 weights read the way ``nn.Linear`` reads them (MKL's matrix-vector product, which
  uses one core here), since decoding one token reads every weight once;
* fp32 base; fp32 base + a LoRA adapter (peft, unmerged: how the chat pool decodes when it falls back to
  ``generate``); the same adapter merged into the weights;
* int8 dynamic quantization (``torch.ao``, weights and activations) of the linear layers: base alone,
  and with an unmerged LoRA adapter on attention only (the training default) and on every projection;
* int8 weight-only quantization (``aten._weight_int8pack_mm``, activations stay fp32);
* with ``--compile``: the fp32 base under ``torch.compile`` with a static cache (minutes of compiling);
* the lean decoder the chat pool serves with (:mod:`pluralign_core.chat.llama_decoder`): base, base + LoRA
  (unmerged), and its own floor — its packed matrix products alone.

Each speed is tokens per second of ``generate`` with 64 new tokens (greedy, ``min_new_tokens`` so that
every path decodes the same number), best of ``--repeats``. For the quantized bases, fidelity to the fp32
model is measured too: on the fp32 model's own greedy reply, the share of positions where the quantized
model's top token agrees, and the mean KL divergence (nats per token) of its next-token distribution from
fp32's; for the lean decoder, the same two figures show that it computes what the fp32 model computes.
Run: ``python -m bench.bench_decode_paths [--compile]``.
"""

from __future__ import annotations

import argparse
import time

from bench.results import Figure, emit

PROMPT = "Why do people disagree so strongly about politics? Answer in a few sentences."
NEW_TOKENS = 64
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
EVERY_PROJECTION = [*ATTENTION, "gate_proj", "up_proj", "down_proj"]


def tokens_per_second(model, inputs, pad_token_id: int, repeats: int) -> float:
    import torch

    best = 0.0
    with torch.inference_mode():
        model.generate(**inputs, max_new_tokens=4, do_sample=False, pad_token_id=pad_token_id)
        for _ in range(repeats):
            started = time.perf_counter()
            model.generate(
                **inputs,
                max_new_tokens=NEW_TOKENS,
                min_new_tokens=NEW_TOKENS,
                do_sample=False,
                pad_token_id=pad_token_id,
            )
            best = max(best, NEW_TOKENS / (time.perf_counter() - started))
    return best


def linear_floor(model, repeats: int) -> float:
    """Tokens per second if a decoding step cost nothing but its linear layers (fp32)."""
    import torch

    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    inputs = [torch.randn(1, 1, layer.in_features) for layer in layers]
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats + 1):
            started = time.perf_counter()
            for layer, x in zip(layers, inputs, strict=True):
                layer(x)
            best = min(best, time.perf_counter() - started)
    return 1 / best


def with_lora(model, targets: list[str]):
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    adapted = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules=targets))
    with torch.no_grad():
        for name, parameter in adapted.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.01)
    return adapted.eval()


def int8(model):
    """Dynamic int8 quantization of every linear layer except LoRA's own small ones."""
    import torch
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    names = {
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and "lora_" not in name
    }
    return quantize_dynamic(model, {name: default_dynamic_qconfig for name in names}, dtype=torch.qint8)


class WeightOnlyInt8Linear:
    """Per-channel int8 weights, fp32 activations: ``aten._weight_int8pack_mm`` (the CPU kernel gpt-fast
    uses). Built lazily as an ``nn.Module`` subclass so that importing this file needs no torch."""

    @staticmethod
    def convert(model):
        import torch

        class Linear8(torch.nn.Module):
            def __init__(self, linear: torch.nn.Linear) -> None:
                super().__init__()
                weight = linear.weight.detach().float()
                scale = (weight.abs().amax(dim=1) / 127).clamp(min=1e-12)
                quantized = torch.round(weight / scale[:, None]).clamp(-128, 127).to(torch.int8)
                self.register_buffer("weight_int8", quantized.contiguous())
                self.register_buffer("scale", scale.contiguous())
                self.bias = linear.bias
                self.out_features = linear.out_features

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                flat = x.reshape(-1, x.shape[-1]).contiguous()
                y = torch.ops.aten._weight_int8pack_mm(flat, self.weight_int8, self.scale)
                y = y.reshape(*x.shape[:-1], self.out_features)
                return y if self.bias is None else y + self.bias

        for module in list(model.modules()):
            for name, child in list(module.named_children()):
                if isinstance(child, torch.nn.Linear):
                    setattr(module, name, Linear8(child))
        return model


def fidelity(reference, candidate_logits, inputs, pad_token_id: int) -> tuple[float, float]:
    """Top-token agreement and mean KL(fp32 || candidate) over the fp32 model's greedy reply.

    ``candidate_logits(reply, start)`` gives the candidate's next-token logits after each of the reply's
    positions ``start - 1 … len(reply) - 2`` (see :func:`model_logits`, :func:`lean_logits`).
    """
    import torch

    with torch.inference_mode():
        reply = reference.generate(
            **inputs, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=pad_token_id
        )[0]
        start = inputs["input_ids"].shape[1]
        expected = reference(reply[None]).logits[0, start - 1 : -1].log_softmax(-1)
        observed = candidate_logits(reply, start).log_softmax(-1)
    agreement = (expected.argmax(-1) == observed.argmax(-1)).float().mean().item()
    kl = torch.nn.functional.kl_div(observed, expected, log_target=True, reduction="batchmean").item()
    return agreement, kl


def model_logits(model):
    """A transformers model's logits over a whole reply in one forward pass, for :func:`fidelity`."""
    return lambda reply, start: model(reply[None]).logits[0, start - 1 : -1]


def lean_logits(decoder):
    """The lean decoder's logits, fed the reply one token at a time as in chat, for :func:`fidelity`."""
    import torch

    def logits(reply, start: int):
        cache = decoder.new_cache(len(reply))
        rows = [decoder.forward(reply[:start], 0, cache)]
        rows += [
            decoder.forward(reply[position : position + 1], position, cache)
            for position in range(start, len(reply) - 1)
        ]
        return torch.stack(rows)

    return logits


def lean_rate(decoder, inputs, repeats: int, adapter: str | None = None) -> float:
    """Tokens per second of :class:`~pluralign_core.chat.llama_decoder.LlamaDecoder` (what the chat pool
    serves), measured like :func:`tokens_per_second`: prefill included, 64 greedy tokens."""
    prompt = inputs["input_ids"][0]
    sampling = {"do_sample": False, "min_new_tokens": NEW_TOKENS}
    decoder.generate(prompt, max_new_tokens=4, adapter=adapter, sampling=sampling)
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        decoder.generate(prompt, max_new_tokens=NEW_TOKENS, adapter=adapter, sampling=sampling)
        best = max(best, NEW_TOKENS / (time.perf_counter() - started))
    return best


def lean_floor(decoder, repeats: int) -> float:
    """Tokens per second if a lean decoding step cost nothing but its packed matrix products."""
    import torch

    products = [weight for layer in decoder.layers for weight in layer.packed] + [decoder.lm_head]
    inputs = [torch.randn(1, weight.shape[0]) for weight in products]
    best = float("inf")
    with torch.inference_mode():
        for _ in range(repeats + 1):
            started = time.perf_counter()
            for weight, x in zip(products, inputs, strict=True):
                decoder._project(x, weight, None)
            best = min(best, time.perf_counter() - started)
    return 1 / best


def compiled_rate(fresh, inputs, pad_token_id: int, repeats: int) -> tuple[float, float]:
    """fp32 base under torch.compile with a static cache: (tokens/s, seconds spent before the first
    timed run, compiling included)."""
    import torch
    from transformers import CompileConfig

    model = fresh()
    config = CompileConfig(fullgraph=True, dynamic=False)
    config._compile_all_devices = True  # transformers compiles automatically only on accelerators
    model.generation_config.compile_config = config
    options = {"do_sample": False, "pad_token_id": pad_token_id, "cache_implementation": "static"}
    started = time.perf_counter()
    with torch.inference_mode():
        for new_tokens in (4, NEW_TOKENS):  # both prefill and decode shapes compile here
            model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, **options)
        warm_s = time.perf_counter() - started
        best = 0.0
        for _ in range(repeats):
            started = time.perf_counter()
            model.generate(**inputs, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, **options)
            best = max(best, NEW_TOKENS / (time.perf_counter() - started))
    return best, warm_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="model folder (default: the embedded SmolLM2, de-quantized once)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to build)")
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pluralign_core.chat.llama_decoder import LlamaDecoder
    from pluralign_core.models.base import EMBEDDED_MODEL, resolve_model

    torch.set_num_threads(args.threads)
    folder = args.model or resolve_model(EMBEDDED_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": PROMPT}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    pad = tokenizer.eos_token_id

    def fresh():
        return AutoModelForCausalLM.from_pretrained(folder).eval()

    base = fresh()
    fp32 = tokens_per_second(base, inputs, pad, args.repeats)
    paths: dict[str, float] = {"fp32 linear layers only (floor)": linear_floor(base, args.repeats)}
    adapted = with_lora(base, EVERY_PROJECTION)
    paths["fp32 + LoRA on every projection, unmerged"] = tokens_per_second(adapted, inputs, pad, args.repeats)
    adapted.merge_adapter()
    paths["fp32 + LoRA on every projection, merged"] = tokens_per_second(adapted, inputs, pad, args.repeats)
    reference = fresh()
    quality: dict[str, tuple[float, float]] = {}
    lean = LlamaDecoder(fresh())
    paths["lean decoder: packed matrix products only (floor)"] = lean_floor(lean, args.repeats)
    paths["lean decoder, base"] = lean_rate(lean, inputs, args.repeats)
    quality["lean decoder, base"] = fidelity(reference, lean_logits(lean), inputs, pad)
    lean_adapted = LlamaDecoder(with_lora(fresh(), EVERY_PROJECTION))
    paths["lean decoder + LoRA on every projection, unmerged"] = lean_rate(
        lean_adapted, inputs, args.repeats, adapter="default"
    )
    for label, quantized in (
        ("int8 base", int8(fresh())),
        ("int8 weight-only base", WeightOnlyInt8Linear.convert(fresh())),
    ):
        paths[label] = tokens_per_second(quantized, inputs, pad, args.repeats)
        quality[label] = fidelity(reference, model_logits(quantized), inputs, pad)
    for label, targets in (("attention", ATTENTION), ("every projection", EVERY_PROJECTION)):
        quantized = int8(with_lora(fresh(), targets))
        paths[f"int8 + LoRA on {label}, unmerged"] = tokens_per_second(quantized, inputs, pad, args.repeats)

    if args.compile:
        rate, warm_s = compiled_rate(fresh, inputs, pad, args.repeats)
        paths[f"fp32 base, torch.compile + static cache ({warm_s:.0f} s to compile)"] = rate

    print(
        f"SmolLM2-135M-Instruct, CPU, {args.threads} threads, {NEW_TOKENS} greedy tokens, "
        f"best of {args.repeats}"
    )
    print(f"  {'fp32 base':<48} {fp32:6.1f} tok/s")
    for label, rate in paths.items():
        agreement = (
            f"; top token agrees with fp32 {quality[label][0]:.0%}, KL {quality[label][1]:.2g} nats/token"
            if label in quality
            else ""
        )
        print(f"  {label:<48} {rate:6.1f} tok/s  ({rate / fp32:.2f}x fp32 base{agreement})")
    for label, rate in [("fp32 base", fp32), *paths.items()]:
        is_path = "floor" not in label  # the floor is a bound, not a way to serve the model
        shown = label
        if label in quality:
            shown += f" (top token agrees with fp32 {quality[label][0]:.0%}, KL {quality[label][1]:.2g})"
        emit(
            Figure(
                "decode_paths",
                shown,
                rate,
                "tok/s",
                baseline_name="" if label == "fp32 base" else "fp32 base",
                baseline_value=None if label == "fp32 base" else fp32,
                target=">= 15 (chat target)" if is_path else "",
                met=rate >= 15 if is_path else None,
            )
        )


if __name__ == "__main__":
    main()
