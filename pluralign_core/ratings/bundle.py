"""One dataset as DataFrames (:class:`DatasetBundle`): what import and simulation produce."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from pluralign_core.ratings.schema import Attribute, DatasetInfo, Dimension


class DatasetError(ValueError):
    """A dataset could not be written because its rows are inconsistent; the message says where."""


@dataclass
class DatasetBundle:
    """Everything that makes one dataset, as DataFrames, ready for :func:`write_dataset`.

    Columns:

    * ``raters``: ``rater_id``
    * ``rater_attributes``: ``rater_id, attribute, value`` (several rows per rater for multi-valued ones)
    * ``prompts``: ``prompt_id, prompt_key, text, language, topic, split`` (split: ``train``/``heldout``)
    * ``responses``: ``response_id, prompt_id, text, language`` (``prompt_id`` may be null for
      standalone items)
    * ``response_levels``: ``response_id, dimension, level`` (author-intended level; optional)
    * ``ratings``: ``rater_id, response_id, dimension, score`` (integers on ``info.scale``)
    """

    info: DatasetInfo
    dimensions: list[Dimension]
    attributes: list[Attribute]
    raters: pd.DataFrame
    rater_attributes: pd.DataFrame
    prompts: pd.DataFrame
    responses: pd.DataFrame
    ratings: pd.DataFrame
    response_levels: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=["response_id", "dimension", "level"])
    )
