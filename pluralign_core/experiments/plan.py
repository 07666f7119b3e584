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

    @property
    def trains(self) -> bool:
        return self.family != "base"

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
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("run", "evaluation")}


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
    values = store.query(
        "SELECT DISTINCT attribute, value FROM rater_attributes WHERE dataset_id = ?", [dataset_id]
    )
    present = set(zip(values.attribute, values.value, strict=True))
    resolved = dataclasses.replace(config, dataset_id=dataset_id)
    return GridPlan(resolved, plan_cells(resolved, dataset_id, dimensions, present))


def _group_selection(name: str, present: set[tuple[str, str]] | None) -> dict[str, Any] | None:
    filters = GROUPS[name]
    if present is not None:
        filters = {a: tuple(v for v in vs if (a, v) in present) for a, vs in filters.items()}
        if not all(filters.values()):
            return None
    return RaterSelection(filters).to_dict()


def _run_settings(config: GridConfig) -> dict[str, dict[str, Any]]:
    """Each optimizer's run settings: the shared template, with the algorithm and its step count set.

    Every run checkpoints halfway so that an interrupted cell resumes instead of starting over.
    """
    template = dataclasses.asdict(config.training)
    template.update(preference_set="", prompt_set="", reward_models=[], reward_weights=[])
    steps = config.training.max_steps
    dpo = dict(template, algorithm="dpo", save_steps=max(1, steps // 2))
    grpo = dict(
        template,
        algorithm="grpo",
        max_steps=config.grpo_max_steps,
        per_device_train_batch_size=config.training.num_generations,
        save_steps=max(1, config.grpo_max_steps // 2),
    )
    return {"dpo": dpo, "grpo": grpo}


def plan_cells(
    config: GridConfig,
    dataset_id: str = "",
    dimensions: list[str] | None = None,
    present_values: set[tuple[str, str]] | None = None,
) -> list[GridCell]:
    """The cells of a grid, in execution order; ``present_values`` drops groups absent from the data."""
    dataset_id = dataset_id or config.dataset_id
    dimensions = list(dimensions or DEFAULT_DIMENSIONS)
    everyone = RaterSelection.everyone().to_dict()
    evaluation = dict(
        dataclasses.asdict(config.evaluation),
        dataset_id=dataset_id,
        base_model=config.training.base_model,
        model_id="base",
        reward_model_ids=[],
    )
    runs = _run_settings(config)

    def cell(
        cell_id: str,
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
        run = dict(runs[optimizer], name=cell_id) if family != "base" else {}
        return GridCell(
            cell_id,
            label,
            family,
            optimizer,
            disagreement,
            scale,
            objective,
            group,
            selection,
            list(dims),
            run,
            dict(evaluation, name=label),
        )

    cells = [cell("base", "Base model", "base", "none", "none", "none", "none", "none", everyone, [])]
    first_disagreement = config.disagreements[0] if config.disagreements else "preserve"
    first_scale = config.scales[0] if config.scales else "5-point"
    if "dpo" in config.optimizers:
        for disagreement in config.disagreements or [first_disagreement]:
            for scale in config.scales or [first_scale]:
                cells.append(
                    cell(
                        f"dpo-{disagreement}-{scale}-multi-all",
                        f"DPO · {disagreement} · {scale} · all dimensions",
                        "design",
                        "dpo",
                        disagreement,
                        scale,
                        "multi",
                        "all raters",
                        everyone,
                        dimensions,
                    )
                )
    if "grpo" in config.optimizers:
        cells.append(
            cell(
                "grpo-mean-5-point-multi-all",
                "GRPO · group reward models · all dimensions",
                "design",
                "grpo",
                "mean rating",
                "5-point",
                "multi",
                "all raters",
                everyone,
                dimensions,
            )
        )
    optimizer = "dpo" if "dpo" in config.optimizers else "grpo"
    disagreement = first_disagreement if optimizer == "dpo" else "mean rating"
    scale = first_scale if optimizer == "dpo" else "5-point"
    prefix = f"{optimizer}-{disagreement.replace(' ', '-')}-{scale}"
    if "single" in config.objectives:
        if config.single_dimension not in dimensions:
            raise ValueError(
                f"single_dimension {config.single_dimension!r} is not a dimension of the dataset "
                f"({dimensions})"
            )
        cells.append(
            cell(
                f"{prefix}-single-all",
                f"{optimizer.upper()} · {config.single_dimension} only",
                "objective",
                optimizer,
                disagreement,
                scale,
                "single",
                "all raters",
                everyone,
                [config.single_dimension],
            )
        )
    for group in config.groups:
        selection = _group_selection(group, present_values)
        if selection is None:
            continue
        cells.append(
            cell(
                f"{prefix}-multi-{group}",
                f"{optimizer.upper()} · tuned on {group}",
                "group",
                optimizer,
                disagreement,
                scale,
                "multi",
                group,
                selection,
                dimensions,
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
