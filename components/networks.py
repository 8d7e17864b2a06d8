"""The Networks page: add your own network from an uploaded checkpoint and classes file, look at its recipe, layers
and a test forward, use it, remove it. The work is ``core.models.networks``; this module only renders.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import streamlit as st

from components import state
from components.text import md
from core.errors import PrepscopeError, page_message
from core.models import DEFAULT_MODEL, load_model
from core.models.install import add_network
from core.models.networks import (
    CHECKPOINT_SUFFIXES,
    MAX_CLASSES_BYTES,
    NetworkError,
    card_names,
    forward_check,
    networks_dir,
    parse_classes,
    read_card,
    remove_card,
)

#: Uploads larger than this are refused before anything is written (the server's own upload limit may be lower).
MAX_UPLOAD_BYTES = 500 * 1024 * 1024
_FLASH = "networks_flash"  # a one-shot message from a callback (not a widget value)


def _flash(kind: str, text: str) -> None:
    st.session_state[_FLASH] = (kind, text)


def _remove(name: str) -> None:
    try:
        card = remove_card(name)
    except PrepscopeError as e:
        _flash("error", page_message(e))
        return
    if state.session().model == name:
        state.set_model(DEFAULT_MODEL)
    _flash("success", f"Removed network {card.name} ({card.architecture}) and its checkpoint.")


def _use(name: str) -> None:
    state.set_model(name)
    _flash("success", f"{name} is now the model of every page (the sidebar's Model).")


def add_from_uploads(name: str, architecture: str, checkpoint, classes_file, classes_text: str,  # noqa: ANN001
                     in_chans: int, input_size: int | None):
    """Check the uploads' sizes, write the checkpoint to a private temporary file and register the network
    (``core.models.install.add_network``); returns the card. Refusals are PrepscopeErrors with a sentence."""
    if not name.strip() or not architecture.strip():
        raise NetworkError("Give the network a name and an architecture (a timm model name, or torchvision:BUILDER).")
    if checkpoint is None:
        raise NetworkError("Upload the checkpoint (.safetensors, or a .pt/.pth state_dict).")
    if checkpoint.size > MAX_UPLOAD_BYTES:
        raise NetworkError(f"{checkpoint.name} is {checkpoint.size / 2**20:.0f} MB; uploads are limited to "
                           f"{MAX_UPLOAD_BYTES // 2**20} MB (add larger networks with `python -m core networks add`).")
    classes = None
    if classes_file is not None:
        if classes_file.size > MAX_CLASSES_BYTES:
            raise NetworkError(f"{classes_file.name} is larger than 1 MB; a classes file holds one name per line.")
        try:
            text = classes_file.getvalue().decode("utf-8")
        except UnicodeDecodeError:
            raise NetworkError(f"{classes_file.name} is not UTF-8 text; give one class name per line.") from None
        classes = parse_classes(text, classes_file.name)
    elif classes_text.strip():
        classes = parse_classes(classes_text, "The class names")
    suffix = Path(checkpoint.name).suffix.lower()
    if suffix not in CHECKPOINT_SUFFIXES:
        raise NetworkError(f"{checkpoint.name} is not a checkpoint prepscope reads; upload .safetensors (preferred) or "
                           "a state_dict saved with torch.save as .pt/.pth.")
    with tempfile.TemporaryDirectory(prefix="prepscope-upload-") as tmp:
        # the upload's own name, so every message names the file the user chose
        path = Path(tmp) / (re.sub(r"[^A-Za-z0-9._-]", "_", Path(checkpoint.name).name)[-100:] or f"upload{suffix}")
        path.write_bytes(checkpoint.getvalue())
        return add_network(name.strip(), architecture.strip(), path, classes, in_chans, input_size or None)


def render_card(name: str) -> None:
    """One network: recipe, classes, layers with their test-forward shapes, and its buttons."""
    card = read_card(name)
    r = card.recipe
    st.markdown(f"**{md(card.name)}** · `{md(card.architecture)}` · {card.in_chans} input channel(s) · "
                f"{len(card.classes)} classes · checkpoint `{md(card.checkpoint)}` (sha256 `{card.sha256[:12]}…`)")
    st.caption(md(f"Recipe: input {r.input_size} px, {r.interpolation}, crop_pct {r.crop_pct:g}, mean "
                  f"{[round(x, 4) for x in r.mean]}, std {[round(x, 4) for x in r.std]}. Classes: "
                  + ", ".join(card.classes[:12]) + (" …" if len(card.classes) > 12 else "")))
    model = load_model(name)
    check = forward_check(model)
    norms = {layer.name: layer.norm is not None for layer in model.layers}
    st.dataframe([{"layer": n, "output (C×H×W)": "×".join(map(str, shape)), "BatchNorm": "yes" if norms[n] else "—"}
                  for n, shape in check["layers"]], hide_index=True, width="stretch")
    top = ", ".join(f"{md(label)} {p:.3f}" for label, p in check["top"])
    st.caption(f"Test forward (a uniform input at the mean): pooled features {check['pooled']}, top classes {top}."
               + ("" if model.has_batchnorm else " No BatchNorm layers (a LayerNorm network): BN-shift and "
                  "BatchNorm re-estimation do not apply."))
    c1, c2 = st.columns(2)
    c1.button("Use it", key=f"net_use_{name}", on_click=_use, args=(name,), icon=":material/check:",
              disabled=state.session().model == name)
    c2.button("Remove", key=f"net_remove_{name}", on_click=_remove, args=(name,), icon=":material/delete:")


def render_add_form() -> None:
    """The form that adds a network from uploads."""
    with st.form("net_add", clear_on_submit=False, border=True):
        st.markdown("**Add a network**")
        c1, c2 = st.columns(2)
        name = c1.text_input("Name", placeholder="ants-bees-resnet", help="letters, digits, '.', '_' or '-'")
        arch = c2.text_input("Architecture", placeholder="resnet50 · convnext_tiny · vit_small_patch16_224 · "
                             "torchvision:resnet18", help="any timm model name (timm.list_models()), or "
                             "torchvision:BUILDER; built offline with random weights, then filled from your file")
        ckpt = st.file_uploader("Checkpoint", type=[s.lstrip(".") for s in CHECKPOINT_SUFFIXES],
                                help=f".safetensors (preferred) or a state_dict saved with torch.save (read with "
                                     f"weights_only=True); at most {MAX_UPLOAD_BYTES // 2**20} MB")
        c3, c4 = st.columns(2)
        classes_file = c3.file_uploader("Classes file", type=["txt", "json"],
                                        help="one class name per line, or a JSON list; none: ImageNet's 1000 "
                                             "classes when the head has 1000 outputs")
        classes_text = c4.text_area("…or the class names, one per line", height=96)
        c5, c6 = st.columns(2)
        in_chans = c5.radio("Input channels", (3, 1), horizontal=True,
                            help="1: a network trained on gray images (it receives the mean of the three channels)")
        size = c6.number_input("Input size (px, 0 = the architecture's)", min_value=0, max_value=1024, value=0,
                               step=16)
        submitted = st.form_submit_button("Check and add", icon=":material/add:", type="primary")
    if submitted:
        try:
            with st.spinner("Building the network and running a test forward…"):
                card = add_from_uploads(name, arch, ckpt, classes_file, classes_text, int(in_chans), int(size))
        except PrepscopeError as e:
            st.error(md(page_message(e)), icon=":material/block:")
        else:  # a rerun, so the sidebar's Model picker (drawn before this page) lists the new network
            _flash("success", f"Added {card.name}: pick it as the sidebar's Model, or press Use it below.")
            st.rerun()


def render_page() -> None:
    flash = st.session_state.pop(_FLASH, None)
    if flash is not None:
        (st.success if flash[0] == "success" else st.error)(md(flash[1]))
    render_add_form()
    names = card_names()
    st.markdown(f"**Your networks** ({len(names)}) · kept in `{md(str(networks_dir()))}`")
    if not names:
        st.caption("None yet: add one above, or with `python -m core networks add NAME --arch ARCH --checkpoint FILE`.")
    for name in names:
        with st.container(border=True):
            try:
                render_card(name)
            except PrepscopeError as e:
                st.error(md(page_message(e)), icon=":material/error:")
                st.button("Remove", key=f"net_remove_{name}", on_click=_remove, args=(name,),
                          icon=":material/delete:")
