"""The Dataset check page's pieces: the dataset picker (a built-in set, a folder under the data root with an
optional test folder, or an uploaded zip), running a check as a job of the server (progress and a Stop button;
recorded in the runs database), and the report: a summary table, then per finding its items (thumbnails or
players, sortable) with Open in Compare. The Runs page lists recorded checks and opens them with the same report view.

The picker's choices are page options (``check_*``, in the link); the report of the last run and the uploaded
zip's bytes (needed to show its items again) are kept in the tab's ``Session`` (``CheckRun``).
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from components import item_evidence, running, state
from components.running import Progress, ShouldStop
from components.session import CheckRun, to_params
from components.text import md
from core.check.report import CheckReport
from core.check.run import check_dataset
from core.errors import PrepscopeError, UnsupportedInput, page_message
from core.evaluate.datasets import (
    BUILTINS,
    DatasetRequest,
    data_root,
    list_data_folders,
    open_request,
    resolve_data_folder,
)
from core.evaluate.evidence import item_file, unavailable_reason
from core.evaluate.rayengine import engine_setting, server_engine
from core.jobs import Job, JobResult
from core.runs.store import RunStore, list_checks, load_check, record_check
from core.shared import public_csv, public_json, public_path

SOURCES = ("Folder under the data root", "Upload a zip", "Built-in")
NO_TEST = "(none)"
PLAYERS = 8
ITEM_ROWS = 200


def render_options() -> tuple[int, bool]:
    """Items per class (0 = all) and whether to skip the network (metadata only)."""
    per_class = int(state.bound_widget(
        st.number_input, "Items per class (0 = all)", "check_per_class", 0, min_value=0, max_value=100_000, step=10,
        help="Check a seeded subset of at most this many items per class."))
    metadata_only = state.bound_widget(st.toggle, "Metadata only (skip the network)", "check_meta", False,
                                       help="Files, formats, recipe and shortcuts only: no label, outlier, "
                                            "near-duplicate by features or BN-shift findings.")
    return per_class, bool(metadata_only)


def render_picker(per_class: int = 0) -> DatasetRequest | None:
    """The dataset widgets; returns the request they describe (at most ``per_class`` items per class, 0 = all), or
    None when nothing usable is chosen."""
    source = state.bound_widget(st.radio, "Dataset", "check_source", SOURCES[0], options=SOURCES, horizontal=True)
    if source == SOURCES[2]:
        name = state.bound_widget(st.selectbox, "Built-in dataset", "check_builtin", BUILTINS[0], options=BUILTINS)
        return DatasetRequest(builtin=name, per_class=per_class)
    if source == SOURCES[1]:
        up = st.file_uploader("Dataset zip (one folder per class, train/ + test/, or label_group_n files)",
                              type=["zip"], key="check_upload")
        if up is None:
            return None
        return DatasetRequest(zip_bytes=up.getvalue(), zip_name=up.name, per_class=per_class)
    root = data_root()
    folders = list_data_folders(root)
    if not folders:
        st.info("No data root: set PREPSCOPE_DATA_ROOT to a folder of datasets, or upload a zip.")
        return None
    c1, c2 = st.columns(2)
    folder = state.bound_widget(c1.text_input, f"Folder under {root}", "check_folder", folders[0],
                                help="A folder name under the data root, or a path inside it (hymenoptera/train).")
    test = state.bound_widget(c2.text_input, "Test folder (optional)", "check_test", "",
                              help="A separate test set under the data root: leaks from the training set are "
                                   "searched.")
    try:
        path = resolve_data_folder(root, folder.strip())
        test_path = resolve_data_folder(root, test.strip()) if test.strip() else None
    except PrepscopeError as e:
        st.error(md(page_message(e)), icon=":material/folder_off:")
        return None
    return DatasetRequest(path=str(path), test_path=None if test_path is None else str(test_path),
                          per_class=per_class)


def run(request: DatasetRequest | None, metadata_only: bool) -> None:
    """Start the check as a job of the server (``components.running``): it records the check in the runs database
    and hands the page its report."""
    if request is None:
        st.error("Choose a dataset first.", icon=":material/dataset:")
        return
    state.session().check_run = None
    s = state.session()
    variants, model = list(s.variants), state.get_model()
    settings = {"dataset": running.dataset_label(request),
                "test": public_path(request.test_path) if request.test_path else None,
                "per_class": request.per_class, "metadata_only": metadata_only, "model": s.model,
                "variants": [v.name for v in variants],
                "engine": engine_setting()}

    def work(progress: Progress, should_stop: ShouldStop) -> JobResult:
        with open_request(request) as (train, test):
            report = check_dataset(train, test, variants, model, progress=progress, should_stop=should_stop,
                                   features=not metadata_only, engine=server_engine())
        warnings = []
        try:
            record_check(RunStore(), report, origin="page")
        except PrepscopeError as e:
            warnings.append(f"The check was not recorded in the runs database: {page_message(e)}")
        recorded = f" — check #{report.check_id}" if report.check_id else ""
        return JobResult(CheckRun(report, request.zip_bytes), ref={"check": report.check_id},
                         message=f"Done in {report.seconds.get('total', 0):.1f} s{recorded}.", warnings=tuple(warnings))

    running.submit("check", "check", settings, work, dataset=settings["dataset"])


def _finished(job: Job, value: CheckRun | None) -> None:
    """A check job has ended: its report (from this server's memory, else read back from the runs database)."""
    s = state.session()
    s.check_run = value
    check_id = (job.result or {}).get("check")
    if job.status == "done" and value is None and check_id:
        try:
            s.check_run = CheckRun(CheckReport.from_dict(load_check(RunStore(), int(check_id))))
        except PrepscopeError as e:
            st.warning(md(page_message(e)), icon=":material/database:")


def render_job() -> None:
    """The check job this tab follows (or one running for anyone): progress and Stop, then how it ended."""
    running.render_job("check", running.follow("check"), "Checking the dataset…", on_finish=_finished)


# ------------------------------------------------------------------------------------------------ report


def summary_frame(report: CheckReport) -> pd.DataFrame:
    """One row per finding: kind, what it is, count, severity, what to do (what was found is in its section)."""
    return pd.DataFrame([{"finding": f.kind, "what": f.title, "count": f.count, "severity": f.severity,
                          "what to do": f.action} for f in report.findings])


def items_frame(items: list[dict]) -> pd.DataFrame:
    """A finding's items: split, name, class, then their values (one column per value), path last."""
    frame = pd.DataFrame(items)
    first = [c for c in ("split", "name", "label") if c in frame]
    rest = [c for c in frame.columns if c not in (*first, "path")]
    return frame[first + rest + ["path"]]


def _desc(report: CheckReport, split: str) -> dict:
    return (report.test if split == "test" and report.test else report.dataset) or {}


def item_bytes(desc: dict, path: str, zip_bytes: bytes | None) -> bytes:
    """The item's file as uploaded or stored (for Open in Compare); UnsupportedInput with a sentence otherwise."""
    reason = unavailable_reason(desc, zip_bytes)
    if reason:
        raise UnsupportedInput(reason)
    if desc["source"].startswith("builtin:"):
        raise UnsupportedInput("Built-in items are not files; open one as a sample in the sidebar instead.")
    source = item_file(desc, path, zip_bytes)
    return source if isinstance(source, bytes) else source.read_bytes()


def open_in_compare(report: CheckReport, item: dict, zip_bytes: bytes | None) -> None:
    """Make the item the current input (as an upload) and switch to Compare."""
    try:
        data = item_bytes(_desc(report, item["split"]), item["path"], zip_bytes)
    except PrepscopeError as e:
        st.error(md(page_message(e)), icon=":material/error:")
        return
    error = state.handle_upload(item["name"], data)
    if error:
        st.error(md(error), icon=":material/error:")
        return
    st.switch_page("pages/compare.py", query_params=to_params(state.session(), "compare"))


def render_finding(report: CheckReport, k: int, zip_bytes: bytes | None, key: str) -> None:
    """One finding: what it means, its items (thumbnails or players, sortable) and Open in Compare."""
    f = report.findings[k]
    st.markdown(md(f.summary))
    st.caption(md(f"What to do: {f.action}."))
    if not f.items:
        if f.details:
            st.json(f.details, expanded=False)
        return
    view = items_frame(f.items[:ITEM_ROWS])
    config: dict = {"path": st.column_config.TextColumn("path")}
    audio = report.kind == "audio"
    if not audio:
        thumbs = []
        for it in f.items[:ITEM_ROWS]:
            desc = _desc(report, it["split"])
            thumbs.append(item_evidence.thumbnail_uri(json.dumps(desc, sort_keys=True), it["path"],
                                         None if zip_bytes is None else hash(zip_bytes), zip_bytes)
                          if it.get("split") in ("train", "test") else None)
        view.insert(0, "view", thumbs)
        config["view"] = st.column_config.ImageColumn("view", width="small")
    more = f" (the first {ITEM_ROWS} of {len(f.items)})" if len(f.items) > ITEM_ROWS else ""
    st.caption(f"{len(f.items)} item(s){more}; click a column header to sort.")
    row_px = 35 if audio else 60
    st.dataframe(view, hide_index=True, width="stretch", column_config=config, row_height=row_px,
                 height=min(len(view), 8) * row_px + 40, key=f"{key}_items_{f.kind}")
    c1, c2 = st.columns([3, 1])
    pick = c1.selectbox("Item", range(len(f.items[:ITEM_ROWS])), key=f"{key}_pick_{f.kind}",
                        format_func=lambda i: f"{f.items[i]['name']} ({f.items[i]['split']}, {f.items[i]['label']})")
    if c2.button("Open in Compare", key=f"{key}_open_{f.kind}", icon=":material/compare:"):
        open_in_compare(report, f.items[int(pick)], zip_bytes)
    if audio:
        item_evidence.render_players([(f"{it['name']} · {it['label']}", _desc(report, it["split"]), it["path"])
                                      for it in f.items[:PLAYERS]], zip_bytes)


def render_report(report: CheckReport, *, key: str = "check", zip_bytes: bytes | None = None) -> None:
    """The summary table, the recipe's numbers and notes, downloads, then one expander per finding."""
    ds = report.dataset
    test = f" + test {report.test['n_items']} items" if report.test else ""
    recorded = f"Check #{report.check_id} · " if report.check_id else ""
    st.subheader(md(f"{recorded}{ds['name']}: {ds['n_items']} {ds['kind']} items{test}, model {report.model}"))
    if not report.findings:
        st.success("No findings.", icon=":material/check_circle:")
    else:
        st.dataframe(summary_frame(report), hide_index=True, width="stretch", key=f"{key}_summary",
                     column_config={"what to do": st.column_config.TextColumn(width="large")})
    for note in report.notes:
        st.caption(md(f"Note: {note}"))
    stem = f"check-{report.check_id or ds['name']}"
    c1, c2 = st.columns(2)
    c1.download_button("Download JSON", lambda: public_json(report.to_dict()),
                       file_name=f"{stem}.json", mime="application/json", key=f"{key}_dl_json",
                       icon=":material/download:", on_click="ignore")
    c2.download_button("Download items CSV", lambda: public_csv(report.items_csv()), file_name=f"{stem}-items.csv",
                       mime="text/csv", key=f"{key}_dl_csv", icon=":material/download:", on_click="ignore")
    for k, f in enumerate(report.findings):
        with st.expander(f"{f.kind} · {f.count} · {f.severity} — {f.title}", expanded=k == 0):
            render_finding(report, k, zip_bytes, key)


def render_checks_list() -> None:
    """The Runs page's list of recorded checks, and one opened with the report view."""
    st.subheader("Dataset checks")
    store = RunStore()
    try:
        checks = list_checks(store)
    except PrepscopeError as e:
        st.error(md(page_message(e)), icon=":material/database:")
        return
    if not checks:
        st.info("No dataset checks yet: the Dataset check page and `python -m core check` record them here.",
                icon=":material/fact_check:")
        return
    st.dataframe(pd.DataFrame([{
        "check": f"#{c.id}", "created (UTC)": c.created_utc.replace("T", " ").removesuffix("+00:00"),
        "from": c.origin, "dataset": c.dataset_name, "source": c.dataset_source, "items": c.n_items,
        "model": c.model, "seconds": round(c.seconds, 1),
        "findings": ", ".join(f"{k} {n}" for k, n in c.kinds.items()) or "none"} for c in checks]),
        hide_index=True, width="stretch", key="runs_checks")
    by_id = {c.id: c for c in checks}
    pick = st.selectbox("Open check", [0, *by_id], key="runs_check_open",
                        format_func=lambda i: "—" if i == 0 else f"#{i} · {by_id[i].dataset_name} · "
                                                                 f"{by_id[i].created_utc[:16].replace('T', ' ')}")
    if pick:
        try:
            report = CheckReport.from_dict(load_check(store, int(pick)))
        except PrepscopeError as e:
            st.error(md(page_message(e)))
            return
        render_report(report, key="runs_check")
