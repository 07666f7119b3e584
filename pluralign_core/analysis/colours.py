"""One colour per group on every chart: a palette keyed by the attribute value, not by its position.

Plotly colours a trace by the order in which values appear, so "woman" is blue on one chart and red on the
next as soon as the groups shown (or their order) differ. Here a value's colour depends on the value alone:

* the study's own values (and the grid's group names, such as ``women`` or ``liberal``) have fixed colours,
  chosen so that the pairs the study contrasts (woman / man, liberal / conservative, US / DE) never share
  one; political leaning runs blue to red, age bands along a sequential scale;
* any other value gets a colour of a fixed qualitative palette indexed by a stable hash of the value
  (CRC-32: Python's own ``hash`` of a string changes from one process to the next). Two such values can
  share a colour; avoiding that would make a value's colour depend on which other values are present;
* a rater-selection label with one clause (``gender=woman``, ``political_leaning=very liberal|liberal``)
  takes the colour of its first value, so a reward model of women is drawn in the colour of "woman".
"""

from __future__ import annotations

import zlib

from plotly.colors import qualitative

#: Colour of the pooled group ("all raters") that several tables add beside the groups.
ALL_RATERS_COLOUR = "#444444"

_LEANING = {
    "very liberal": "#2166AC",
    "liberal": "#67A9CF",
    "left": "#67A9CF",
    "moderate": "#9E9E9E",
    "centre": "#9E9E9E",
    "conservative": "#EF8A62",
    "right": "#EF8A62",
    "very conservative": "#B2182B",
}
_AGE = {
    "18-24": "#440154",
    "25-34": "#414487",
    "35-44": "#2A788E",
    "45-54": "#22A884",
    "55-64": "#7AD151",
    "65+": "#FDE725",
}
_STUDY: dict[str, str] = {
    "all raters": ALL_RATERS_COLOUR,
    "us": "#636EFA",
    "de": "#FFA15A",
    "en": "#636EFA",
    "woman": "#EF553B",
    "women": "#EF553B",
    "man": "#00CC96",
    "men": "#00CC96",
    "non-binary": "#AB63FA",
    "white": "#8C564B",
    "black": "#2CA02C",
    "asian": "#E377C2",
    "hispanic or latino": "#BCBD22",
    "middle eastern or north african": "#17BECF",
    "other": "#7F7F7F",
    **_LEANING,
    **_AGE,
}

#: Colours for values the study does not name, picked by a stable hash of the value.
HASHED_PALETTE: tuple[str, ...] = tuple(qualitative.Plotly) + tuple(qualitative.D3)


def value_colour(value: str) -> str:
    """The colour of one attribute value (or one-clause selection label), the same in every process."""
    text = str(value).strip()
    fixed = _STUDY.get(text.casefold())
    if fixed is not None:
        return fixed
    if "=" in text and "&" not in text:
        first = text.split("=", 1)[1].split("|")[0].strip()
        if first.casefold() in _STUDY:
            return _STUDY[first.casefold()]
    return HASHED_PALETTE[zlib.crc32(text.encode("utf-8")) % len(HASHED_PALETTE)]


def group_colours(values: list[str]) -> dict[str, str]:
    """``color_discrete_map`` for a group-coloured chart: each value's colour depends on the value alone."""
    return {str(v): value_colour(str(v)) for v in dict.fromkeys(values)}
