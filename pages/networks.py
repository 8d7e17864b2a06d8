"""Networks: your own network (a timm or torchvision architecture, your checkpoint, your classes) in every view.

Thin page over ``components.networks``.
"""

import streamlit as st

from components import networks, shell

shell.guard()

st.title("Networks")
st.caption("Bring the model you deploy: a checkpoint for any timm architecture (or a torchvision classifier) with its "
           "own classes. It is built offline, checked with a test forward and listed beside the built-in models.")
networks.render_page()
