"""Base model resolution; the real embedded model is exercised by an integration test."""

from __future__ import annotations

from pathlib import Path

import pytest

from pluralign_core.models import base as base_models


def test_local_folder_and_hub_ids_resolve(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert base_models.resolve_model(str(tiny_model_dir)) == str(tiny_model_dir)
    monkeypatch.setenv(base_models.DOWNLOADS_ENV, "1")  # hub ids pass through only when opted in
    assert (
        base_models.resolve_model("HuggingFaceTB/SmolLM2-360M-Instruct")
        == "HuggingFaceTB/SmolLM2-360M-Instruct"
    )
    with pytest.raises(FileNotFoundError, match=r"config\.json"):
        base_models.resolve_model(str(tmp_path))


def test_embedded_gguf_is_found() -> None:
    gguf = base_models.embedded_gguf_path()
    assert gguf.name == base_models.EMBEDDED_GGUF and gguf.stat().st_size > 50_000_000


@pytest.mark.integration
def test_embedded_model_is_dequantized_once_and_generates(pluralign_home: Path) -> None:
    import torch

    messages: list[tuple[float, str]] = []
    model, tokenizer = base_models.load_model_and_tokenizer(progress=lambda f, m: messages.append((f, m)))
    folder = base_models.embedded_model_dir()
    assert (folder / "config.json").exists() and "quantization_config" not in (
        folder / "config.json"
    ).read_text()
    assert messages and messages[-1][0] == 1.0
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    assert "Paris" in tokenizer.decode(output[0][inputs["input_ids"].shape[1] :])
    messages.clear()
    base_models.load_model_and_tokenizer(progress=lambda f, m: messages.append((f, m)))
    assert messages == []
