"""Home page: what pluralign is, what the study behind it found, and a path through the app for a class."""

from __future__ import annotations

import streamlit as st

from pages._frame import active_dataset_info
from pluralign_core.experiments.demo_process import demo_status, launch_demo
from pluralign_core.experiments.unaligned_start import TEACHING_LABEL

PAPER_URL = "https://arxiv.org/abs/2511.14476"
CITATION = (
    "Ali, Zhao, Koenecke, Papakyriakopoulos. *Operationalizing Pluralistic Values in LLM Alignment Reveals "
    "Trade-offs in Safety, Inclusivity, and Model Behavior.* AAAI 2026. "
    f"[arXiv:2511.14476]({PAPER_URL})"
)

FINDINGS = [
    "Men rated responses **18% less toxic** than women did.",
    "Conservative raters rated emotional awareness **27.9% higher** than liberal raters, and Black raters "
    "**44% higher** than White raters.",
    "Keeping raters' disagreement in the preference data gave about **53% more toxicity reduction** than "
    "majority voting.",
    "Five-point rating scales gave about **22% more** reduction than binary ones.",
    "**DPO beat GRPO** when optimising several values at once, and tuning on a single objective sometimes "
    "beat tuning on several.",
]

PATH = [
    (
        "pages/data.py",
        "Data",
        ":material/database:",
        "See who the raters are (or import your own ratings).",
    ),
    (
        "pages/items.py",
        "Items",
        ":material/list_alt:",
        "Read the prompts and answers, see how each group rated each answer, and find where groups disagree.",
    ),
    (
        "pages/explore.py",
        "Explore",
        ":material/query_stats:",
        "Compare how groups rate the same responses — where do men and women, or liberals and "
        "conservatives, disagree?",
    ),
    (
        "pages/preferences.py",
        "Preferences",
        ":material/compare_arrows:",
        "Turn ratings into preference pairs: choose whose ratings count, majority vote or keep "
        "disagreement, 5-point or binary.",
    ),
    (
        "pages/train.py",
        "Train",
        ":material/model_training:",
        "Fine-tune a small model on one group's preferences with DPO or GRPO.",
    ),
    (
        "pages/evaluate.py",
        "Evaluate",
        ":material/fact_check:",
        "Answer held-out prompts with a tuned model and see how each group would rate the answers.",
    ),
    (
        "pages/tradeoffs.py",
        "Trade-offs",
        ":material/balance:",
        "Measure what each choice did: safety, inclusivity and helpfulness do not all move together.",
    ),
    (
        "pages/chat.py",
        "Chat",
        ":material/forum:",
        "Ask the base model and the tuned models the same question, side by side.",
    ),
]

st.title("pluralign")
st.markdown(
    "**Whose values does an aligned language model learn?** People from different groups rate the same "
    "chatbot answer differently. pluralign lets you see those differences, decide how to turn ratings into "
    "training data, fine-tune a small model on one group's preferences, and chat with the results side by "
    "side — so the choices hidden inside *alignment* become visible and discussable."
)

st.subheader("The study behind it")
st.markdown(
    "1,095 participants in the US and Germany each rated 5 prompt–answer pairs on 5 dimensions (toxicity, "
    "emotional awareness, sensitivity/openness, stereotypical bias, helpfulness) on a 5-point agreement "
    "scale: 27,375 ratings. Among its findings:"
)
st.markdown("\n".join(f"- {finding}" for finding in FINDINGS))
st.caption(f"Source: {CITATION}")

st.warning(
    "**The default data is simulated.** The study's ratings are not public, so pluralign ships a simulated "
    "rater population calibrated to the published effects above. Every page that shows it says so. It is "
    "good for learning how the pipeline behaves, not for claims about real people — import real ratings on "
    "the Data page for that.",
    icon=":material/science:",
)
info = active_dataset_info()
if info is not None:
    kind = "simulated" if info.simulated else "imported (real)"
    st.caption(f"Active dataset: **{info.name}** (`{info.dataset_id}`), {kind}.")


def demo_progress(dataset_id: str) -> None:
    """The running demo's bar, read from its demo.json (so it survives reloads); reruns the page when done."""
    status = demo_status(dataset_id)
    if not status["running"]:
        st.rerun(scope="app")
    progress = status.get("progress") or {}
    eta = progress.get("eta_s")
    text = progress.get("message") or "starting…"
    text += f" · about {eta / 60:.0f} min left" if eta is not None else ""
    st.progress(float(progress.get("fraction", 0.0)), text=text)


def demo_section(dataset_id: str) -> None:
    """Build the demo models for Chat in the background (``pluralign demo``), or show that they are ready."""
    st.subheader("Demo models for Chat")
    st.markdown(
        "One button builds what Chat opens with: an *unaligned start* (a "
        f"{TEACHING_LABEL}, fine-tuned on hostile and stereotyped answers), two adapters aligned from it on "
        "liberal and on conservative raters' toxicity preferences, and both groups' reward models. It takes "
        "a while on a laptop CPU (tens of minutes on 2 busy cores; the progress bar shows an estimate), and "
        "it keeps running when you leave this page."
    )
    status = demo_status(dataset_id)
    if status["running"]:
        st.fragment(run_every=2.0)(demo_progress)(dataset_id)
        return
    if status.get("state") == "completed":
        st.success(
            f"The demo models are ready (built in {status.get('wall_s', 0) / 60:.0f} min).",
            icon=":material/check_circle:",
        )
        st.page_link("pages/chat.py", label="Chat with them", icon=":material/forum:")
        return
    label = "Build the demo models"
    if status.get("state") in ("interrupted", "failed", "running", "planned"):
        st.warning(
            f"The last build stopped ({status.get('error') or 'its process ended'}); it continues where it "
            "stopped.",
            icon=":material/pause_circle:",
        )
        label = "Continue building the demo models"
    if st.button(label, key="home_build_demo", icon=":material/rocket_launch:"):
        launch_demo(dataset_id)
        st.rerun()


if info is not None:
    demo_section(info.dataset_id)

st.subheader("A path through the app")
st.markdown("Follow the pages in order; each takes a few minutes in class.")
for number, (page, label, icon, what) in enumerate(PATH, start=1):
    left, right = st.columns([1, 3], vertical_alignment="center")
    with left:
        st.page_link(page, label=f"{number}. {label}", icon=icon)
    right.markdown(what)
