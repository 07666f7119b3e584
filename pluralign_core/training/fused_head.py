"""trl's fused log-prob head on the CPU: small tiles, and only the positions that have a label.

trl 1.16 computes the per-token log-probs of DPO and GRPO with a fused LM head
(``trl.trainer.utils.add_fused_lm_head``): the vocabulary projection runs in tiles and is folded into
log-probs without materialising ``[tokens × vocab]`` logits. Two of its CPU defaults cost pluralign's runs:

* tiles of ``[4096 tokens × 32768 vocab]``: on GPUs a Triton kernel folds each tile in place; on the CPU the
  fallback is plain torch ops, each making a tile-sized temporary (0.5 GB apiece in float32), which took a
  SmolLM2 DPO step at batch 4 × 256 tokens to 4.5 GB peak RSS. :func:`shrink_logprob_tiles` uses small
  tiles: the same arithmetic with a small fraction of the memory.
* on devices without Triton every position is projected, prompt and padding included, so that the tile
  shapes stay fixed (a compiler such as Neuron's would otherwise recompile on every batch); the positions
  without a label are zeroed afterwards. On the CPU nothing is compiled, and the projection (forward, the
  backward's recomputation and its gradient: three products with SmolLM2's 49,152 × 576 head per token)
  is a large share of a step. In the demo preset a row holds up to 48 prompt tokens and 24 answer tokens:
  :func:`project_labelled_positions_only` makes the CPU take trl's own GPU path of gathering the labelled
  positions first, which gives the same log-probs (tests/training/test_fused_head.py).

Both patch private names of trl 1.16 read at call time; if a later trl renames them, nothing changes.
"""

from __future__ import annotations

from typing import Any


def shrink_logprob_tiles(tokens: int = 1024, vocab: int = 8192) -> None:
    """Use ``[tokens × vocab]`` tiles in trl's fused log-prob head."""
    from trl.kernels import chunked_logprob
    from trl.trainer import utils as trl_utils

    if hasattr(trl_utils, "_CHUNKED_LOGPROB_CHUNK_SIZE"):
        trl_utils._CHUNKED_LOGPROB_CHUNK_SIZE = vocab
    if hasattr(chunked_logprob, "TOKEN_CHUNK_SIZE"):
        chunked_logprob.TOKEN_CHUNK_SIZE = tokens


def _compacting(original: Any) -> Any:
    def compact_positions(device: Any) -> bool:
        return device.type == "cpu" or bool(original(device))

    compact_positions.pluralign_original = original  # type: ignore[attr-defined]
    return compact_positions


def project_labelled_positions_only(enabled: bool = True) -> None:
    """Project only the positions with a label on the CPU (``enabled``), or every position as trl does.

    trl's fused forward asks ``_use_triton(device)`` whether to gather the labelled positions before the
    projection; that answer is changed for the CPU in ``trl.trainer.utils`` only. The kernel module keeps its
    own ``_use_triton``, so the tiles are still computed with torch ops, not Triton.
    """
    from trl.trainer import utils as trl_utils

    current = getattr(trl_utils, "_use_triton", None)
    if current is None:
        return
    original = getattr(current, "pluralign_original", current)
    trl_utils._use_triton = _compacting(original) if enabled else original


def fit_to_cpu() -> None:
    """Both CPU settings above, as a CPU training run uses them."""
    shrink_logprob_tiles()
    project_labelled_positions_only()
