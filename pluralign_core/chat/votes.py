"""Chat votes become a ratings dataset: the person's ratings of each reply and their preferred reply.

The votes of one chat session are one rater (``chat-<session>``, with the demographics the person chose
to state); each question is a prompt (language ``en``/``de`` as detected or chosen, topic ``chat``,
split ``train``); each model's reply is a response to it. Ratings use the active dataset's dimensions and
scale, so the votes dataset (``chat-votes-<active dataset id>``, not simulated) is analysed by Explore
and turned into preference pairs on Preferences like any imported dataset.

The preferred reply becomes one more dimension, :data:`~pluralign_core.chat.vote_form.PREFERRED`, on the
same scale: the preferred reply scores the top of the scale and the other reply (or replies) the bottom;
a tie gives every reply the midpoint (on an even-point scale the lower middle point, so both still score
the same); "both bad" gives every reply the bottom. The pair direction, which is all Preferences uses,
is therefore exactly the person's choice, and a tie or "both bad" makes no pair.

Saving appends: the stored votes dataset is read back (:func:`pluralign_core.store.dataset_rows.
read_bundle`), the session's rows replace its earlier rows for the same rater, question, reply and
dimension (saving twice never counts a vote twice), and the whole dataset is written again in one
checked transaction.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from pluralign_core.chat.vote_form import PREFERRED, VoteForm
from pluralign_core.ratings.bundle import DatasetBundle, DatasetError
from pluralign_core.ratings.reading import csv_safe
from pluralign_core.ratings.schema import DatasetInfo, Scale
from pluralign_core.store.database import Store
from pluralign_core.store.dataset_rows import read_bundle

TIE = "tie"
ALL_BAD = "both bad"
CHOICES_SPECIAL = (TIE, ALL_BAD)
CHAT_TOPIC = "chat"


@dataclass(frozen=True)
class ReplyVote:
    """One model's reply to a question and the person's scores for it (``dimension -> score``)."""

    model: str
    model_label: str
    text: str
    scores: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TurnVote:
    """One question, the replies to it, and which reply the person preferred.

    ``preferred`` is a reply's ``model`` key, :data:`TIE`, :data:`ALL_BAD`, or None (not given).
    """

    turn_id: str
    prompt: str
    language: str
    replies: tuple[ReplyVote, ...]
    preferred: str | None = None

    def __post_init__(self) -> None:
        models = [reply.model for reply in self.replies]
        if len(set(models)) != len(models):
            raise ValueError(f"each model replies once per question; got {models}")
        if self.preferred is not None and self.preferred not in (*models, *CHOICES_SPECIAL):
            raise ValueError(
                f"the preferred reply {self.preferred!r} is none of {models} and not one of {CHOICES_SPECIAL}"
            )

    @property
    def has_votes(self) -> bool:
        return any(reply.scores for reply in self.replies) or (
            self.preferred is not None and len(self.replies) >= 2
        )


@dataclass(frozen=True)
class SessionVotes:
    """Everything one chat session votes: its id, the stated demographics and the questions."""

    session_id: str
    turns: tuple[TurnVote, ...]
    demographics: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def rater_id(self) -> str:
        return f"chat-{_slug(self.session_id)}"


@dataclass(frozen=True)
class SaveResult:
    """What a save did: the dataset written, how many of the session's ratings it holds, its size."""

    dataset_id: str
    session_ratings: int
    total_ratings: int
    fingerprint: str


def _slug(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "-", text).strip("-") or "x"


def prompt_id(session: SessionVotes, turn: TurnVote) -> str:
    return f"{_slug(session.session_id)}-{_slug(turn.turn_id)}"


def response_id(session: SessionVotes, turn: TurnVote, reply: ReplyVote) -> str:
    """A reply's id: its question's id and the model key (a short hash keeps two keys that slug alike
    apart)."""
    digest = hashlib.sha1(reply.model.encode("utf-8")).hexdigest()[:6]
    return f"{prompt_id(session, turn)}-{_slug(reply.model)}-{digest}"


def preference_scores(turn: TurnVote, scale: Scale) -> dict[str, int]:
    """The :data:`PREFERRED` score of each reply (by model key); empty without a choice or a second reply."""
    models = [reply.model for reply in turn.replies]
    if turn.preferred is None or len(models) < 2:
        return {}
    if turn.preferred == TIE:
        middle = (scale.minimum + scale.maximum) // 2
        return dict.fromkeys(models, middle)
    if turn.preferred == ALL_BAD:
        return dict.fromkeys(models, scale.minimum)
    return {m: scale.maximum if m == turn.preferred else scale.minimum for m in models}


def votes_info(form: VoteForm, models: Mapping[str, str]) -> DatasetInfo:
    labels = {language: list(labels) for language, labels in form.labels.items() if language != "en"}
    return DatasetInfo(
        dataset_id=form.votes_id,
        name=form.votes_name,
        description=(
            f"Votes given on the Chat page while {form.source_name!r} was active: each chat session is one "
            "rater, each question a prompt, each model's reply a response. 'Preferred reply' encodes the "
            "side-by-side choice on the scale (preferred = top, other = bottom, tie = midpoint, both bad = "
            "both bottom)."
        ),
        scale=form.scale,
        simulated=False,
        source="chat",
        meta={
            "chat_votes_of": form.source_id,
            "reply_models": dict(models),
            **{f"scale_labels_{language}": values for language, values in labels.items()},
        },
    )


def vote_rows(form: VoteForm, session: SessionVotes) -> DatasetBundle:
    """The session's votes as a dataset of their own (only questions with at least one vote)."""
    known = {d.name for d in form.dimensions}
    rater = session.rater_id
    prompts, responses, ratings, models = [], [], [], {}
    for turn in session.turns:
        if not turn.has_votes:
            continue
        pid = prompt_id(session, turn)
        prompts.append((pid, turn.turn_id, turn.prompt, turn.language, CHAT_TOPIC, "train"))
        preferred = preference_scores(turn, form.scale)
        for reply in turn.replies:
            rid = response_id(session, turn, reply)
            responses.append((rid, pid, reply.text, turn.language))
            models[rid] = reply.model_label
            unknown = set(reply.scores) - known
            if unknown:
                raise ValueError(
                    f"{sorted(unknown)} are not dimensions of {form.source_id!r}: {sorted(known)}"
                )
            scores = {**reply.scores, **({PREFERRED.name: preferred[reply.model]} if preferred else {})}
            ratings += [(rater, rid, dimension, int(score)) for dimension, score in scores.items()]
    attributes = {a.name: a for a in form.attributes}
    stated = [
        (rater, name, value)
        for name, values in session.demographics.items()
        if name in attributes
        for value in values
        if value in attributes[name].values
    ]
    return DatasetBundle(
        info=votes_info(form, models),
        dimensions=[*form.dimensions, PREFERRED],
        attributes=list(form.attributes),
        raters=pd.DataFrame({"rater_id": [rater] if ratings else []}, dtype=object),
        rater_attributes=pd.DataFrame(
            stated if ratings else [], columns=["rater_id", "attribute", "value"], dtype=object
        ),
        prompts=pd.DataFrame(
            prompts, columns=["prompt_id", "prompt_key", "text", "language", "topic", "split"], dtype=object
        ),
        responses=pd.DataFrame(
            responses, columns=["response_id", "prompt_id", "text", "language"], dtype=object
        ),
        ratings=pd.DataFrame(ratings, columns=["rater_id", "response_id", "dimension", "score"]).astype(
            {"score": "int64"}
        ),
    )


def _union(old: Iterable, new: Iterable) -> list:
    """The items of ``old``, then those of ``new`` whose ``name`` ``old`` lacks."""
    old = list(old)
    names = {item.name for item in old}
    return old + [item for item in new if item.name not in names]


def merge_votes(old: DatasetBundle, new: DatasetBundle) -> DatasetBundle:
    """``old`` with ``new`` appended; the new rows win where they repeat a rater / prompt / response /
    rating key, and a rater's stated demographics are replaced by their newest statement."""
    if (old.info.scale.minimum, old.info.scale.maximum) != (new.info.scale.minimum, new.info.scale.maximum):
        raise DatasetError(
            f"the votes dataset {old.info.dataset_id!r} uses the scale {old.info.scale.minimum}–"
            f"{old.info.scale.maximum}, but the active dataset's scale is {new.info.scale.minimum}–"
            f"{new.info.scale.maximum}; delete the votes dataset on the Data page or vote on a dataset with "
            "that scale"
        )

    def appended(old_rows: pd.DataFrame, new_rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        rows = pd.concat([old_rows.astype(object), new_rows.astype(object)], ignore_index=True)
        return rows.drop_duplicates(keys, keep="last").reset_index(drop=True)

    new_raters = set(new.raters.rater_id)
    kept_attributes = old.rater_attributes[~old.rater_attributes.rater_id.isin(new_raters)]
    meta = {
        **old.info.meta,
        "reply_models": {**old.info.meta.get("reply_models", {}), **new.info.meta["reply_models"]},
    }
    ratings = appended(old.ratings, new.ratings, ["rater_id", "response_id", "dimension"])
    return DatasetBundle(
        info=DatasetInfo(
            old.info.dataset_id,
            old.info.name,
            old.info.description,
            old.info.scale,
            simulated=False,
            source=old.info.source,
            meta=meta,
        ),
        dimensions=_union(old.dimensions, new.dimensions),
        attributes=_union(old.attributes, new.attributes),
        raters=appended(old.raters, new.raters, ["rater_id"]),
        rater_attributes=pd.concat(
            [kept_attributes.astype(object), new.rater_attributes.astype(object)], ignore_index=True
        ),
        prompts=appended(old.prompts, new.prompts, ["prompt_id"]),
        responses=appended(old.responses, new.responses, ["response_id"]),
        ratings=ratings.astype({"score": "int64"}),
        response_levels=old.response_levels,
    )


def save_votes(store: Store, form: VoteForm, session: SessionVotes) -> SaveResult:
    """Write the session's votes into the votes dataset (created on the first save, appended to later).

    Raises ``ValueError`` when there is nothing to save, :class:`DatasetError` when the store refuses.
    """
    new = vote_rows(form, session)
    if new.ratings.empty:
        raise ValueError("nothing to save: rate a reply or pick the preferred reply first")
    bundle = merge_votes(read_bundle(store, form.votes_id), new) if store.has_dataset(form.votes_id) else new
    fingerprint = store.write_dataset(bundle, replace=store.has_dataset(form.votes_id))
    return SaveResult(form.votes_id, len(new.ratings), len(bundle.ratings), fingerprint)


def votes_table(store: Store, votes_id: str) -> pd.DataFrame:
    """The stored votes, one row per rating: who (and their stated demographics), which question and
    reply (and model), which dimension, the score and its label."""
    bundle = read_bundle(store, votes_id)
    models = bundle.info.meta.get("reply_models", {})
    labels = bundle.info.scale.labels
    raters = bundle.rater_attributes.groupby(["rater_id", "attribute"]).value.agg("; ".join).unstack()
    table = (
        bundle.ratings.merge(bundle.responses.rename(columns={"text": "reply"}), on="response_id", how="left")
        .merge(
            bundle.prompts[["prompt_id", "text"]].rename(columns={"text": "question"}),
            on="prompt_id",
            how="left",
        )
        .assign(
            model=lambda t: t.response_id.map(models),
            score_label=lambda t: [
                labels[int(s) - bundle.info.scale.minimum] if labels else "" for s in t.score
            ],
        )
    )
    columns = ["rater_id", "prompt_id", "language", "question", "response_id", "model", "reply"]
    table = table[[*columns, "dimension", "score", "score_label"]]
    if not raters.empty:
        table = table.merge(raters.reset_index(), on="rater_id", how="left")
    return table.sort_values(["rater_id", "prompt_id", "response_id", "dimension"]).reset_index(drop=True)


def votes_csv(store: Store, votes_id: str) -> bytes:
    """:func:`votes_table` as UTF-8 CSV, texts guarded against spreadsheet formula injection."""
    buffer = io.StringIO()
    csv_safe(votes_table(store, votes_id)).to_csv(buffer, index=False)
    return buffer.getvalue().encode("utf-8")


def chat_turns(
    histories: Mapping[str, list[dict]], models: Iterable[str]
) -> list[tuple[str, str, dict[str, str]]]:
    """``(turn_id, question, {model: reply})`` per question asked, in order, from the Chat page's
    per-model histories; a question is matched across models by its ``turn`` id (by position when a
    message has none)."""
    turns: dict[str, tuple[str, dict[str, str]]] = {}
    for model in models:
        messages = histories.get(model, [])
        for index, message in enumerate(messages):
            if message.get("role") != "user":
                continue
            reply = messages[index + 1] if index + 1 < len(messages) else None
            _, replies = turns.setdefault(turn_id(messages, index), (message["content"], {}))
            if reply is not None and reply.get("role") == "assistant":
                replies[model] = reply["content"]
    return [(turn, question, replies) for turn, (question, replies) in turns.items()]


def turn_id(messages: list[dict], index: int) -> str:
    """The turn id of the question that ``messages[index]`` (a question or its reply) belongs to: its
    ``turn`` entry, or its position for a message without one (the rule :func:`chat_turns` follows)."""
    question = index if messages[index].get("role") == "user" else index - 1
    return str(messages[question].get("turn") or f"q{question // 2}")
