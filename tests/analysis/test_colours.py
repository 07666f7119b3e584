"""Group colours: a value's colour depends on the value alone, and the study's contrasts never share one."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from pluralign_core.analysis.colours import ALL_RATERS_COLOUR, HASHED_PALETTE, group_colours, value_colour
from pluralign_core.ratings.schema import DE_LEANING, STUDY_ATTRIBUTES, US_LEANING

HEX = re.compile(r"^#[0-9A-Fa-f]{6}$")
VALUES = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8, unique=True)


@given(VALUES, VALUES)
def test_a_value_keeps_its_colour_whatever_else_is_shown(first: list[str], second: list[str]) -> None:
    both = group_colours(first + second)
    alone = group_colours(first)
    reordered = group_colours(list(reversed(second + first)))
    for value in first:
        assert alone[value] == both[value] == reordered[value]
    assert set(both) == set(first) | set(second)
    assert all(HEX.match(c) for c in both.values())


def test_values_outside_the_study_spread_over_the_palette() -> None:
    colours = {value_colour(f"party {i}") for i in range(200)}
    assert len(colours) >= len(HASHED_PALETTE) - 2
    assert colours <= set(HASHED_PALETTE)


def test_the_study_contrasts_never_share_a_colour() -> None:
    for one, other in [
        ("woman", "man"),
        ("liberal", "conservative"),
        ("very liberal", "very conservative"),
        ("left", "right"),
        ("US", "DE"),
        ("en", "de"),
        ("women", "men"),
    ]:
        assert value_colour(one) != value_colour(other), (one, other)


def test_each_study_attribute_draws_its_values_in_distinct_colours() -> None:
    """German leanings reuse the colours of their US counterparts (left as liberal), so each arm apart."""
    value_sets = [a.values for a in STUDY_ATTRIBUTES if a.name != "political_leaning"]
    for values in [*value_sets, US_LEANING, DE_LEANING]:
        colours = group_colours(list(values))
        assert len(set(colours.values())) == len(values), values
        assert ALL_RATERS_COLOUR not in colours.values()
    assert value_colour("left") == value_colour("liberal")


def test_a_group_name_or_one_clause_selection_takes_its_value_colour() -> None:
    assert value_colour("women") == value_colour("woman") == value_colour("gender=woman")
    conservative = "political_leaning=conservative|very conservative|right"
    assert value_colour(conservative) == value_colour("conservative")
    assert value_colour("Woman") == value_colour("woman")
    assert value_colour("all raters") == ALL_RATERS_COLOUR


def test_a_hashed_colour_is_the_same_in_every_process() -> None:
    """Python's string hash is salted per process; the palette index must not be."""
    code = "from pluralign_core.analysis.colours import value_colour; print(value_colour('Green Party'))"
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    assert seen == {value_colour("Green Party")}
