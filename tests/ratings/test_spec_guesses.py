"""The wizard's guesses and checks on files shaped unlike the study's (standalone texts, own dimension)."""

from __future__ import annotations

import pytest

from pluralign_core.ratings.importing import import_dataset, infer_spec
from pluralign_core.ratings.reading import ImportSource
from pluralign_core.ratings.spec import DemographicSpec, ImportSpec
from pluralign_core.store.database import Store
from tests.fixtures_shapes import EDUCATION, OFFENSIVE_LABELS, SHAPES, standalone


@pytest.mark.parametrize("name", list(SHAPES))
def test_ids_and_ratings_are_guessed_and_never_demographics(name: str) -> None:
    shape = SHAPES[name]()
    spec = infer_spec(shape.frame, name)
    assert [d.source for d in spec.dimensions] == list(shape.rating_columns)
    assert spec.item_id in {"text_id", "response_id"}
    demographics = {d.column for d in spec.demographics}
    assert not demographics & {spec.rater_id, spec.item_id, spec.response_text, *shape.rating_columns}
    assert spec.scale_kind == "numeric"  # numbers only: never the agreement labels


def test_a_double_mapped_column_is_one_error_naming_both_roles() -> None:
    spec = infer_spec(standalone().frame, "s").to_dict()
    spec["demographics"].append({"column": "text_id"})
    with pytest.raises(ValueError, match=r"'text_id' is mapped twice, as item id and as demographic"):
        ImportSpec.from_dict(spec)


def test_scale_labels_must_name_every_point() -> None:
    spec = infer_spec(standalone().frame, "s").to_dict()
    with pytest.raises(ValueError, match="scale_labels names 2 points but the scale 1–5 has 5"):
        ImportSpec.from_dict({**spec, "scale_labels": ["low", "high"]})


def test_labels_direction_and_order_reach_the_store(store: Store) -> None:
    shape = standalone()
    bands = ["5-10k", "10-20k", "100k+"]  # alphabetical order would be 10-20k, 100k+, 5-10k
    shape.frame["income"] = shape.frame.worker_id.map(lambda w: bands[int(w[1:]) % 3])
    spec = infer_spec(shape.frame, "standalone")
    spec.dimensions[0].label, spec.dimensions[0].higher_is_better = "Offensiveness", False
    spec.scale_labels = list(OFFENSIVE_LABELS)
    spec.demographics = [
        DemographicSpec(d.column, values=list(EDUCATION)) if d.column == "education" else d
        for d in spec.demographics
    ]
    spec = ImportSpec.from_yaml(spec.to_yaml())  # saved and read back as the wizard does
    assert import_dataset(store, ImportSource("s.csv", shape.csv()), spec).written
    (dimension,) = store.dimensions("standalone")
    assert (dimension.name, dimension.label, dimension.higher_is_better) == (
        "offensiveness",
        "Offensiveness",
        False,
    )
    assert store.dataset_info("standalone").scale.labels == OFFENSIVE_LABELS
    attributes = {a.name: a for a in store.attributes("standalone")}
    assert attributes["education"].values == EDUCATION
    assert attributes["income"].values == tuple(bands)  # ordered by the leading number, unasked
    assert attributes["age_band"].values == ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
