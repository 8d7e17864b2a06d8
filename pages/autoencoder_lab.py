"""Autoencoder lab: a learned grayscale rule, a CAE on one noisy image, and the saved models.

Thin page: the three experiments' widgets and results come from ``components.autoencoder_lab``.
"""

import streamlit as st

from components import autoencoder_lab as lab
from components import shell

shell.guard()

st.title("Autoencoder lab")
st.caption("Can an autoencoder make a better gray than luma? How far does a CAE trained on one noisy image denoise "
           "it, and when does it learn the noise instead? Trained models are saved with a card and can be used in "
           "any variant.")
gray_tab, single_tab, models_tab = st.tabs(["Learned grayscale", "Single noisy image", "Saved models"])
with gray_tab:
    lab.render_gray()
with single_tab:
    lab.render_single()
with models_tab:
    lab.render_models()
