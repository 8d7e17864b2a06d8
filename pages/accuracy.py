"""Accuracy: how well each variant's features separate the classes of a labelled dataset.

Thin page: it reads the widgets, calls ``core.evaluate`` (datasets, splits, cached features, probe /
zero-shot / adapter, intervals and McNemar tests) and shows the result, which survives reruns in
``st.session_state["acc_result"]``. Page state keys start with ``acc_``.
"""

from __future__ import annotations

import json
import threading
from contextlib import ExitStack

import streamlit as st

from components import state
from core.errors import PrepscopeError
from core.evaluate import datasets as dsets
from core.evaluate.features import SweepStopped
from core.evaluate.figures import accuracy_figure, confusion_figure, results_frame
from core.evaluate.methods import METHODS
from core.evaluate.splits import OVERLAP_NOTE

SOURCES = ("Built-in", "Folder under the data root", "Upload a zip")
METHOD_HELP = {
    "probe": "Logistic regression on the frozen network's pooled features (standardized, C = 1).",
    "zeroshot": "No training: the ImageNet classes named like your classes (ants → ant); argmax over them.",
    "adapter": "One-channel input: a learned 1×1 conv (1→3) plus a linear head, trained through the frozen "
               "network (slow on CPU: about three forward passes per training item per epoch).",
}


def _request_stop() -> None:
    event = st.session_state.get("acc_stop_event")
    if event is not None:
        event.set()
    st.session_state["acc_notice"] = (
        "Sweep stopped; nothing of the stopped pass was kept. Features cached by earlier runs stay cached."
    )


def _choose_dataset(stack: ExitStack, per_class: int, seed: int, label_pattern: str | None):
    """Open the chosen dataset; returns (train, test) or None when nothing is chosen yet."""
    source = st.session_state.get("acc_source", SOURCES[0])
    if source == SOURCES[0]:
        name = st.session_state.get("acc_builtin", "digits")
        if name == "sounds":  # synthesized on demand: make exactly the clips asked for (default 20 per class)
            return dsets.load_builtin(name, n_per_class=max(per_class, 3) if per_class else 20), None
        return dsets.load_builtin(name).sample_per_class(per_class, seed), None
    if source == SOURCES[1]:
        root = dsets.data_root()
        folder = st.session_state.get("acc_folder")
        if root is None or not folder:
            return None
        src = stack.enter_context(dsets.open_dataset(dsets.resolve_data_folder(root, folder), label_pattern))
    else:
        upload = st.session_state.get("acc_upload")
        if upload is None:
            return None
        src = stack.enter_context(dsets.open_zip_bytes(upload.getvalue(), upload.name, label_pattern))
    test = None if src.test is None else src.test.sample_per_class(per_class, seed)
    return src.train.sample_per_class(per_class, seed), test


def _run(per_class: int, seed: int, method: str, test_fraction: float, label_pattern: str | None) -> None:
    from core.evaluate.sweep import evaluate_sweep

    variants = state.get_variants()
    event = threading.Event()
    st.session_state["acc_stop_event"] = event
    st.session_state.pop("acc_notice", None)
    status = st.status("Running the sweep…", expanded=True)
    bar = status.progress(0.0, text="Opening the dataset")
    status.button("Stop", key="acc_stop", on_click=_request_stop, icon=":material/stop:")
    try:
        with ExitStack() as stack:
            chosen = _choose_dataset(stack, per_class, seed, label_pattern)
            if chosen is None:
                status.update(label="Choose a dataset first.", state="error")
                return
            train, test = chosen
            model = state.get_model()
            result = evaluate_sweep(
                train, variants, model, test=test, method=method, seed=seed, test_fraction=test_fraction,
                progress=lambda f, msg: bar.progress(min(1.0, f), text=msg), should_stop=event.is_set,
            )
    except SweepStopped as e:
        status.update(label=str(e), state="error")
        return
    except PrepscopeError as e:
        status.update(label="The sweep could not run.", state="error")
        st.error(str(e))
        return
    st.session_state["acc_result"] = result
    status.update(label=f"Done in {result.seconds:.1f} s.", state="complete", expanded=False)


def _render(result) -> None:
    st.subheader("Results")
    for note in result.provenance["split"].get("notes", []):
        if note.startswith(OVERLAP_NOTE):
            st.warning(note[0].upper() + note[1:] + ".", icon=":material/warning:")
    frame = results_frame(result)
    st.dataframe(
        frame, hide_index=True, width="stretch",
        column_config={
            "accuracy": st.column_config.NumberColumn("accuracy (micro)", format="%.3f"),
            "ci95_low": st.column_config.NumberColumn("95% CI low", format="%.3f"),
            "ci95_high": st.column_config.NumberColumn("95% CI high", format="%.3f"),
            "macro_accuracy": st.column_config.NumberColumn("macro (mean recall)", format="%.3f"),
            "mcnemar_p": st.column_config.NumberColumn("McNemar p vs ref", format="%.3g"),
            "seconds": st.column_config.NumberColumn("seconds", format="%.1f"),
        },
    )
    st.caption("Accuracy is micro (correct / all test items); macro is the mean per-class recall; intervals are "
               "95% Wilson; p is McNemar's exact test against the reference (first row) on the same test items.")
    st.plotly_chart(accuracy_figure(result), width="stretch", key="acc_bar")
    st.subheader("Confusion matrices")
    per_row = 3 if len(result.classes) <= 10 else 2
    for start in range(0, len(result.variants), per_row):
        cols = st.columns(per_row)
        for col, i in zip(cols, range(start, min(start + per_row, len(result.variants))), strict=False):
            col.plotly_chart(confusion_figure(result, i), width="stretch", key=f"acc_cm_{i}")
    c1, c2 = st.columns(2)
    c1.download_button("Download CSV", result.to_csv(), file_name="prepscope-sweep.csv", mime="text/csv",
                       key="acc_dl_csv", icon=":material/download:")
    c2.download_button("Download JSON", json.dumps(result.to_dict(), indent=2, ensure_ascii=False),
                       file_name="prepscope-sweep.json", mime="application/json", key="acc_dl_json",
                       icon=":material/download:")
    st.caption("Provenance: " + result.provenance_line())


st.title("Accuracy")
st.caption("Does a preprocessing choice change what the network's features can tell apart? Each variant of the "
           "current set is scored on the same held-out items; the first variant is the reference.")

variants = state.get_variants()
st.markdown("**Variants:** " + ", ".join(f"`{v.name}`" for v in variants) + "  (edit them in the sidebar)")

left, right = st.columns(2)
with left:
    source = st.radio("Dataset", SOURCES, key="acc_source", horizontal=True)
    if source == SOURCES[0]:
        st.selectbox("Built-in dataset", dsets.BUILTINS, key="acc_builtin",
                     help="digits: scikit-learn's 8×8 handwritten digits (1,797). sounds: the synthesized sound set.")
    elif source == SOURCES[1]:
        root = dsets.data_root()
        folders = dsets.list_data_folders(root)
        if folders:
            st.selectbox(f"Folder under {root}", folders, key="acc_folder")
        else:
            st.info("No data root: set PREPSCOPE_DATA_ROOT to a folder of datasets, or upload a zip.")
    else:
        st.file_uploader("Dataset zip (one folder per class, train/ + test/, or label_group_n files)",
                         type=["zip"], key="acc_upload")
    st.text_input("Label pattern for flat folders (regex with named groups label and group)", key="acc_pattern",
                  placeholder="default: label_group_n, e.g. 7_george_12.wav")
with right:
    method = st.radio("Method", METHODS, key="acc_method", horizontal=True)
    st.caption(METHOD_HELP[method])
    c1, c2, c3 = st.columns(3)
    seed = int(c1.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="acc_seed"))
    test_fraction = c2.slider("Test fraction", 0.1, 0.5, 0.2, 0.05, key="acc_test_fraction")
    per_class = int(c3.number_input("Items per class (0 = all)", min_value=0, max_value=100_000, value=20, step=10,
                                    key="acc_per_class",
                                    help="A seeded subset per class keeps a CPU sweep short; 0 uses everything."))

if st.button("Run sweep", type="primary", key="acc_run", icon=":material/play_arrow:"):
    _run(per_class, seed, method, test_fraction, st.session_state.get("acc_pattern") or None)

if st.session_state.get("acc_notice"):
    st.info(st.session_state["acc_notice"])
if st.session_state.get("acc_result") is not None:
    _render(st.session_state["acc_result"])
