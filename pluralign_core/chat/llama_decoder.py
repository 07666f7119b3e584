"""A lean decoding loop for Llama-architecture models on the CPU, with switchable unmerged LoRA adapters.

Why it exists: on a 2-core CPU, ``generate`` of SmolLM2-135M spends about 40% of every decoding step
outside its matrix products (module calls, cache bookkeeping, masks), and peft's unmerged LoRA layers
add a further quarter; it managed about 9 tokens/s per chat stream where the chat page (issue 7) asks
for 15. This module runs the arithmetic of ``LlamaForCausalLM`` with far fewer calls
(``bench/bench_decode_paths.py`` measures each path):

* the weights are the model's own tensors. Building a decoder re-lays them out in place (``q/k/v`` of a
  layer side by side in one column-major tensor, ``gate/up`` likewise), and each ``nn.Linear`` keeps a
  view of its part: nothing is copied, and ``generate`` and peft work as before. A layer then
  needs four matrix products, each in the layout MKL reads fastest here, with the residual added by the
  same ``addmm``. A one-token product is split over its input dimension into two halves run as one
  ``bmm``, which uses both cores where MKL's matrix-vector product uses one;
* the key/value cache is one preallocated buffer per layer, written in place; queries and keys are
  rotated together; RMSNorm is four operations instead of seven;
* a LoRA adapter is applied unmerged: per group of projections that share an input, one product with the
  stacked ``A`` matrices and one ``addmm`` with the matching ``B`` blocks. The base weights never change,
  so switching adapters costs nothing and any number of adapters share one base;
* the next token is chosen by :class:`~pluralign_core.chat.token_sampling.TokenSampler`, which uses
  transformers' own logits processors, so every sampling setting means what it means in ``generate``.

Anything this loop does not implement (another architecture, biases, DoRA, LoRA on embeddings or the LM
head, a model off the CPU) is reported by :func:`unsupported_reason` /
:meth:`LlamaDecoder.adapter_unsupported_reason`, and the caller falls back to ``generate``. The tests
compare its logits and tokens with transformers' on tiny random models, with and without adapters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pluralign_core.chat.token_sampling import TokenSampler

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
"""The linear layers of one decoder layer, in the order the loop uses them."""

INPUT_GROUPS = (("q_proj", "k_proj", "v_proj"), ("o_proj",), ("gate_proj", "up_proj"), ("down_proj",))
"""Projections that read the same input, so their LoRA ``A`` matrices can be stacked into one product."""


def _projection(layer: Any, name: str) -> Any:
    parent = layer.self_attn if name in ("q_proj", "k_proj", "v_proj", "o_proj") else layer.mlp
    return getattr(parent, name)


def _base_linear(module: Any) -> Any:
    """The plain ``nn.Linear`` under a (possibly peft-wrapped) projection."""
    return module.get_base_layer() if hasattr(module, "get_base_layer") else module


def _causal_lm(model: Any) -> Any:
    """The transformers model under a peft ``PeftModel`` (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def unsupported_reason(model: Any) -> str | None:
    """Why :class:`LlamaDecoder` cannot run ``model`` (``None`` when it can)."""
    import torch

    causal_lm = _causal_lm(model)
    config = getattr(causal_lm, "config", None)
    if config is None or getattr(config, "model_type", None) != "llama":
        return f"architecture {getattr(config, 'model_type', None)!r} is not llama"
    if getattr(config, "hidden_act", None) != "silu":
        return f"activation {config.hidden_act!r} is not silu"
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        return "the projections have biases"
    if getattr(config, "pretraining_tp", 1) not in (None, 1):
        return "pretraining_tp is not 1"
    inner = getattr(causal_lm, "model", None)
    if inner is None or not hasattr(inner, "rotary_emb") or not hasattr(inner, "layers"):
        return "the model does not have the usual LlamaModel layout"
    parameter = next(causal_lm.parameters())
    if parameter.device.type != "cpu":
        return f"the model is on {parameter.device.type}, the lean loop is for the CPU"
    if not parameter.dtype.is_floating_point:
        return f"the weights are {parameter.dtype}"
    for layer in inner.layers:
        for name in PROJECTIONS:
            linear = _base_linear(_projection(layer, name))
            if not isinstance(linear, torch.nn.Linear) or linear.bias is not None:
                return f"{name} is not a plain bias-free nn.Linear"
    if not isinstance(_base_linear(causal_lm.lm_head), torch.nn.Linear):
        return "lm_head is not a plain nn.Linear"
    return None


def _pack(weights: Sequence[Any]) -> Any:
    """One column-major tensor holding ``weights`` (same input size) side by side; each weight's data
    becomes a view into it, so values, shapes and memory are unchanged."""
    import torch

    packed = torch.cat([weight.detach().t() for weight in weights], dim=1).contiguous()
    offset = 0
    for weight in weights:
        width = weight.shape[0]
        weight.data = packed[:, offset : offset + width].t()
        offset += width
    return packed


def _release_loaded_storage(model: Any, packed: Sequence[Any]) -> None:
    """Give every tensor of ``model`` that is not one of the ``packed`` ones a storage of its own.

    transformers memory-maps the safetensors file and every weight points into that map. Once the
    projections are packed, only the small tensors (the norms, an untied embedding) still point into it,
    yet they keep the whole map alive, and with it every page that packing read: the process would hold
    the model twice.
    """
    ours = {tensor.untyped_storage().data_ptr() for tensor in packed}
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.untyped_storage().data_ptr() not in ours:
            tensor.data = tensor.data.clone()


@dataclass
class _LayerWeights:
    """One decoder layer's weights; the projections are transposed (``in × out``), ready for ``mm``."""

    input_norm: Any
    post_attention_norm: Any
    qkv: Any
    o: Any
    gate_up: Any
    down: Any

    @property
    def packed(self) -> tuple[Any, Any, Any, Any]:
        """The packed tensors in the order of :data:`INPUT_GROUPS`."""
        return self.qkv, self.o, self.gate_up, self.down


@dataclass
class _LoraGroup:
    """One adapter's LoRA factors for the projections that share an input.

    ``stacked_a_t`` holds the transposed ``A`` matrices of the adapted projections side by side, so one
    product gives every projection's low-rank vector; ``blocks`` then add each projection's update into
    its own output columns: ``(first low-rank column, rank, first output column, B.T, scaling)``. Each
    ``B.T`` is a ``[rank, width]`` piece of one buffer, ``b_storage``. peft's own ``A`` and ``B`` weights
    become views into these tensors, as the base weights are views into the packed ones: an adapter costs
    its LoRA weights once and nothing more (a block-diagonal ``B`` per group, before 2026-12-02, held
    zeros for the other projections' columns: about half again the adapter's size).
    """

    stacked_a_t: Any
    b_storage: Any
    blocks: tuple[tuple[int, int, int, Any, float], ...]


class LlamaDecoder:
    """Decode with a Llama-architecture causal LM (optionally inside a peft ``PeftModel``) on the CPU.

    Building the decoder packs the model's projection weights in place: ``q/k/v`` of a layer share one
    column-major tensor, ``gate/up`` another, ``o``, ``down`` and the LM head become column-major.
    Each ``nn.Linear`` keeps its own weight as a view, so the model (``generate``, peft, merging)
    works exactly as before and memory does not grow; matrix-vector products are read in the layout
    MKL handles fastest here and a layer needs four of them instead of seven.
    LoRA factors are gathered the first time an adapter is used (:meth:`refresh_adapters` forgets them
    when adapters change).
    """

    def __init__(self, model: Any) -> None:
        import torch

        reason = unsupported_reason(model)
        if reason:
            raise ValueError(f"the lean decoder cannot run this model: {reason}")
        self.model = model
        causal_lm = _causal_lm(model)
        config = causal_lm.config
        inner = causal_lm.model
        self.hidden_size = int(config.hidden_size)
        self.n_heads = int(config.num_attention_heads)
        self.n_kv_heads = int(getattr(config, "num_key_value_heads", None) or self.n_heads)
        self.head_dim = int(getattr(config, "head_dim", None) or self.hidden_size // self.n_heads)
        self.eps = float(config.rms_norm_eps)
        self.max_positions = int(getattr(config, "max_position_embeddings", 2048) or 2048)
        self.rotary = inner.rotary_emb
        root_d = self.hidden_size**0.5
        self._eps_d = torch.tensor((self.eps * self.hidden_size) ** 0.5)
        self._no_scores = torch.zeros(())
        with torch.no_grad():
            self.layers = [
                _LayerWeights(
                    input_norm=layer.input_layernorm.weight * root_d,
                    post_attention_norm=layer.post_attention_layernorm.weight * root_d,
                    qkv=_pack([self._weight(layer, name) for name in INPUT_GROUPS[0]]),
                    o=_pack([self._weight(layer, "o_proj")]),
                    gate_up=_pack([self._weight(layer, name) for name in INPUT_GROUPS[2]]),
                    down=_pack([self._weight(layer, "down_proj")]),
                )
                for layer in inner.layers
            ]
            self.lm_head = _pack([_base_linear(causal_lm.lm_head).weight])
            self.final_norm = inner.norm.weight * root_d
            _release_loaded_storage(
                causal_lm, [self.lm_head, *(packed for layer in self.layers for packed in layer.packed)]
            )
        self.embedding = inner.embed_tokens.weight
        self.dtype = self.embedding.dtype
        self.split_k = True
        """Split one-token products over their input dimension (see :meth:`_project`)."""
        self._adapters: dict[str, list[list[_LoraGroup | None]]] = {}
        self._reasons: dict[str, str | None] = {}

    @staticmethod
    def _weight(layer: Any, name: str) -> Any:
        return _base_linear(_projection(layer, name)).weight

    # ------------------------------------------------------------------------------------ adapters
    def attach(self, model: Any) -> None:
        """Serve ``model`` from now on: the same base, typically now wrapped in a ``PeftModel``.

        Raises ``ValueError`` when its base weights are no longer the packed ones (the caller then
        builds a new decoder).
        """
        self._check_packed(model)
        self.model = model
        kept = {name: groups for name, groups in self._adapters.items() if self._still_shared(name, groups)}
        self.refresh_adapters()
        self._adapters.update(kept)

    def _still_shared(self, adapter: str, groups: list[list[_LoraGroup | None]]) -> bool:
        """Whether peft's weights of ``adapter`` are still views into its gathered ``groups`` (an adapter
        replaced or deleted since has other tensors, or none)."""
        storages = {
            t.untyped_storage().data_ptr()
            for g in groups
            for x in g
            if x
            for t in (x.stacked_a_t, x.b_storage)
        }
        lora = [
            m.weight
            for n, m in self.model.named_modules()
            if n.endswith((f"lora_A.{adapter}", f"lora_B.{adapter}"))
        ]
        return bool(lora) and all(w.untyped_storage().data_ptr() in storages for w in lora)

    def _check_packed(self, model: Any) -> None:
        """Raise ``ValueError`` unless every projection of ``model`` still reads the packed weights (a
        weight replaced rather than changed in place, e.g. by a safe merge, would leave them stale)."""
        layers = _causal_lm(model).model.layers
        if len(layers) != len(self.layers):
            raise ValueError("the model has a different number of layers than the decoder")
        for layer, weights in zip(layers, self.layers, strict=True):
            for group, packed in zip(INPUT_GROUPS, weights.packed, strict=True):
                storage = packed.untyped_storage().data_ptr()
                for name in group:
                    if self._weight(layer, name).untyped_storage().data_ptr() != storage:
                        raise ValueError(f"{name} no longer reads the decoder's packed weights")

    def refresh_adapters(self) -> None:
        """Forget gathered LoRA factors (after an adapter was added, replaced or deleted)."""
        self._adapters.clear()
        self._reasons.clear()

    def adapter_unsupported_reason(self, adapter: str) -> str | None:
        """Why ``adapter`` (a peft adapter name on :attr:`model`) cannot run here (``None`` when it can)."""
        if adapter not in self._reasons:
            self._reasons[adapter] = self._adapter_reason(adapter)
        return self._reasons[adapter]

    def _adapter_reason(self, adapter: str) -> str | None:
        peft_config = getattr(self.model, "peft_config", {}).get(adapter)
        if peft_config is None:
            return f"no adapter named {adapter!r} is loaded"
        if str(getattr(peft_config, "peft_type", "")).split(".")[-1].upper() != "LORA":
            return f"adapter type {peft_config.peft_type} is not LoRA"
        if getattr(peft_config, "use_dora", False):
            return "DoRA adapters are not supported"
        if getattr(peft_config, "modules_to_save", None):
            return "the adapter trains whole modules (modules_to_save)"
        if getattr(peft_config, "lora_bias", False):
            return "the adapter has LoRA biases"
        if getattr(peft_config, "fan_in_fan_out", False):
            return "fan_in_fan_out adapters are not supported"
        layers = _causal_lm(self.model).model.layers
        allowed = {id(_projection(layer, name)) for layer in layers for name in PROJECTIONS}
        for module_name, module in self.model.named_modules():
            adapted = adapter in getattr(module, "lora_A", {}) or adapter in getattr(
                module, "lora_embedding_A", {}
            )
            if adapted and id(module) not in allowed:
                return f"the adapter changes {module_name}, which the lean decoder does not adapt"
        return None

    def prepare_adapter(self, adapter: str) -> bool:
        """Gather ``adapter``'s LoRA factors now (peft's weights become views into them); ``False`` when
        the lean loop cannot run it."""
        if self.adapter_unsupported_reason(adapter):
            return False
        self._lora_groups(adapter)
        return True

    def _lora_groups(self, adapter: str) -> list[list[_LoraGroup | None]]:
        if adapter not in self._adapters:
            reason = self.adapter_unsupported_reason(adapter)
            if reason:
                raise ValueError(f"the lean decoder cannot run adapter {adapter!r}: {reason}")
            layers = _causal_lm(self.model).model.layers
            self._adapters[adapter] = [
                [self._lora_group(layer, group, adapter) for group in INPUT_GROUPS] for layer in layers
            ]
        return self._adapters[adapter]

    @staticmethod
    def _lora_group(layer: Any, group: Sequence[str], adapter: str) -> _LoraGroup | None:
        import torch

        with torch.no_grad():
            widths = [_base_linear(_projection(layer, name)).out_features for name in group]
            adapted = []  # (lora_A, lora_B, scaling, first output column)
            for index, name in enumerate(group):
                module = _projection(layer, name)
                if adapter in getattr(module, "lora_A", {}):
                    adapted.append(
                        (
                            module.lora_A[adapter].weight,
                            module.lora_B[adapter].weight,
                            float(module.scaling[adapter]),
                            sum(widths[:index]),
                        )
                    )
            if not adapted:
                return None
            a_t = torch.cat([a.detach() for a, _, _, _ in adapted]).t().contiguous()
            b_storage = torch.cat([b.detach().t().reshape(-1) for _, b, _, _ in adapted])
            blocks = []
            row = offset = 0
            for a, b, scaling, column in adapted:
                rank, width = a.shape[0], b.shape[0]
                b_t = b_storage[offset : offset + rank * width].view(rank, width)
                a.data = a_t[:, row : row + rank].t()
                b.data = b_t.t()
                blocks.append((row, rank, column, b_t, scaling))
                row, offset = row + rank, offset + rank * width
            return _LoraGroup(a_t, b_storage, tuple(blocks))

    def new_cache(self, length: int) -> list[tuple[Any, Any]]:
        """Key and value buffers for ``length`` positions, one pair per layer."""
        import torch

        shape = (self.n_kv_heads, length, self.head_dim)
        return [
            (torch.empty(shape, dtype=self.dtype), torch.empty(shape, dtype=self.dtype)) for _ in self.layers
        ]

    def _project(self, x: Any, weight_t: Any, lora: _LoraGroup | None, residual: Any = None) -> Any:
        """``x @ weight_t`` (plus ``residual``), plus the adapter's low-rank update when there is one.

        With :attr:`split_k`, a one-token product is split over the input dimension into two halves run
        as one ``bmm`` and summed: where MKL's matrix-vector product uses one core (AVX2 EPYC), the two
        halves of ``bmm`` use both and the halves are plain views of the packed column-major weight
        (about 20% faster there). On an AVX-512 Xeon it measured slower than one ``mm``, so the chat
        pool times both and keeps the faster (:mod:`~pluralign_core.chat.decoding_choice`).
        """
        import torch

        rows, width = weight_t.shape
        if self.split_k and x.shape[0] == 1 and rows % 2 == 0:
            halves = torch.bmm(x.reshape(2, 1, rows // 2), weight_t.view(2, rows // 2, width))
            out = halves.sum(0) if residual is None else torch.add(residual, halves[0]).add_(halves[1])
        else:
            out = torch.mm(x, weight_t) if residual is None else torch.addmm(residual, x, weight_t)
        if lora is None:
            return out
        low_rank = torch.mm(x, lora.stacked_a_t)
        for row, rank, column, b_t, scaling in lora.blocks:
            out[:, column : column + b_t.shape[1]].addmm_(low_rank[:, row : row + rank], b_t, alpha=scaling)
        return out

    def _norm(self, x: Any, scaled_weight: Any) -> Any:
        """RMSNorm as ``x * w * sqrt(d) / hypot(|x|, sqrt(eps * d))``: the same value as
        ``x * rsqrt(mean(x²) + eps) * w`` in four operations instead of seven."""
        import torch

        return (x * scaled_weight).div_(
            torch.hypot(torch.linalg.vector_norm(x, dim=-1, keepdim=True), self._eps_d)
        )

    def _attend(self, q: Any, keys: Any, values: Any, count: int) -> Any:
        """Attention of ``q`` (heads, count, head_dim) over the cached keys/values so far."""
        import torch
        import torch.nn.functional as F

        if count > 1:
            attended = F.scaled_dot_product_attention(
                q.unsqueeze(0),
                keys.unsqueeze(0),
                values.unsqueeze(0),
                is_causal=True,
                enable_gqa=self.n_heads != self.n_kv_heads,
            )[0]
            return attended.transpose(0, 1).reshape(count, self.n_heads * self.head_dim)
        grouped = q.reshape(self.n_kv_heads, self.n_heads // self.n_kv_heads, self.head_dim)
        scores = torch.baddbmm(
            self._no_scores, grouped, keys.transpose(1, 2), beta=0, alpha=self.head_dim**-0.5
        )
        return torch.bmm(torch.softmax(scores, dim=-1), values).view(1, self.n_heads * self.head_dim)

    def forward(
        self, token_ids: Any, start: int, cache: list[tuple[Any, Any]], adapter: str | None = None
    ) -> Any:
        """Logits of the last of ``token_ids`` (1-D), which sit at positions ``start …``; fills ``cache``.

        A prompt is run in one call with ``start=0``; each further call passes one new token.
        """
        import torch
        import torch.nn.functional as F

        count = int(token_ids.shape[0])
        if start and count > 1:
            raise ValueError("several tokens can only be run from position 0 (the whole prompt)")
        end = start + count
        lora_layers = self._lora_groups(adapter) if adapter else None
        no_lora = (None,) * len(INPUT_GROUPS)
        x = F.embedding(token_ids, self.embedding)
        cos, sin = self.rotary(x.unsqueeze(0), torch.arange(start, end).unsqueeze(0))
        half = self.head_dim // 2
        cos = cos[0]
        sin = torch.cat((-sin[0, :, :half], sin[0, :, half:]), dim=-1)
        heads, kv_heads, head_dim = self.n_heads, self.n_kv_heads, self.head_dim
        qk_width = (heads + kv_heads) * head_dim
        split = [qk_width, kv_heads * head_dim]
        for index, weights in enumerate(self.layers):
            lora = lora_layers[index] if lora_layers else no_lora
            qkv = self._project(self._norm(x, weights.input_norm), weights.qkv, lora[0])
            qk, v = qkv.split(split, dim=1)
            qk = qk.view(count, heads + kv_heads, head_dim).transpose(0, 1)
            qk = torch.addcmul(qk * cos, qk.roll(half, dims=-1), sin)
            q, k = qk.split([heads, kv_heads])
            keys, values = cache[index]
            keys.narrow(1, start, count).copy_(k)
            values.narrow(1, start, count).copy_(v.view(count, kv_heads, head_dim).transpose(0, 1))
            attended = self._attend(q, keys.narrow(1, 0, end), values.narrow(1, 0, end), count)
            x = self._project(attended, weights.o, lora[1], residual=x)
            gate, up = self._project(
                self._norm(x, weights.post_attention_norm), weights.gate_up, lora[2]
            ).chunk(2, 1)
            x = self._project(F.silu(gate).mul_(up), weights.down, lora[3], residual=x)
        return self._project(self._norm(x[-1:], self.final_norm), self.lm_head, None)[0]

    # ------------------------------------------------------------------------------------ generation
    def generate(
        self,
        prompt_ids: Any,
        *,
        max_new_tokens: int,
        adapter: str | None = None,
        sampling: Mapping[str, Any] | None = None,
        seed: int = 0,
        on_token: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[int]:
        """Generate up to ``max_new_tokens`` after ``prompt_ids`` (1-D); returns the new token ids.

        ``sampling`` holds ``generate`` keyword arguments (``do_sample``, ``temperature``, ``top_p`` …),
        merged with the model's generation config exactly as ``generate`` merges them (see
        :class:`~pluralign_core.chat.token_sampling.TokenSampler`); ``seed`` fixes the draws. ``on_token`` is
        called with each new id as it is chosen; ``should_stop`` is polled before each step. Generation
        ends at an end-of-sequence token (which is returned and passed to ``on_token``, as ``generate``
        does), at ``max_new_tokens``, or when ``should_stop`` says so.
        """
        import torch

        prompt_ids = torch.as_tensor(prompt_ids, dtype=torch.long).reshape(-1)
        prompt_length = int(prompt_ids.shape[0])
        total = prompt_length + max_new_tokens
        if total > self.max_positions:
            raise ValueError(
                f"{prompt_length} prompt tokens + {max_new_tokens} new tokens exceed the model's context "
                f"of {self.max_positions}"
            )
        self._check_packed(self.model)
        sampler = TokenSampler(_causal_lm(self.model), sampling, prompt_length, seed)
        sequence = torch.empty((1, total), dtype=torch.long)
        sequence[0, :prompt_length] = prompt_ids
        cache = self.new_cache(total)
        new_tokens: list[int] = []
        step_input, position = prompt_ids, 0
        with torch.inference_mode():
            for _ in range(max_new_tokens):
                if should_stop is not None and should_stop():
                    break
                logits = self.forward(step_input, position, cache, adapter)
                position += int(step_input.shape[0])
                token_id = sampler.next_token(sequence[:, :position], logits)
                sequence[0, position] = token_id
                new_tokens.append(token_id)
                if on_token is not None:
                    on_token(token_id)
                if token_id in sampler.eos_ids:
                    break
                step_input = sequence[0, position : position + 1]
        return new_tokens
