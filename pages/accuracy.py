"""Accuracy: how well each variant's features separate the classes of a labelled dataset.

Thin page: the dataset picker and settings (with the models and BatchNorm re-estimation), the test-item plan
and what the remedies cost, Run (a job of the server: its progress, found again after a reload, in another tab
or from Runs), and the result view (one model, or a model x variant view with each model's
run in a tab; marked out of date when a setting changed since it ran), all from ``components.accuracy`` and
``components.remedies``.
"""

import streamlit as st

from components import accuracy, remedies, shell, state

shell.guard()

st.title("Accuracy")
st.caption("Does a preprocessing choice change what the network's features can tell apart? Each variant of the "
           "current set is scored on the same test items; the first variant is the reference. Every run is "
           "recorded: the Runs page lists, reopens and compares them.")
st.text("Variants: " + ", ".join(state.session().variants.names) + "  (edit them in the sidebar)")
st.page_link("pages/check.py", label="Check the dataset first: broken files, leaks, label errors, shortcuts",
             icon=":material/fact_check:")

left, right = st.columns(2)
with left:
    accuracy.render_dataset_picker()
with right:
    settings = accuracy.render_settings()

request = accuracy.dataset_request(settings.per_class, settings.seed)
plan = None
if request is not None:
    plan = accuracy.plan(request, settings.method, settings.cv, settings.test_fraction, settings.seed)
    accuracy.render_plan(plan)
    remedies.render_cost(plan, settings.method, settings.adapt)
signature = accuracy.settings_signature(request, settings)

if st.button("Run sweep", type="primary", key="acc_run", icon=":material/play_arrow:"):
    accuracy.run(request, settings, signature, refused=plan and plan.get("error"))
accuracy.render_job()

last = state.session()
if last.accuracy_notice == accuracy.STOPPED_NOTICE:
    st.warning(accuracy.STOPPED_NOTICE, icon=":material/stop_circle:")
elif last.accuracy_notice:
    st.info(last.accuracy_notice)
if last.accuracy_run is not None:
    accuracy.render_any_result(last.accuracy_run.result, zip_bytes=last.accuracy_run.zip_bytes,
                               outdated=accuracy.changed_settings(last.accuracy_run.settings, signature))
