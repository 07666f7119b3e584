"""What DPO and GRPO runs share: loading the base model, the LoRA config, trainer arguments and data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pluralign_core.hardware import has_native_bf16, keep_heap_top, map_large_allocations
from pluralign_core.training import fused_head
from pluralign_core.training.config import RunConfig

CHECKPOINT_DIR = "checkpoints"
#: On the CPU, during the policy's forward pass, tensors from this size up get their own memory map
#: (:func:`map_policy_forward_allocations`); ``None``: glibc's default throughout. Only where a tensor lives
#: changes, never a value (tests/training/test_training.py checks).
CPU_MMAP_THRESHOLD: int | None = 4 * 2**20
#: The threshold outside the policy's forward: glibc's own ceiling for its dynamic threshold (64-bit).
HEAP_MMAP_THRESHOLD = 32 * 2**20
#: With :data:`CPU_MMAP_THRESHOLD`: free memory kept at the top of glibc's heap, and its extra growth
#: (:func:`~pluralign_core.hardware.keep_heap_top`).
HEAP_TRIM_THRESHOLD = 256 * 2**20
HEAP_TOP_PAD = 64 * 2**20
#: Environment of a training job's process (:class:`~pluralign_core.training.jobs.JobQueue` sets it; torch
#: reads it once, on import): torch asks for transparent huge pages (``madvise(MADV_HUGEPAGE)``) for each
#: CPU tensor of 2 MB and more, so a mapped 4.7 MB tensor (:func:`map_policy_forward_allocations`) costs
#: about 540 page faults instead of 1280 (its 2 MB-aligned part comes in huge pages). No effect where the
#: kernel's transparent huge pages are ``never``; none on values (tests/training/test_training.py).
JOB_ENVIRONMENT = {"THP_MEM_ALLOC_ENABLE": "1"}


def seed_everything(seed: int) -> None:
    from transformers import set_seed

    set_seed(seed)


def device_kind() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def map_policy_forward_allocations(model: Any) -> None:
    """On the CPU, map tensors of :data:`CPU_MMAP_THRESHOLD` bytes and more while ``model`` runs a forward
    pass with gradients (the policy's; the reference's runs without), glibc's heap elsewhere, and keep the
    heap's free top (:data:`HEAP_TRIM_THRESHOLD`).

    A SmolLM2 DPO step at batch 4 × 256 tokens allocates thousands of 4.7 MB hidden-state tensors. In the
    policy's checkpointed forward the layer outputs kept for the backward pass sit between recomputable
    temporaries of the same size, and glibc's heap fragmented to 2.9 GB peak RSS (about 1.6 GB is alive).
    Mapping those allocations (:func:`~pluralign_core.hardware.map_large_allocations`) brings the peak to
    2.1 GB, but each mapped allocation comes as fresh zeroed pages: 3.7-4.0 million minor page faults per
    step (bare trl: 1.8-2.4 million), which put the step's CPU time at 1.18 × bare trl's. In the job's
    :data:`JOB_ENVIRONMENT` (huge pages) and with the heap top kept, a step faults 0.2-0.4 million times.

    Measured with bench/bench_training.py's workers on an AMD EPYC (Zen 4), 1 thread, pluralign and bare
    trl run side by side on a shared 2-core machine; CPU time of steps 2-3, minor faults from
    ``getrusage``: 4 MiB mapping alone 2.14 GB peak, 37.6-38.4 s (trl 36.5 s); with huge pages 1.68 GB,
    0.6-0.8 M faults, 49.3-50.8 s against trl's 47.0-48.0 s in the same minutes; with huge pages and the
    heap top kept 1.71 GB, 0.2-0.4 M faults, 43.0-46.2 s against 45.1-48.1 s (ratio 0.96); bare trl
    4.70-4.93 GB. CPU times on that machine moved by a third with other load, hence the side-by-side pairs.
    ``python -m bench.bench_training --rounds 2`` there (quieter): peak 1.78 GB against bare trl's 4.58 GB,
    step CPU time 39.7-43.2 s against 41.0-48.8 s, ratio of medians 0.954 (0.86 and 1.03 round by round);
    run again: 1.83 GB against 4.58 GB, ratio 0.950 (its second round 0.985).
    """
    import torch

    if device_kind() != "cpu" or not CPU_MMAP_THRESHOLD:
        return
    threshold = CPU_MMAP_THRESHOLD
    keep_heap_top(HEAP_TRIM_THRESHOLD, HEAP_TOP_PAD)

    def before(module: Any, args: Any) -> None:
        map_large_allocations(threshold if torch.is_grad_enabled() else HEAP_MMAP_THRESHOLD)

    def after(module: Any, args: Any, output: Any) -> None:
        map_large_allocations(HEAP_MMAP_THRESHOLD)

    model.register_forward_pre_hook(before)
    model.register_forward_hook(after)


def resolve_precision(requested: str) -> str:
    """``fp32`` or ``bf16``: ``auto`` becomes bf16 only on hardware with native bfloat16 arithmetic."""
    if requested == "auto":
        return "bf16" if has_native_bf16() else "fp32"
    return requested


def load_base(config: RunConfig) -> tuple[Any, Any]:
    """The base model (float32 weights; mixed precision is the trainer's job) and its tokenizer."""
    from pluralign_core.models.base import load_model_and_tokenizer

    if device_kind() == "cpu":
        fused_head.fit_to_cpu()
    model, tokenizer = load_model_and_tokenizer(config.base_model)
    tokenizer.padding_side = "left"
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def lora_config(config: RunConfig, model: Any) -> Any:
    """peft's LoraConfig for ``model``; ``lora_top_layers`` limits the adapters to its last layers."""
    from peft import LoraConfig

    targets: Any = config.lora_target_modules
    if targets == ["all-linear"]:
        targets = "all-linear"
    layers: list[int] | None = None
    if config.lora_top_layers:
        count = int(model.config.num_hidden_layers)
        layers = list(range(max(count - config.lora_top_layers, 0), count))  # a smaller model: all of them
        if targets == "all-linear":
            # peft takes a layer range only with named modules
            targets = linear_layer_names(model)
    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )


def linear_layer_names(model: Any) -> list[str]:
    """Names of the linear layers inside the transformer blocks (what peft's ``all-linear`` selects)."""
    import torch

    output = model.get_output_embeddings()
    return sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and module is not output and ".layers." in f".{name}"
        }
    )


def trainer_arguments(config: RunConfig, run_dir: Path) -> dict[str, Any]:
    """Arguments common to DPOConfig and GRPOConfig (field names checked against trl 1.16)."""
    import torch

    cuda = torch.cuda.is_available()
    precision = resolve_precision(config.precision)
    return {
        "output_dir": str(Path(run_dir) / CHECKPOINT_DIR),
        "learning_rate": config.learning_rate,
        "max_steps": config.max_steps if config.max_steps > 0 else -1,
        "num_train_epochs": config.num_train_epochs,
        "lr_scheduler_type": config.lr_scheduler_type,
        "warmup_steps": config.warmup_steps,
        "per_device_train_batch_size": config.per_device_train_batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "beta": config.beta,
        "seed": config.seed,
        "logging_steps": config.logging_steps,
        "save_strategy": "steps",
        "save_steps": config.save_steps,
        "save_total_limit": 2,
        # transformers adds the tracker's callback; the JSONL progress callback is passed by the run itself
        "report_to": [] if config.report_to == "none" else [config.report_to],
        "run_name": Path(run_dir).name,
        "project": "pluralign",
        "use_cpu": not cuda,
        "bf16": precision == "bf16",
        "fp16": False,
        "gradient_checkpointing": config.gradient_checkpointing,
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
    }


def train_split(loaded: Any) -> Any:
    """The ``train`` split of a loaded DatasetDict (or the Dataset itself)."""
    from datasets import DatasetDict

    if isinstance(loaded, DatasetDict):
        if "train" not in loaded:
            raise ValueError(f"the data set has no 'train' split (splits: {list(loaded)})")
        return loaded["train"]
    return loaded


def load_preference_pairs(path: str | Path) -> Any:
    """A preference set folder as a Dataset (prompt, chosen, rejected and optional weight, probability)."""
    folder = Path(path)
    if not folder.exists():
        raise FileNotFoundError(f"preference set {folder} does not exist: export one on the Preferences page")
    from pluralign_core.preferences.export import load_preference_set

    data = train_split(load_preference_set(folder))
    missing = {"prompt", "chosen", "rejected"} - set(data.column_names)
    if missing:
        raise ValueError(f"preference set {folder} lacks columns {sorted(missing)}")
    return data


def load_prompts(path: str | Path) -> Any:
    """A prompt set folder as a Dataset with a ``prompt`` column.

    A preference set folder works too: GRPO then samples answers to its distinct prompts.
    """
    folder = Path(path)
    if not folder.exists():
        raise FileNotFoundError(f"prompt set {folder} does not exist: export one on the Preferences page")
    from pluralign_core.preferences.export import load_prompt_set

    try:
        data = train_split(load_prompt_set(folder))
    except Exception:
        data = load_preference_pairs(folder)
    if "prompt" not in data.column_names:
        raise ValueError(f"prompt set {folder} has no 'prompt' column")
    if "chosen" in data.column_names:
        seen: set[str] = set()
        keep = []
        for index, prompt in enumerate(data["prompt"]):
            text = repr(prompt)
            if text not in seen:
                seen.add(text)
                keep.append(index)
        data = data.select(keep).select_columns(["prompt"])
    return data


def final_metrics(log_history: list[dict[str, Any]]) -> dict[str, float]:
    """Last logged value of each training metric plus the run summary (train_loss, runtime)."""
    metrics: dict[str, float] = {}
    for entry in log_history:
        for key, value in entry.items():
            if isinstance(value, int | float) and key not in ("epoch",):
                metrics[key] = float(value)
    return metrics
