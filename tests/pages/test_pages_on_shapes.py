"""Every page on datasets shaped unlike the study's (AppTest): each shape of :mod:`tests.fixtures_shapes` is
uploaded through the Data page's import wizard, imported, and then every page is opened on it.

The test id names the shape; a failure lists every page that raised, so the result reads as a page × shape
table.
"""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import paths
from pluralign_core.store.database import Store
from tests.fixtures_shapes import SHAPES

PAGES = (
    "pages/data.py",
    "pages/explore.py",
    "pages/preferences.py",
    "pages/train.py",
    "pages/evaluate.py",
    "pages/tradeoffs.py",
    "pages/chat.py",
    "pages/home.py",
)

pytestmark = pytest.mark.usefixtures("bare_app")


def import_through_wizard(shape_name: str) -> AppTest:
    """Upload the shape's CSV on the Data page and import it with the wizard's own guesses."""
    shape = SHAPES[shape_name]()
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/data.py").run()
    at.file_uploader(key="import_upload").upload(f"{shape.name}.csv", shape.csv(), "text/csv").run()
    assert not at.exception, at.exception
    assert at.multiselect(key="imp_rating_columns").value == list(shape.rating_columns)
    assert not set(shape.rating_columns) & set(at.multiselect(key="imp_demographics").value)
    at.button(key="import_run").click().run()
    assert not at.exception, at.exception
    assert Store().active_dataset() == shape.name, [e.value for e in at.error]
    return at


def page_texts(at: AppTest) -> str:
    kinds = ("success", "error", "info", "warning", "markdown", "caption")
    return " ".join(str(e.value) for kind in kinds for e in getattr(at, kind))


@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_every_page_opens_on_every_shape(store: Store, shape_name: str) -> None:
    at = import_through_wizard(shape_name)
    raised = {}
    for page in PAGES:
        at.switch_page(page).run()
        if at.exception:
            raised[page] = at.exception[0].message
    assert raised == {}, f"{shape_name}: pages that raised: {raised}"
