"""Choosing the next token the way ``generate`` does, without paying for the whole vocabulary twice.

``generate`` applies its logits processors (temperature, top-k, top-p, repetition penalty …) to all
49,152 scores of SmolLM2, then draws with ``torch.multinomial`` over all of them. On a 2-core CPU that
costs about 4 ms per token: top-p sorts every score and ``multinomial`` draws one exponential variate per
entry, although top-k has already left only about 50 candidates.

:class:`TokenSampler` uses transformers' own processors, built by ``generate``'s own helpers from the
model's generation config and the caller's settings, so every setting means what it means in
``generate``. It runs them in order on the full scores up to and including top-k; from there on only the
surviving (finite) candidates matter, so the remaining processors run on those alone when each of them is
one that depends only on the scores it is given (top-p, min-p); otherwise they run on the full scores as
usual. The draw is then made among the candidates. The resulting distribution is ``generate``'s, up to
float rounding (the tests compare the two); the draws differ from ``generate``'s for the same seed, but
the same seed always gives the same reply here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LOCAL_PROCESSORS = ("TopPLogitsWarper", "MinPLogitsWarper")
"""Processors whose result on a candidate subset equals their result on the full scores restricted to it,
once every other entry is already ``-inf``."""


class TokenSampler:
    """The next-token rule of ``generate`` for one reply: processors, greedy or sampled, and stop tokens."""

    def __init__(
        self, model: Any, sampling: Mapping[str, Any] | None, prompt_length: int, seed: int = 0
    ) -> None:
        import torch

        self.generation_config, _ = model._prepare_generation_config(None, **dict(sampling or {}))
        self.processors = list(
            model._get_logits_processor(
                generation_config=self.generation_config,
                input_ids_seq_length=prompt_length,
                device="cpu",
            )
        )
        self.do_sample = bool(self.generation_config.do_sample)
        eos = self.generation_config.eos_token_id
        self.eos_ids = frozenset(eos if isinstance(eos, list) else [] if eos is None else [eos])
        self.generator = torch.Generator().manual_seed(int(seed))
        self._split = self._candidate_split()

    def _candidate_split(self) -> int | None:
        """Index just after top-k when every later processor is local; ``None`` when there is none."""
        names = [type(processor).__name__ for processor in self.processors]
        if "TopKLogitsWarper" not in names:
            return None
        after = names.index("TopKLogitsWarper") + 1
        return after if all(name in LOCAL_PROCESSORS for name in names[after:]) else None

    def distribution(self, sequence: Any, logits: Any) -> tuple[Any, Any]:
        """``(candidate token ids, their probabilities)`` for the next token after ``sequence`` (1 × n).

        Tokens left out have probability zero. Greedy decoding gives the single best token.
        """
        import torch

        scores = logits.reshape(1, -1).float()
        full = self.processors if self._split is None else self.processors[: self._split]
        for processor in full:
            scores = processor(sequence, scores)
        if not self.do_sample:
            return torch.argmax(scores, dim=-1), torch.ones(1)
        candidates = torch.isfinite(scores[0]).nonzero().squeeze(1)
        reduced = scores[:, candidates]
        if self._split is not None:
            for processor in self.processors[self._split :]:
                reduced = processor(sequence, reduced)
        kept = torch.isfinite(reduced[0])
        return candidates[kept], torch.softmax(reduced[0, kept], dim=-1)

    def next_token(self, sequence: Any, logits: Any) -> int:
        """Pick the next token id after ``sequence`` given the model's ``logits`` for it."""
        import torch

        candidates, probabilities = self.distribution(sequence, logits)
        if candidates.numel() == 1:
            return int(candidates[0])
        pick = torch.multinomial(probabilities, num_samples=1, generator=self.generator)
        return int(candidates[pick[0]])
