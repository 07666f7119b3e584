"""The typed config base: YAML values get their declared types, and every mistake is one line naming the key.

PyYAML reads ``1e-5`` as a string and ``'8'`` stays a string; these tests pin that the base converts both,
that a value it cannot convert or a key the config does not declare is reported with the file, the key and
the expected type, and that every YAML config shipped with pluralign loads.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from pluralign_core import paths
from pluralign_core.config_base import ConfigError, TextList, YamlConfig
from pluralign_core.evaluation.evaluate import EvaluationConfig
from pluralign_core.experiments.grid_config import GridConfig, preset
from pluralign_core.experiments.plan import plan_cells
from pluralign_core.ratings.simulate import DEFAULT_CONFIG_PATH, SimulationConfig
from pluralign_core.ratings.spec import ImportSpec
from pluralign_core.training.config import RunConfig


@dataclass
class Share:
    group: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if self.weight < 0:
            raise ValueError(f"weight of {self.group} must be non-negative, got {self.weight}")


@dataclass
class Budget(YamlConfig):
    """A config using every kind of field the base must handle."""

    CONFIG_KIND: ClassVar[str] = "budget"

    owner: str = field(metadata={"help": "who pays"})
    mode: str = field(default="even", metadata={"help": "how to split", "choices": ("even", "weighted")})
    total: float = field(default=1.0, metadata={"help": "100% of the money", "group": "money"})
    rounds: int = field(default=2, metadata={"help": "payout rounds", "group": "money"})
    audited: bool = field(default=True, metadata={"help": "checked by a second person"})
    tags: TextList = field(default_factory=list, metadata={"help": "labels"})
    limits: dict[str, float] = field(default_factory=dict, metadata={"help": "per-group cap"})
    shares: list[Share] = field(default_factory=list, metadata={"help": "who gets what"})
    note: str | None = field(default=None, metadata={"help": "free text"})
    internal_id: str = field(default="", metadata={"help": "set by the system", "ui": False})

    def __post_init__(self) -> None:
        self.owner = self.owner.strip()
        if self.rounds < 1:
            raise ValueError(f"rounds must be at least 1, got {self.rounds}")


def _run_yaml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(f"preference_set: /data/prefs\n{body}", encoding="utf-8")
    return path


def test_yaml_strings_get_the_declared_types(tmp_path: Path) -> None:
    path = _run_yaml(
        tmp_path,
        "learning_rate: 1e-5\nlora_r: '8'\ngradient_checkpointing: 'no'\n"
        "lora_target_modules: q_proj, v_proj\n",
    )
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert raw["learning_rate"] == "1e-5" and raw["lora_r"] == "8"  # what PyYAML alone gives
    config = RunConfig.from_yaml(path)
    assert config.learning_rate == 1e-5 and type(config.learning_rate) is float
    assert config.lora_r == 8 and type(config.lora_r) is int
    assert config.gradient_checkpointing is False
    assert config.lora_target_modules == ["q_proj", "v_proj"]


def test_wrong_type_is_one_line_naming_file_key_and_expected_type(tmp_path: Path) -> None:
    path = _run_yaml(tmp_path, "lora_r: eight\n")
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_yaml(path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: lora_r: expected int, got 'eight' (")
    assert caught.value.problems[0][0] == "lora_r"


def test_unknown_key_is_named_with_a_suggestion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        RunConfig.from_yaml(_run_yaml(tmp_path, "lora_rank: 8\n"))
    message = str(caught.value)
    expected = f"{tmp_path / 'run.yaml'}: lora_rank: unknown run config field (did you mean 'lora_r'?)"
    assert message.startswith(expected)
    assert "known fields: algorithm, name" in message and "\n" not in message
    with pytest.raises(ConfigError, match=r"unknown budget fields 'colour', 'size'"):
        Budget.from_dict({"owner": "a", "colour": "red", "size": 3})


def test_every_problem_is_reported_at_once_with_its_nested_path() -> None:
    data = {
        "owner": "lab",
        "rounds": "two",
        "limits": {"women": "lots"},
        "shares": [{"group": "men"}, {"group": "women", "weight": "x", "extra": 1}],
    }
    with pytest.raises(ConfigError) as caught:
        Budget.from_dict(data, source="budget.yaml")
    keys = [key for key, _ in caught.value.problems]
    assert keys == ["rounds", "limits.women", "shares[1].weight", "shares[1].extra"]
    message = str(caught.value)
    assert "limits.women: expected float, got 'lots'" in message
    assert "shares[1].extra: unknown Share field" in message


def test_nested_dataclasses_mappings_and_optionals_are_built() -> None:
    budget = Budget.from_dict(
        {
            "owner": 2024,
            "total": "1e3",
            "audited": "off",
            "limits": {"women": "0.5"},
            "shares": [{"group": "men", "weight": "2"}],
            "note": None,
        }
    )
    assert budget.owner == "2024" and budget.total == 1000.0 and budget.audited is False
    assert budget.limits == {"women": 0.5}
    assert budget.shares == [Share("men", 2.0)] and isinstance(budget.shares[0], Share)
    assert budget.note is None


def test_post_init_still_runs_and_its_errors_name_the_source() -> None:
    assert Budget.from_dict({"owner": " lab "}).owner == "lab"
    assert RunConfig.from_dict({"algorithm": "DPO", "preference_set": "/p"}).algorithm == "dpo"
    with pytest.raises(ConfigError, match=r"^form: rounds must be at least 1, got 0$"):
        Budget.from_dict({"owner": "a", "rounds": 0}, source="form")
    with pytest.raises(ConfigError, match=r"^budget: shares\[0\]: weight of men must be non-negative"):
        Budget.from_dict({"owner": "a", "shares": [{"group": "men", "weight": -1}]})
    with pytest.raises(ConfigError, match=r"^run config: a GRPO run needs prompt_set"):
        RunConfig.from_dict({"algorithm": "grpo"})


def test_missing_required_field_and_bad_documents_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^budget: owner: missing; this required budget field expects str"):
        Budget.from_dict({})
    broken = tmp_path / "broken.yaml"
    broken.write_text("owner: [a\nrounds: 2\n", encoding="utf-8")
    pattern = rf"^{re.escape(str(broken))}: not valid YAML: .* at line \d+"
    with pytest.raises(ConfigError, match=pattern) as caught:
        Budget.from_yaml(broken)
    assert "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match=r"^upload.yaml: expected a mapping of field: value at the top"):
        Budget.from_yaml_text("- owner: a\n", source="upload.yaml")
    with pytest.raises(FileNotFoundError, match=r"nowhere\.yaml: no such config file"):
        Budget.from_yaml(tmp_path / "nowhere.yaml")


def test_round_trip_keeps_the_dict_and_yaml_output(tmp_path: Path) -> None:
    budget = Budget(owner="lab", tags=["a", "b"], limits={"x": 1.0}, shares=[Share("men", 2.0)])
    assert budget.to_dict() == dataclasses.asdict(budget)
    text = budget.to_yaml(tmp_path / "budget.yaml")
    assert yaml.safe_load(text) == dataclasses.asdict(budget)
    assert Budget.from_yaml(tmp_path / "budget.yaml") == budget
    assert Budget.from_yaml(text) == budget


def test_form_fields_describe_widgets_from_types_and_metadata() -> None:
    fields = Budget.form_fields()
    kinds = {name: f.kind for name, f in fields.items()}
    assert kinds == {
        "owner": "text",
        "mode": "choice",
        "total": "float",
        "rounds": "int",
        "audited": "bool",
        "tags": "list",
        "limits": "text",
        "shares": "list",
        "note": "text",
    }
    assert fields["mode"].choices == ("even", "weighted") and fields["total"].group == "money"
    assert fields["tags"].default == [] and fields["owner"].default is dataclasses.MISSING
    run_fields = RunConfig.form_fields()
    assert "resume_from_checkpoint" not in run_fields
    assert run_fields["learning_rate"].kind == "float" and run_fields["algorithm"].kind == "choice"


def test_template_yaml_is_every_field_and_loads_once_required_ones_are_filled() -> None:
    template = yaml.safe_load(RunConfig.template_yaml())
    assert list(template) == [f.name for f in dataclasses.fields(RunConfig)]
    assert RunConfig.from_dict({**template, "preference_set": "/p"}) == RunConfig(preference_set="/p")
    with pytest.raises(ConfigError, match=r"dataset_id: expected str, got None"):
        EvaluationConfig.from_yaml_text(EvaluationConfig.template_yaml())


def _flags_parser(config: type[YamlConfig]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="test")
    parser.add_argument("--config", type=Path)
    config.add_flags(parser)
    return parser


def test_flags_override_the_yaml_through_the_same_typed_validation(tmp_path: Path) -> None:
    parser = _flags_parser(RunConfig)
    path = _run_yaml(tmp_path, "lora_r: 4\nmax_steps: 9\n")
    argv = ["--config", str(path), "--lora-r", "8", "--learning_rate", "1e-5", "--no-gradient-checkpointing"]
    args = parser.parse_args([*argv, "--lora-target-modules", "q_proj", "v_proj"])
    config = RunConfig.from_flags(args, args.config)
    assert (config.lora_r, config.max_steps, config.learning_rate) == (8, 9, 1e-5)
    assert config.gradient_checkpointing is False and config.lora_target_modules == ["q_proj", "v_proj"]
    assert RunConfig.from_flags(parser.parse_args(["--preference-set", "/p"])).preference_set == "/p"
    bad = parser.parse_args(["--config", str(path), "--lora-r", "eight"])
    pattern = rf"^{re.escape(str(path))} \+ command-line flags: lora_r: expected int"
    with pytest.raises(ConfigError, match=pattern):
        RunConfig.from_flags(bad, bad.config)


def test_flags_carry_help_and_choices_from_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    parser = _flags_parser(Budget)
    assert {"limits", "shares"}.isdisjoint(f.name for f in Budget.flag_fields())
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert "--total FLOAT 100% of the money (default: 1.0)" in shown
    assert "--owner STR who pays (required)" in shown
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--mode", "random"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'random'" in capsys.readouterr().err


def test_every_shipped_import_spec_loads() -> None:
    specs = sorted((paths.REPO_ROOT / "data" / "examples").glob("*.spec.yaml"))
    assert specs
    for path in specs:
        spec = ImportSpec.from_yaml(path)
        assert spec.dimensions and spec.demographics, path
        assert ImportSpec.from_yaml(spec.to_yaml()) == spec


def _yaml_blocks(markdown: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", markdown, flags=re.DOTALL)


def test_every_run_config_recipe_in_the_docs_loads() -> None:
    recipes = [
        block
        for doc in sorted((paths.REPO_ROOT / "docs").glob("*.md"))
        for block in _yaml_blocks(doc.read_text(encoding="utf-8"))
        if re.search(r"^(preference_set|prompt_set):", block, flags=re.MULTILINE)
    ]
    assert recipes, "docs/accelerate.md shows a run.yaml"
    for recipe in recipes:
        assert RunConfig.from_yaml_text(recipe, source="docs recipe").algorithm in ("dpo", "grpo")


@pytest.mark.parametrize("name", ["demo", "full"])
def test_grid_presets_plan_cells_whose_configs_load(name: str) -> None:
    grid = preset(name, dataset_id="survey")
    assert GridConfig.from_yaml(grid.to_yaml()) == grid
    cells = plan_cells(grid)
    assert any(cell.run for cell in cells)
    for cell in cells:
        data = {"prompt_set": "/p", "reward_models": ["/r"]} if cell.optimizer == "grpo" else {}
        if cell.run:
            data.setdefault("preference_set", "/p")
            assert RunConfig.from_dict({**cell.run, **data}, source=cell.cell_id).name == cell.cell_id
        assert EvaluationConfig.from_dict(cell.evaluation, source=cell.cell_id).dataset_id == "survey"


def test_shipped_simulation_config_loads() -> None:
    assert SimulationConfig.from_yaml(DEFAULT_CONFIG_PATH).n_raters > 0
