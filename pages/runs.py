"""Runs: the jobs, and every recorded sweep — list and filter them, open one without recomputing, compare two
on one dataset.

Thin page over ``components.runs``.
"""

import streamlit as st

from components import check, runs, shell

shell.guard()

st.title("Runs")
st.caption("Jobs (sweeps, checks and trainings started in the dashboard: running, queued and recent), then the "
           "history of accuracy sweeps (and, below them, dataset checks) from this dashboard and the command "
           "line. Opening a run reads its "
           "numbers and per-item predictions back from the database: nothing is recomputed.")
runs.render_page()
check.render_checks_list()
