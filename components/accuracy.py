"""The Accuracy page's pieces: the dataset picker, running a sweep with progress and a stop button, and
the result view. The page only lays these out; the sweep itself is ``core.evaluate.sweep``.

Page state keys start with ``acc_``; the last result survives reruns in ``st.session_state["acc_result"]``.
"""

from __future__ import annotations

import json
import threading

import streamlit as st

from components import charts, state
from core.errors import PrepscopeError
from core.evaluate.datasets import (
    BUILTINS,
    DatasetRequest,
    data_root,
    list_data_folders,
    open_request,
    resolve_data_folder,
)
from core.provenance import Stopped

SOURCES = ("Built-in", "Folder under the data root", "Upload a zip")
METHOD_HELP = {
    "probe": "Logistic regression on the frozen network's pooled features (standardized, C = 1).",
    "zeroshot": "No training: the ImageNet classes named like your classes (ants → ant); argmax over them.",
    "adapter": "One-channel input: a learned 1×1 conv (1→3) plus a linear head, trained through the frozen "
               "network (slow on CPU: about three forward passes per training item per epoch).",
    "finetune": "Stem (one-channel, started by conv-sum, for gray variants), BatchNorm layers and a linear head "
                "trained with early stopping on a validation part; compared with the probe on the same split "
                "(slow on CPU: bounded epochs and training items).",
}


def render_dataset_picker() -> None:
    """Widgets for the dataset: a built-in set, a folder under the data root, or an uploaded zip."""
    source = st.radio("Dataset", SOURCES, key="acc_source", horizontal=True)
    if source == SOURCES[0]:
        st.selectbox("Built-in dataset", BUILTINS, key="acc_builtin",
                     help="digits: scikit-learn's 8×8 handwritten digits (1,797). sounds: the synthesized sound set.")
    elif source == SOURCES[1]:
        root = data_root()
        folders = list_data_folders(root)
        if folders:
            st.selectbox(f"Folder under {root}", folders, key="acc_folder")
        else:
            st.info("No data root: set PREPSCOPE_DATA_ROOT to a folder of datasets, or upload a zip.")
    else:
        st.file_uploader("Dataset zip (one folder per class, train/ + test/, or label_group_n files)",
                         type=["zip"], key="acc_upload")
    st.text_input("Label pattern for flat folders (regex with named groups label and group)", key="acc_pattern",
                  placeholder="default: label_group_n, e.g. 7_george_12.wav")


def dataset_request(per_class: int, seed: int) -> DatasetRequest | None:
    """The request the picker's widgets describe, or None when nothing is chosen yet."""
    ss = st.session_state
    source = ss.get("acc_source", SOURCES[0])
    pattern = ss.get("acc_pattern") or None
    if source == SOURCES[0]:
        name = ss.get("acc_builtin", "digits")
        if name == "sounds":  # synthesized on demand: make exactly the clips asked for (default 20 per class)
            return DatasetRequest(builtin=name, n_sounds=max(per_class, 3) if per_class else 20, seed=seed)
        return DatasetRequest(builtin=name, per_class=per_class, seed=seed)
    if source == SOURCES[1]:
        root, folder = data_root(), ss.get("acc_folder")
        if root is None or not folder:
            return None
        return DatasetRequest(path=str(resolve_data_folder(root, folder)), label_pattern=pattern,
                              per_class=per_class, seed=seed)
    upload = ss.get("acc_upload")
    if upload is None:
        return None
    return DatasetRequest(zip_bytes=upload.getvalue(), zip_name=upload.name, label_pattern=pattern,
                          per_class=per_class, seed=seed)


def _request_stop() -> None:
    event = st.session_state.get("acc_stop_event")
    if event is not None:
        event.set()
    st.session_state["acc_notice"] = (
        "Sweep stopped; nothing of the stopped pass was kept. Features cached by earlier runs stay cached."
    )


def run(request: DatasetRequest | None, method: str, seed: int, test_fraction: float,
        models: list[str] | None = None, adapt: str | None = None) -> None:
    """Run the sweep with a progress bar and a stop button; keep the result in the session. Several ``models``
    run once each (``core.evaluate.multimodel``); ``adapt="bn"`` adds BatchNorm re-estimation."""
    from core.evaluate.multimodel import evaluate_models
    from core.evaluate.sweep import evaluate_sweep
    from core.models import load_model

    event = threading.Event()
    st.session_state["acc_stop_event"] = event
    st.session_state.pop("acc_notice", None)
    status = st.status("Running the sweep…", expanded=True)
    bar = status.progress(0.0, text="Opening the dataset")
    status.button("Stop", key="acc_stop", on_click=_request_stop, icon=":material/stop:")
    if request is None:
        status.update(label="Choose a dataset first.", state="error")
        return
    try:
        with open_request(request) as (train, test):
            if models and len(models) > 1:
                result = evaluate_models(
                    train, state.session().variants, [load_model(n) for n in models], test=test, method=method,
                    seed=seed, test_fraction=test_fraction, adapt=adapt,
                    progress=lambda f, msg: bar.progress(min(1.0, f), text=msg), should_stop=event.is_set)
            else:
                result = evaluate_sweep(
                    train, state.session().variants, load_model(models[0]) if models else state.get_model(),
                    test=test, method=method, seed=seed, test_fraction=test_fraction,
                    progress=lambda f, msg: bar.progress(min(1.0, f), text=msg), should_stop=event.is_set,
                    adapt=adapt,
                )
    except Stopped as e:
        status.update(label=str(e), state="error")
        return
    except PrepscopeError as e:
        status.update(label="The sweep could not run.", state="error")
        st.error(str(e))
        return
    st.session_state["acc_result"] = result
    status.update(label=f"Done in {result.seconds:.1f} s.", state="complete", expanded=False)


def render_result(result) -> None:  # noqa: ANN001 - SweepResult
    """The results table, the accuracy chart, confusion matrices, downloads and provenance."""
    from components import remedies

    if hasattr(result, "results"):  # several models: the model x variant view
        remedies.render_multi_result(result)
        return
    st.subheader("Results")
    warning = result.split.overlap_warning()
    if warning:
        st.warning(warning, icon=":material/warning:")
    st.dataframe(
        charts.results_frame(result), hide_index=True, width="stretch",
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
    st.plotly_chart(charts.accuracy_figure(result), width="stretch", key="acc_bar")
    remedies.render_remedies(result)
    st.subheader("Confusion matrices")
    per_row = 3 if len(result.classes) <= 10 else 2
    for start in range(0, len(result.variants), per_row):
        cols = st.columns(per_row)
        for col, i in zip(cols, range(start, min(start + per_row, len(result.variants))), strict=False):
            col.plotly_chart(charts.confusion_figure(result, i), width="stretch", key=f"acc_cm_{i}")
    c1, c2 = st.columns(2)
    c1.download_button("Download CSV", result.to_csv(), file_name="prepscope-sweep.csv", mime="text/csv",
                       key="acc_dl_csv", icon=":material/download:")
    c2.download_button("Download JSON", json.dumps(result.to_dict(), indent=2, ensure_ascii=False),
                       file_name="prepscope-sweep.json", mime="application/json", key="acc_dl_json",
                       icon=":material/download:")
    st.caption("Provenance: " + result.provenance_line())
