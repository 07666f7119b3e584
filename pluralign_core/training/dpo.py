"""DPO on one group's preference pairs, with an optional per-pair weight and soft label.

trl 1.16's DPOTrainer has no per-example weight (its ``use_weighting`` is WPO's model-probability weighting,
something else). Preference sets built from rater disagreement carry two numbers per pair: ``weight`` (how
much the pair should count) and ``probability`` (the share of the group preferring *chosen*); see
:mod:`pluralign_core.preferences.judgements` for how each mode sets them. With the weighted loss on, the
loss of an optimizer step over pairs ``i`` is the weighted mean

    Σ_i w_i · [ −p_i · log σ(β·Δ_i) − (1 − p_i) · log σ(−β·Δ_i) ]  /  Σ_i w_i

i.e. a weighted, soft-label (conservative) DPO loss; p = 1 and equal weights give plain DPO exactly.

Why divide by Σ w rather than take trl's plain mean of ``w · loss``: with the mean, weights would also
scale the gradient, i.e. the effective learning rate, so soft labels (weights below 1) would train more
slowly than hard ones and the comparison of disagreement modes would confound label and step size. The
sum runs over the whole optimizer step: every micro-batch of a gradient-accumulation step and every
process (:meth:`WeightedDPOTrainer.get_batch_samples`); a loss computed outside training (evaluation, a
direct call) normalises within its batch.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from trl import DPOConfig, DPOTrainer
from trl.trainer import dpo_trainer as _dpo_module
from trl.trainer.dpo_trainer import DataCollatorForPreference

from pluralign_core.training import common
from pluralign_core.training.config import RunConfig
from pluralign_core.training.reference_cache import ReferenceLogpCache, reference_identity, sequence_key

WEIGHT_COLUMNS = ("weight", "probability")
NORMALISER = "weight_normaliser"


def uses_weighted_loss(config: RunConfig, dataset: Any) -> bool:
    """``auto``: on when weights differ between pairs or any probability is below 1."""
    if config.weighted_loss != "auto":
        return config.weighted_loss == "on"
    columns = set(dataset.column_names)
    if "weight" in columns and len({round(float(w), 9) for w in dataset["weight"]}) > 1:
        return True
    return "probability" in columns and any(float(p) != 1.0 for p in dataset["probability"])


@dataclass
class PreferenceCollator(DataCollatorForPreference):
    """trl's preference collator plus prompt truncation (keep the end) and the weight columns."""

    max_prompt_length: int | None = None
    weight_columns: tuple[str, ...] = ()

    def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        if self.max_prompt_length:
            examples = [{**e, "prompt_ids": e["prompt_ids"][-self.max_prompt_length :]} for e in examples]
        batch = super().torch_call(examples)
        for column in self.weight_columns:
            if column in examples[0]:
                batch[column] = torch.tensor([float(e[column]) for e in examples], dtype=torch.float32)
        return batch


class _WeightedFunctional:
    """``torch.nn.functional`` with a ``logsigmoid`` that applies per-pair weights and soft labels."""

    def __init__(self, weight: torch.Tensor | None, probability: torch.Tensor | None) -> None:
        self.weight = weight
        self.probability = probability

    def __getattr__(self, name: str) -> Any:
        return getattr(F, name)

    def logsigmoid(self, x: torch.Tensor) -> torch.Tensor:
        reference = self.weight if self.weight is not None else self.probability
        if reference is None or x.shape != reference.shape:
            return F.logsigmoid(x)
        value = F.logsigmoid(x)
        if self.probability is not None:
            p = self.probability.to(x.dtype)
            value = p * value + (1 - p) * F.logsigmoid(-x)
        if self.weight is not None:
            value = self.weight.to(x.dtype) * value
        return value


class WeightedDPOTrainer(DPOTrainer):
    """DPOTrainer whose sigmoid loss is a ``weight``-ed mean of per-pair losses softened by ``probability``.

    The whole of trl's loss, metrics and reference handling is reused: during one loss computation the
    ``F`` that trl's module uses is swapped for :class:`_WeightedFunctional`, whose ``logsigmoid`` of the
    per-pair score applies the weights, rescaled so that trl's mean over the batch becomes a mean weighted
    by ``weight`` (:func:`normalised_weights`). Only the plain ``sigmoid`` loss with reverse-KL is supported
    (the only ones pluralign configures), which :meth:`__init__` checks.
    """

    def __init__(self, *args: Any, weight_columns: tuple[str, ...] = WEIGHT_COLUMNS, **kwargs: Any) -> None:
        self.weight_columns = weight_columns
        super().__init__(*args, **kwargs)
        if self.loss_types != ["sigmoid"] or self.f_divergence_type != "reverse_kl":
            raise ValueError("the weighted DPO loss supports loss_type='sigmoid' with reverse_kl only")

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        self._signature_columns = [*self._signature_columns, *self.weight_columns]

    def get_batch_samples(self, epoch_iterator: Any, num_batches: int, device: Any) -> tuple[list, Any]:
        """The micro-batches of one optimizer step, each told the mean weight that normalises it.

        The Trainer divides each micro-batch's loss by their number ``G`` and averages gradients over ``P``
        processes, so dividing micro-batch ``b``'s weights by ``W / (G·P·B_b)`` (``W``: the step's summed
        weight over all processes, ``B_b``: the batch's pairs) makes the step's gradient that of
        ``Σ w·loss / W``, however the weight is spread over micro-batches.
        """
        batches, num_items = super().get_batch_samples(epoch_iterator, num_batches, device)
        if not batches or any("weight" not in batch for batch in batches):
            return batches, num_items
        summed = torch.stack([batch["weight"].sum() for batch in batches]).sum().reshape(1)
        total = float(self.accelerator.gather(summed.to(device)).sum())
        share = self.accelerator.num_processes * len(batches)
        for batch in batches:
            batch[NORMALISER] = torch.tensor(total / (share * len(batch["weight"])))
        return batches, num_items

    def _compute_loss(self, model, inputs, return_outputs):
        weight = inputs.pop("weight", None)
        probability = inputs.pop("probability", None)
        normaliser = inputs.pop(NORMALISER, None)
        if weight is None and probability is None:
            return super()._compute_loss(model, inputs, return_outputs)
        if weight is not None:
            weight = normalised_weights(weight, normaliser)
        with _patched_functional(_WeightedFunctional(weight, probability)):
            return super()._compute_loss(model, inputs, return_outputs)


class CachedReferenceMixin:
    """DPO trainer part that takes the reference log-probs from a :class:`ReferenceLogpCache`.

    trl's ``precompute_ref_log_probs`` computes every pair's reference log-probs before training (and its
    training steps then skip the reference forward); this override looks each (prompt, answer) sequence up
    in the cache first and runs the reference model only on the pairs with a sequence not seen before, with
    trl's own :meth:`compute_ref_log_probs`. Values are identical to trl's up to the rounding of a different
    batch padding (about 1e-6 in float32).
    """

    def __init__(
        self,
        *args: Any,
        reference_cache: ReferenceLogpCache | None = None,
        cache_prompt_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        # set before trl's __init__, which computes the reference log-probs
        self.reference_cache = reference_cache
        self.cache_prompt_length = cache_prompt_length
        super().__init__(*args, **kwargs)

    def _precompute_ref_logps(self, dataset: Any, name: str, batch_size: int) -> Any:
        cache = self.reference_cache
        if cache is None:
            return super()._precompute_ref_logps(dataset, name, batch_size)  # type: ignore[misc]
        keep = self.cache_prompt_length
        prompts = [list(p[-keep:]) if keep else list(p) for p in dataset["prompt_ids"]]
        chosen = [sequence_key(p, c) for p, c in zip(prompts, dataset["chosen_ids"], strict=True)]
        rejected = [sequence_key(p, r) for p, r in zip(prompts, dataset["rejected_ids"], strict=True)]
        cache.count([*chosen, *rejected])
        missing = [
            i
            for i, (c, r) in enumerate(zip(chosen, rejected, strict=True))
            if c not in cache or r not in cache
        ]
        if missing:
            keys = [key for i in missing for key in (chosen[i], rejected[i])]
            values = self._reference_logps(dataset.select(missing), batch_size)
            cache.update(zip(keys, values, strict=True))
            if self.accelerator.is_main_process:
                cache.save()
        dataset = dataset.add_column("ref_chosen_logps", [cache[k] for k in chosen])
        return dataset.add_column("ref_rejected_logps", [cache[k] for k in rejected])

    def _reference_logps(self, subset: Any, batch_size: int) -> list[float]:
        """The reference model's summed log-probs of ``subset``'s answers: chosen, rejected, pair by pair."""
        from torch.utils.data import DataLoader

        subset = subset.select_columns(["prompt_ids", "chosen_ids", "rejected_ids"])
        loader = self.accelerator.prepare(
            DataLoader(subset, batch_size=batch_size, collate_fn=self.data_collator, shuffle=False)
        )
        model = self.ref_model or self.model
        values: list[float] = []
        for batch in loader:
            chosen_logps, rejected_logps = self.compute_ref_log_probs(model, batch)
            chosen_logps, rejected_logps = self.accelerator.gather_for_metrics((chosen_logps, rejected_logps))
            for c, r in zip(chosen_logps.tolist(), rejected_logps.tolist(), strict=True):
                values.extend((c, r))
        return values


class CachedReferenceDPOTrainer(CachedReferenceMixin, DPOTrainer):
    """:class:`DPOTrainer` with reference log-probs from the cache."""


class CachedReferenceWeightedDPOTrainer(CachedReferenceMixin, WeightedDPOTrainer):
    """:class:`WeightedDPOTrainer` with reference log-probs from the cache."""


def trainer_class(weighted: bool, cached: bool) -> type[DPOTrainer]:
    if cached:
        return CachedReferenceWeightedDPOTrainer if weighted else CachedReferenceDPOTrainer
    return WeightedDPOTrainer if weighted else DPOTrainer


def reference_cache_for(config: RunConfig, args: DPOConfig) -> ReferenceLogpCache:
    """The cache of this run's reference: its weights and everything that changes a sequence's log-prob."""
    import torch

    identity = reference_identity(
        config.base_model,
        max_length=config.max_length,
        truncation_mode=args.truncation_mode,
        precision=common.resolve_precision(config.precision),
        ld_alpha=args.ld_alpha,
        torch=torch.__version__,
    )
    return ReferenceLogpCache(identity)


def normalised_weights(weight: torch.Tensor, normaliser: torch.Tensor | float | None = None) -> torch.Tensor:
    """``weight`` divided by the mean weight of its optimizer step (``normaliser``), or of its batch.

    trl averages the per-pair losses, so weights with mean 1 make that average ``Σ w·loss / Σ w``. A batch
    whose weights sum to 0 stays all 0: it has nothing to teach.
    """
    mean = weight.float().mean() if normaliser is None else torch.as_tensor(normaliser, dtype=torch.float32)
    mean = mean.to(weight.device)
    return torch.where(mean > 0, weight / mean.clamp_min(torch.finfo(torch.float32).tiny), weight * 0)


@contextlib.contextmanager
def _patched_functional(functional: _WeightedFunctional):
    original = _dpo_module.F
    _dpo_module.F = functional
    try:
        yield
    finally:
        _dpo_module.F = original


def build_trainer(
    config: RunConfig, run_dir: Path, callbacks: list[Any] | None = None, dataset: Any = None
) -> DPOTrainer:
    """Seed → model → data → trainer (not yet trained)."""
    common.seed_everything(config.seed)
    model, tokenizer = common.load_base(config)
    data = dataset if dataset is not None else common.load_preference_pairs(config.preference_set)
    weighted = uses_weighted_loss(config, data)
    weight_columns = tuple(c for c in WEIGHT_COLUMNS if c in data.column_names) if weighted else ()
    keep = {"prompt", "chosen", "rejected", *weight_columns}
    data = data.remove_columns([c for c in data.column_names if c not in keep])
    args = DPOConfig(
        **common.trainer_arguments(config, run_dir),
        max_length=config.max_length,
        loss_type=["sigmoid"],
        precompute_ref_log_probs=config.cache_reference_logps,
    )
    pad_token = tokenizer.pad_token or tokenizer.eos_token
    collator = PreferenceCollator(
        pad_token_id=tokenizer.convert_tokens_to_ids(pad_token),
        max_length=config.max_length,
        truncation_mode=args.truncation_mode,
        max_prompt_length=config.max_prompt_length,
        weight_columns=weight_columns,
    )
    extra: dict[str, Any] = {"weight_columns": weight_columns} if weighted else {}
    if config.cache_reference_logps:
        extra.update(
            reference_cache=reference_cache_for(config, args), cache_prompt_length=config.max_prompt_length
        )
    trainer = trainer_class(weighted, config.cache_reference_logps)(
        model=model,
        args=args,
        train_dataset=data,
        processing_class=tokenizer,
        data_collator=collator,
        peft_config=common.lora_config(config, model),
        callbacks=callbacks,
        **extra,
    )
    common.map_policy_forward_allocations(trainer.model)
    return trainer


def train(config: RunConfig, run_dir: Path, callbacks: list[Any] | None = None) -> tuple[Any, dict[str, Any]]:
    """Train and return the trainer and facts for the model card (weighted loss on or off)."""
    trainer = build_trainer(config, run_dir, callbacks)
    trainer.train(resume_from_checkpoint=config.resume_from_checkpoint or None)
    facts: dict[str, Any] = {"weighted_loss": isinstance(trainer, WeightedDPOTrainer)}
    cache = getattr(trainer, "reference_cache", None)
    if cache is not None:
        facts["reference_logps_cached"] = {"hits": cache.hits, "misses": cache.misses}
    return trainer, facts
