"""Side-by-side chat on the tiny model: streaming, adapter switching on one shared base, concurrency,
input bounds, rating of replies by group reward models, and export."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch

from pluralign_core.chat.pool import (
    BASE_KEY,
    MAX_INPUT_CHARS,
    ChatModelPool,
    ChatModelSpec,
    GenerationSettings,
    available_models,
    conversation_to_json,
    conversation_to_markdown,
    rate_reply,
)

GREEDY = GenerationSettings(temperature=0.0, max_new_tokens=12)
HELLO = [{"role": "user", "content": "Why are some people so rude?"}]


def make_adapter(base_dir: Path, folder: Path, seed: int) -> Path:
    """A LoRA adapter on the tiny model with random (non-zero) weights, so its outputs differ."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(base_dir)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_" in name:
                parameter.normal_(0, 0.8)
    peft_model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def adapters(tiny_model_dir, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("adapters")
    return {
        name: make_adapter(tiny_model_dir, root / name, seed) for seed, name in enumerate(["kind", "blunt"])
    }


@pytest.fixture(scope="module")
def pool(tiny_model_dir, adapters) -> ChatModelPool:
    torch.set_num_threads(1)
    pool = ChatModelPool(calibrate=False)
    pool.add(ChatModelSpec(BASE_KEY, "base", str(tiny_model_dir)))
    for name, path in adapters.items():
        pool.add(ChatModelSpec(name, name, str(tiny_model_dir), str(path)))
    return pool


def test_reply_streams_in_chunks(pool):
    chunks = list(pool.stream_reply(BASE_KEY, HELLO, GREEDY))
    assert len(chunks) >= 2
    assert "".join(chunks) == pool.reply(BASE_KEY, HELLO, GREEDY)


def test_adapters_switch_on_one_shared_base_and_change_outputs(pool):
    from peft import PeftModel

    base_first = pool.reply(BASE_KEY, HELLO, GREEDY)
    kind = pool.reply("kind", HELLO, GREEDY)
    blunt = pool.reply("blunt", HELLO, GREEDY)
    assert len({base_first, kind, blunt}) == 3
    assert pool.reply(BASE_KEY, HELLO, GREEDY) == base_first  # disable_adapter really gives the base back
    assert pool.reply("kind", HELLO, GREEDY) == kind
    assert len(pool.loaded_bases) == 1
    loaded = pool.load("kind")
    assert isinstance(loaded.model, PeftModel)
    assert set(loaded.model.peft_config) == {"a_kind", "a_blunt"}


def _storages(module: torch.nn.Module) -> set[int]:
    return {parameter.untyped_storage().data_ptr() for parameter in module.parameters()}


def test_adapters_share_the_base_weights_and_hold_their_lora_weights_once(tiny_model_dir, adapters):
    """Two adapted chat models read the very same base tensors, yet reply differently; each adapter's LoRA
    weights are stored once: peft's ``lora_A``/``lora_B`` are views into the lean decoder's factors, which
    hold nothing else, and
    peft's own forward on those views gives the logits a separate, untouched copy gives."""
    from peft import PeftModel

    pool = ChatModelPool(calibrate=False)
    plain = ChatModelPool(lean_decoding=False)
    for candidate in (pool, plain):
        for name, path in adapters.items():
            candidate.add(ChatModelSpec(name, name, str(tiny_model_dir), str(path)))
    kind, blunt = pool.load("kind"), pool.load("blunt")
    assert kind is blunt and len(pool.loaded_bases) == 1
    model = kind.model
    base_weights = {n: p.data_ptr() for n, p in model.named_parameters() if "lora_" not in n}
    with model.disable_adapter():
        assert {n: p.data_ptr() for n, p in model.named_parameters() if "lora_" not in n} == base_weights
    assert pool.reply("kind", HELLO, GREEDY) != pool.reply("blunt", HELLO, GREEDY)
    for name, adapter in (("kind", "a_kind"), ("blunt", "a_blunt")):
        groups = kind.decoder._lora_groups(adapter)
        gathered = [x for g in groups for x in g if x is not None]
        decoder_storage = {
            t.untyped_storage().data_ptr() for x in gathered for t in (x.stacked_a_t, x.b_storage)
        }
        lora = [
            m
            for n, m in model.named_modules()
            if n.endswith(f"lora_A.{adapter}") or n.endswith(f"lora_B.{adapter}")
        ]
        assert lora and all(_storages(m) <= decoder_storage for m in lora), name
        # and the decoder holds nothing more than those weights (no zero padding between projections)
        decoder_bytes = sum(
            t.untyped_storage().nbytes() for x in gathered for t in (x.stacked_a_t, x.b_storage)
        )
        assert decoder_bytes == sum(m.weight.numel() * m.weight.element_size() for m in lora), name
    plain.load("blunt")
    other = plain.load("kind").model
    assert isinstance(model, PeftModel) and isinstance(other, PeftModel)
    ids = pool.build_inputs(kind, HELLO, GREEDY)["input_ids"]
    for adapter in ("a_kind", "a_blunt"):
        model.set_adapter(adapter)
        other.set_adapter(adapter)
        with torch.no_grad():
            torch.testing.assert_close(model(ids).logits, other(ids).logits, rtol=1e-5, atol=1e-5)


def test_lean_decoding_gives_the_replies_generate_gives(pool, tiny_model_dir, adapters, tmp_path):
    """The pool decodes with the lean loop; switched off, it uses generate + peft, with the same replies.
    An adapter the lean loop cannot run (DoRA) falls back to generate and says so."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    dora = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_model_dir),
        LoraConfig(r=2, target_modules=["q_proj", "v_proj"], use_dora=True),
    )
    dora.save_pretrained(tmp_path / "dora")
    plain = ChatModelPool(lean_decoding=False)
    for candidate in (pool, plain):
        candidate.add(ChatModelSpec(BASE_KEY, "base", str(tiny_model_dir)))
        for name, path in {**adapters, "dora": tmp_path / "dora"}.items():
            candidate.add(ChatModelSpec(name, name, str(tiny_model_dir), str(path)))
    assert {key: pool.decoding_path(key) for key in (BASE_KEY, *adapters)} == dict.fromkeys(
        (BASE_KEY, *adapters), "lean"
    )
    assert pool.decoding_path("dora") == "generate (DoRA adapters are not supported)"
    assert plain.decoding_path("kind") == "generate (lean decoding is switched off)"
    for key in (BASE_KEY, *adapters, "dora"):
        assert pool.reply(key, HELLO, GREEDY) == plain.reply(key, HELLO, GREEDY), key


def test_seeded_sampling_is_reproducible(pool):
    sampled = GenerationSettings(temperature=1.0, top_p=0.95, max_new_tokens=10, seed=7)
    assert pool.reply("blunt", HELLO, sampled) == pool.reply("blunt", HELLO, sampled)


def test_two_concurrent_chats_do_not_interfere(pool):
    expected = {key: pool.reply(key, HELLO, GREEDY) for key in ("kind", "blunt", BASE_KEY)}
    results: dict[str, list[str]] = {key: [] for key in expected}
    errors: list[BaseException] = []

    def chat(key: str) -> None:
        try:
            for _ in range(3):
                results[key].append(pool.reply(key, HELLO, GREEDY))
        except BaseException as error:  # pragma: no cover - surfaced below
            errors.append(error)

    threads = [threading.Thread(target=chat, args=(key,)) for key in expected]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert results == {key: [reply] * 3 for key, reply in expected.items()}


def test_stopping_a_stream_early_releases_the_model(pool):
    stream = pool.stream_reply("kind", HELLO, GenerationSettings(temperature=0.0, max_new_tokens=200))
    next(stream)
    stream.close()
    assert pool.reply(BASE_KEY, HELLO, GREEDY)  # would hang if the lock were still held


def test_system_prompt_and_history_reach_the_model(pool):
    history = [*HELLO, {"role": "assistant", "content": "Hmm."}, {"role": "user", "content": "And why?"}]
    with_system = GenerationSettings(temperature=0.0, max_new_tokens=12, system_prompt="Be kind.")
    base = pool.load(BASE_KEY)
    text = base.tokenizer.decode(pool.build_inputs(base, history, with_system)["input_ids"][0])
    assert text.index("Be kind.") < text.index("rude") < text.index("Hmm.") < text.index("And why?")
    assert text.endswith("<|im_start|>assistant\n")


def test_long_history_drops_oldest_turns_to_fit_the_context(pool):
    base = pool.load(BASE_KEY)
    filler = "Women and men rate answers differently. " * 20
    history = []
    for turn in range(8):
        history += [
            {"role": "user", "content": f"{filler} turn{turn}"},
            {"role": "assistant", "content": filler},
        ]
    history.append({"role": "user", "content": "last question"})
    settings = GenerationSettings(temperature=0.0, max_new_tokens=64)
    ids = pool.build_inputs(base, history, settings)["input_ids"]
    assert ids.shape[1] <= base.max_positions - 64
    text = base.tokenizer.decode(ids[0])
    assert "last question" in text and "turn0" not in text


def test_input_is_bounded_with_a_clear_message(pool):
    with pytest.raises(ValueError, match="limit is 4,000"):
        list(pool.stream_reply(BASE_KEY, [{"role": "user", "content": "x" * (MAX_INPUT_CHARS + 1)}], GREEDY))
    with pytest.raises(ValueError, match="empty"):
        list(pool.stream_reply(BASE_KEY, [{"role": "user", "content": "  "}], GREEDY))
    with pytest.raises(ValueError, match="top_p"):
        GenerationSettings(top_p=0)
    with pytest.raises(KeyError, match="unknown chat model"):
        list(pool.stream_reply("nope", HELLO, GREEDY))


def test_available_models_lists_base_and_registered_adapters(store, tiny_model_dir, adapters, tmp_path):
    store.register_artifact(
        "adapter", "kind women", path=adapters["kind"], config={"base_model": str(tiny_model_dir)}
    )
    store.register_artifact("adapter", "gone", path=tmp_path / "missing", config={"base_model": "x"})
    store.register_artifact("adapter", "training", path=adapters["blunt"], status="running")
    specs = available_models(store, str(tiny_model_dir))
    assert specs[0].key == BASE_KEY
    assert len(specs) == 2 and specs[1].adapter_path == str(adapters["kind"])
    assert specs[1].base_ref == str(tiny_model_dir)


def test_rate_reply_gives_each_groups_prediction(store):
    from pluralign_core.rewards.training import load_group_reward_models, train_group_reward_models
    from pluralign_core.store.selection import RaterSelection
    from tests.rewards.test_rewards import planted_bundle

    bundle, _ = planted_bundle()
    store.write_dataset(bundle)
    for gender in ("woman", "man"):
        train_group_reward_models(store, "planted", RaterSelection({"gender": (gender,)}), heldout="random")
    models = load_group_reward_models(store, "planted")
    rude = "idiot stupid hate pathetic moron"
    table = rate_reply(rude, "Why?", models)
    assert len(table) == 4 and set(table.group) == {"gender=woman", "gender=man"}
    toxicity = table[table.dimension == "toxicity"].set_index("group").predicted
    assert toxicity["gender=woman"] > toxicity["gender=man"]  # women would rate this reply more toxic
    assert toxicity["gender=woman"] == pytest.approx(
        models["gender=woman"]["toxicity"].predict(None, [rude])[0]
    )
    assert rate_reply("x", None, {}).empty


def test_export_json_and_markdown_keep_every_column():
    histories = {
        "base": [*HELLO, {"role": "assistant", "content": "Because."}],
        "kind": [
            *HELLO,
            {
                "role": "assistant",
                "content": "<b>Not html</b>",
                "ratings": [{"group": "gender=woman", "dimension": "toxicity", "predicted": 1.5}],
            },
        ],
    }
    settings = GenerationSettings(system_prompt="Be brief.")
    record = json.loads(conversation_to_json(histories, settings))
    assert [c["model"] for c in record["models"]] == ["base", "kind"]
    assert record["settings"]["system_prompt"] == "Be brief."
    assert record["models"][1]["messages"][1]["ratings"][0]["predicted"] == 1.5
    markdown = conversation_to_markdown(histories, settings)
    assert "## base" in markdown and "## kind" in markdown and "gender=woman · toxicity: 1.50" in markdown
    assert "> Be brief." in markdown


@pytest.mark.integration
def test_smollm2_replies_the_same_with_lean_decoding_and_generate(smollm2_dir):
    torch.set_num_threads(2)
    replies = []
    for lean in (True, False):
        pool = ChatModelPool(lean_decoding=lean, calibrate=False)
        pool.add(ChatModelSpec(BASE_KEY, "SmolLM2", str(smollm2_dir)))
        assert pool.decoding_path(BASE_KEY).startswith("lean" if lean else "generate")
        replies.append(
            pool.reply(
                BASE_KEY,
                [{"role": "user", "content": "Why do people disagree about politics?"}],
                GenerationSettings(0.0, max_new_tokens=24),
            )
        )
    assert replies[0].strip() and replies[0] == replies[1]


def test_cli_chat_prints_each_models_reply(store, tiny_model_dir, adapters, monkeypatch, capsys):
    from pluralign_core.cli import main

    monkeypatch.setenv("PLURALIGN_BASE_MODEL", str(tiny_model_dir))
    store.register_artifact(
        "adapter",
        "kind",
        path=adapters["kind"],
        config={"base_model": str(tiny_model_dir)},
        artifact_id="adapter-kind",
    )
    argv = [
        "chat",
        "--model",
        "base",
        "--model",
        "adapter-kind",
        "--temperature",
        "0",
        "--max-tokens",
        "6",
        "Hi",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "== kind (adapter-kind) ==" in out and "== Base model" in out and " | " in out
    assert main(["chat", "--model", "nope", "Hi"]) == 2
    assert "pluralign chat --list" in capsys.readouterr().err
