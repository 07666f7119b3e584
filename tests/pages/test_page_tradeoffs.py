"""Trade-offs page (AppTest): renders every chart from a stored grid, and launches a grid as a process."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import paths
from pluralign_core.evaluation.config import CLASSIFIER_SCORER, EvaluationConfig
from pluralign_core.evaluation.results import save_result
from pluralign_core.evaluation.scoring import summarise
from pluralign_core.experiments import execute, grid_config, process
from pluralign_core.experiments import state as grid_state
from pluralign_core.experiments.grid_likelihood import LIKELIHOOD_DIR, TOTAL_COLUMNS
from pluralign_core.store.database import Store
from tests.factories import tiny_bundle
from tests.pages.readable import machine_frame

COMPARISON_COLUMNS = (
    "name", "language", "a_reduction", "b_reduction", "difference", "resolved", "matches_study",
    "relative_pct", "measure",
)  # fmt: skip


def _comparisons(at: AppTest) -> pd.DataFrame:
    """The comparisons table read back into machine names; percent cells (text where one is missing)
    as numbers."""
    table = machine_frame(at.dataframe[1].value, columns=COMPARISON_COLUMNS)
    return table.assign(
        relative_pct=table.relative_pct.map(lambda v: float(v.rstrip("%")) if isinstance(v, str) and
                                            v.endswith("%") else v)
    )  # fmt: skip


TOXICITY = {
    "base": 3.0,
    "dpo-preserve-5-point-multi-all": 2.0,
    "dpo-majority-5-point-multi-all": 2.5,
    "dpo-preserve-5-point-single-all": 2.2,
    "dpo-preserve-5-point-multi-women": 2.4,
    "dpo-preserve-5-point-multi-men": 2.8,
}


pytestmark = pytest.mark.usefixtures("bare_app")


def _fake_evaluation(store, cell, state, progress):
    """Write an evaluation as evaluate_model would, with scores chosen per cell (no model needed)."""
    evaluation_id = f"evaluation-{state.grid_id}-{cell.cell_id}"
    keys = pd.DataFrame({"prompt_id": ["p2", "p2-de"], "prompt_key": ["p2", "p2"], "language": ["en", "de"]})
    rows = []
    tox = TOXICITY[cell.cell_id]
    for group, shift in (("all raters", 0.0), ("women", 0.2), ("men", -0.2)):
        for dimension, better, value in (("toxicity", False, tox + shift), ("helpfulness", True, 3 - shift)):
            rows.append(
                keys.assign(
                    scorer=f"rm-{group}-{dimension}",
                    group=group,
                    dimension=dimension,
                    higher_is_better=better,
                    scale_min=1.0,
                    scale_max=5.0,
                    score=value,
                )
            )
    rows.append(
        keys.assign(
            scorer=CLASSIFIER_SCORER,
            group="classifier",
            dimension="toxicity",
            higher_is_better=False,
            scale_min=0.0,
            scale_max=1.0,
            score=tox / 10,
        )
    )
    scores = pd.concat(rows, ignore_index=True)
    generations = keys.assign(
        topic="t",
        prompt_text=["Is it <script>alert(1)</script> fine?", "Geht das?"],
        response=[f"<b>{cell.cell_id}</b> answer", f"Antwort {cell.cell_id}"],
    )
    config = EvaluationConfig.from_dict({**cell.evaluation, "model_id": "base"})
    folder = paths.subdir("evaluations") / evaluation_id
    save_result(
        folder,
        config,
        generations,
        scores,
        summarise(scores, n_resamples=20),
        {"evaluation_id": evaluation_id},
    )
    store.register_artifact(
        "evaluation",
        cell.label,
        path=folder,
        dataset_id="tiny",
        config=config.to_dict(),
        artifact_id=evaluation_id,
    )
    if cell.trains:  # the likelihood measure's per-prompt totals: the preserve cells moved, the others not
        margin = 0.4 if "preserve" in cell.cell_id else 0.0
        totals = pd.DataFrame(
            [
                (
                    cell.cell_id,
                    cell.design,
                    cell.seed,
                    "all raters",
                    language,
                    f"p{i}",
                    2,
                    2.0,
                    2 * margin + i / 100,
                )
                for language in ("en", "de")
                for i in range(6)
            ],
            columns=TOTAL_COLUMNS,
        )
        (state.folder / LIKELIHOOD_DIR).mkdir(exist_ok=True)
        totals.to_csv(state.folder / LIKELIHOOD_DIR / f"{cell.cell_id}.csv", index=False)
    return {"evaluation_id": evaluation_id}


@pytest.fixture
def grid_store(store: Store) -> Store:
    store.write_dataset(tiny_bundle())
    config = grid_config.GridConfig(
        optimizers=["dpo"],
        disagreements=["preserve", "majority"],
        scales=["5-point"],
        groups=["women", "men"],
        dataset_id="tiny",
    )
    execute.run_grid(store, config, grid_id="grid-test", executor=_fake_evaluation, prepare=lambda s, g: None)
    return store


def open_page() -> AppTest:
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("pages/tradeoffs.py").run()
    assert not at.exception, at.exception
    return at


def test_page_renders_every_chart_from_stored_results(grid_store: Store) -> None:
    at = open_page()
    headers = [h.value for h in at.header]
    assert headers == [
        "Toxicity reduction by design choice",
        "Likelihood measure: did tuning move the model towards the group's held-out preferences?",
        "Models tuned on group G, rated by group H",
        "Safety vs inclusivity",
        "Single vs multi-objective",
        "Sample responses",
    ]
    assert at.selectbox(key="grid_pick").value == "grid-test"
    comparisons = _comparisons(at)
    rows = comparisons[comparisons.name == "preserve vs majority"].set_index("language")
    # all-raters reward model, per prompt: base 3.0 − preserve 2.0 = 1.0; base 3.0 − majority 2.5 = 0.5
    assert sorted(rows.index) == ["de", "en"]  # languages reported separately, never pooled
    assert rows.loc["en", "a_reduction"] == pytest.approx(1.0) and rows.loc[
        "en", "b_reduction"
    ] == pytest.approx(0.5)
    assert rows.loc["en", "difference"] == pytest.approx(0.5) and rows.loc["en", "resolved"]
    assert rows.loc["en", "matches_study"] and rows.loc["en", "relative_pct"] == pytest.approx(100.0)
    texts = [t.value for t in at.text]
    assert "<b>base</b> answer" in texts  # model output shown as plain text, never as HTML
    assert not any("<script>" in m.value for m in at.markdown)
    labels = [b.label for b in at.get("download_button")]
    assert labels.count("Download chart (HTML)") == 7 and labels.count("Download table (CSV)") == 8
    assert at.radio(key="grid_likelihood_language").options == ["de", "en"]
    at.radio(key="grid_likelihood_language").set_value("de").run()
    assert not at.exception
    at.radio(key="grid_measure").set_value("reduction_classifier_pct").run()
    assert not at.exception
    table = _comparisons(at)
    classifier = table[table.name == "preserve vs majority"]
    assert list(classifier.language) == ["en"]  # the profanity classifier cannot judge German
    assert classifier.iloc[0].difference == pytest.approx((0.3 - 0.2) - (0.3 - 0.25))
    at.selectbox(key="grid_heat_dim").set_value("helpfulness").run()
    at.selectbox(key="grid_prompt").set_value(1).run()
    assert not at.exception
    assert "Antwort base" in [t.value for t in at.text]


def test_run_button_launches_the_grid_as_a_process(grid_store: Store, monkeypatch) -> None:
    launched = []
    monkeypatch.setattr(
        process,
        "launch",
        lambda preset="demo", dataset_id="", resume=None, groups=None: (
            launched.append((preset, dataset_id, resume, groups)) or ("grid-new", 123)
        ),
    )
    at = open_page()
    at.button(key="grid_run").click().run()
    assert launched == [("demo", "tiny", None, [])]
    assert not at.exception
    at.radio(key="grid_preset").set_value("reference").run()
    at.button(key="grid_run").click().run()
    # tiny has no political leaning: the reference preset's liberal / conservative models are left out
    assert launched[-1] == ("reference", "tiny", None, [])
    assert any("no raters of that group" in c.value for c in at.caption)
    assert not at.exception


def test_partial_grid_offers_resume(store: Store, monkeypatch) -> None:
    store.write_dataset(tiny_bundle())
    config = grid_config.GridConfig(
        optimizers=["dpo"],
        disagreements=["preserve"],
        scales=["5-point"],
        groups=[],
        objectives=["multi"],
        dataset_id="tiny",
    )

    def half(store, cell, state, progress):
        if cell.cell_id != "base":
            raise RuntimeError("disk full")
        return _fake_evaluation(store, cell, state, progress)

    execute.run_grid(store, config, grid_id="grid-half", executor=half, prepare=lambda s, g: None)
    launched = []
    monkeypatch.setattr(
        process,
        "launch",
        lambda preset="demo", dataset_id="", resume=None: launched.append(resume) or (resume, 1),
    )
    at = open_page()
    assert (
        "disk full" in at.dataframe[0].value.set_index("Cell").loc["dpo-preserve-5-point-multi-all", "Error"]
    )
    at.button(key="grid_resume").click().run()
    assert launched == ["grid-half"]


def test_preview_counts_exactly_the_cells_the_grid_creates(store: Store) -> None:
    """tiny has no political leaning: the preview must drop liberal / conservative as the grid does."""
    store.write_dataset(tiny_bundle())
    at = open_page()
    caption = next(c.value for c in at.caption if "training runs:" in c.value)
    counts, _, ids = caption.partition(": ")
    created = grid_state.create_grid(store, grid_config.preset("demo"), "g-preview")
    assert ids.split(", ") == created.data["cell_order"]
    assert counts == f"{len(created.cells)} cells, {len(created.cells) - 1} training runs"
    assert "dpo-preserve-5-point-multi-liberal" not in ids
