"""The grid's cells: one planner that the CLI's dry run, the Trade-offs page's preview and the runner share.

The paper's results are comparisons, so the grid plans one *cell* per design choice on the active dataset:

* **design**: disagreement handling (preserve the raters' split as soft labels / weights, or majority
  vote) × rating scale (5-point, or binarised) with DPO, plus GRPO (which learns from the group reward
  models, fitted to the raters' mean ratings, so the disagreement and scale axes do not apply to it);
* **objective**: single-objective (toxicity only) next to the multi-objective (all dimensions) DPO cell;
* **group**: DPO on one group's preferences (women / men, liberal / conservative, US / DE);
* **base**: the untuned base model, the reference every relative change is measured against.

:func:`plan_grid` reads what the dataset holds (its dimensions, the rater attribute values present) and
drops the groups it lacks; everything that shows a plan calls it, so a preview counts exactly the cells the
grid will run. :func:`plan_cells` is the pure part, for tests and for data already read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pluralign_core.experiments.grid_config import GROUPS, GridConfig
from pluralign_core.experiments.unaligned_start import (
    MODEL_DIR,
    TEACHING_LABEL,
    UnalignedStartConfig,
    start_folder,
)
from pluralign_core.store.database import Store
from pluralign_core.store.selection import RaterSelection

DEFAULT_DIMENSIONS = ("toxicity", "emotional_awareness", "sensitivity", "stereotypical_bias", "helpfulness")


@dataclass
class GridCell:
    """One planned experiment: what data, how to train, how to evaluate, and which design choices it is."""

    cell_id: str
    label: str
    family: str
    optimizer: str
    disagreement: str
    scale: str
    objective: str
    group: str
    selection: dict[str, Any]
    dimensions: list[str]
    run: dict[str, Any]
    evaluation: dict[str, Any]
    seed: int = 0
    design_id: str = ""

    @property
    def trains(self) -> bool:
        return self.family != "base"

    @property
    def design(self) -> str:
        """The cell's id without its seed: the runs of one design choice over several seeds share it."""
        return self.design_id or self.cell_id

    def preference_spec(self, dataset_id: str) -> dict[str, Any]:
        """What the preference builder needs (also written as the preference set's config facts)."""
        return {
            "dataset_id": dataset_id,
            "selection": self.selection,
            "dimensions": self.dimensions,
            "scale": self.scale,
            "disagreement": self.disagreement,
        }

    def facts(self) -> dict[str, Any]:
        facts = {k: v for k, v in dataclasses.asdict(self).items() if k not in ("run", "evaluation")}
        facts["design_id"] = self.design
        return facts


def cell_from_state(entry: dict[str, Any]) -> GridCell:
    """A cell back from its grid.json entry (which also holds its state, ids and timings)."""
    known = {f.name for f in dataclasses.fields(GridCell)}
    return GridCell(**{k: v for k, v in entry.items() if k in known})


@dataclass
class GridPlan:
    """A config with its dataset resolved, and the cells it runs on that dataset, in execution order."""

    config: GridConfig
    cells: list[GridCell]

    @property
    def training_runs(self) -> int:
        return sum(c.trains for c in self.cells)

    @property
    def cell_ids(self) -> list[str]:
        return [c.cell_id for c in self.cells]


def plan_grid(store: Store, config: GridConfig) -> GridPlan:
    """Plan ``config`` on its dataset (empty = the active one) as the grid will run it."""
    dataset_id = config.dataset_id or store.active_dataset()
    if not dataset_id:
        raise ValueError("the store has no dataset: run `pluralign init` or import data first")
    if not store.has_dataset(dataset_id):
        raise KeyError(f"no dataset {dataset_id!r}; run `pluralign datasets` to list them")
    dimensions = [d.name for d in store.dimensions(dataset_id)]
    present = _present_values(store, dataset_id)
    heldout = store.query(
        "SELECT count(*) AS n FROM prompts WHERE dataset_id = ? AND split = 'heldout'", [dataset_id]
    ).n.iloc[0]
    if not heldout:
        raise ValueError(
            f"dataset {dataset_id!r} has no held-out prompts, so no cell could be evaluated: mark some "
            "prompts as split 'heldout' when importing (or let the import wizard split them)"
        )
    missing = [g for g in config.groups if _group_selection(g, present) is None]
    if missing:
        raise ValueError(
            f"dataset {dataset_id!r} has no raters of group(s) {missing} "
            f"({'; '.join(f'{g}: {dict(GROUPS[g])}' for g in missing)}); remove them from the grid's groups "
            f"(`pluralign grid --groups {','.join(available_groups(store, dataset_id, config.groups))}`)"
        )
    resolved = dataclasses.replace(config, dataset_id=dataset_id)
    return GridPlan(resolved, plan_cells(resolved, dataset_id, dimensions, present))


def _present_values(store: Store, dataset_id: str) -> set[tuple[str, str]]:
    values = store.query(
        "SELECT DISTINCT attribute, value FROM rater_attributes WHERE dataset_id = ?", [dataset_id]
    )
    return set(zip(values.attribute, values.value, strict=True))


def available_groups(store: Store, dataset_id: str, names: list[str] | None = None) -> list[str]:
    """Those of ``names`` (default: every named group) that have raters in the dataset, in order."""
    present = _present_values(store, dataset_id)
    return [g for g in (names if names is not None else list(GROUPS)) if _group_selection(g, present)]


def start_model(config: GridConfig, dataset_id: str) -> str:
    """The model every cell tunes from: the instruct model, or the folder of the unaligned start.

    The unaligned start's recipe is the shared default (:class:`UnalignedStartConfig`), so a grid and
    ``pluralign demo`` on one dataset build it once; the grid builds it before its first cell.
    """
    if config.start != "unaligned":
        return config.training.base_model
    return str(start_folder(start_config(config, dataset_id)) / MODEL_DIR)


def start_config(config: GridConfig, dataset_id: str) -> UnalignedStartConfig:
    return UnalignedStartConfig(
        dataset_id=dataset_id, dimension=config.single_dimension, base_model=config.training.base_model
    )


def _group_selection(name: str, present: set[tuple[str, str]] | None) -> dict[str, Any] | None:
    filters = GROUPS[name]
    if present is not None:
        filters = {a: tuple(v for v in vs if (a, v) in present) for a, vs in filters.items()}
        if not all(filters.values()):
            return None
    return RaterSelection(filters).to_dict()


def _run_settings(config: GridConfig, base_model: str) -> dict[str, dict[str, Any]]:
    """Each optimizer's run settings: the shared template, with the algorithm and its step count set.

    Every run tunes ``base_model`` (the grid's start, also DPO's reference) and checkpoints halfway so that
    an interrupted cell resumes instead of starting over. GRPO gets :attr:`GridConfig.grpo_steps` steps of
    :attr:`GridConfig.grpo_batch` sampled answers (budget-matched to DPO unless ``grpo_max_steps`` is set).
    """
    template = dataclasses.asdict(config.training)
    template.update(
        preference_set="", prompt_set="", reward_models=[], reward_weights=[], base_model=base_model
    )
    steps = config.training.max_steps
    dpo = dict(template, algorithm="dpo", save_steps=max(1, steps // 2))
    grpo = dict(
        template,
        algorithm="grpo",
        max_steps=config.grpo_steps,
        per_device_train_batch_size=config.grpo_batch,
        save_steps=max(1, config.grpo_steps // 2),
    )
    return {"dpo": dpo, "grpo": grpo}


def plan_cells(
    config: GridConfig,
    dataset_id: str = "",
    dimensions: list[str] | None = None,
    present_values: set[tuple[str, str]] | None = None,
) -> list[GridCell]:
    """The cells of a grid, in execution order; ``present_values`` drops groups absent from the data.

    The base cell (the grid's start, every reduction's reference) comes first, then every tuned cell for
    the first seed, then for the next: a grid stopped early still holds complete comparisons.
    """
    dataset_id = dataset_id or config.dataset_id
    dimensions = list(dimensions or DEFAULT_DIMENSIONS)
    single_needed = "single" in config.objectives or config.design_objective == "single"
    if single_needed and config.single_dimension not in dimensions:
        raise ValueError(
            f"single_dimension {config.single_dimension!r} is not a dimension of the dataset ({dimensions})"
        )
    design_objective = "single" if len(dimensions) == 1 else config.design_objective
    design_dimensions = [config.single_dimension] if design_objective == "single" else dimensions
    base_model = start_model(config, dataset_id)
    everyone = RaterSelection.everyone().to_dict()
    evaluation = dict(
        dataclasses.asdict(config.evaluation),
        dataset_id=dataset_id,
        base_model=base_model,
        model_id="base",
        reward_model_ids=[],
    )
    runs = _run_settings(config, base_model)
    seeds = config.run_seeds

    def design(
        design_id: str,
        label: str,
        family: str,
        optimizer: str,
        disagreement: str,
        scale: str,
        objective: str,
        group: str,
        selection: dict[str, Any],
        dims: list[str],
    ) -> GridCell:
        """A design choice as a cell template; each seed's cell is a copy with its id, seed and run."""
        return GridCell(
            design_id, label, family, optimizer, disagreement, scale, objective, group, selection, list(dims),
            dict(runs[optimizer]) if family != "base" else {}, dict(evaluation, name=label),
            design_id=design_id,
        )  # fmt: skip

    first_disagreement = config.disagreements[0] if config.disagreements else "preserve"
    first_scale = config.scales[0] if config.scales else "5-point"
    what = "all dimensions" if design_objective == "multi" else f"{design_dimensions[0]} only"
    designs: list[GridCell] = []
    if "dpo" in config.optimizers:
        for disagreement in config.disagreements or [first_disagreement]:
            for scale in config.scales or [first_scale]:
                designs.append(
                    design(
                        f"dpo-{disagreement}-{scale}-{design_objective}-all",
                        f"DPO · {disagreement} · {scale} · {what}",
                        "design", "dpo", disagreement, scale, design_objective, "all raters", everyone,
                        design_dimensions,
                    )
                )  # fmt: skip
    if "grpo" in config.optimizers:
        designs.append(
            design(
                f"grpo-mean-5-point-{design_objective}-all", f"GRPO · group reward models · {what}",
                "design", "grpo", "mean rating", "5-point", design_objective, "all raters", everyone,
                design_dimensions,
            )
        )  # fmt: skip
    optimizer = "dpo" if "dpo" in config.optimizers else "grpo"
    disagreement = first_disagreement if optimizer == "dpo" else "mean rating"
    scale = first_scale if optimizer == "dpo" else "5-point"
    prefix = f"{optimizer}-{disagreement.replace(' ', '-')}-{scale}"
    if design_objective == "multi" and "single" in config.objectives:
        designs.append(
            design(
                f"{prefix}-single-all", f"{optimizer.upper()} · {config.single_dimension} only",
                "objective", optimizer, disagreement, scale, "single", "all raters", everyone,
                [config.single_dimension],
            )
        )  # fmt: skip
    if design_objective == "single" and "multi" in config.objectives and len(dimensions) > 1:
        designs.append(
            design(
                f"{prefix}-multi-all", f"{optimizer.upper()} · all dimensions",
                "objective", optimizer, disagreement, scale, "multi", "all raters", everyone, dimensions,
            )
        )  # fmt: skip
    for group in config.groups:
        selection = _group_selection(group, present_values)
        if selection is not None:
            designs.append(
                design(
                    f"{prefix}-{design_objective}-{group}", f"{optimizer.upper()} · tuned on {group}",
                    "group", optimizer, disagreement, scale, design_objective, group, selection,
                    design_dimensions,
                )
            )  # fmt: skip

    start_label = f"Unaligned start ({TEACHING_LABEL})" if config.start == "unaligned" else "Base model"
    base = design("base", start_label, "base", "none", "none", "none", "none", "none", everyone, [])
    cells = [dataclasses.replace(base, seed=seeds[0])]
    for seed in seeds:
        for template in designs:
            several = len(seeds) > 1
            cell_id = f"{template.cell_id}-seed{seed}" if several else template.cell_id
            label = f"{template.label} · seed {seed}" if several else template.label
            cells.append(
                dataclasses.replace(
                    template,
                    cell_id=cell_id,
                    label=label,
                    run=dict(template.run, name=cell_id, seed=seed),
                    evaluation=dict(template.evaluation, name=label),
                    seed=seed,
                )
            )
    return cells


def reward_groups(cells: list[GridCell]) -> dict[str, dict[str, Any]]:
    """The rater selections whose reward models the evaluations need (everyone + each tuned group)."""
    groups: dict[str, dict[str, Any]] = {"all raters": RaterSelection.everyone().to_dict()}
    for cell in cells:
        if cell.family == "group":
            groups[cell.group] = cell.selection
    return groups


def describe_plan(cells: list[GridCell]) -> str:
    """The plan as a fixed-width table (the CLI's dry run)."""
    lines = [
        f"{'cell':<40} {'family':<9} {'optimizer':<9} {'disagreement':<12} {'scale':<8} "
        f"{'objective':<9} group"
    ]
    for c in cells:
        lines.append(
            f"{c.cell_id:<40} {c.family:<9} {c.optimizer:<9} {c.disagreement:<12} {c.scale:<8} "
            f"{c.objective:<9} {c.group}"
        )
    return "\n".join(lines)
