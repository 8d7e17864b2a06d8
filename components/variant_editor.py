"""The variant-set editor: the list of variants (select, add, duplicate, move, remove) and the field
editor of the selected one, drawn by the one widget dispatch (``components.widgets``) from the
Variant's own declaration.

Every widget writes back through one callback that collects the variant's widget values into a
dict and validates it with ``Variant.from_dict``: an invalid edit shows the engine's message and
keeps the previous valid variant. Widget keys carry the variant's stable id and a generation that is
bumped after structural edits (a list item added or removed, an optional part switched), so widgets
are re-seeded from the new value.
"""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

from components import state
from components.session import DEFAULT_PRESET, EditorState, new_uid, widget_prefix
from components.text import md
from components.widgets import collect_fields, render_fields
from core.errors import InvalidVariant, page_message
from core.preprocess.presets import get_preset, matching_preset, preset_description, preset_names
from core.preprocess.variant import DEGRADATIONS, MAX_VARIANTS, Variant, VariantSet

_W_SEL = "ve_w_selected"


def _editor() -> EditorState:
    return state.session().editor


def _prefix(uid: str) -> str:
    return widget_prefix(uid, _editor().generations.get(uid, 0))


def _bump(uid: str) -> None:
    gens = _editor().generations
    gens[uid] = gens.get(uid, 0) + 1


def _current(uid: str) -> tuple[int, Variant] | None:
    s = state.session()
    if uid not in s.uids:
        return None
    i = s.uids.index(uid)
    return i, s.variants[i]


def _replace(uid: str, new: Variant, *, structural: bool) -> None:
    found = _current(uid)
    if found is None:
        return
    s = state.session()
    try:
        state.set_variants(s.variants.with_variant(found[0], new), s.uids)
    except InvalidVariant as e:
        _editor().error = (uid, page_message(e))
        return
    _editor().error = None
    if structural:
        _bump(uid)


def _shape(v: Variant) -> tuple:
    """What decides which widgets exist: optional parts switched on or off, list lengths, which member of a
    union field (resize: custom or model; storage: a level or a JPEG object) is chosen."""
    spec = v.spectrogram
    steps = (*v.degrade, *v.denoise)
    return (spec is None, spec is not None and spec.fmax is None, len(v.degrade), len(v.denoise), v.resize == "model",
            v.storage_kind, v.channels, v.deltas is not None and v.deltas.delta_range is None,
            tuple(getattr(d, "sigma", 0) is None for d in steps))


def _changed_values(old: Any, new: Any) -> list[tuple[Any, Any]]:
    """The (old, new) pairs of the plain values (text and numbers, not switches) that differ between two
    ``to_dict`` trees, in field order."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [pair for k in old if k in new for pair in _changed_values(old[k], new[k])]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [pair for a, b in zip(old, new, strict=True) for pair in _changed_values(a, b)]
    plain = (str, int, float)
    if old != new and isinstance(old, plain) and isinstance(new, plain) and not isinstance(old, bool) \
            and not isinstance(new, bool):
        return [(old, new)]
    return []


def followed_name(old: Variant, new: Variant) -> str:
    """The name of ``new``, an edit of ``old``: a name that spells out a setting follows it. Each changed setting
    whose old value appears in the name as a whole word (its last occurrence: ``gray→viridis`` with colormap
    viridis -> magma becomes ``gray→magma``; ``gray→gray cmap`` becomes ``gray→magma cmap``) is replaced by the
    new value; a name that does not mention the setting (one the user typed, ``my variant``) stays, and an edit of
    the name itself is always kept as typed."""
    if new.name != old.name:
        return new.name
    name = old.name
    for a, b in _changed_values(old.to_dict(), new.to_dict()):
        matches = list(re.finditer(rf"(?<![A-Za-z0-9]){re.escape(str(a))}(?![A-Za-z0-9])", name))
        if matches:
            m = matches[-1]
            name = name[: m.start()] + str(b) + name[m.end():]
    return name


def _apply(uid: str) -> None:
    found = _current(uid)
    if found is None:
        return
    i, current = found
    try:
        new = Variant.from_dict(collect_fields(Variant, current, _prefix(uid)))
        name = followed_name(current, new)
        followed = name != new.name  # the name widget still shows the old name: its widgets are drawn again
        if followed:
            others = state.session().variants.removed(i) if len(state.session().variants) > 1 else None
            new = new.replace(name=others.unique_name(name) if others is not None else name)
    except InvalidVariant as e:
        _editor().error = (uid, page_message(e))
        return
    _replace(uid, new, structural=followed or _shape(new) != _shape(current))


def _list_remove(uid: str, field_name: str, j: int) -> None:
    found = _current(uid)
    if found is not None:
        items = list(getattr(found[1], field_name))
        del items[j]
        _replace(uid, found[1].replace(**{field_name: tuple(items)}), structural=True)


def _list_add(uid: str, field_name: str, key: str) -> None:
    found = _current(uid)
    if found is not None:
        kind = st.session_state.get(f"{key}#kind", next(iter(DEGRADATIONS)))
        items = [*getattr(found[1], field_name), DEGRADATIONS[kind]()]
        _replace(uid, found[1].replace(**{field_name: tuple(items)}), structural=True)


def add_variant(copy_of: str | None = None) -> None:
    """Append a default variant, or a copy of the variant with id ``copy_of``, and select it."""
    s = state.session()
    if len(s.variants) >= MAX_VARIANTS:
        _editor().error = (None, f"At most {MAX_VARIANTS} variants at once; remove one first.")
        return
    found = _current(copy_of) if copy_of else None
    if found is not None:
        new = found[1].replace(name=s.variants.unique_name(f"{found[1].name} copy"))
    else:
        new = Variant(name=s.variants.unique_name("variant"))
    uid = new_uid()
    state.set_variants(s.variants.appended(new), [*s.uids, uid])
    _editor().selected = uid
    _editor().error = None


def remove_variant(uid: str) -> None:
    """Remove a variant (the last one cannot be removed: a set needs a reference)."""
    found = _current(uid)
    if found is None:
        return
    s = state.session()
    if len(s.variants) == 1:
        _editor().error = (uid, "Keep at least one variant: the first one is the reference.")
        return
    i = found[0]
    uids = [u for u in s.uids if u != uid]
    state.set_variants(s.variants.removed(i), uids)
    _editor().selected = uids[min(i, len(uids) - 1)]
    _editor().error = None


def move_variant(uid: str, delta: int) -> None:
    """Move a variant up (-1) or down (+1); moving to the top makes it the reference."""
    found = _current(uid)
    if found is None:
        return
    s = state.session()
    i, j = found[0], found[0] + delta
    if not 0 <= j < len(s.variants):
        return
    uids = list(s.uids)
    uids[i], uids[j] = uids[j], uids[i]
    state.set_variants(s.variants.moved(i, delta), uids)


def load_preset(name: str) -> None:
    """Replace the variant set by a preset."""
    state.set_variants(get_preset(name))
    _editor().error = None
    _editor().selected = state.session().uids[0]


def import_json(text: str | bytes) -> str | None:
    """Replace the variant set by a JSON variant set; return None, or the user-facing error (set unchanged)."""
    try:
        state.set_variants(VariantSet.from_json(text))
    except InvalidVariant as e:
        return page_message(e)
    _editor().selected = state.session().uids[0]
    return None


def _select_changed() -> None:
    _editor().selected = st.session_state[_W_SEL]


def render_summary() -> None:
    """The variant set at a glance (always shown): how many, which preset, and the names in order as plain text."""
    s = state.session()
    preset = matching_preset(s.variants)
    st.caption(f"{len(s.variants)} variants · " + (f"preset '{preset}'" if preset else "edited")
               + " · the first is the reference")
    with st.container(key="ve_names"):
        st.text(" · ".join(f"{i + 1}. {n}" for i, n in enumerate(s.variants.names)))


def render_variant_set() -> None:
    """The variant list (select, add, duplicate, move, remove) and the field editor of the selected variant."""
    s = state.session()
    uids, names = s.uids, dict(zip(s.uids, s.variants.names, strict=True))
    sel = _editor().selected
    if sel not in uids:
        sel = _editor().selected = uids[0]
    st.session_state[_W_SEL] = sel
    st.selectbox(
        f"Edit variant ({len(uids)}/{MAX_VARIANTS}; the first is the reference)", uids,
        format_func=lambda u: f"{uids.index(u) + 1}. {names[u]}" + (" (reference)" if u == uids[0] else ""),
        key=_W_SEL, on_change=_select_changed,
    )
    i = uids.index(sel)
    cols = st.columns(5)
    cols[0].button("", icon=":material/add:", key="ve_add", help="Add a default variant", on_click=add_variant)
    cols[1].button("", icon=":material/content_copy:", key="ve_dup", help="Duplicate this variant",
                   on_click=add_variant, args=(sel,))
    cols[2].button("", icon=":material/arrow_upward:", key="ve_up", help="Move up (to the top = reference)",
                   on_click=move_variant, args=(sel, -1), disabled=i == 0)
    cols[3].button("", icon=":material/arrow_downward:", key="ve_down", help="Move down", on_click=move_variant,
                   args=(sel, 1), disabled=i == len(uids) - 1)
    cols[4].button("", icon=":material/delete:", key="ve_remove", help="Remove this variant",
                   on_click=remove_variant, args=(sel,), disabled=len(uids) == 1)
    err = _editor().error
    if err and err[0] in (None, sel):
        st.error(md(err[1]), icon=":material/error:")
    cb = {"on_change": _apply, "args": (sel,),
          "list_add": lambda f, key: _list_add(sel, f, key), "list_remove": lambda f, j: _list_remove(sel, f, j)}
    render_fields(Variant, s.variants[i], _prefix(sel), cb)


def render_presets_and_json() -> None:
    """Load a preset; export the set as JSON; import a set from a JSON file or pasted text."""
    names = preset_names()
    current = matching_preset(state.session().variants)
    if "ve_preset" not in st.session_state:
        st.session_state["ve_preset"] = current or DEFAULT_PRESET
    name = st.selectbox("Preset", names, key="ve_preset")
    st.caption(preset_description(name))
    st.button("Load preset", key="ve_load_preset", on_click=load_preset, args=(name,),
              icon=":material/playlist_add_check:", disabled=current == name)
    st.download_button("Export variants (JSON)", data=state.session().variants.to_json(indent=2),
                       file_name="prepscope-variants.json", mime="application/json", icon=":material/download:",
                       key="ve_export", on_click="ignore")
    st.file_uploader("Import a variants JSON file", type=["json"], key="ve_import_file", on_change=_import_from_file)
    st.text_area("…or paste a variant set", key="ve_import_text", height=100, placeholder='{"variants": [...]}')
    st.button("Apply pasted JSON", key="ve_import_apply", icon=":material/upload:", on_click=_import_from_text)
    if _editor().import_error:
        st.error(md(_editor().import_error), icon=":material/error:")


def _import_from_file() -> None:
    up = st.session_state.get("ve_import_file")
    _editor().import_error = None if up is None else import_json(up.getvalue())


def _import_from_text() -> None:
    _editor().import_error = import_json(st.session_state.get("ve_import_text", ""))
