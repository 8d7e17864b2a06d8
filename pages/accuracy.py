"""Accuracy: how well each variant's features separate the classes of a labelled dataset.

Thin page: the dataset picker, the method and split settings, Run, and the result view, all from
``components.accuracy``.
"""

import streamlit as st

from components import accuracy, remedies, shell, state
from core.evaluate.methods import METHODS

shell.guard()

st.title("Accuracy")
st.caption("Does a preprocessing choice change what the network's features can tell apart? Each variant of the "
           "current set is scored on the same held-out items; the first variant is the reference.")
st.text("Variants: " + ", ".join(state.session().variants.names) + "  (edit them in the sidebar)")

left, right = st.columns(2)
with left:
    accuracy.render_dataset_picker()
with right:
    method = st.radio("Method", METHODS, key="acc_method", horizontal=True)
    st.caption(accuracy.METHOD_HELP[method])
    c1, c2, c3 = st.columns(3)
    seed = int(c1.number_input("Seed", min_value=0, max_value=2**31 - 1, value=0, step=1, key="acc_seed"))
    test_fraction = c2.slider("Test fraction", 0.1, 0.5, 0.2, 0.05, key="acc_test_fraction")
    per_class = int(c3.number_input("Items per class (0 = all)", min_value=0, max_value=100_000, value=20, step=10,
                                    key="acc_per_class",
                                    help="A seeded subset per class keeps a CPU sweep short; 0 uses everything."))
    models, adapt = remedies.render_options()

if st.button("Run sweep", type="primary", key="acc_run", icon=":material/play_arrow:"):
    accuracy.run(accuracy.dataset_request(per_class, seed), method, seed, test_fraction, models, adapt)

if st.session_state.get("acc_notice"):
    st.info(st.session_state["acc_notice"])
if st.session_state.get("acc_result") is not None:
    accuracy.render_result(st.session_state["acc_result"])
