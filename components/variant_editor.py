"""The variant-set editor: one generic renderer that builds widgets from a Variant's own definition.

Widgets come from ``dataclasses.fields`` and each field's metadata (``choices``, ``min``, ``max``,
``step``, ``help``) declared in core/preprocess/variant.py; nested specifications (Resize,
Spectrogram, each degradation) are rendered by recursion. Every widget writes back through one
callback that collects all of the variant's widget values into a dict and validates it with
``Variant.from_dict``: an invalid edit shows the engine's message and keeps the previous valid
variant. The few things metadata cannot say are declared as data in the tables below.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any

import streamlit as st

from components import state
from core.errors import InvalidVariant
from core.preprocess.presets import get_preset, preset_description, preset_names
from core.preprocess.variant import (
    DEGRADATIONS,
    MAX_VARIANTS,
    Variant,
    colormap_names,
    variants_from_json,
    variants_to_json,
)

#: Choice fields whose choice takes an argument ("colormap:viridis"): (field, choice) -> (choices, default).
ARG_CHOICES: dict[tuple[str, str], Callable[[], tuple[list[str], str]]] = {
    ("channels", "colormap"): lambda: (sorted(colormap_names(), key=str.lower), "viridis"),
}
#: Value used when an optional number is switched on (its metadata has no bounds to start from).
OPTIONAL_DEFAULTS: dict[str, float] = {"fmax": 8000.0}
#: Float widgets step by this fraction of their range unless the metadata declares a step.
FLOAT_STEP_FRACTION = 0.01

_ERR = "ve_error"
_GEN = "ve_gen"
_SEL = "ve_selected"
_W_SEL = "ve_w_selected"


# ----------------------------------------------------------------------------- field introspection


@cache
def _hints(cls: type) -> dict[str, Any]:
    import core.preprocess.variant as vmod

    return typing.get_type_hints(cls, vars(vmod))


def _kind(tp: Any) -> tuple[str, Any]:
    """Classify a field type: bool, int, float, str, spec, optional, pair or list (of a union of specs)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool or tp is int or tp is float or tp is str:
        return tp.__name__, None
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return "spec", tp
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return "optional", inner[0]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return "list", args[0]
    if origin is tuple and len(args) == 2:
        return "pair", args[0]
    raise TypeError(f"No widget for field type {tp!r}")


def _md_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\`*_{}[]<>()#+-.!|~$:" else c for c in text)


def _label(name: str) -> str:
    return name.replace("_", " ")


def _wkey(uid: str, path: str) -> str:
    gen = st.session_state.get(_GEN, {}).get(uid, 0)
    return f"ve:{uid}:{gen}:{path}"


# ----------------------------------------------------------------------------- collect: widgets -> dict


def _collect_spec(cls: type, value: Any, uid: str, path: str) -> dict:
    out: dict[str, Any] = {}
    kind_tag = getattr(cls, "kind", "")
    if isinstance(kind_tag, str) and kind_tag and "kind" not in {f.name for f in dataclasses.fields(cls)}:
        out["kind"] = kind_tag
    for f in dataclasses.fields(cls):
        out[f.name] = _collect_field(f, _hints(cls)[f.name], getattr(value, f.name), uid, f"{path}{f.name}")
    return out


def _collect_field(f: dataclasses.Field, tp: Any, current: Any, uid: str, path: str) -> Any:
    ss = st.session_state
    key = _wkey(uid, path)
    kind, inner = _kind(tp)
    if kind == "spec":
        return _collect_spec(inner, current, uid, path + ".")
    if kind == "optional":
        on = ss.get(key + "#on", current is not None)
        if not on:
            return None
        if dataclasses.is_dataclass(inner):
            return _collect_spec(inner, current if current is not None else inner(), uid, path + ".")
        start = current if current is not None else OPTIONAL_DEFAULTS.get(f.name, 0.0)
        return ss.get(key, start)
    if kind == "pair":
        return [ss.get(f"{key}.{i}", current[i]) for i in range(2)]
    if kind == "list":
        return [_collect_spec(type(item), item, uid, f"{path}.{j}.") for j, item in enumerate(current)]
    if kind == "str" and "choices" in f.metadata:
        cur_choice, _, cur_arg = str(current).partition(":")
        choice = ss.get(key, cur_choice)
        if (f.name, choice) in ARG_CHOICES:
            default_arg = cur_arg if choice == cur_choice and cur_arg else ARG_CHOICES[(f.name, choice)]()[1]
            return f"{choice}:{ss.get(key + ':arg', default_arg)}"
        return choice
    return ss.get(key, current)


def collect_variant(uid: str, current: Variant) -> dict:
    """The variant described by the editor widgets of ``uid`` (unrendered widgets keep ``current``'s values)."""
    return _collect_spec(Variant, current, uid, "")


# ----------------------------------------------------------------------------- render: spec -> widgets


def _seed(key: str, value: Any) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def _render_spec(cls: type, value: Any, uid: str, path: str) -> None:
    for f in dataclasses.fields(cls):
        _render_field(f, _hints(cls)[f.name], getattr(value, f.name), uid, f"{path}{f.name}")


def _render_field(f: dataclasses.Field, tp: Any, current: Any, uid: str, path: str) -> None:
    key = _wkey(uid, path)
    meta = f.metadata
    kind, inner = _kind(tp)
    label, help_ = _label(f.name), meta.get("help")
    cb: dict[str, Any] = {"on_change": _apply, "args": (uid,)}
    if kind == "spec":
        with st.container(border=True):
            st.markdown(f"**{label}** · {help_ or ''}")
            _render_spec(inner, current, uid, path + ".")
        return
    if kind == "optional":
        _seed(key + "#on", current is not None)
        on = st.checkbox(f"set {label}", key=key + "#on", help=help_, **cb)
        if on and current is not None:
            if dataclasses.is_dataclass(inner):
                with st.container(border=True):
                    st.markdown(f"**{label}**")
                    _render_spec(inner, current, uid, path + ".")
            else:
                _render_number(key, label, float(current), {}, float, cb)
        return
    if kind == "pair":
        cols = st.columns(2)
        for i, (col, end) in enumerate(zip(cols, ("low", "high"), strict=True)):
            with col:
                _render_number(f"{key}.{i}", f"{label} {end}", current[i], {"help": help_}, inner, cb)
        return
    if kind == "list":
        _render_list(f, current, uid, path)
        return
    if kind == "bool":
        _seed(key, bool(current))
        st.checkbox(label, key=key, help=help_, **cb)
    elif kind == "str" and "choices" in meta:
        choice, _, arg = str(current).partition(":")
        _seed(key, choice)
        st.selectbox(label, list(meta["choices"]), key=key, help=help_, **cb)
        if (f.name, choice) in ARG_CHOICES:
            options, default = ARG_CHOICES[(f.name, choice)]()
            _seed(key + ":arg", arg or default)
            st.selectbox(f"{label}: {choice}", options, key=key + ":arg", **cb)
    elif kind == "str":
        _seed(key, str(current))
        st.text_input(label, key=key, help=help_, max_chars=80, **cb)
    else:
        _render_number(key, label, current, meta, int if kind == "int" else float, cb)


def _render_number(key: str, label: str, current: Any, meta: Any, typ: type, cb: dict) -> None:
    lo, hi = meta.get("min"), meta.get("max")
    if typ is int:
        step: Any = int(meta.get("step", 1))
    elif "step" in meta:
        step = float(meta["step"])
    elif lo is not None and hi is not None:
        step = float(max((hi - lo) * FLOAT_STEP_FRACTION, 0.01))
    else:
        step = 1.0
    _seed(key, typ(current))
    st.number_input(
        label,
        min_value=None if lo is None else typ(lo),
        max_value=None if hi is None else typ(hi),
        step=step,
        key=key,
        help=meta.get("help"),
        **cb,
    )


def _render_list(f: dataclasses.Field, items: tuple, uid: str, path: str) -> None:
    st.markdown(f"**{_label(f.name)}** · {f.metadata.get('help', '')}")
    for j, item in enumerate(items):
        with st.container(border=True):
            head, rm = st.columns([4, 1], vertical_alignment="center")
            head.markdown(f"{j + 1}. `{item.kind}`")
            rm.button(
                "",
                icon=":material/delete:",
                key=_wkey(uid, f"{path}.{j}#rm"),
                help=f"Remove this {item.kind}",
                on_click=_list_remove,
                args=(uid, f.name, j),
            )
            _render_spec(type(item), item, uid, f"{path}.{j}.")
    kinds = list(DEGRADATIONS)
    c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
    c1.selectbox(f"add to {_label(f.name)}", kinds, key=_wkey(uid, f"{path}#kind"))
    c2.button("Add", key=_wkey(uid, f"{path}#add"), on_click=_list_add, args=(uid, f.name))


# ----------------------------------------------------------------------------- callbacks


def _bump(uid: str) -> None:
    gens = dict(st.session_state.get(_GEN, {}))
    gens[uid] = gens.get(uid, 0) + 1
    st.session_state[_GEN] = gens


def _replace(uid: str, new: Variant, *, structural: bool) -> None:
    variants, uids = state.get_variants(), state.variant_uids()
    if uid not in uids:
        return
    variants[uids.index(uid)] = new
    try:
        state.set_variants(variants, uids)
    except InvalidVariant as e:
        st.session_state[_ERR] = (uid, str(e))
        return
    st.session_state.pop(_ERR, None)
    if structural:
        _bump(uid)


def _apply(uid: str) -> None:
    variants, uids = state.get_variants(), state.variant_uids()
    if uid not in uids:
        return
    current = variants[uids.index(uid)]
    try:
        new = Variant.from_dict(collect_variant(uid, current))
    except (InvalidVariant, TypeError, ValueError) as e:
        st.session_state[_ERR] = (uid, str(e))
        return
    structural = (new.spectrogram is None) != (current.spectrogram is None) or (
        new.spectrogram is not None and (new.spectrogram.fmax is None) != (current.spectrogram.fmax is None)
    )
    _replace(uid, new, structural=structural)


def _list_remove(uid: str, field_name: str, j: int) -> None:
    variants, uids = state.get_variants(), state.variant_uids()
    current = variants[uids.index(uid)]
    items = list(getattr(current, field_name))
    del items[j]
    _replace(uid, current.replace(**{field_name: tuple(items)}), structural=True)


def _list_add(uid: str, field_name: str) -> None:
    variants, uids = state.get_variants(), state.variant_uids()
    current = variants[uids.index(uid)]
    kind = st.session_state.get(_wkey(uid, f"{field_name}#kind"), next(iter(DEGRADATIONS)))
    items = [*getattr(current, field_name), DEGRADATIONS[kind]()]
    _replace(uid, current.replace(**{field_name: tuple(items)}), structural=True)


def _unique_name(base: str, taken: list[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base} {n}" in taken:
        n += 1
    return f"{base} {n}"


def add_variant(copy_of: str | None = None) -> None:
    """Append a default variant, or a copy of the variant with id ``copy_of``, and select it."""
    variants, uids = state.get_variants(), state.variant_uids()
    if len(variants) >= MAX_VARIANTS:
        st.session_state[_ERR] = (None, f"At most {MAX_VARIANTS} variants at once; remove one first.")
        return
    taken = [v.name for v in variants]
    if copy_of in uids:
        src = variants[uids.index(copy_of)]
        new = src.replace(name=_unique_name(f"{src.name} copy", taken))
    else:
        new = Variant(name=_unique_name("variant", taken))
    new_uid = state._new_uid()
    state.set_variants([*variants, new], [*uids, new_uid])
    st.session_state[_SEL] = new_uid
    st.session_state.pop(_ERR, None)


def remove_variant(uid: str) -> None:
    """Remove a variant (the last one cannot be removed: a set needs a reference)."""
    variants, uids = state.get_variants(), state.variant_uids()
    if uid not in uids:
        return
    if len(variants) == 1:
        st.session_state[_ERR] = (uid, "Keep at least one variant: the first one is the reference.")
        return
    i = uids.index(uid)
    del variants[i], uids[i]
    state.set_variants(variants, uids)
    st.session_state[_SEL] = uids[min(i, len(uids) - 1)]
    st.session_state.pop(_ERR, None)


def move_variant(uid: str, delta: int) -> None:
    """Move a variant up (-1) or down (+1); moving to the top makes it the reference."""
    variants, uids = state.get_variants(), state.variant_uids()
    i = uids.index(uid)
    j = i + delta
    if not 0 <= j < len(variants):
        return
    variants[i], variants[j] = variants[j], variants[i]
    uids[i], uids[j] = uids[j], uids[i]
    state.set_variants(variants, uids)


def load_preset(name: str) -> None:
    """Replace the variant set by a preset."""
    state.set_variants(get_preset(name))
    st.session_state.pop(_ERR, None)
    st.session_state[_SEL] = state.variant_uids()[0]


def import_json(text: str | bytes) -> str | None:
    """Replace the variant set by a JSON variant set; return None, or the user-facing error (set unchanged)."""
    try:
        state.set_variants(variants_from_json(text))
    except InvalidVariant as e:
        return str(e)
    st.session_state[_SEL] = state.variant_uids()[0]
    return None


def _select_changed() -> None:
    st.session_state[_SEL] = st.session_state[_W_SEL]


# ----------------------------------------------------------------------------- public renderers


def render_variant_set() -> None:
    """The variant list (select, add, duplicate, move, remove) and the field editor of the selected variant."""
    variants, uids = state.get_variants(), state.variant_uids()
    names = dict(zip(uids, (v.name for v in variants), strict=True))
    with st.container(key="ve_names"):
        st.caption(" · ".join(f"{i + 1}\\. {_md_escape(v.name)}" for i, v in enumerate(variants)))
    sel = st.session_state.get(_SEL)
    if sel not in uids:
        sel = st.session_state[_SEL] = uids[0]
    st.session_state[_W_SEL] = sel
    st.selectbox(
        f"Edit variant ({len(variants)}/{MAX_VARIANTS}; the first is the reference)",
        uids,
        format_func=lambda u: f"{uids.index(u) + 1}. {names[u]}" + (" (reference)" if u == uids[0] else ""),
        key=_W_SEL,
        on_change=_select_changed,
    )
    i = uids.index(sel)
    cols = st.columns(5)
    cols[0].button("", icon=":material/add:", key="ve_add", help="Add a default variant", on_click=add_variant)
    cols[1].button(
        "", icon=":material/content_copy:", key="ve_dup", help="Duplicate this variant", on_click=add_variant,
        args=(sel,),
    )
    cols[2].button(
        "", icon=":material/arrow_upward:", key="ve_up", help="Move up (to the top = reference)",
        on_click=move_variant, args=(sel, -1), disabled=i == 0,
    )
    cols[3].button(
        "", icon=":material/arrow_downward:", key="ve_down", help="Move down", on_click=move_variant,
        args=(sel, 1), disabled=i == len(uids) - 1,
    )
    cols[4].button(
        "", icon=":material/delete:", key="ve_remove", help="Remove this variant", on_click=remove_variant,
        args=(sel,), disabled=len(uids) == 1,
    )
    err = st.session_state.get(_ERR)
    if err and err[0] in (None, sel):
        st.error(err[1], icon=":material/error:")
    _render_spec(Variant, variants[i], sel, "")


def render_presets_and_json() -> None:
    """Load a preset; export the set as JSON; import a set from a JSON file or pasted text."""
    names = preset_names()
    current = state.matching_preset(state.get_variants())
    if "ve_preset" not in st.session_state:
        st.session_state["ve_preset"] = current or state.DEFAULT_PRESET
    name = st.selectbox("Preset", names, key="ve_preset")
    st.caption(preset_description(name))
    st.button(
        "Load preset", key="ve_load_preset", on_click=load_preset, args=(name,), icon=":material/playlist_add_check:",
        disabled=current == name,
    )
    st.download_button(
        "Export variants (JSON)",
        data=variants_to_json(state.get_variants()),
        file_name="prepscope-variants.json",
        mime="application/json",
        icon=":material/download:",
        key="ve_export",
        on_click="ignore",
    )
    st.file_uploader(
        "Import a variants JSON file", type=["json"], key="ve_import_file", on_change=_import_from_file
    )
    st.text_area("…or paste a variant set", key="ve_import_text", height=100, placeholder='{"variants": [...]}')
    st.button("Apply pasted JSON", key="ve_import_apply", icon=":material/upload:", on_click=_import_from_text)
    if st.session_state.get("ve_import_error"):
        st.error(st.session_state["ve_import_error"], icon=":material/error:")


def _import_from_file() -> None:
    up = st.session_state.get("ve_import_file")
    st.session_state["ve_import_error"] = None if up is None else import_json(up.getvalue())


def _import_from_text() -> None:
    st.session_state["ve_import_error"] = import_json(st.session_state.get("ve_import_text", ""))
