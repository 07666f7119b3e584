"""Chat page widgets that turn replies into ratings: a rating form under each reply, and below the
replies the preferred reply per question, optional self-described demographics, save and export.

Only widgets; what is asked comes from :mod:`pluralign_core.chat.vote_form` and saving from
:mod:`pluralign_core.chat.votes`. Every answer lives in the session until the person presses *Save votes*:
nothing reaches the store before that.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Mapping

import streamlit as st

from pages._frame import get_store, switch_dataset
from pluralign_core.chat.vote_form import (
    LANGUAGES,
    VoteForm,
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
    save_votes,
    turn_id,
    votes_csv,
)
from pluralign_core.store import catalog

SESSION_KEY = "chat_votes_session"
LANGUAGE_KEY = "chat_votes_language"
AUTO = "auto"
LANGUAGE_NAMES = {AUTO: "by the question's language", "en": "English", "de": "Deutsch"}
NOT_STATED = "not stated"


@st.cache_data(show_spinner=False, max_entries=16)
def _form(store_path: str, dataset_id: str, fingerprint: str, votes_fingerprint: str) -> VoteForm:
    """The vote form, recomputed when the dataset (or its votes dataset) changes."""
    return vote_form(get_store(), dataset_id)


def current_form(dataset_id: str | None) -> VoteForm | None:
    """The vote form of the active dataset (None without one)."""
    if not dataset_id:
        return None
    store = get_store()
    votes_id = votes_dataset_id(dataset_id)
    return _form(
        str(store.path),
        dataset_id,
        catalog.dataset_fingerprint(store, dataset_id),
        catalog.dataset_fingerprint(store, votes_id),
    )


def session_id() -> str:
    """This browser session's id: all its votes are one rater."""
    return st.session_state.setdefault(SESSION_KEY, uuid.uuid4().hex[:12])


def _language(question: str) -> str:
    chosen = st.session_state.get(LANGUAGE_KEY, AUTO)
    return chosen if chosen in LANGUAGES else detect_language(question)


def _score_key(turn: str, model: str, dimension: str) -> str:
    return f"vote|{turn}|{model}|{dimension}"


def _preferred_key(turn: str) -> str:
    return f"vote|{turn}|preferred"


def _attribute_key(attribute: str) -> str:
    return f"vote_attribute|{attribute}"


def rating_controls(
    form: VoteForm | None, messages: list[dict], index: int, model: str, latest: bool
) -> None:
    """Under the reply ``messages[index]`` of ``model``: one score per dimension of the active dataset,
    with its scale labels in the question's language (each may stay "not rated")."""
    if form is None or not form.dimensions:
        return
    turn = turn_id(messages, index)
    question = messages[index - 1]["content"] if index else ""
    language = _language(question)
    with st.expander("Your rating of this reply", expanded=latest, icon=":material/how_to_vote:"):
        for dimension in form.dimensions:
            direction = "higher is better" if dimension.higher_is_better else "lower is better"
            st.selectbox(
                dimension.label,
                form.scores,
                index=None,
                format_func=lambda score, lang=language: form.score_label(score, lang),
                placeholder="not rated",
                key=_score_key(turn, model, dimension.name),
                help=f"{dimension.description} ({direction})".strip(),
            )


def _letter(position: int) -> str:
    return chr(ord("A") + position)


def _session_votes(
    form: VoteForm, histories: Mapping[str, list[dict]], models: list[str], labels: Callable[[str], str]
) -> SessionVotes:
    """Everything this session answered, read from the widgets' state."""
    turns = []
    for turn, question, replies in chat_turns(histories, models):
        votes = tuple(
            ReplyVote(
                model,
                labels(model),
                text,
                {
                    d.name: int(score)
                    for d in form.dimensions
                    if (score := st.session_state.get(_score_key(turn, model, d.name))) is not None
                },
            )
            for model, text in replies.items()
        )
        preferred = st.session_state.get(_preferred_key(turn))
        if preferred not in (*replies, TIE, ALL_BAD):
            preferred = None
        turns.append(TurnVote(turn, question, _language(question), votes, preferred))
    demographics = {}
    for attribute in form.attributes:
        value = st.session_state.get(_attribute_key(attribute.name))
        values = (
            tuple(value) if isinstance(value, list) else (() if value in (None, NOT_STATED) else (value,))
        )
        if values:
            demographics[attribute.name] = values
    return SessionVotes(session_id(), tuple(turns), demographics)


def votes_panel(
    form: VoteForm | None,
    histories: Mapping[str, list[dict]],
    models: list[str],
    labels: Callable[[str], str],
) -> None:
    """Below the replies: the preferred reply per question, the person's demographics (optional), the
    label language, and the buttons that save, export and open the votes."""
    if form is None:
        return
    turns = [t for t in chat_turns(histories, models) if t[2]]
    if not turns:
        return
    st.subheader("Your votes", divider="gray")
    name = form.votes_name.replace("`", "'")
    st.caption(
        "Rate the replies above and pick the one you prefer. Nothing is stored until you press *Save votes*; "
        f"then your votes go into the dataset `{name}` (id `{form.votes_id}`) as one rater, with the "
        "questions as prompts and the replies as responses, and appear on Explore and Preferences. The "
        "preferred reply is stored as the dimension *Preferred reply*: top of the scale for the preferred "
        "reply, bottom for the other, the midpoint for a tie, the bottom for both when both are bad."
    )
    for number, (turn, question, replies) in enumerate(turns, start=1):
        if len(replies) < 2:
            continue
        order = list(replies)
        names = {model: f"{_letter(i)} · {labels(model)}" for i, model in enumerate(order)}
        names |= {TIE: "tie", ALL_BAD: "both bad" if len(order) == 2 else "all bad"}
        st.text(f"Question {number}: {question}")  # plain text: a question is never rendered as Markdown
        st.radio(
            f"Preferred reply to question {number}",
            [*order, TIE, ALL_BAD],
            index=None,
            format_func=names.get,
            horizontal=True,
            key=_preferred_key(turn),
        )
    left, right = st.columns(2)
    with left.expander("About you (optional)", icon=":material/person:"):
        st.caption(f"Stated with your votes, in {form.source_name}'s own categories. Leave any of them out.")
        for attribute in form.attributes:
            if attribute.multi_valued:
                st.multiselect(attribute.label, attribute.values, key=_attribute_key(attribute.name))
            else:
                st.selectbox(
                    attribute.label,
                    [NOT_STATED, *attribute.values],
                    key=_attribute_key(attribute.name),
                )
    right.selectbox(
        "Scale labels",
        list(LANGUAGE_NAMES),
        format_func=LANGUAGE_NAMES.get,
        key=LANGUAGE_KEY,
        help="English or German labels; by default the language each question is written in.",
    )
    buttons = st.columns([1, 1, 1, 2])
    store = get_store()
    if buttons[0].button("Save votes", key="chat_votes_save", icon=":material/save:", type="primary"):
        try:
            result = save_votes(store, form, _session_votes(form, histories, models, labels))
        except ValueError as error:  # nothing to save, or the store refused (DatasetError)
            st.error(f"Not saved: {error}")
        else:
            st.success(
                f"Saved {result.session_ratings:,} rating(s) from this session; {form.votes_name} now holds "
                f"{result.total_ratings:,}."
            )
    if store.has_dataset(form.votes_id):
        buttons[1].download_button(
            "Download votes (CSV)",
            functools.partial(votes_csv, store, form.votes_id),  # read from the store when clicked
            f"{form.votes_id}.csv",
            "text/csv",
            key="chat_votes_csv",
            icon=":material/download:",
        )
        if buttons[2].button(
            "Open votes on Explore", key="chat_votes_explore", icon=":material/query_stats:"
        ):
            switch_dataset(form.votes_id)
            st.switch_page("pages/explore.py")
