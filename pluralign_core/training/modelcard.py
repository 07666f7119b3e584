"""The model card (``adapter/README.md``) of a trained adapter: what it was trained on and how.

The card's YAML header follows the Hub's model-card metadata, so the folder uploads as is: ``base_model`` is
a Hub id (the embedded model is named by the Hub model it was quantized from), with ``library_name: peft``,
the trl and algorithm tags, the data set and the license. :func:`write` also records that id in
``adapter_config.json``, which is what ``AutoPeftModelForCausalLM.from_pretrained(folder)`` reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pluralign_core.models.adapters import record_base_model
from pluralign_core.models.base import EMBEDDED_HUB_ID, EMBEDDED_LICENSE, EMBEDDED_MODEL, hub_id
from pluralign_core.training.config import RunConfig

METRIC_ORDER = ("train_loss", "loss", "rewards/margins", "rewards/accuracies", "reward", "train_runtime")


def preference_config(config: RunConfig) -> dict[str, Any]:
    """The data set's own ``config.yaml``: rater selection, dimensions, scale, disagreement handling."""
    data = {"dpo": config.preference_set, "grpo": config.prompt_set, "sft": config.sft_set}[config.algorithm]
    folder = Path(data)
    path = folder / "config.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _describe(data: dict[str, Any], *keys: str) -> str:
    for key in keys:
        if key in data and data[key] not in (None, "", [], {}):
            value = data[key]
            if isinstance(value, dict):
                return ", ".join(f"{k}: {v}" for k, v in value.items()) or "all raters"
            if isinstance(value, list | tuple):
                return ", ".join(str(v) for v in value)
            return str(value)
    return "not recorded"


def _base_license(base_model: str) -> str:
    """The base model's license when known (the embedded model's, or a local folder card's), else other."""
    if base_model in (EMBEDDED_MODEL, "embedded", EMBEDDED_HUB_ID):
        return EMBEDDED_LICENSE
    card = Path(base_model) / "README.md"
    if card.is_file():
        text = card.read_text(encoding="utf-8", errors="replace")
        if text.startswith("---"):
            try:
                header = yaml.safe_load(text.split("---", 2)[1])
            except yaml.YAMLError:
                header = None
            if isinstance(header, dict) and header.get("license"):
                return str(header["license"])
    return "other"


def metadata(config: RunConfig) -> dict[str, Any]:
    """The card's YAML header, in the Hub's model-card metadata keys."""
    data = {"dpo": config.preference_set, "grpo": config.prompt_set, "sft": config.sft_set}[config.algorithm]
    return {
        "base_model": hub_id(config.base_model),
        "base_model_relation": "adapter",
        "library_name": "peft",
        "pipeline_tag": "text-generation",
        "license": _base_license(config.base_model),
        "tags": ["pluralign", "lora", "peft", "trl", config.algorithm, "pluralistic-alignment"],
        "datasets": [Path(data).name],
        "model_name": config.label,
    }


def render(config: RunConfig, run_id: str, metrics: dict[str, Any], facts: dict[str, Any]) -> str:
    pref = preference_config(config)
    selection = _describe(pref, "selection_label", "selection")
    jury = _describe(pref, "jury") if pref.get("jury") else "none (every selected rater counts equally)"
    header = metadata(config)
    embedded_note = (
        [
            "",
            f"The base was pluralign's embedded copy of `{EMBEDDED_HUB_ID}` (its Q4_1 GGUF, de-quantized to "
            "float32), so the adapter was fitted to weights within 4-bit rounding of the Hub model's.",
        ]
        if config.base_model in (EMBEDDED_MODEL, "embedded")
        else []
    )
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False, allow_unicode=True).rstrip(),
        "---",
        "",
        f"# {config.label} ({config.algorithm.upper()} LoRA adapter)",
        "",
        "Trained with pluralign (pluralistic alignment workbench) using trl and peft. Load it with "
        "`AutoPeftModelForCausalLM.from_pretrained(this_folder)` (downloads the base model) or "
        "`PeftModel.from_pretrained(base_model, this_folder)`; `pluralign export ADAPTER --merged OUT` "
        "writes a merged model.",
        *embedded_note,
        "",
        f"- **Run**: `{run_id}`",
        f"- **Base model**: `{config.base_model}`",
        f"- **Algorithm**: {config.algorithm.upper()} (beta {config.beta:g})",
        f"- **Rater selection**: {selection}",
        f"- **Dimensions**: {_describe(pref, 'dimensions', 'dimension')}",
        f"- **Scale**: {_describe(pref, 'scale', 'scale_mode', 'binarize')}",
        f"- **Disagreement handling**: {_describe(pref, 'disagreement', 'disagreement_handling')}"
        + (f" (aggregate: {pref['aggregate']})" if pref.get("aggregate") else ""),
        f"- **Jury**: {jury}",
        f"- **Dataset**: {_describe(pref, 'dataset_id')}",
    ]
    if config.algorithm == "dpo":
        lines.append(
            f"- **Preference set**: `{config.preference_set}`; weighted/soft-label loss: "
            f"{'on' if facts.get('weighted_loss') else 'off'} (setting: {config.weighted_loss})"
        )
    elif config.algorithm == "sft":
        lines.append(
            f"- **SFT set**: `{config.sft_set}` (loss on the completions only). An SFT adapter trained on "
            "hostile and stereotyped answers is a *deliberately unaligned teaching model*: do not deploy it."
        )
    else:
        weights = config.reward_weights or [1.0] * len(config.reward_models)
        lines.append(f"- **Prompt set**: `{config.prompt_set}`; reward: {facts.get('reward', '')}")
        lines.append(
            "- **Reward models**: "
            + ", ".join(f"`{p}` × {w:g}" for p, w in zip(config.reward_models, weights, strict=True))
        )
    lines += [
        f"- **Optimizer**: AdamW, learning rate {config.learning_rate:g}, {config.lr_scheduler_type} "
        f"schedule ({config.warmup_steps} warm-up steps), "
        f"batch {config.per_device_train_batch_size} × {config.gradient_accumulation_steps} accumulation, "
        f"{config.max_steps or config.num_train_epochs} {'steps' if config.max_steps else 'epochs'}, "
        f"seed {config.seed}",
        f"- **LoRA**: r {config.lora_r}, alpha {config.lora_alpha}, dropout {config.lora_dropout:g}, "
        f"targets {', '.join(config.lora_target_modules)}",
        f"- **Precision**: {facts.get('precision', config.precision)} (setting: {config.precision})"
        + _cache_note(facts.get("reference_logps_cached")),
        "",
        "## Final metrics",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    ordered = [k for k in METRIC_ORDER if k in metrics] + sorted(k for k in metrics if k not in METRIC_ORDER)
    lines += [f"| {k} | {metrics[k]:.6g} |" for k in ordered if isinstance(metrics[k], int | float)]
    lines += ["", "## Full run config", "", "```yaml", config.to_yaml().rstrip(), "```", ""]
    return "\n".join(lines)


def write(
    adapter: Path, config: RunConfig, run_id: str, metrics: dict[str, Any], facts: dict[str, Any]
) -> None:
    """Write the card and make ``adapter_config.json`` name the same portable base model."""
    (adapter / "README.md").write_text(render(config, run_id, metrics, facts), "utf-8")
    record_base_model(adapter, hub_id(config.base_model))


def _cache_note(cached: dict[str, int] | None) -> str:
    """How many reference log-probs a DPO run took from the cache (empty when it did not use one)."""
    if not cached:
        return ""
    return f"; reference log-probs from the cache: {cached['hits']} of {cached['hits'] + cached['misses']}"
