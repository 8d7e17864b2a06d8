"""The Runs page's pieces: the list of recorded sweeps with filters, opening one (read from the runs database,
nothing recomputed, no model loaded), comparing two runs of one dataset paired on their shared items, and
deleting a run (refused on a shared server, ``core.shared``), and the jobs (``core.jobs``): queued, running and
recent ones with their progress, Stop, and Open on the page that shows them. Page state keys start with
``runs_``; the open run is also the link's ``run`` option.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from components import accuracy, running, shared, state, sweep_charts
from components.text import md
from core.errors import PrepscopeError, page_message
from core.evaluate.methods import METHODS
from core.evaluate.report import fmt_p
from core.jobs import ACTIVE, Job, JobTable
from core.runs import RunStore, RunSummary
from core.runs.compare import NotComparable, compare, compare_table
from core.shared import public_path

if TYPE_CHECKING:
    from core.evaluate.sweep import SweepResult

ANY = "any"


def runs_frame(runs: list[RunSummary]) -> pd.DataFrame:
    """One row per run for the list: id, when, origin, dataset, model, method, evaluation, test items, accuracies."""
    return pd.DataFrame([{
        "run": f"#{r.id}", "created (UTC)": r.created_utc.replace("T", " ").removesuffix("+00:00"), "from": r.origin,
        "dataset": r.dataset_label, "digest": r.dataset_digest[:12], "model": r.model, "method": r.method,
        "evaluation": r.evaluation + (f" ×{r.n_folds}" if r.n_folds > 1 else ""), "test items": r.n_test,
        "variants": r.n_variants, "reference": r.reference, "reference accuracy": r.reference_accuracy,
        "best": r.best, "best accuracy": r.best_accuracy} for r in runs])


def describe_run(r: RunSummary) -> str:
    """``#12 · digits · probe · stratified-kfold ×5 · 2025-01-01 10:00``."""
    ev = r.evaluation + (f" ×{r.n_folds}" if r.n_folds > 1 else "")
    return f"#{r.id} · {r.dataset_label} · {r.model} · {r.method} · {ev} · {r.created_utc[:16].replace('T', ' ')}"


def load(run_id: int) -> SweepResult:
    """A recorded run, read once per session (runs never change once recorded)."""
    cache = st.session_state.setdefault("runs_loaded", {})
    if run_id not in cache:
        cache[run_id] = RunStore().load(run_id)
    return cache[run_id]


def _forget(run_id: int) -> None:
    st.session_state.setdefault("runs_loaded", {}).pop(run_id, None)


#: Jobs the Runs page lists: every queued or running one, and this many of the most recent others.
RECENT_JOBS = 20


def jobs_frame(jobs: list[Job]) -> pd.DataFrame:
    """One row per job: id, kind, what, status, progress (in whole percents), its line, when it was created and how
    long it ran."""
    return pd.DataFrame([{
        "job": f"#{j.id}", "kind": j.kind, "what": j.what,
        "status": j.status + (" (stop asked)" if j.stop_requested and j.active else ""),
        "progress": round(j.progress, 2), "message": j.error if j.status == "failed" and j.error else j.message,
        "created (UTC)": j.created_utc.replace("T", " ").removesuffix("+00:00"),
        "seconds": None if j.seconds() is None else round(j.seconds(), 1)} for j in jobs])


def render_jobs() -> None:
    """The jobs of this runs database: queued and running ones (redrawn every second while any runs) and the recent
    others, with Stop and Open."""
    try:
        running.job_runner()  # a server's first page marks the jobs a dead server left as interrupted
        table = JobTable()
        active = table.list(statuses=ACTIVE, limit=200)
    except PrepscopeError as e:
        st.error(md(page_message(e)), icon=":material/database:")
        return
    st.fragment(_jobs_view, run_every=running.POLL_S if active else None)(bool(active))


def _jobs_view(polling: bool) -> None:
    table = JobTable()
    try:
        active = table.list(statuses=ACTIVE, limit=200)
        recent = [j for j in table.list(limit=RECENT_JOBS + len(active)) if not j.active][:RECENT_JOBS]
    except PrepscopeError as e:
        st.error(md(page_message(e)), icon=":material/database:")
        return
    if polling and not active:
        st.rerun(scope="app")  # the last one ended: draw the page once more, without polling
    st.subheader("Jobs")
    jobs = active + recent
    if not jobs:
        st.caption("No jobs yet: a sweep, a dataset check or a lab training started in the dashboard runs as a job "
                   "and is listed here.")
        return
    st.dataframe(jobs_frame(jobs), hide_index=True, width="stretch", key="runs_jobs",
                 column_config={"progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0,
                                                                            format="percent"),
                                "message": st.column_config.TextColumn("message", width="large")})
    by_id = {j.id: j for j in jobs}
    c1, c2, c3 = st.columns([6, 1, 1], vertical_alignment="bottom")
    pick = c1.selectbox("Job", list(by_id), key="runs_job_pick",
                        format_func=lambda i: f"#{i} · {by_id[i].kind} · {by_id[i].what}")
    job = by_id.get(pick) if pick is not None else None
    if job is None:
        return
    refused = running.stop_refused(job) if job.active else None
    c2.button("Stop", key="runs_job_stop", icon=":material/stop:", on_click=running.stop_job, args=(job.id,),
              disabled=not job.active or job.stop_requested or bool(refused))
    if c3.button("Open", key="runs_job_open", icon=":material/open_in_new:",
                 disabled=job.settings.get("follow") not in running.PAGES,
                 help="Show this job on the page that runs it (its progress, then its result)."):
        running.open_job(job)
    line = job.error if job.status == "failed" and job.error else job.message
    st.caption(md(f"Job #{job.id} ({job.kind}) {'failed' if job.status == 'failed' else 'is ' + job.status}: {line}"))
    if refused:
        st.caption(refused)


def render_filters(runs: list[RunSummary]) -> tuple[str, str | None, str | None]:
    """Dataset text, model and method filters over the recorded runs."""
    c1, c2, c3 = st.columns([2, 1, 1])
    dataset = c1.text_input("Dataset", key="runs_dataset", placeholder="part of its name or folder, or a digest")
    models = [ANY, *sorted({r.model for r in runs})]
    model = c2.selectbox("Model", models, key="runs_model")
    method = c3.selectbox("Method", [ANY, *METHODS], key="runs_method")
    return dataset.strip(), None if model == ANY else model, None if method == ANY else method


def _open_changed() -> None:
    state.set_page_option("run", int(st.session_state["runs_open"]))


def render_page() -> None:
    """The whole Runs page: filters, the list, the open run, the comparison and deletion."""
    store = RunStore()
    try:
        every = store.list(limit=2000)
    except PrepscopeError as e:
        st.error(md(page_message(e)), icon=":material/database:")
        return
    render_jobs()
    st.subheader("Recorded sweeps")
    st.caption(f"Runs database: {md(public_path(store.path))} ({len(every)} run{'s' * (len(every) != 1)})")
    if not every:
        st.info("No runs yet: every sweep from the Accuracy page or `python -m core sweep` is recorded here.",
                icon=":material/history:")
        return
    dataset, model, method = render_filters(every)
    runs = store.list(dataset=dataset or None, model=model, method=method, limit=2000)
    st.dataframe(runs_frame(runs), hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(c, format="%.3f")
                                for c in ("reference accuracy", "best accuracy")})
    if not runs:
        st.info("No recorded run matches these filters.")
        return
    by_id = {r.id: r for r in every}
    ids = [r.id for r in runs]
    wanted = int(state.get_page_option("run", 0) or 0)
    if wanted and wanted not in by_id:
        st.warning(f"The link asks for run #{wanted}, which is not in this runs database (deleted, or recorded on "
                   "another machine); showing the newest run instead.", icon=":material/link_off:")
        state.set_page_option("run", 0)
    if st.session_state.get("runs_open") not in ids:
        st.session_state["runs_open"] = wanted if wanted in ids else ids[0]
    c1, c2 = st.columns(2)
    open_id = c1.selectbox("Open run", ids, key="runs_open", format_func=lambda i: describe_run(by_id[i]),
                           on_change=_open_changed)
    try:
        result = load(int(open_id))
    except PrepscopeError as e:
        st.error(md(page_message(e)))
        return
    same = [r.id for r in every if r.id != open_id and (r.dataset_digest == by_id[open_id].dataset_digest
                                                         or r.dataset_source == by_id[open_id].dataset_source)]
    other = c2.selectbox("Compare with (same dataset)", [0, *same], key="runs_compare",
                         format_func=lambda i: "—" if i == 0 else describe_run(by_id[i]),
                         help="Runs of the same dataset: paired on the items both tested.")
    if other:
        tab_run, tab_cmp = st.tabs([f"Run #{open_id}", f"Compare #{open_id} with #{other}"])
        with tab_cmp:
            render_comparison(result, load(int(other)))
    else:
        tab_run = st.container()
    with tab_run:
        accuracy.render_result(result, key="runs")
        with st.expander(f"Delete run #{open_id}"):
            refused = shared.refused_line("deleting runs")
            if refused:
                st.info(refused, icon=":material/lock:")
            sure = st.checkbox("Yes, delete it from the runs database", key="runs_delete_sure",
                               disabled=bool(refused))
            if st.button("Delete", key="runs_delete", disabled=not sure or bool(refused), icon=":material/delete:"):
                if refused:  # a stale click from before the server became shared
                    return
                with shared.as_visitor():
                    store.delete(int(open_id))
                _forget(int(open_id))
                st.session_state.pop("runs_open", None)
                state.set_page_option("run", 0)
                st.rerun()


def render_comparison(a: SweepResult, b: SweepResult) -> None:
    """Two runs side by side on their shared items: matched variants, a free pair, and what differs between them."""
    try:
        rows = compare_table(a, b)
    except NotComparable as e:
        st.warning(md(page_message(e)))
        return
    n = rows[0].n_shared
    st.markdown(f"**Run A = #{a.run_id}, run B = #{b.run_id}: {n} shared items** (of {len(a.items)} and "
                f"{len(b.items)} tested)")
    differ = [f"{k}: {fa} → {fb}" for k, fa, fb in _differences(a, b) if fa != fb]
    st.caption("What differs: " + (md("; ".join(differ)) if differ else "nothing but the run"))
    frame = pd.DataFrame([{"variant A": r.a, "variant B": r.b, "accuracy A": r.accuracy_a, "accuracy B": r.accuracy_b,
                           "B − A": r.accuracy_b - r.accuracy_a, "only A right": r.a_only, "only B right": r.b_only,
                           "McNemar p": fmt_p(r.mcnemar_p)} for r in rows])
    st.dataframe(frame, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(c, format="%.3f")
                                for c in ("accuracy A", "accuracy B", "B − A")})
    st.plotly_chart(sweep_charts.comparison_figure(rows), width="stretch", key="runs_cmp_chart")
    st.caption("Accuracies are on the shared items only (matched by path and class), with 95% Wilson intervals; "
               "McNemar's exact test pairs the two runs item by item.")
    c1, c2 = st.columns(2)
    va = c1.selectbox("Any variant of run A", range(len(a.variants)), key="runs_cmp_a",
                      format_func=lambda i: a.variants[i].name)
    vb = c2.selectbox("against any variant of run B", range(len(b.variants)), key="runs_cmp_b",
                      format_func=lambda i: b.variants[i].name)
    r = compare(a, int(va), b, int(vb))
    st.write(f"{r.a} (A): {r.accuracy_a:.3f} [{r.ci95_a[0]:.3f}, {r.ci95_a[1]:.3f}] · {r.b} (B): {r.accuracy_b:.3f} "
             f"[{r.ci95_b[0]:.3f}, {r.ci95_b[1]:.3f}] · only A right {r.a_only}, only B right {r.b_only} · "
             f"McNemar p = {fmt_p(r.mcnemar_p)} on {r.n_shared} items")


def _differences(a: SweepResult, b: SweepResult) -> list[tuple[str, object, object]]:
    pa, pb = a.provenance, b.provenance
    return [("model", pa["model"], pb["model"]), ("method", a.method, b.method),
            ("evaluation", f"{pa['split']['kind']} ×{len(a.folds)}", f"{pb['split']['kind']} ×{len(b.folds)}"),
            ("seed", pa["seed"], pb["seed"]),
            ("variants", ", ".join(v.name for v in a.variants), ", ".join(v.name for v in b.variants)),
            ("dataset digest", pa["dataset"]["train"]["digest"][:12], pb["dataset"]["train"]["digest"][:12])]
