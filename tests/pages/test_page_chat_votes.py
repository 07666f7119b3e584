"""Chat votes on the Chat page (AppTest): rate two replies, pick one, state a gender, save, and the votes
dataset is analysed on Explore; nothing is written before *Save votes*."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import paths
from pluralign_core.chat.vote_form import PREFERRED
from pluralign_core.store.database import Store
from pluralign_core.store.dataset_rows import read_bundle
from tests.fixtures_shapes import EDUCATION
from tests.pages.conftest import CHAT_ADAPTER
from tests.pages.readable import machine_frame

VOTES = "chat-votes-planted"
ADAPTER = CHAT_ADAPTER

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ask(question: str) -> tuple[AppTest, str]:
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/chat.py").run()
    assert not at.exception, at.exception
    at.number_input(key="chat_max_tokens").set_value(4)
    at.slider(key="chat_temperature").set_value(0.0)
    at.chat_input(key="chat_input").set_value(question).run()
    assert not at.exception, at.exception
    turn = at.session_state["chat_histories"]["base"][0]["turn"]
    assert at.session_state["chat_histories"][ADAPTER][0]["turn"] == turn
    return at, turn


def test_votes_are_saved_only_on_save_and_then_analysed_on_explore(chat_store: Store) -> None:
    at, turn = _ask("Why are some people so rude?")
    toxicity = at.selectbox(key=f"vote|{turn}|base|toxicity")
    assert toxicity.value is None and toxicity.options == [
        "1 · strongly disagree",
        "2 · disagree",
        "3 · neutral",
        "4 · agree",
        "5 · strongly agree",
    ]
    toxicity.set_value(2)
    at.selectbox(key=f"vote|{turn}|{ADAPTER}|toxicity").set_value(4)
    at.selectbox(key=f"vote|{turn}|{ADAPTER}|helpfulness").set_value(5)
    preferred = at.radio(key=f"vote|{turn}|preferred")
    assert [o[:4] for o in preferred.options[:2]] == ["A · ", "B · "] and "women-dpo" in preferred.options[1]
    assert preferred.options[2:] == ["tie", "both bad"] and preferred.value is None
    preferred.set_value("base")
    at.selectbox(key="vote_attribute|gender").set_value("woman")
    at.multiselect(key="vote_attribute|race").set_value(["Black"])
    at.run()
    assert not at.exception, at.exception
    assert not chat_store.has_dataset(VOTES), "nothing is stored before Save votes"

    at.button(key="chat_votes_save").click().run()
    assert not at.exception, at.exception
    assert any("Saved 5 rating(s)" in s.value for s in at.success), [e.value for e in at.error]
    stored = read_bundle(chat_store, VOTES)
    assert not stored.info.simulated and stored.info.name == "chat votes (Tiny test data planted)"
    assert list(stored.prompts.text) == ["Why are some people so rude?"]
    assert set(stored.responses.text) == {
        m[1]["content"] for m in at.session_state["chat_histories"].values()
    }
    by_dimension = stored.ratings.groupby("dimension").score.apply(lambda s: sorted(s.astype(int))).to_dict()
    assert by_dimension == {"toxicity": [2, 4], "helpfulness": [5], PREFERRED.name: [1, 5]}
    assert set(map(tuple, stored.rater_attributes[["attribute", "value"]].to_numpy())) == {
        ("gender", "woman"),
        ("race", "Black"),
    }
    assert at.get("download_button") and any(
        b.proto.label == "Download votes (CSV)" for b in at.get("download_button")
    )

    at.button(key="chat_votes_explore").click().run()
    assert not at.exception, at.exception
    assert at.session_state["dataset_id"] == VOTES
    at.switch_page("pages/explore.py").run()  # where the button led (AppTest stays on the script it ran)
    assert not at.exception, at.exception
    labels = {d.label: d.name for d in chat_store.dimensions(VOTES)}
    frames = [machine_frame(d.value, {"Gender": "group"}, {"dimension": labels}) for d in at.dataframe]
    means = next(f for f in frames if "sd" in f.columns)
    assert set(means.dimension) >= {"toxicity", PREFERRED.name}
    assert set(means.group) == {"woman"}

    at.switch_page("pages/preferences.py").run()
    assert not at.exception, at.exception
    at.multiselect(key="dims").set_value([PREFERRED.name]).run()
    assert not at.exception, at.exception
    pairs = next(m for m in at.metric if m.label == "Pairs").value
    assert pairs == "1", "the preferred reply over the other one is the dataset's one pair"


def test_a_german_question_gets_german_labels_and_saving_twice_appends_once(chat_store: Store) -> None:
    at, turn = _ask("Warum sind manche Menschen so unhöflich?")
    options = at.selectbox(key=f"vote|{turn}|base|toxicity").options
    assert options[0] == "1 · stimme überhaupt nicht zu" and options[-1] == "5 · stimme voll und ganz zu"
    at.radio(key=f"vote|{turn}|preferred").set_value("tie").run()
    at.button(key="chat_votes_save").click().run()
    at.button(key="chat_votes_save").click().run()
    assert not at.exception, at.exception
    stored = read_bundle(chat_store, VOTES)
    assert list(stored.prompts.language) == ["de"]
    assert sorted(stored.ratings.score.astype(int)) == [3, 3]

    at.selectbox(key="chat_votes_language").set_value("en").run()
    options = at.selectbox(key=f"vote|{turn}|base|toxicity").options
    assert options[0] == "1 · strongly disagree"


def test_saving_without_any_vote_explains_and_writes_nothing(chat_store: Store) -> None:
    at, _ = _ask("Hello?")
    at.button(key="chat_votes_save").click().run()
    assert any("nothing to save" in e.value for e in at.error)
    assert not chat_store.has_dataset(VOTES)


def test_an_odd_shaped_dataset_asks_its_own_dimension_labels_and_attributes(chat_store: Store) -> None:
    from tests.chat.test_votes import import_shape

    import_shape(chat_store, "standalone")
    chat_store.set_active_dataset("standalone")
    at, turn = _ask("Is this comment offensive?")
    box = at.selectbox(key=f"vote|{turn}|base|offensiveness")
    assert (
        box.label == chat_store.dimensions("standalone")[0].label and box.options[-1] == "5 · very offensive"
    )
    education = at.selectbox(key="vote_attribute|education").options
    assert education[0] == "not stated" and set(education[1:]) == set(EDUCATION)
    box.set_value(1)
    at.selectbox(key="vote_attribute|education").set_value("bachelor")
    at.button(key="chat_votes_save").click().run()
    assert not at.exception, at.exception
    stored = read_bundle(chat_store, "chat-votes-standalone")
    assert [d.name for d in stored.dimensions] == ["offensiveness", PREFERRED.name]
    assert list(stored.ratings.score.astype(int)) == [1]
    assert list(stored.rater_attributes.value) == ["bachelor"]
