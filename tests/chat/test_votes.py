"""Chat votes as a dataset: the vote form follows the active dataset, votes become rows, saving appends,
and odd-shaped datasets (other dimension names, scales and labels) work the same way."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from pluralign_core.analysis.filters import AnalysisFilter
from pluralign_core.chat.vote_form import (
    PREFERRED,
    detect_language,
    vote_form,
    votes_dataset_id,
)
from pluralign_core.chat.votes import (
    ALL_BAD,
    TIE,
    ReplyVote,
    SessionVotes,
    TurnVote,
    chat_turns,
    preference_scores,
    save_votes,
    vote_rows,
    votes_csv,
    votes_table,
)
from pluralign_core.ratings.importing import import_dataset, infer_spec
from pluralign_core.ratings.reading import ImportSource
from pluralign_core.ratings.schema import AGREEMENT_LABELS_DE, AGREEMENT_LABELS_EN, Scale
from pluralign_core.store import catalog
from pluralign_core.store.database import Store
from pluralign_core.store.dataset_rows import read_bundle
from tests.factories import tiny_bundle
from tests.fixtures_shapes import OFFENSIVE_LABELS, SHAPES


def _turn(
    turn_id: str, scores_a: dict, scores_b: dict, preferred: str | None, prompt: str = "Why?"
) -> TurnVote:
    return TurnVote(
        turn_id,
        prompt,
        detect_language(prompt),
        (
            ReplyVote("base", "Base model", "Reply A", scores_a),
            ReplyVote("adapter-x", "x-dpo", "Reply B", scores_b),
        ),
        preferred,
    )


@pytest.fixture
def tiny(store: Store) -> Store:
    bundle = tiny_bundle("tiny", n_raters=6)
    bundle.info = dataclasses.replace(bundle.info, meta={"scale_labels_de": list(AGREEMENT_LABELS_DE)})
    store.write_dataset(bundle)
    return store


def test_language_detection_tells_german_from_english_questions() -> None:
    assert detect_language("Warum sind manche Menschen so unhöflich?") == "de"
    assert detect_language("Wie sage ich meinen Eltern, dass ich ins Ausland ziehe?") == "de"
    assert detect_language("Why are some people so rude?") == "en"
    assert detect_language("How do I tell my parents I am moving abroad?") == "en"


def test_form_asks_the_active_datasets_dimensions_labels_and_attributes(tiny: Store) -> None:
    form = vote_form(tiny, "tiny")
    assert form.votes_id == "chat-votes-tiny" and form.votes_name == "chat votes (Tiny test data tiny)"
    assert [d.name for d in form.dimensions] == ["toxicity", "emotional_awareness"]
    assert form.labels_for("en") == AGREEMENT_LABELS_EN and form.labels_for("de") == AGREEMENT_LABELS_DE
    assert form.score_label(4, "de") == "4 · stimme zu" and form.score_label(4, "en") == "4 · agree"
    values = {a.name: set(a.values) for a in form.attributes}
    assert values["gender"] == {"woman", "man"} and values["race"] == {"White", "Black", "Asian"}
    assert next(a for a in form.attributes if a.name == "race").multi_valued


def test_preference_is_encoded_on_the_scale() -> None:
    scale = Scale(1, 5)
    assert preference_scores(_turn("t", {}, {}, "adapter-x"), scale) == {"base": 1, "adapter-x": 5}
    assert preference_scores(_turn("t", {}, {}, "base"), scale) == {"base": 5, "adapter-x": 1}
    assert preference_scores(_turn("t", {}, {}, TIE), scale) == {"base": 3, "adapter-x": 3}
    assert preference_scores(_turn("t", {}, {}, ALL_BAD), scale) == {"base": 1, "adapter-x": 1}
    assert preference_scores(_turn("t", {}, {}, TIE), Scale(1, 4, ())) == {"base": 2, "adapter-x": 2}
    assert preference_scores(_turn("t", {}, {}, None), scale) == {}
    with pytest.raises(ValueError, match="preferred reply"):
        _turn("t", {}, {}, "nobody")


def test_votes_become_rows_of_their_own_dataset(tiny: Store) -> None:
    form = vote_form(tiny, "tiny")
    session = SessionVotes(
        "s1",
        (
            _turn("t1", {"toxicity": 2}, {"toxicity": 4, "emotional_awareness": 5}, "base"),
            _turn("t2", {}, {}, None, prompt="Nothing rated here"),
            _turn("t3", {}, {}, TIE, prompt="Warum ist das so?"),
        ),
        {"gender": ("woman",), "race": ("Black", "Asian"), "country": ("Mars",)},
    )
    bundle = vote_rows(form, session)
    assert not bundle.info.simulated and bundle.info.dataset_id == "chat-votes-tiny"
    assert [d.name for d in bundle.dimensions] == ["toxicity", "emotional_awareness", PREFERRED.name]
    assert list(bundle.raters.rater_id) == ["chat-s1"]
    assert list(bundle.prompts.text) == ["Why?", "Warum ist das so?"]  # the unvoted question is left out
    assert list(bundle.prompts.language) == ["en", "de"]
    stated = set(map(tuple, bundle.rater_attributes[["attribute", "value"]].to_numpy()))
    assert stated == {("gender", "woman"), ("race", "Black"), ("race", "Asian")}  # "Mars" is no value
    scores = {(r.response_id.split("-")[2], r.dimension, r.prompt): r.score for r in _with_prompts(bundle)}
    assert scores == {
        ("base", "toxicity", "Why?"): 2,
        ("adapter", "toxicity", "Why?"): 4,
        ("adapter", "emotional_awareness", "Why?"): 5,
        ("base", PREFERRED.name, "Why?"): 5,
        ("adapter", PREFERRED.name, "Why?"): 1,
        ("base", PREFERRED.name, "Warum ist das so?"): 3,
        ("adapter", PREFERRED.name, "Warum ist das so?"): 3,
    }
    with pytest.raises(ValueError, match="not dimensions"):
        vote_rows(form, SessionVotes("s1", (_turn("t1", {"clarity": 2}, {}, None),)))


def _with_prompts(bundle) -> list:
    joined = bundle.ratings.merge(bundle.responses, on="response_id").merge(
        bundle.prompts.rename(columns={"text": "prompt"}), on="prompt_id"
    )
    return list(joined.itertuples())


def test_saving_creates_then_appends_and_a_second_save_replaces_not_doubles(tiny: Store) -> None:
    form = vote_form(tiny, "tiny")
    first = SessionVotes("s1", (_turn("t1", {"toxicity": 2}, {"toxicity": 4}, "base"),), {"gender": ("man",)})
    result = save_votes(tiny, form, first)
    assert result.dataset_id == "chat-votes-tiny" and result.session_ratings == result.total_ratings == 4
    assert tiny.dataset_info("chat-votes-tiny").name == "chat votes (Tiny test data tiny)"

    again = SessionVotes(
        "s1", (_turn("t1", {"toxicity": 3}, {"toxicity": 4}, "base"),), {"gender": ("woman",)}
    )
    assert save_votes(tiny, vote_form(tiny, "tiny"), again).total_ratings == 4
    stored = read_bundle(tiny, "chat-votes-tiny")
    assert sorted(stored.ratings.score.astype(int)) == [1, 3, 4, 5]
    assert list(stored.rater_attributes.value) == ["woman"]

    other = SessionVotes("s2", (_turn("u1", {"emotional_awareness": 5}, {}, ALL_BAD),))
    assert save_votes(tiny, vote_form(tiny, "tiny"), other).total_ratings == 7
    assert len(tiny.dataset_info("chat-votes-tiny").meta["reply_models"]) == 4
    assert set(read_bundle(tiny, "chat-votes-tiny").raters.rater_id) == {"chat-s1", "chat-s2"}
    assert len(read_bundle(tiny, "tiny").ratings) == len(tiny_bundle("tiny", n_raters=6).ratings)  # untouched

    with pytest.raises(ValueError, match="nothing to save"):
        save_votes(tiny, form, SessionVotes("s3", (_turn("v", {}, {}, None),)))


def test_votes_while_the_votes_dataset_is_active_go_into_it(tiny: Store) -> None:
    save_votes(tiny, vote_form(tiny, "tiny"), SessionVotes("s1", (_turn("t1", {"toxicity": 2}, {}, "base"),)))
    assert votes_dataset_id("chat-votes-tiny") == "chat-votes-tiny"
    form = vote_form(tiny, "chat-votes-tiny")
    assert PREFERRED.name not in [d.name for d in form.dimensions] and form.votes_id == "chat-votes-tiny"
    save_votes(tiny, form, SessionVotes("s2", (_turn("t1", {"toxicity": 5}, {}, None),)))
    assert not tiny.has_dataset("chat-votes-chat-votes-tiny")
    assert len(read_bundle(tiny, "chat-votes-tiny").ratings) == 4


def test_the_votes_are_exported_as_csv_with_models_labels_and_demographics(tiny: Store) -> None:
    session = SessionVotes(
        "s1", (_turn("t1", {"toxicity": 2}, {}, "adapter-x", prompt="=cmd()"),), {"race": ("Black", "Asian")}
    )
    save_votes(tiny, vote_form(tiny, "tiny"), session)
    table = votes_table(tiny, "chat-votes-tiny")
    assert len(table) == 3 and set(table.model) == {"Base model", "x-dpo"}
    row = table[(table.model == "Base model") & (table.dimension == "toxicity")].iloc[0]
    assert (row.score, row.score_label, row.race, row.question) == (2, "disagree", "Asian; Black", "=cmd()")
    text = votes_csv(tiny, "chat-votes-tiny").decode("utf-8")
    assert "'=cmd()" in text and "=cmd()" not in text.replace("'=cmd()", "")


def test_votes_dataset_is_analysed_like_any_dataset(tiny: Store) -> None:
    from pluralign_core import analysis

    for index, gender in enumerate(("woman", "man", "woman")):
        session = SessionVotes(
            f"s{index}",
            (_turn("t1", {"toxicity": 1 + index}, {"toxicity": 5 - index}, "base"),),
            {"gender": (gender,)},
        )
        save_votes(tiny, vote_form(tiny, "tiny"), session)
    means = analysis.group_means(
        tiny, "chat-votes-tiny", "gender", ["toxicity", PREFERRED.name], AnalysisFilter()
    )
    assert set(means.group) == {"woman", "man"}
    man = means[(means.group == "man") & (means.dimension == "toxicity")].iloc[0]
    assert man["mean"] == pytest.approx(3.0) and man.n_raters == 1


def import_shape(store: Store, name: str) -> str:
    shape = SHAPES[name]()
    spec = infer_spec(shape.frame, name)
    if "scale_labels" in shape.wizard:
        spec = dataclasses.replace(spec, scale_labels=list(shape.wizard["scale_labels"]))
    report = import_dataset(store, ImportSource(f"{name}.csv", shape.csv()), spec)
    assert report.ok, report.format()
    return name


@pytest.mark.parametrize("shape_name", ["standalone", "one_dimension_no_split", "many_levels"])
def test_odd_shaped_datasets_get_their_own_form_and_votes(store: Store, shape_name: str) -> None:
    import_shape(store, shape_name)
    form = vote_form(store, shape_name)
    dimension = SHAPES[shape_name]().rating_columns[0]
    assert [d.name for d in form.dimensions] == [dimension]
    if shape_name == "standalone":
        assert form.labels_for("en") == OFFENSIVE_LABELS
        assert form.labels_for("de") == OFFENSIVE_LABELS  # no German wording: the dataset's own labels
        assert form.score_label(5, "de") == "5 · very offensive"
    if shape_name == "many_levels":
        state = next(a for a in form.attributes if a.name == "state")
        assert len(state.values) == 24
    attribute = form.attributes[0]
    session = SessionVotes(
        "s1",
        (_turn("t1", {dimension: 5}, {dimension: 1}, TIE),),
        {attribute.name: (attribute.values[0],)},
    )
    save_votes(store, form, session)
    stored = read_bundle(store, f"chat-votes-{shape_name}")
    assert [d.name for d in stored.dimensions] == [dimension, PREFERRED.name]
    assert sorted(stored.ratings.score.astype(int)) == [1, 3, 3, 5]
    shape = catalog.dataset_shape(store, f"chat-votes-{shape_name}")
    assert shape.has_pairs and shape.dimensions == (dimension, PREFERRED.name)


def test_a_scale_change_between_saves_is_refused_with_a_message(store: Store) -> None:
    store.write_dataset(tiny_bundle("tiny", n_raters=4))
    save_votes(store, vote_form(store, "tiny"), SessionVotes("s1", (_turn("t1", {"toxicity": 5}, {}, None),)))
    seven = tiny_bundle("tiny", n_raters=4)
    seven.info = dataclasses.replace(seven.info, scale=Scale(1, 7, ()))
    store.write_dataset(seven, replace=True)
    with pytest.raises(ValueError, match="scale 1–5"):
        save_votes(
            store, vote_form(store, "tiny"), SessionVotes("s2", (_turn("t1", {"toxicity": 7}, {}, None),))
        )
    assert len(read_bundle(store, "chat-votes-tiny").ratings) == 1


def test_chat_turns_pair_replies_across_models_by_turn_id() -> None:
    histories = {
        "base": [
            {"role": "user", "content": "Q1", "turn": "a"},
            {"role": "assistant", "content": "base 1"},
            {"role": "user", "content": "Q2", "turn": "b"},
            {"role": "assistant", "content": "base 2"},
        ],
        "x": [  # x failed to answer Q1, so its history holds only Q2
            {"role": "user", "content": "Q2", "turn": "b"},
            {"role": "assistant", "content": "x 2"},
        ],
    }
    turns = chat_turns(histories, ["base", "x"])
    assert turns == [("a", "Q1", {"base": "base 1"}), ("b", "Q2", {"base": "base 2", "x": "x 2"})]
    assert chat_turns(
        {"base": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}, ["base"]
    ) == [("q0", "Q", {"base": "A"})]


@settings(max_examples=60, deadline=None)
@given(
    minimum=hst.integers(-3, 3),
    points=hst.integers(2, 11),
    n_replies=hst.integers(2, 4),
    choice=hst.integers(-2, 3),
)
def test_the_preference_encoding_keeps_the_choice_on_any_scale(
    minimum: int, points: int, n_replies: int, choice: int
) -> None:
    """On every scale: the preferred reply alone scores highest; a tie or 'all bad' scores all replies
    alike (so no preference pair can come of it); every score lies on the scale."""
    scale = Scale(minimum, minimum + points - 1, ())
    models = [f"m{i}" for i in range(n_replies)]
    preferred = {-2: TIE, -1: ALL_BAD}.get(choice, models[min(choice, n_replies - 1)])
    turn = TurnVote("t", "Q?", "en", tuple(ReplyVote(m, m, f"reply {m}") for m in models), preferred)
    scores = preference_scores(turn, scale)
    assert set(scores) == set(models)
    assert all(scale.minimum <= s <= scale.maximum for s in scores.values())
    if preferred in (TIE, ALL_BAD):
        assert len(set(scores.values())) == 1
        assert scores[models[0]] == (scale.minimum if preferred == ALL_BAD else math.floor(scale.midpoint))
    else:
        best = max(scores.values())
        assert [m for m, s in scores.items() if s == best] == [preferred]


def test_votes_without_stated_demographics_or_labels_export_too(store: Store) -> None:
    bundle = tiny_bundle("plain", n_raters=4)
    bundle.info = dataclasses.replace(bundle.info, scale=Scale(0, 3, ()))
    bundle.ratings["score"] = bundle.ratings.score % 4
    store.write_dataset(bundle)
    save_votes(
        store, vote_form(store, "plain"), SessionVotes("s1", (_turn("t1", {"toxicity": 0}, {}, "base"),))
    )
    table = votes_table(store, "chat-votes-plain")
    assert sorted(table.score.astype(int)) == [0, 0, 3] and set(table.score_label) == {""}
    assert "gender" not in table.columns
    assert votes_csv(store, "chat-votes-plain").decode("utf-8").splitlines()[0].startswith("rater_id,")
