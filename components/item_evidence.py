"""A dataset item shown as evidence, shared by the Accuracy/Runs result view and the Dataset check: an image's
thumbnail (a data: URL for a table's image column) and players for sounds."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence

import streamlit as st

from components.text import md
from core.evaluate.evidence import item_audio, thumbnail_png, try_open


@st.cache_data(max_entries=4000, show_spinner=False)
def thumbnail_uri(desc_json: str, path: str, zip_key: int | None, _zip_bytes: bytes | None) -> str | None:
    """The item's thumbnail as a PNG data: URL, or None for a sound or an item that cannot be opened (``zip_key``
    names the uploaded zip in the cache; ``desc_json`` is the dataset description as JSON)."""
    signal, _ = try_open(json.loads(desc_json), path, _zip_bytes)
    if signal is None or signal.audio is not None:
        return None
    return "data:image/png;base64," + base64.b64encode(thumbnail_png(signal)).decode("ascii")


def render_players(items: Sequence[tuple[str, dict, str]], zip_bytes: bytes | None) -> None:
    """Players in four columns for ``(caption, dataset description, path)`` items (the caller chooses how many: each
    decodes its sound); an item that cannot be opened shows why instead."""
    cols = st.columns(4)
    for j, (caption, desc, path) in enumerate(items):
        signal, why = try_open(desc, path, zip_bytes)
        with cols[j % 4]:
            st.caption(md(caption))
            if signal is None:
                st.caption(md(why))
            else:
                wave, sr = item_audio(signal)
                st.audio(wave, sample_rate=sr)
