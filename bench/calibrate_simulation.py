"""Calibrate the simulated population so that the default dataset recovers the published headline effects.

Each headline (see :mod:`pluralign_core.analysis.headlines`) has *knobs*: the effect values in
``data/simulation.yaml`` that drive it (men's toxicity shift; the political-leaning EA shifts, scaled
together; the Black EA shift). The script simulates ``--seeds`` default-size datasets (seeds 1..N),
writes each into a temporary store, measures the headlines with the same SQL the app uses, and moves
each headline's knobs by a common factor (secant steps on that factor) until the *mean* effect over
those datasets is within ``--tolerance`` percentage points of the published one: the population is
calibrated, not one lucky sample. (Averaging many small datasets rather than one huge one also
averages over the per-response effects, which are redrawn with every seed.) The simulator draws the
population and the noise from streams that do not depend on effect sizes, so each step changes only
the effects.

A dataset of 1,095 raters scatters around the population (about 90 Black raters carry the Black vs
White effect), so the script then simulates ``--candidates`` default-size datasets (seeds 1..M),
reports how often each headline lands within ±3 points, and picks as default the seed whose worst
headline gap is smallest: a typical draw from the calibrated population.

With ``--write`` the calibrated values and that seed are written back into the YAML *in place*, line
by line, so the file's comments and layout survive. Re-run it whenever the embedded items change.

Finally it reports how much groups disagree in the default dataset: the expected flip shares (same-prompt
answer pairs whose preferred direction differs between women and men, and between liberal and
conservative raters, from the model's expected ratings; see
:mod:`pluralign_core.ratings.simulation_expectations`) per dimension, and the mean pair agreement of the
preference sets built from the sampled ratings. ``--report`` skips the calibration and reports the config
as it is (headline spread over the candidate seeds included).

Run: ``python -m bench.calibrate_simulation [--write | --report]``.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from pluralign_core.analysis.headlines import HEADLINES, measure_headlines
from pluralign_core.preferences.build import build_preferences
from pluralign_core.preferences.config import DISAGREEMENT, PreferenceConfig
from pluralign_core.ratings.simulate import DEFAULT_CONFIG_PATH, SimulationConfig, simulate
from pluralign_core.ratings.simulation_config import DIMENSION_NAMES
from pluralign_core.ratings.simulation_expectations import expected_flip_shares
from pluralign_core.store.database import Store

Knob = tuple[str, str, str]  # (attribute, dimension, value) under model.effects


@dataclass(frozen=True)
class HeadlineKnobs:
    headline: str
    knobs: tuple[Knob, ...]


def knobs_for(config: SimulationConfig) -> list[HeadlineKnobs]:
    """The effect values behind each headline (all non-zero leaning EA shifts move together)."""
    leaning = config.effects.get("political_leaning", {}).get("emotional_awareness", {})
    return [
        HeadlineKnobs(HEADLINES[0].name, (("gender", "toxicity", "man"),)),
        HeadlineKnobs(
            HEADLINES[1].name,
            tuple(("political_leaning", "emotional_awareness", v) for v, x in leaning.items() if x),
        ),
        HeadlineKnobs(HEADLINES[2].name, (("race", "emotional_awareness", "Black"),)),
    ]


def scaled(config: SimulationConfig, groups: list[HeadlineKnobs], factors: list[float]) -> SimulationConfig:
    effects = copy.deepcopy(config.effects)
    for group, factor in zip(groups, factors, strict=True):
        for attribute, dimension, value in group.knobs:
            effects[attribute][dimension][value] = round(
                config.effects[attribute][dimension][value] * factor, 4
            )
    data = config.to_dict()
    data["model"]["effects"] = effects
    return SimulationConfig.from_dict(data)


def measure(config: SimulationConfig, store: Store, dataset_id: str = "calibration") -> pd.DataFrame:
    store.write_dataset(simulate(config, dataset_id=dataset_id), replace=True)
    return measure_headlines(store, dataset_id)


def measure_mean(config: SimulationConfig, store: Store, seeds: list[int]) -> pd.DataFrame:
    """Headlines averaged over ``seeds``: the population's effects rather than one sample's."""
    tables = [measure(config.with_overrides(seed=seed), store) for seed in seeds]
    table = tables[0].copy()
    table["measured_pct"] = sum(t["measured_pct"] for t in tables) / len(tables)
    table["difference_pts"] = table["measured_pct"] - table["published_pct"]
    return table


def calibrate(
    config: SimulationConfig,
    store: Store,
    seeds: list[int],
    *,
    tolerance: float = 0.15,
    max_steps: int = 25,
) -> tuple[SimulationConfig, pd.DataFrame]:
    """Secant steps on one factor per headline until the mean over ``seeds`` is within ``tolerance``."""
    groups = knobs_for(config)
    factors = [1.0] * len(groups)
    history: list[list[tuple[float, float]]] = [[] for _ in groups]
    current = config
    for step in range(max_steps):
        current = scaled(config, groups, factors)
        table = measure_mean(current, store, seeds)
        gaps = table["difference_pts"].to_numpy()
        print(f"step {step}: " + "  ".join(f"{m:+.2f}%" for m in table["measured_pct"]), file=sys.stderr)
        if max(abs(gaps)) <= tolerance:
            return current, table
        for i, row in enumerate(table.itertuples()):
            history[i].append((factors[i], row.measured_pct))
            if abs(row.difference_pts) <= tolerance:
                continue
            if len(history[i]) >= 2 and history[i][-1][1] != history[i][-2][1]:
                (f0, m0), (f1, m1) = history[i][-2], history[i][-1]
                proposal = f1 + (row.published_pct - m1) * (f1 - f0) / (m1 - m0)
            else:
                proposal = factors[i] * row.published_pct / row.measured_pct
            factors[i] = min(max(proposal, factors[i] * 0.5), factors[i] * 2.0)
    raise RuntimeError(f"calibration did not converge in {max_steps} steps:\n{table.to_string()}")


def seed_spread(config: SimulationConfig, store: Store, seeds: list[int]) -> pd.DataFrame:
    """Per seed, each headline's measured minus published percent (points)."""
    rows = []
    for seed in seeds:
        table = measure(config.with_overrides(seed=seed), store)
        rows.append({"seed": seed, **dict(zip(table["name"], table["difference_pts"], strict=True))})
    return pd.DataFrame(rows).set_index("seed")


def disagreement_report(config: SimulationConfig, store: Store) -> str:
    """Expected flip shares per dimension and the built preference sets' mean pair agreement."""
    flips = pd.DataFrame(
        {
            dimension: expected_flip_shares(config, dimensions={dimension: 1.0}).set_index("contrast")[
                "flip_share"
            ]
            for dimension in DIMENSION_NAMES
        }
    )
    lines = [
        f"expected flip shares (seed {config.seed}; share of same-prompt answer pairs whose two groups "
        "prefer opposite answers, from expected ratings):",
        (100 * flips).round(1).to_string(),
    ]
    store.write_dataset(simulate(config, dataset_id="disagreement"), replace=True)
    rows = []
    for dimension in ("toxicity", "emotional_awareness"):
        for mode in DISAGREEMENT:
            stats = build_preferences(
                store, PreferenceConfig("disagreement", dimensions={dimension: 1.0}, disagreement=mode)
            ).stats
            rows.append(
                {"dimension": dimension, "disagreement": mode, "mean_agreement": stats["mean_agreement"]}
            )
    table = pd.DataFrame(rows).pivot(index="dimension", columns="disagreement", values="mean_agreement")
    lines += ["mean pair agreement of the built preference sets (1 = unanimous, 0.5 = evenly split):"]
    lines.append(table.round(3).to_string())
    return "\n".join(lines)


# ------------------------------------------------------------------ in-place YAML edits
_LINE = re.compile(r'^(?P<indent> *)(?P<key>"[^"]*"|[^\s#"][^:#]*?):(?P<rest>.*)$')


def set_yaml_number(text: str, path: tuple[str, ...], value: float) -> str:
    """Replace the number at ``path`` (block-style mapping keys) in YAML ``text``, keeping comments."""
    lines = text.splitlines(keepends=True)
    stack: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = match["key"].strip().strip('"')
        stack.append((indent, key))
        if tuple(k for _, k in stack) == path:
            number = re.match(r"(?P<space>\s*)(?P<number>[-+.\d eE]+?)(?P<tail>\s*(#.*)?\n?)$", match["rest"])
            if not number:
                raise ValueError(f"line {index + 1} ({'.'.join(path)}) holds no plain number: {line!r}")
            new = str(round(float(value), 4))
            tail = number["tail"]
            if tail.strip().startswith("#"):
                width = len(number["number"]) + len(tail) - len(tail.lstrip())
                tail = " " * max(1, width - len(new)) + tail.lstrip()
            ending = line[len(line.rstrip("\r\n")) :]
            lines[index] = f"{match['indent']}{match['key']}:{number['space']}{new}{tail.rstrip()}{ending}"
            return "".join(lines)
    raise KeyError(f"{'.'.join(path)} not found in the YAML")


def write_back(path: Path, config: SimulationConfig) -> None:
    text = path.read_text(encoding="utf-8")
    text = re.sub(
        r"^seed: *\d+( *)(?=#)|^seed: *\d+$",
        lambda m: f"seed: {config.seed}".ljust(len(m[0])) if m[1] is not None else f"seed: {config.seed}",
        text,
        count=1,
        flags=re.MULTILINE,
    )
    for group in knobs_for(config):
        for attribute, dimension, value in group.knobs:
            number = config.effects[attribute][dimension][value]
            text = set_yaml_number(text, ("model", "effects", attribute, dimension, value), number)
    path.write_text(text, encoding="utf-8")
    if SimulationConfig.from_yaml(path).to_dict() != config.to_dict():
        raise RuntimeError(f"writing {path} did not reproduce the calibrated config")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH)
    parser.add_argument("--tolerance", type=float, default=0.15, help="percentage points")
    parser.add_argument("--seeds", type=int, default=24, help="default-size datasets averaged (seeds 1..N)")
    parser.add_argument("--candidates", type=int, default=40, help="seeds scanned for the default")
    parser.add_argument("--write", action="store_true", help="write effects and seed into --config")
    parser.add_argument("--report", action="store_true", help="no calibration: report the config as it is")
    args = parser.parse_args()
    config = SimulationConfig.from_yaml(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "calibration.duckdb")
        calibrated = config
        if not args.report:
            calibration_seeds = list(range(1, args.seeds + 1))
            calibrated, table = calibrate(config, store, calibration_seeds, tolerance=args.tolerance)
            print(f"mean over {args.seeds} datasets of {config.n_raters:,} raters (seeds 1..{args.seeds}):")
            print(
                table[["name", "published_pct", "measured_pct", "difference_pts"]]
                .round(2)
                .to_string(index=False)
            )
        for group in knobs_for(calibrated):
            for attribute, dimension, value in group.knobs:
                number = calibrated.effects[attribute][dimension][value]
                print(f"  effects.{attribute}.{dimension}.{value} = {number}")
        candidates = list(range(1, args.candidates + 1))
        spread = seed_spread(calibrated, store, candidates)
        worst = spread.abs().max(axis=1)
        default_seed = config.seed if args.report else int(worst.idxmin())
        print(f"\n{len(candidates)} seeds, measured minus published (points):")
        print(spread.agg(["mean", "std"]).round(2).T.to_string())
        within = (spread.abs() <= 3).mean()
        print("share of seeds within ±3 points per headline:\n" + within.round(2).to_string())
        print(f"share of seeds with all three within ±3: {(worst <= 3).mean():.2f}")
        shipped = measure(calibrated.with_overrides(seed=default_seed), store)
        label = "shipped seed" if args.report else "most typical seed"
        print(f"\n{label}: {default_seed}, measured minus published (points):")
        print(shipped.set_index("name")["difference_pts"].round(2).to_string())
        if args.write and not args.report:
            write_back(args.config, calibrated.with_overrides(seed=default_seed))
            print(f"wrote calibrated effects and seed {default_seed} into {args.config}")
        print("\n" + disagreement_report(calibrated.with_overrides(seed=default_seed), store))
    return 0


if __name__ == "__main__":
    sys.exit(main())
