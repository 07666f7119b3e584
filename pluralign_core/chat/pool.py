"""Side-by-side chat: one shared base model per base reference, adapters switched per reply, streamed text.

Why it is built this way:

* **One base, many adapters.** The base weights are loaded once per base reference and wrapped in a peft
  ``PeftModel``; each adapter is added with ``load_adapter`` and selected with ``set_adapter`` (the base runs
  under ``disable_adapter()``). Three models cost one base plus each adapter's LoRA weights, held once.
* **A lock per base.** Switching the active adapter mutates the shared model, so switch + generate happen
  under one ``threading.Lock``: several Streamlit sessions (or CLI threads) can chat at once and each reply
  comes from the model it asked for; they simply take turns.
* **A lean decoding loop.** For Llama-architecture bases on the CPU (the embedded SmolLM2 among them),
  replies are decoded by :class:`~pluralign_core.chat.llama_decoder.LlamaDecoder`, which runs the same
  arithmetic as ``generate`` with far fewer calls and applies LoRA adapters unmerged at almost no cost.
  Other models and adapters it cannot run (DoRA …) use ``generate``; :meth:`~ChatModelPool.decoding_path`.
* **Measured, not assumed.** The fastest path depends on the CPU: at a base's first load the pool times
  each (:mod:`~pluralign_core.chat.decoding_choice`, cached per CPU and model) and keeps the fastest;
  :meth:`ChatModelPool.decoding_note` says which path serves a model and why.
* **Streaming.** Decoding runs on the pool's one decoding thread (:mod:`.decode_thread`: the calibration is
  timed there too), holding the lock, and feeds a ``TextIteratorStreamer``; when the caller stops early
  (the page reran, the user pressed stop) decoding ends at the next token and frees the lock.
* **Safety.** Inputs are bounded (:data:`MAX_INPUT_CHARS`) with a clear error; output is plain text for
  the caller to render as text/markdown, never as HTML.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pluralign_core.chat.decode_thread import DecodeThread
from pluralign_core.hardware import release_free_memory
from pluralign_core.models import base as base_models
from pluralign_core.models.adapters import check_adapter_folder

MAX_INPUT_CHARS = 4000
BASE_KEY = "base"
BASE_LABEL = "Base model (embedded SmolLM2)"
BASE_MODEL_ENV = "PLURALIGN_BASE_MODEL"


def default_base_ref() -> str:
    """The chat base model: ``$PLURALIGN_BASE_MODEL`` (a folder or hub id) or the embedded SmolLM2."""
    return os.environ.get(BASE_MODEL_ENV) or base_models.EMBEDDED_MODEL


def canonical_ref(ref: str) -> str:
    """One spelling per base model, so an adapter's ``base_model`` matches the loaded base."""
    if ref in ("embedded", base_models.EMBEDDED_MODEL):
        return base_models.EMBEDDED_MODEL
    local = Path(ref).expanduser()
    if local.exists():
        if local.resolve() == base_models.embedded_model_dir().resolve():
            return base_models.EMBEDDED_MODEL
        return str(local.resolve())
    return ref


@dataclass
class GenerationSettings:
    """Sampling settings shared by every column of one chat."""

    temperature: float = field(default=0.7, metadata={"help": "sampling temperature; 0 = greedy decoding"})
    top_p: float = field(default=0.9, metadata={"help": "nucleus sampling: keep tokens up to this mass"})
    max_new_tokens: int = field(default=200, metadata={"help": "longest reply, in tokens"})
    seed: int = field(default=0, metadata={"help": "random seed, so a reply can be reproduced"})
    system_prompt: str = field(default="", metadata={"help": "system message put before the conversation"})

    def __post_init__(self) -> None:
        if not 0 <= self.temperature <= 5:
            raise ValueError(f"temperature must lie in [0, 5], got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must lie in (0, 1], got {self.top_p}")
        if not 1 <= self.max_new_tokens <= 4096:
            raise ValueError(f"max_new_tokens must lie in [1, 4096], got {self.max_new_tokens}")
        if len(self.system_prompt) > MAX_INPUT_CHARS:
            raise ValueError(
                f"the system prompt has {len(self.system_prompt)} characters; "
                f"the limit is {MAX_INPUT_CHARS}. Shorten it."
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ChatModelSpec:
    """A model a user can chat with: the base model, or a LoRA adapter on a base model."""

    key: str
    label: str
    base_ref: str
    adapter_path: str | None = None


def check_input(text: str) -> str:
    """Reject empty or over-long user input with a message that says what to do."""
    if not text or not text.strip():
        raise ValueError("the message is empty; type something to send")
    if len(text) > MAX_INPUT_CHARS:
        raise ValueError(
            f"the message has {len(text):,} characters; the limit is {MAX_INPUT_CHARS:,}. "
            "Shorten it or split it over several turns."
        )
    return text


def available_models(store: Any, base_ref: str | None = None) -> list[ChatModelSpec]:
    """The base model plus every ready, registered adapter whose folder exists."""
    base_ref = base_ref or default_base_ref()
    label = (
        BASE_LABEL if canonical_ref(base_ref) == base_models.EMBEDDED_MODEL else f"Base model ({base_ref})"
    )
    specs = [ChatModelSpec(BASE_KEY, label, base_ref)]
    rows = store.artifacts("adapter")
    for row in rows.itertuples():
        if row.status != "ready" or not row.path or not (Path(row.path) / "adapter_config.json").exists():
            continue
        adapter_base = (row.config or {}).get("base_model") or base_ref
        specs.append(
            ChatModelSpec(row.artifact_id, f"{row.name} ({row.artifact_id})", adapter_base, row.path)
        )
    return specs


@dataclass
class _LoadedBase:
    model: Any
    tokenizer: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    adapters: dict[str, str] = field(default_factory=dict)  # adapter name -> path
    decoder: Any = None  # a LlamaDecoder when the lean loop can run this base
    decoder_note: str = ""  # why there is none
    choice: Any = None  # the DecodingChoice measured for this base (None when not calibrated)

    @property
    def max_positions(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048) or 2048)


class _Cancel:
    """A transformers stopping criterion that ends generation once its event is set."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full(
            (input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device
        )


class ChatModelPool:
    """Loaded chat models: one base model per base reference, adapters loaded on it by name.

    Thread-safe: loading is serialised by a pool lock, and every reply holds its base's lock from adapter
    switch to the end of generation.
    """

    def __init__(
        self,
        *,
        device: str | None = None,
        dtype: Any = None,
        lean_decoding: bool = True,
        calibrate: bool = True,
    ) -> None:
        """``lean_decoding=False`` always uses ``generate``; ``calibrate=False`` always uses the lean loop
        (with split-K) where it can run, without measuring which path is faster on this machine."""
        self.device = device
        self.dtype = dtype
        self.lean_decoding = lean_decoding
        self.calibrate = calibrate
        self._bases: dict[str, _LoadedBase] = {}
        self._specs: dict[str, ChatModelSpec] = {}
        self._load_lock = threading.Lock()
        self._decoding = DecodeThread()

    def add(self, spec: ChatModelSpec) -> ChatModelSpec:
        """Make a model known to the pool (loaded lazily on its first reply)."""
        self._specs[spec.key] = spec
        return spec

    def spec(self, key: str) -> ChatModelSpec:
        if key not in self._specs:
            raise KeyError(f"unknown chat model {key!r}; known: {sorted(self._specs)}")
        return self._specs[key]

    @property
    def loaded_bases(self) -> list[str]:
        return list(self._bases)

    def _base(self, base_ref: str) -> _LoadedBase:
        ref = canonical_ref(base_ref)
        with self._load_lock:
            if ref not in self._bases:
                model, tokenizer = base_models.load_model_and_tokenizer(
                    ref, dtype=self.dtype, device=self.device
                )
                model.eval()
                base = _LoadedBase(model, tokenizer)
                self._attach_decoder(base)
                self._choose_path(base, ref)
                self._bases[ref] = base
            return self._bases[ref]

    def _attach_decoder(self, base: _LoadedBase) -> None:
        """Give ``base`` the lean decoding loop if it can (:mod:`~pluralign_core.chat.llama_decoder`)."""
        from pluralign_core.chat import llama_decoder

        if not self.lean_decoding:
            base.decoder, base.decoder_note = None, "lean decoding is switched off"
            return
        reason = llama_decoder.unsupported_reason(base.model)
        if reason:
            base.decoder, base.decoder_note = None, reason
            return
        if base.decoder is not None:
            try:
                base.decoder.attach(base.model)
                return
            except ValueError:
                pass
        base.decoder = llama_decoder.LlamaDecoder(base.model)
        base.decoder_note = base.choice.configure(base.decoder) if base.choice else ""

    def _choose_path(self, base: _LoadedBase, ref: str) -> None:
        """Measure (or read from the cache) which decoding path is fastest for ``base`` on this machine."""
        from pluralign_core.chat import decoding_choice

        if base.decoder is None or not self.calibrate:
            return
        measure = decoding_choice.measured_choice  # timed on the thread that decodes the replies
        base.choice = self._decoding.run(measure, ref, base.model, base.tokenizer, base.decoder)
        base.decoder_note = base.choice.configure(base.decoder)

    def decoding_note(self, key: str) -> str:
        """The decoding path of model ``key`` and why, in one line for the chat page (loads nothing)."""
        spec = self.spec(key)
        base = self._bases.get(canonical_ref(spec.base_ref))
        if base is None:
            return "Decoding: chosen when the model loads."
        reason = self._not_lean(base, spec)
        if base.choice is not None and (reason is None or not base.choice.lean):
            return f"Decoding: {base.choice.note()}."
        return f"Decoding: generate ({reason})." if reason else "Decoding: lean."

    def decoding_path(self, key: str) -> str:
        """How replies of model ``key`` are decoded: ``"lean"`` or ``"generate (<why>)"``."""
        spec = self.spec(key)
        reason = self._not_lean(self.load(key), spec)
        return f"generate ({reason})" if reason else "lean"

    @staticmethod
    def _not_lean(base: _LoadedBase, spec: ChatModelSpec) -> str | None:
        if base.decoder is None:
            return base.decoder_note
        if base.choice is not None and not base.choice.lean:
            return base.decoder_note
        if spec.adapter_path is not None:
            return base.decoder.adapter_unsupported_reason(adapter_name(spec.key))
        return None

    def load(self, key: str) -> _LoadedBase:
        """Load the base (once) and, for an adapter, add it to the shared ``PeftModel`` (once)."""
        spec = self.spec(key)
        base = self._base(spec.base_ref)
        if spec.adapter_path is None:
            return base
        name = adapter_name(spec.key)
        with base.lock:
            if name not in base.adapters:
                from peft import PeftModel

                check_adapter_folder(spec.adapter_path)
                options = {"adapter_name": name, "low_cpu_mem_usage": True}  # no init-then-copy
                if isinstance(base.model, PeftModel):
                    base.model.load_adapter(spec.adapter_path, **options)
                else:
                    base.model = PeftModel.from_pretrained(base.model, spec.adapter_path, **options)
                base.model.eval()
                base.adapters[name] = spec.adapter_path
                self._attach_decoder(base)
                for loaded in base.adapters if base.decoder is not None else ():
                    base.decoder.prepare_adapter(loaded)  # peft's LoRA weights become the decoder's
                release_free_memory()
        return base

    # ----------------------------------------------------------------------------- generation
    def build_inputs(
        self, base: _LoadedBase, messages: Sequence[Mapping[str, str]], settings: GenerationSettings
    ) -> Any:
        """Chat-template the conversation, dropping the oldest turns when it would not fit the context."""
        turns = [dict(role=m["role"], content=m["content"]) for m in messages if m.get("role") != "system"]
        if not turns or turns[-1]["role"] != "user":
            raise ValueError("the conversation must end with a user message")
        check_input(turns[-1]["content"])
        system = (
            [{"role": "system", "content": settings.system_prompt}] if settings.system_prompt.strip() else []
        )
        budget = base.max_positions - settings.max_new_tokens
        while True:
            inputs = base.tokenizer.apply_chat_template(
                system + turns, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            if inputs["input_ids"].shape[1] <= budget or len(turns) <= 1:
                break
            turns = turns[2:] if len(turns) > 2 else turns[-1:]
        if inputs["input_ids"].shape[1] > budget:
            raise ValueError(
                f"the message is {inputs['input_ids'].shape[1]} tokens; with {settings.max_new_tokens} "
                f"new tokens it exceeds the model's context of {base.max_positions}. "
                "Shorten it or lower max tokens."
            )
        return inputs

    def stream_reply(
        self, key: str, messages: Sequence[Mapping[str, str]], settings: GenerationSettings | None = None
    ) -> Iterator[str]:
        """Yield the reply of model ``key`` to ``messages`` (``{"role", "content"}`` dicts) as text chunks."""
        import torch
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        settings = settings or GenerationSettings()
        spec = self.spec(key)
        base = self.load(key)
        inputs = self.build_inputs(base, messages, settings)
        streamer = TextIteratorStreamer(base.tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancel = threading.Event()
        failure: list[BaseException] = []
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": settings.temperature, "top_p": settings.top_p}
            if settings.temperature > 0
            else {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        )
        tokenizer = base.tokenizer

        def generate() -> None:
            try:
                with base.lock:
                    if self._not_lean(base, spec) is None:
                        prompt = inputs["input_ids"][0]
                        streamer.put(prompt)
                        base.decoder.generate(
                            prompt,
                            max_new_tokens=settings.max_new_tokens,
                            adapter=None if spec.adapter_path is None else adapter_name(spec.key),
                            sampling=sampling,
                            seed=settings.seed,
                            on_token=lambda token: streamer.put(torch.tensor([token])),
                            should_stop=cancel.is_set,
                        )
                        streamer.end()
                        return
                    model = base.model
                    device = next(model.parameters()).device
                    kwargs = {
                        **{k: v.to(device) for k, v in inputs.items()},
                        **sampling,
                        "max_new_tokens": settings.max_new_tokens,
                        "streamer": streamer,
                        "stopping_criteria": StoppingCriteriaList([_Cancel(cancel)]),
                        "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id,
                    }
                    torch.manual_seed(settings.seed)
                    with torch.inference_mode():
                        if spec.adapter_path is None:
                            if hasattr(model, "disable_adapter"):
                                with model.disable_adapter():
                                    model.generate(**kwargs)
                            else:
                                model.generate(**kwargs)
                        else:
                            model.set_adapter(adapter_name(spec.key))
                            model.generate(**kwargs)
            except BaseException as error:  # handed to the consumer thread below
                failure.append(error)
                streamer.end()

        decoding = self._decoding.submit(generate)  # one long-lived thread (chat/decode_thread.py)
        try:
            yield from streamer
        finally:
            cancel.set()
            decoding.result()
        if failure:
            raise failure[0]

    def reply(
        self, key: str, messages: Sequence[Mapping[str, str]], settings: GenerationSettings | None = None
    ) -> str:
        """The whole reply as one string (for the CLI and tests)."""
        return "".join(self.stream_reply(key, messages, settings))


def adapter_name(key: str) -> str:
    """peft adapter names may not contain dots; artifact ids never do, paths might."""
    return "a_" + "".join(c if c.isalnum() or c == "_" else "_" for c in key)


# --------------------------------------------------------------------------------------- ratings
def rate_reply(
    reply: str, prompt: str | None, reward_models: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """Each group's predicted rating of ``reply`` on each dimension, for the chart under a reply.

    ``reward_models`` is ``{group label: {dimension: RewardModel}}`` (see
    :func:`pluralign_core.rewards.training.load_group_reward_models`). Columns: ``group, dimension,
    dimension_label, predicted, higher_is_better, scale_min, scale_max``.
    """
    rows = []
    for group, models in reward_models.items():
        for dimension, model in models.items():
            predicted = float(model.predict(None if prompt is None else [prompt], [reply])[0])
            rows.append(
                {
                    "group": group,
                    "dimension": dimension,
                    "dimension_label": getattr(model, "dimension_label", "") or dimension,
                    "predicted": predicted,
                    "higher_is_better": bool(model.higher_is_better),
                    "scale_min": float(model.scale_min),
                    "scale_max": float(model.scale_max),
                }
            )
    columns = [
        "group",
        "dimension",
        "dimension_label",
        "predicted",
        "higher_is_better",
        "scale_min",
        "scale_max",
    ]
    return pd.DataFrame(rows, columns=columns)


# ---------------------------------------------------------------------------------------- export
def conversation_record(
    histories: Mapping[str, Sequence[Mapping[str, Any]]], settings: GenerationSettings | None = None
) -> dict[str, Any]:
    """A JSON-ready record: settings, time, and each model's messages (with ratings where present)."""
    columns = []
    for label, messages in histories.items():
        clean = []
        for message in messages:
            item = {"role": message["role"], "content": message["content"]}
            ratings = message.get("ratings")
            if isinstance(ratings, pd.DataFrame):
                ratings = ratings[["group", "dimension", "predicted"]].to_dict("records")
            if ratings:
                item["ratings"] = ratings
            clean.append(item)
        columns.append({"model": label, "messages": clean})
    return {
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": settings.to_dict() if settings else {},
        "models": columns,
    }


def conversation_to_json(
    histories: Mapping[str, Sequence[Mapping[str, Any]]], settings: GenerationSettings | None = None
) -> str:
    return json.dumps(conversation_record(histories, settings), indent=2, ensure_ascii=False)


def conversation_to_markdown(
    histories: Mapping[str, Sequence[Mapping[str, Any]]], settings: GenerationSettings | None = None
) -> str:
    record = conversation_record(histories, settings)
    lines = ["# pluralign chat", "", f"Exported {record['exported_at']}.", ""]
    if settings:
        shown = ", ".join(f"{k}={v!r}" for k, v in record["settings"].items() if k != "system_prompt")
        lines += [f"Settings: {shown}", ""]
        if settings.system_prompt:
            lines += [
                "System prompt:",
                "",
                *[f"> {line}" for line in settings.system_prompt.splitlines()],
                "",
            ]
    for column in record["models"]:
        lines += [f"## {column['model']}", ""]
        for message in column["messages"]:
            lines += [f"**{message['role']}**:", "", message["content"], ""]
            for rating in message.get("ratings", []):
                lines.append(f"- {rating['group']} · {rating['dimension']}: {rating['predicted']:.2f}")
            if message.get("ratings"):
                lines.append("")
    return "\n".join(lines)
