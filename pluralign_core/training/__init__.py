"""Fine-tuning with DPO or GRPO and LoRA, as separate processes that write into their run folder."""

from pluralign_core.training.config import RunConfig

__all__ = ["RunConfig"]
