"""The model card (``adapter/README.md``) of a trained adapter: what it was trained on and how."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

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


def render(config: RunConfig, run_id: str, metrics: dict[str, Any], facts: dict[str, Any]) -> str:
    pref = preference_config(config)
    selection = _describe(pref, "selection_label", "selection")
    jury = _describe(pref, "jury") if pref.get("jury") else "none (every selected rater counts equally)"
    lines = [
        "---",
        f"base_model: {config.base_model}",
        "library_name: peft",
        "tags: [pluralign, lora, " + config.algorithm + "]",
        "---",
        "",
        f"# {config.label} ({config.algorithm.upper()} LoRA adapter)",
        "",
        "Trained with pluralign (pluralistic alignment workbench). Load it with "
        "`PeftModel.from_pretrained(base_model, this_folder)`.",
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
