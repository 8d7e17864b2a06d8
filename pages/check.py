"""Dataset check: a preprocessing-aware audit of a labelled image or sound set.

Thin page over ``components.check``: the dataset picker, Run check (a job of the server: progress and Stop),
and the report.
"""

import streamlit as st

from components import check, shell, state

shell.guard()

st.title("Dataset check")
st.caption("Before training: broken, duplicate or mislabelled files, test items that leak from the training set, "
           "file metadata that predicts the label, and what the model's recipe does to this set. Label and content "
           "findings use the network's features (the sweep's cache) and cleanlab. Every check is recorded: the "
           "Runs page lists them.")
st.text("Recipe checked: " + ", ".join(state.session().variants.names) + f" on {state.session().model} "
        "(the sidebar's variant set and model; the first variant is the reference)")
left, right = st.columns([3, 2])
with right:
    per_class, metadata_only = check.render_options()
with left:
    request = check.render_picker(per_class)
if st.button("Run check", type="primary", key="check_run", icon=":material/fact_check:"):
    check.run(request, metadata_only)
check.render_job()
last = state.session().check_run
if last is not None:
    check.render_report(last.report, zip_bytes=last.zip_bytes)
