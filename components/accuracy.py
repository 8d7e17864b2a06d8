"""The Accuracy page's pieces: the dataset picker and settings, the test-item plan shown before running, running a
sweep with progress and a stop button (recorded in the runs database), and the result view, which the Runs page
reuses for past runs. The page only lays these out; the sweep itself is ``core.evaluate.sweep``. The remedies
and several models (``components.remedies``: models picker, BatchNorm re-estimation checkbox, their tables,
the model x variant view) plug into the same settings, run and result view.

The settings live in the tab's ``Session`` (``components.session.AccuracySettings``): every widget is drawn from
them on each run and writes back when the user changes it, so a visit to another page (which makes Streamlit
forget the widgets it did not draw) keeps them. Widget keys start with ``acc_``. The last result survives reruns
in the ``Session`` (``AccuracyRun``)
together with the settings that produced it: as soon as a setting differs, the result is
marked out of date. A failed or stopped run removes the previous result, so results of other settings never
stay on screen (they remain in the runs database).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from components import item_evidence, remedies, running, state, sweep_charts
from components.running import Progress, ShouldStop
from components.session import ACCURACY_EVALUATIONS, ACCURACY_SOURCES, AccuracyRun, AccuracySettings
from components.text import md
from core.errors import PrepscopeError, page_message
from core.evaluate.datasets import (
    BUILTINS,
    DEFAULT_MAX_ITEMS,
    DatasetRequest,
    data_root,
    list_data_folders,
    open_request,
    resolve_data_folder,
)
from core.evaluate.evidence import items_dataset, unavailable_reason
from core.evaluate.folds import describe_line, make_evaluation
from core.evaluate.methods import METHODS
from core.evaluate.multimodel import MultiSweepResult, evaluate_models
from core.evaluate.power import size_notes
from core.evaluate.rayengine import engine_setting, server_engine
from core.evaluate.report import table_rows
from core.evaluate.sweep import evaluate_sweep
from core.jobs import Job, JobResult
from core.models import load_model, model_spec
from core.preprocess.recipe import weights_key
from core.runs import RunStore, record_each
from core.shared import public_csv, public_json, public_path

if TYPE_CHECKING:
    from collections.abc import Iterable

    from core.evaluate.sweep import SweepResult
    from core.preprocess.variant import Variant

SOURCES = ACCURACY_SOURCES
METHOD_HELP = {
    "probe": "Logistic regression on the frozen network's pooled features (standardized, C = 1).",
    "zeroshot": "No training: the classes of the network's own head named like your classes (ImageNet's for the "
                "built-in networks, ants → ant; a network card's own list for yours); argmax over them.",
    "adapter": "One-channel input: a learned 1×1 conv (1→3) plus a linear head, trained through the frozen "
               "network (slow on CPU: about three forward passes per training item per epoch).",
    "finetune": "Stem (one-channel, started by conv-sum, for gray variants), BatchNorm layers and a linear head "
                "trained with early stopping on a validation part of each fold's training side; compared with the "
                "probe on the same items (slow on CPU: bounded epochs and training items, one training per fold).",
}
EVALUATIONS = ACCURACY_EVALUATIONS
EVALUATION_HELP = ("automatic: leave one group out when the items carry 2–10 groups (e.g. speakers), else one "
                   "held-out split. Cross-validation tests every item exactly once and reuses the features, so it "
                   "costs one extraction plus one classifier fit per fold.")
ITEM_FILTERS = ("all items", "wrong under the reference", "wrong only under this variant", "fixed by this variant",
                "lowest confidence")
ITEM_SORTS = ("confidence, lowest first", "confidence, highest first", "name", "class")
PAGE_ROWS = 50
PLAYERS = 12
SETTING_NAMES = {"dataset": "dataset", "per_class": "items per class", "seed": "seed", "method": "method",
                 "evaluation": "test items", "test_fraction": "test fraction", "model": "model",
                 "models": "models", "adapt": "BatchNorm re-estimation", "variants": "variant set",
                 "saved_models": "saved model weights", "network_weights": "network weights"}


@dataclass(frozen=True)
class Settings:
    """What the settings widgets say: method, seed, test fraction, items per class (0 = automatic), evaluation,
    the models (empty = the sidebar's model; several = a model x variant table) and the adaptation (``"bn"``)."""

    method: str = "probe"
    seed: int = 0
    test_fraction: float = 0.2
    per_class: int = 0
    evaluation: str = EVALUATIONS[0]
    k: int = 10
    models: tuple[str, ...] = ()
    adapt: str | None = None

    @property
    def cv(self) -> str | int:
        """The ``cv`` argument of ``evaluate_sweep`` these settings mean."""
        return {EVALUATIONS[0]: "auto", EVALUATIONS[1]: "none", EVALUATIONS[2]: self.k,
                EVALUATIONS[3]: "groups"}[self.evaluation]


# ------------------------------------------------------------------------------------------------ settings


def _store_zip() -> None:
    up = st.session_state.get("acc_upload")
    state.set_accuracy(zip_name=None if up is None else up.name, zip_bytes=None if up is None else up.getvalue())


def render_dataset_picker() -> None:
    """Widgets for the dataset: a built-in set, a folder under the data root, or an uploaded zip (kept for the tab
    once uploaded, also when the uploader was emptied by a visit to another page)."""
    source = st.radio("Dataset", SOURCES, horizontal=True, **state.accuracy_widget("source", "acc_source", SOURCES))
    if source == SOURCES[0]:
        st.selectbox("Built-in dataset", BUILTINS, **state.accuracy_widget("builtin", "acc_builtin", BUILTINS),
                     help="digits: scikit-learn's 8×8 handwritten digits (1,797). sounds: the synthesized sound set.")
    elif source == SOURCES[1]:
        root = data_root()
        folders = list_data_folders(root)
        if folders:
            folder = st.selectbox(f"Folder under {public_path(root)}", folders,
                                  **state.accuracy_widget("folder", "acc_folder", folders))
            if folder != state.session().accuracy.folder:
                state.set_accuracy(folder=folder)  # the first folder, shown before any choice
        else:
            st.info("No data root: set PREPSCOPE_DATA_ROOT to a folder of datasets, or upload a zip.")
    else:
        st.file_uploader("Dataset zip (one folder per class, train/ + test/, or label_group_n files)",
                         type=["zip"], key="acc_upload", on_change=_store_zip)
        kept = state.session().accuracy.zip_name
        if kept and st.session_state.get("acc_upload") is None:
            st.caption(f"Using {md(kept)}, uploaded earlier in this tab; upload another zip to replace it.")
    st.text_input("Label pattern for flat folders (regex with named groups label and group)",
                  placeholder="default: label_group_n, e.g. 7_george_12.wav",
                  **state.accuracy_widget("pattern", "acc_pattern"))


def render_settings() -> Settings:
    """Method, evaluation (split or folds), seed, test fraction, items per class, models and BatchNorm
    re-estimation; returns their values."""
    method = st.radio("Method", METHODS, horizontal=True, **state.accuracy_widget("method", "acc_method", METHODS))
    st.caption(METHOD_HELP[method])
    c1, c2 = st.columns([3, 1])
    evaluation = c1.selectbox("Test items", EVALUATIONS, help=EVALUATION_HELP,
                              **state.accuracy_widget("evaluation", "acc_eval", EVALUATIONS))
    k = state.session().accuracy.k
    if evaluation == EVALUATIONS[2]:
        k = int(c2.number_input("Folds (K)", min_value=2, max_value=50, step=1,
                                **state.accuracy_widget("k", "acc_k")))
    c1, c2, c3 = st.columns(3)
    seed = int(c1.number_input("Seed", min_value=0, max_value=2**31 - 1, step=1,
                               **state.accuracy_widget("seed", "acc_seed")))
    test_fraction = float(c2.slider("Test fraction (one split)", min_value=0.1, max_value=0.5, step=0.05,
                                    disabled=evaluation in EVALUATIONS[2:],
                                    **state.accuracy_widget("test_fraction", "acc_test_fraction")))
    per_class = int(c3.number_input(
        "Items per class (0 = automatic)", min_value=0, max_value=100_000, step=10,
        **state.accuracy_widget("per_class", "acc_per_class"),
        help=f"0: every item of a dataset of up to {DEFAULT_MAX_ITEMS:,} items; a larger one is subsampled to about "
             f"{DEFAULT_MAX_ITEMS:,}, balanced over classes (said in the provenance line). N: a seeded subset of at "
             "most N per class."))
    models, adapt = remedies.render_options(method)
    return Settings(method, seed, test_fraction, per_class, evaluation, k, tuple(models), adapt)


def dataset_request(per_class: int, seed: int) -> DatasetRequest | None:
    """The request the dataset settings describe (``per_class`` 0 = automatic), or None when nothing is chosen."""
    acc = state.session().accuracy
    pattern = acc.pattern or None
    wanted = per_class or None
    if acc.source == SOURCES[0]:
        if acc.builtin == "sounds":  # synthesized on demand: make exactly the clips asked for (default 20 per class)
            return DatasetRequest(builtin=acc.builtin, n_sounds=max(per_class, 3) if per_class else 20, seed=seed)
        return DatasetRequest(builtin=acc.builtin, per_class=wanted, seed=seed)
    if acc.source == SOURCES[1]:
        root = data_root()
        if root is None or not acc.folder:
            return None
        return DatasetRequest(path=str(resolve_data_folder(root, acc.folder)), label_pattern=pattern,
                              per_class=wanted, seed=seed)
    if acc.zip_bytes is None:
        return None
    return DatasetRequest(zip_bytes=acc.zip_bytes, zip_name=acc.zip_name, label_pattern=pattern,
                          per_class=wanted, seed=seed)


def settings_signature(request: DatasetRequest | None, settings: Settings) -> dict:
    """Everything a result depends on, comparable across reruns (an upload by name and size)."""
    if request is None:
        dataset = None
    else:
        dataset = {f.name: getattr(request, f.name) for f in fields(request)
                   if f.name not in ("zip_bytes", "per_class", "seed")}
        dataset["zip_size"] = None if request.zip_bytes is None else len(request.zip_bytes)
    s = state.session()
    models = list(settings.models) or [s.model]
    sig = {"dataset": dataset, "per_class": settings.per_class, "seed": settings.seed, "method": settings.method,
           "evaluation": str(settings.cv), "models": models, "adapt": settings.adapt, "variants": s.variants.to_json()}
    if settings.cv in ("auto", "none"):
        sig["test_fraction"] = settings.test_fraction
    return {**sig, **weights_signature(s.variants, models)}


def weights_signature(variants: Iterable[Variant], models: Iterable[str]) -> dict:
    """The weights a result depends on beyond the names: the digests of the saved models the variants name
    (``saved_models``) and of the networks added from a checkpoint (``network_weights``), each present only when
    there are any. A model retrained, or a network added again, under the same name marks the result out of date."""
    out: dict = {}
    saved = sorted({key for v in variants if (key := weights_key(v))})
    if saved:
        out["saved_models"] = saved
    networks = {}
    for name in models:
        try:
            digest = model_spec(name).card_sha256
        except PrepscopeError:
            digest = "missing"
        if digest:
            networks[name] = digest
    if networks:
        out["network_weights"] = networks
    return out


def changed_settings(produced: dict | None, current: dict) -> list[str]:
    """Names of the settings that differ between the ones that produced a result and the current ones."""
    if produced is None:
        return []
    keys = dict.fromkeys([*produced, *current])
    return [SETTING_NAMES.get(k, k) for k in keys if produced.get(k) != current.get(k)]


# ------------------------------------------------------------------------------------------------ plan


@st.cache_data(max_entries=16, show_spinner="Counting the test items…")
def plan(request: DatasetRequest, method: str, cv: str | int, test_fraction: float, seed: int) -> dict:
    """What the settings give before anything runs: items, classes, groups, the evaluation and its test-item
    count, the power notes, and what to offer (all items, a K for cross-validation). ``error`` when refused."""
    try:
        with open_request(request) as (train, test):
            ev = make_evaluation(train, test, method=method, cv=cv, test_fraction=test_fraction, seed=seed)
            split = ev.describe()
            counts = train.counts()
            return {"n_items": len(train) + (0 if test is None else len(test)), "n_classes": len(train.classes),
                    "n_groups": len(set(train.groups) - {None}),
                    "kind": ev.kind, "cross_validated": ev.cross_validated, "n_folds": len(ev.folds),
                    "n_test": ev.n_test, "line": describe_line(split),
                    "notes": size_notes(ev.n_test, len(ev.folds), subsampled=train.subsample is not None),
                    "subsample": train.subsample, "max_class": max(counts.values()),
                    "suggest_k": max(2, min(10, min(counts.values()))), "given_test": test is not None,
                    "error": None}
    except PrepscopeError as e:
        return {"error": page_message(e)}


def _use_all_items(max_class: int) -> None:
    state.set_accuracy(per_class=max_class)


def _use_cross_validation(k: int, groups: bool) -> None:
    state.set_accuracy(evaluation=EVALUATIONS[3] if groups else EVALUATIONS[2], k=k)


def render_plan(p: dict) -> None:
    """Before running: how many items the settings test, and what that size cannot show, with offers to fix it."""
    if p.get("error"):
        st.error(md(p["error"]), icon=":material/error:")
        return
    sub = p["subsample"]
    subset = (f" (a seeded subset: at most {sub['per_class']} per class of {sub['of']:,} items)" if sub else "")
    st.info(f"**{p['n_test']:,} test items** — {p['n_items']:,} items{subset}, {p['n_classes']} classes; "
            f"{p['line']}.", icon=":material/fact_check:")
    if not p["notes"]:
        return
    for note in p["notes"]:
        st.warning(note, icon=":material/warning:")
    cols = st.columns(3)
    if sub:
        cols[0].button("Use all items", key="acc_offer_all", on_click=_use_all_items, args=(p["max_class"],),
                       icon=":material/select_all:")
    if not p["cross_validated"] and not p["given_test"]:
        cols[1].button("Use cross-validation", key="acc_offer_cv", on_click=_use_cross_validation,
                       args=(p["suggest_k"], 2 <= p["n_groups"] <= 50), icon=":material/view_week:")


# ------------------------------------------------------------------------------------------------ running


STOPPED_NOTICE = ("Stopped: the sweep was stopped before it finished; nothing of it was kept or recorded. Earlier "
                  "results stay in the Runs page.")
FAILED_SUFFIX = " Earlier results stay in the Runs page."


def _on_stop() -> None:
    """The Stop click: the notice is set at once (the job ends a moment later, when the sweep next looks)."""
    _forget_result()
    state.session().accuracy_notice = STOPPED_NOTICE


def _forget_result() -> None:
    state.session().accuracy_run = None


def _job_settings(request: DatasetRequest, settings: Settings, signature: dict, models: list[str]) -> dict:
    """What a sweep job was asked, as JSON (the jobs table and Runs show it): the settings signature (which marks
    its result out of date later), the models, the extraction engine and the page's settings as the user set them
    (a reload of the tab takes them back with the result)."""
    acc = state.session().accuracy
    page = {f.name: getattr(acc, f.name) for f in fields(AccuracySettings) if f.name != "zip_bytes"}
    return {"signature": json.loads(json.dumps(signature, default=str)), "models": models,
            "method": settings.method, "dataset": running.dataset_label(request),
            "engine": engine_setting(), "page": json.loads(json.dumps(page))}


def _restore_settings(job: Job, value: AccuracyRun | None) -> bool:
    """After a reload, the page's settings become those of the sweep whose result it shows again (the widgets were
    back at their defaults); whether they changed (the page then runs again to draw them)."""
    page = job.settings.get("page")
    if not running.restored("acc") or not isinstance(page, dict):
        return False
    known = {f.name for f in fields(AccuracySettings)} - {"zip_bytes"}
    try:
        restored = AccuracySettings(**{k: (tuple(v) if k == "models" else v) for k, v in page.items() if k in known},
                                    zip_bytes=value.zip_bytes if value is not None else None)
    except TypeError:  # a job of an older version
        return False
    s = state.session()
    if restored == s.accuracy:
        return False
    s.accuracy = restored
    return True


def run(request: DatasetRequest | None, settings: Settings, signature: dict, refused: str | None = None) -> None:
    """Start the sweep as a job of the server (``components.running``): it records its run(s) in the runs database
    and hands the page an ``AccuracyRun`` with the settings that produced it. Several models run once each
    (``core.evaluate.multimodel``), one recorded run per model; ``settings.adapt`` adds BatchNorm re-estimation
    (``core.evaluate.adabn``). A failure or a stop removes the previous result. ``refused``: why the plan already
    refuses these settings (the plan's error): nothing is queued, the sentence is said again."""
    state.session().accuracy_notice = None
    if request is None:
        _forget_result()
        st.error("Choose a dataset first.", icon=":material/dataset:")
        return
    if refused:
        _forget_result()
        st.error(f"Not started: {md(refused)}", icon=":material/error:")
        return
    s = state.session()
    models = list(settings.models) or [s.model]
    variants = s.variants
    main = state.get_model() if len(models) == 1 and models[0] == s.model else None
    job_settings = _job_settings(request, settings, signature, models)

    def work(progress: Progress, should_stop: ShouldStop) -> JobResult:
        common = {"method": settings.method, "seed": settings.seed, "test_fraction": settings.test_fraction,
                  "cv": settings.cv, "adapt": settings.adapt, "should_stop": should_stop, "progress": progress,
                  "engine": server_engine()}
        with open_request(request) as (train, test):
            if len(models) > 1:
                result = evaluate_models(train, variants, [load_model(n) for n in models], test=test, **common)
            else:
                result = evaluate_sweep(train, variants, main or load_model(models[0]), test=test, **common)
        if isinstance(result, MultiSweepResult):  # several models: one run each
            warnings = record_each(result.results, "page")
            ids = [i for i in result.run_ids if i is not None]
        else:
            warnings = []
            try:
                RunStore().record(result, origin="page")
            except PrepscopeError as e:
                warnings.append(page_message(e))
            ids = [result.run_id] if result.run_id else []
        recorded = f" — {'runs' if len(ids) > 1 else 'run'} {', '.join(f'#{i}' for i in ids)}" if ids else ""
        return JobResult(AccuracyRun(result, signature, request.zip_bytes), ref={"runs": ids},
                         message=f"Done in {result.seconds:.1f} s{recorded}.",
                         warnings=tuple(f"The run was not recorded in the runs database: {w}" for w in warnings))

    _forget_result()
    running.submit("acc", "sweep", job_settings, work, models=models, method=settings.method)


def _finished(job: Job, value: AccuracyRun | None) -> None:
    """A sweep job has ended: its result (from this server's memory, else read back from the runs database) becomes
    the page's, or the stop's notice."""
    s = state.session()
    s.accuracy_run = None
    if job.status == "stopped":
        s.accuracy_notice = STOPPED_NOTICE
    if job.status != "done":
        return
    if value is None:  # another server ran it, or this one no longer holds it: read the recorded run(s) back
        ids = (job.result or {}).get("runs", [])
        try:
            results = [RunStore().load(i) for i in ids]
        except PrepscopeError as e:
            s.accuracy_notice = f"Job #{job.id}'s runs could not be read back: {page_message(e)}"
            return
        if not results:
            return
        signature = job.settings.get("signature", {})
        value = AccuracyRun(results[0] if len(results) == 1 else
                            MultiSweepResult(results, keep_size=False, seconds=sum(r.seconds for r in results)),
                            signature)
    s.accuracy_run = value
    if _restore_settings(job, value):
        st.rerun(scope="app")


def render_job() -> None:
    """The sweep job this tab follows (or one running for anyone): progress and Stop while it runs, how it ended."""
    running.render_job("acc", running.follow("acc"), "Running the sweep…", on_finish=_finished, on_stop=_on_stop,
                       failed_suffix=FAILED_SUFFIX, stopped_message=False)


# ------------------------------------------------------------------------------------------------ result view


def run_label(result: SweepResult) -> str:
    """``Run #12 · recorded 2025-… UTC`` (or that it was not recorded)."""
    if result.run_id is None:
        return "Not recorded in the runs database"

    try:
        created = RunStore().created(result.run_id).replace("T", " ").replace("+00:00", " UTC")
    except PrepscopeError:
        return f"Run #{result.run_id}"
    return f"Run #{result.run_id} · recorded {created}"


def render_outdated(title: str, outdated: list[str] | None) -> None:
    """The results' title, marked out of date (with the settings that changed) when ``outdated`` is not empty."""
    if outdated:
        st.subheader(f"Results — {title} · out of date")
        st.warning(f"Out of date: {', '.join(outdated)} changed since this run. Run the sweep again to see results "
                   f"for the current settings.", icon=":material/history:")
    else:
        st.subheader(f"Results — {title}")


def render_any_result(result: SweepResult | MultiSweepResult, *, zip_bytes: bytes | None = None,
                      outdated: list[str] | None = None) -> None:
    """The result view for one model (``render_result``) or several (``render_multi_result``: the model x
    variant view, then each model's own run view in a tab)."""
    if isinstance(result, MultiSweepResult):
        render_multi_result(result, zip_bytes=zip_bytes, outdated=outdated)
    else:
        render_result(result, zip_bytes=zip_bytes, outdated=outdated)


def render_multi_result(result: MultiSweepResult, *, zip_bytes: bytes | None = None,
                        outdated: list[str] | None = None) -> None:
    """The model x variant table and grouped chart with downloads and provenance, then each model's whole run
    view (items, folds, per-class, remedies) in its own tab."""
    ids = ", ".join(f"#{i}" for i in result.run_ids if i is not None)
    render_outdated("model × variant" + (f" · runs {ids}" if ids else " · not recorded"), outdated)
    tabs = st.tabs(["Model × variant"] + [f"{r.provenance['model']}"
                                           + (f" (run #{r.run_id})" if r.run_id is not None else "")
                                           for r in result.results])
    with tabs[0]:
        frame = remedies.model_variant_frame(result)
        st.dataframe(frame, hide_index=True, width="stretch", column_config={
            c: st.column_config.NumberColumn(c, format="%.3f") for c in
            ("accuracy", "ci95_low", "ci95_high", "macro_accuracy", "adapted_accuracy") if c in frame.columns})
        pooled = " pooled over the folds," if result.results[0].cross_validated else ""
        st.caption(f"Accuracy is micro,{pooled} with a 95% Wilson interval; McNemar p compares each variant with the "
                   "same model's reference (first row of each model) on the same test items. Each model's tab has its "
                   "run's items, folds and per-class recall.")
        st.plotly_chart(remedies.grouped_accuracy_figure(result), width="stretch", key="acc_grouped")
        c1, c2, c3 = st.columns(3)
        c1.download_button("Download CSV", result.to_csv(), file_name="prepscope-models.csv", mime="text/csv",
                           key="acc_dl_multi_csv", icon=":material/download:", on_click="ignore")
        c2.download_button("Download items (CSV)", lambda: public_csv(result.items_csv()),
                           file_name="prepscope-models-items.csv", mime="text/csv", key="acc_dl_multi_items",
                           icon=":material/download:", on_click="ignore")
        c3.download_button("Download JSON", lambda: public_json(result.to_dict()),
                           file_name="prepscope-models.json", mime="application/json", key="acc_dl_multi_json",
                           icon=":material/download:", on_click="ignore")
        st.caption("Provenance: " + result.provenance_line())
    for tab, r in zip(tabs[1:], result.results, strict=True):
        with tab:
            render_result(r, key=f"acc_m{r.provenance['model']}", zip_bytes=zip_bytes, title=False)


def render_result(result: SweepResult, *, key: str = "acc", zip_bytes: bytes | None = None,
                  outdated: list[str] | None = None, title: bool = True) -> None:
    """The whole result view: which run, notes, the pooled table and chart with fold dots, per-fold and per-class
    tables, the remedies' tables (BatchNorm re-estimation, finetune vs probe), confusion matrices, the item
    evidence, downloads and provenance. ``outdated`` lists settings that changed since the run (the view is then
    marked out of date); ``title=False`` leaves the title to the caller. Computes nothing."""
    if title:
        render_outdated(run_label(result), outdated)
    for note in result.notes:
        st.warning(note, icon=":material/warning:")
    for group in result.identical:
        st.info(f"Shown as one row: {md(group['reason'])}", icon=":material/join_inner:")
    column_config = {
        "accuracy": st.column_config.NumberColumn("accuracy (pooled)" if result.cross_validated
                                                  else "accuracy (micro)", format="%.3f"),
        "ci95_low": st.column_config.NumberColumn("95% CI low", format="%.3f"),
        "ci95_high": st.column_config.NumberColumn("95% CI high", format="%.3f"),
        "macro_accuracy": st.column_config.NumberColumn("macro (mean recall)", format="%.3f"),
        "mcnemar_p": st.column_config.TextColumn("McNemar p vs ref"),
        "folds": st.column_config.TextColumn("folds min – max"),
        "fold_test_p": st.column_config.TextColumn("fold test p"),
        "seconds": st.column_config.NumberColumn("seconds", format="%.1f"),
    }
    st.dataframe(sweep_charts.results_frame(result), hide_index=True, width="stretch", column_config=column_config,
                 key=f"{key}_table")
    if result.cross_validated:
        st.caption(f"{len(result.folds)} folds, every item tested exactly once: accuracy, interval and McNemar's exact "
                   "test are pooled over all items; the fold test p is Wilcoxon's signed-rank test on the per-fold "
                   "accuracy differences against the reference (first row). Macro = mean per-class recall; "
                   "intervals are 95% Wilson.")
    else:
        st.caption("Accuracy is micro (correct / all test items); macro is the mean per-class recall; intervals are "
                   "95% Wilson; p is McNemar's exact test against the reference (first row) on the same test items.")
    st.plotly_chart(sweep_charts.accuracy_figure(result), width="stretch", key=f"{key}_bar")
    remedies.render_remedies(result, key=key)
    if result.cross_validated:
        st.markdown("**Accuracy per fold**")
        frame = sweep_charts.folds_frame(result)
        st.dataframe(frame, hide_index=True, width="stretch", key=f"{key}_folds",
                     column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in frame.columns[1:]})
    st.markdown("**Per-class recall**")
    st.plotly_chart(sweep_charts.per_class_figure(result), width="stretch", key=f"{key}_per_class_chart")
    pc = sweep_charts.per_class_frame(result)
    st.dataframe(pc, hide_index=True, width="stretch", key=f"{key}_per_class",
                 column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in pc.columns[1:]})
    counts = sweep_charts.class_counts(result)
    st.caption("Recall = correct / test items of the class. Test items per class: "
               + (f"{next(iter(counts.values()))} each" if len(set(counts.values())) == 1
                  else ", ".join(f"{c}: {n}" for c, n in counts.items())) + ".")
    with st.expander("Confusion matrices", expanded=False):
        rows = table_rows(result)
        per_row = 3 if len(result.classes) <= 10 else 2
        for start in range(0, len(rows), per_row):
            cols = st.columns(per_row)
            for col, (label, i, _) in zip(cols, rows[start:start + per_row], strict=False):
                col.plotly_chart(sweep_charts.confusion_figure(result, i, label), width="stretch", key=f"{key}_cm_{i}")
    render_items(result, key=key, zip_bytes=zip_bytes)
    c1, c2, c3 = st.columns(3)
    stem = f"prepscope-run-{result.run_id}" if result.run_id else "prepscope-sweep"
    c1.download_button("Download table (CSV)", result.to_csv(), file_name=f"{stem}.csv", mime="text/csv",
                       key=f"{key}_dl_csv", icon=":material/download:", on_click="ignore")
    c2.download_button("Download items (CSV)", lambda: public_csv(result.items_csv()), file_name=f"{stem}-items.csv",
                       mime="text/csv", key=f"{key}_dl_items", icon=":material/download:", on_click="ignore")
    c3.download_button("Download JSON", lambda: public_json(result.to_dict()),
                       file_name=f"{stem}.json", mime="application/json", key=f"{key}_dl_json",
                       icon=":material/download:", on_click="ignore")
    st.caption("Provenance: " + md(result.provenance_line()))


# ------------------------------------------------------------------------------------------------ items


def items_frame(result: SweepResult, variant: int, show: str = ITEM_FILTERS[0],
                sort: str = ITEM_SORTS[0]) -> pd.DataFrame:
    """The item evidence for one variant against the reference: one row per tested item (name, class, fold,
    the reference's and the variant's prediction and confidence, and after BatchNorm re-estimation when the
    sweep did it), filtered by ``show`` (``ITEM_FILTERS``) and
    sorted by ``sort`` (``ITEM_SORTS``; "lowest confidence" always sorts by it). Column ``row`` is the item's index."""
    classes = np.asarray(result.classes, dtype=object)
    y = result.labels
    ref, var = result.variants[0], result.variants[variant]
    ref_ok, var_ok = ref.predicted == y, var.predicted == y
    frame = pd.DataFrame({
        "row": np.arange(len(result.items)), "item": [it.name for it in result.items],
        "class": classes[y] if len(y) else [], "fold": [result.folds[it.fold]["name"] if result.folds else ""
                                                        for it in result.items],
        "reference": classes[ref.predicted] if len(y) else [], "reference_confidence": ref.confidence,
        "predicted": classes[var.predicted] if len(y) else [], "confidence": var.confidence, "correct": var_ok,
        "path": [it.path for it in result.items]})
    adapted = (var.adapted or {}).get("items")
    if adapted:  # BatchNorm re-estimation: the same item's prediction after it
        frame.insert(len(frame.columns) - 1, "adapted_predicted", [a["predicted"] for a in adapted])
        frame.insert(len(frame.columns) - 1, "adapted_confidence", [a["confidence"] for a in adapted])
    keep = {ITEM_FILTERS[1]: ~ref_ok, ITEM_FILTERS[2]: ref_ok & ~var_ok,
            ITEM_FILTERS[3]: ~ref_ok & var_ok}.get(show)
    if keep is not None:
        frame = frame[keep]
    if show == ITEM_FILTERS[4] or sort == ITEM_SORTS[0]:
        frame = frame.sort_values(["confidence", "item"], ascending=[True, True], kind="stable")
    elif sort == ITEM_SORTS[1]:
        frame = frame.sort_values(["confidence", "item"], ascending=[False, True], kind="stable")
    elif sort == ITEM_SORTS[2]:
        frame = frame.sort_values("item", kind="stable")
    else:
        frame = frame.sort_values(["class", "item"], kind="stable")
    return frame.reset_index(drop=True)


def render_items(result: SweepResult, *, key: str, zip_bytes: bytes | None = None) -> None:
    """The item table (filters, sorting, pages; thumbnails for images) and players for sounds."""
    st.markdown("**Items**")
    rows = table_rows(result)
    choices = [i for _, i, m in rows if 0 not in m] or [0]
    label_of = {i: label for label, i, _ in rows}
    c1, c2, c3 = st.columns([2, 2, 2])
    variant = c1.selectbox("Variant", choices, format_func=lambda i: label_of.get(i, result.variants[i].name),
                           key=f"{key}_items_variant")
    show = c2.selectbox("Show", ITEM_FILTERS, key=f"{key}_items_show",
                        help="Against the reference (first variant): the items it gets wrong; the items only this "
                             "variant gets wrong (it breaks them); the items this variant gets right and the "
                             "reference wrong (it fixes them); or everything by the variant's confidence.")
    sort = c3.selectbox("Sort by", ITEM_SORTS, key=f"{key}_items_sort", disabled=show == ITEM_FILTERS[4])
    frame = items_frame(result, int(variant), show, sort)
    n = len(frame)
    pages = max(1, -(-n // PAGE_ROWS))
    page = 1
    if pages > 1:
        page = int(st.number_input(f"Page (of {pages}, {PAGE_ROWS} items each)", 1, pages, 1, key=f"{key}_items_page"))
    view = frame.iloc[(page - 1) * PAGE_ROWS: page * PAGE_ROWS].copy()
    desc = items_dataset(result.provenance)
    reason = unavailable_reason(desc, zip_bytes)
    zip_key = None if zip_bytes is None else hash(zip_bytes)
    audio = desc.get("kind") == "audio"
    config = {"confidence": st.column_config.NumberColumn("confidence", format="%.3f"),
              "reference_confidence": st.column_config.NumberColumn("ref confidence", format="%.3f"),
              "reference": st.column_config.TextColumn(f"reference ({result.variants[0].name})"),
              "predicted": st.column_config.TextColumn(f"predicted ({label_of.get(int(variant), '')})"),
              "adapted_predicted": st.column_config.TextColumn("after BN re-estimation"),
              "adapted_confidence": st.column_config.NumberColumn("confidence after", format="%.3f"),
              "row": None}
    if not audio and reason is None and len(view):
        desc_json = json.dumps(desc, sort_keys=True)
        view.insert(1, "thumbnail", [item_evidence.thumbnail_uri(desc_json, p, zip_key, zip_bytes)
                                     for p in view["path"]])
        config["thumbnail"] = st.column_config.ImageColumn("view", width="small")
    st.caption(f"{n} of {len(result.items)} tested items" + (f"; page {page} of {pages}" if pages > 1 else "")
               + (f". {reason}" if reason else ""))
    row_px = 60 if "thumbnail" in view else 35
    st.dataframe(view, hide_index=True, width="stretch", column_config=config, key=f"{key}_items_table",
                 row_height=row_px, height=min(len(view), 12) * row_px + 40)
    if audio and reason is None and len(view):
        st.caption(f"Players for the first {min(PLAYERS, len(view))} items of this page")
        item_evidence.render_players([(f"{r['item']} · {r['class']} → {r['predicted']} ({r['confidence']:.2f})", desc,
                                       r["path"]) for _, r in view.head(PLAYERS).iterrows()], zip_bytes)
