"""One widget dispatch for every spec field: field kind -> (render, collect), side by side.

The field descriptions come from the pydantic declarations (``core.preprocess.schema``), so a field
added to Variant gets its widget here without any new code. ``render_fields`` draws the widgets of a
spec (seeding each widget from the current value the first time its key is seen); ``collect_fields``
reads them back into a dict that ``Spec.from_dict`` validates. Both take the same key prefix, and a
widget that was not drawn keeps the current value. Used by the sidebar's variant editor (with
``on_change`` callbacks) and by the Audio page's spectrogram form (inside ``st.form``, no callbacks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import streamlit as st
from pydantic import BaseModel

from core.preprocess.schema import FieldDesc, fields_of

#: Float widgets step by this fraction of their range unless the field declares a step.
FLOAT_STEP_FRACTION = 0.01


def _label(name: str) -> str:
    return name.replace("_", " ")


def _seed(key: str, value: Any) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


# ----------------------------------------------------------------------------- render and collect, per kind


def _render_bool(d: FieldDesc, value: Any, key: str, cb: dict) -> None:
    _seed(key, bool(value))
    st.checkbox(_label(d.name), key=key, help=d.help, **cb)


def _render_number(d: FieldDesc, value: Any, key: str, cb: dict, label: str | None = None) -> None:
    typ = int if d.kind == "int" else float
    if typ is int:
        step: Any = int(d.step or 1)
    elif d.step:
        step = float(d.step)
    elif d.low is not None and d.high is not None:
        step = float(max((d.high - d.low) * FLOAT_STEP_FRACTION, 0.01))
    else:
        step = 1.0
    _seed(key, typ(value))
    st.number_input(label or _label(d.name), min_value=None if d.low is None else typ(d.low),
                    max_value=None if d.high is None else typ(d.high), step=step, key=key, help=d.help, **cb)


def _render_choice(d: FieldDesc, value: Any, key: str, cb: dict) -> None:
    _seed(key, value)
    options = list(d.choices)
    if value not in options:  # a dynamic choice no longer listed (a learned model from another machine)
        options.append(value)
    st.selectbox(_label(d.name), options, key=key, help=d.help, **cb)


def _render_text(d: FieldDesc, value: Any, key: str, cb: dict) -> None:
    _seed(key, str(value))
    st.text_input(_label(d.name), key=key, help=d.help, max_chars=80, **cb)


def _render_spec(d: FieldDesc, value: Any, key: str, cb: dict) -> None:
    with st.container(border=True):
        st.markdown(f"**{_label(d.name)}** · {d.help}")
        render_fields(type(value), value, key + ".", cb)


def _render_pair(d: FieldDesc, value: Any, key: str, cb: dict) -> None:
    scalar = FieldDesc(d.name, "float", d.help, None)
    for i, (col, end) in enumerate(zip(st.columns(d.length), d.labels, strict=True)):
        with col:
            _render_number(scalar, value[i], f"{key}.{i}", cb, label=f"{_label(d.name)} {end}")


def _choice_of(d: FieldDesc, value: Any) -> Any:
    return d.object_label if isinstance(value, BaseModel) else value


def _object_of(d: FieldDesc, value: Any) -> BaseModel:
    return value if isinstance(value, BaseModel) else d.spec()  # type: ignore[misc]


def _render_union(d: FieldDesc, value: Any, key: str, cb: dict) -> None:
    _seed(key + "#choice", _choice_of(d, value))
    st.selectbox(_label(d.name), list(d.choices), key=key + "#choice", help=d.help, **cb)
    if st.session_state[key + "#choice"] == d.object_label and d.spec is not None:
        with st.container(border=True):
            render_fields(d.spec, _object_of(d, value), key + ".", cb)


def _render_list(d: FieldDesc, items: tuple, key: str, cb: dict) -> None:
    st.markdown(f"**{_label(d.name)}** · {d.help}")
    on_remove, on_add = cb.get("list_remove"), cb.get("list_add")
    for j, item in enumerate(items):
        with st.container(border=True):
            head, rm = st.columns([4, 1], vertical_alignment="center")
            head.markdown(f"{j + 1}. `{item.kind}`")
            if on_remove is not None:
                rm.button("", icon=":material/delete:", key=f"{key}.{j}#rm", help=f"Remove this {item.kind}",
                          on_click=on_remove, args=(d.name, j))
            render_fields(type(item), item, f"{key}.{j}.", cb)
    if on_add is not None:
        kinds = [str(m.model_fields["kind"].default) for m in d.items]
        c1, c2 = st.columns([3, 2], vertical_alignment="bottom")
        c1.selectbox(f"add to {_label(d.name)}", kinds, key=f"{key}#kind")
        c2.button("Add", key=f"{key}#add", on_click=on_add, args=(d.name, key))


def _collect_scalar(d: FieldDesc, value: Any, key: str) -> Any:
    return st.session_state.get(key, value)


def _collect_spec(d: FieldDesc, value: Any, key: str) -> Any:
    return collect_fields(type(value), value, key + ".")


def _collect_pair(d: FieldDesc, value: Any, key: str) -> Any:
    return [st.session_state.get(f"{key}.{i}", value[i]) for i in range(d.length)]


def _collect_union(d: FieldDesc, value: Any, key: str) -> Any:
    choice = st.session_state.get(key + "#choice", _choice_of(d, value))
    if choice != d.object_label or d.spec is None:
        return choice
    return collect_fields(d.spec, _object_of(d, value), key + ".")


def _collect_list(d: FieldDesc, items: Any, key: str) -> Any:
    return [collect_fields(type(item), item, f"{key}.{j}.") for j, item in enumerate(items)]


@dataclass(frozen=True)
class Widget:
    render: Callable[[FieldDesc, Any, str, dict], None]
    collect: Callable[[FieldDesc, Any, str], Any]


WIDGETS: dict[str, Widget] = {
    "bool": Widget(_render_bool, _collect_scalar),
    "int": Widget(_render_number, _collect_scalar),
    "float": Widget(_render_number, _collect_scalar),
    "choice": Widget(_render_choice, _collect_scalar),
    "text": Widget(_render_text, _collect_scalar),
    "spec": Widget(_render_spec, _collect_spec),
    "pair": Widget(_render_pair, _collect_pair),
    "list": Widget(_render_list, _collect_list),
    "union": Widget(_render_union, _collect_union),
}


# ----------------------------------------------------------------------------- one field, one spec


def _fixed(d: FieldDesc) -> bool:
    """A field with a single possible value (a degradation's ``kind`` tag): nothing to choose."""
    return d.kind == "choice" and len(d.choices) == 1


def _switched(d: FieldDesc) -> bool:
    """An optional field the user switches on and off (not one whose presence another field decides)."""
    return d.optional and not d.only_with


def _start_value(d: FieldDesc, value: Any) -> Any:
    if value is not None:
        return value
    if d.spec is not None:
        return d.spec()
    return d.default_when_set


def render_field(d: FieldDesc, value: Any, key: str, cb: dict) -> None:
    """Draw one field's widget(s); an optional field gets a 'set …' switch first."""
    if _switched(d):
        _seed(key + "#on", value is not None)
        widget_cb = {k: v for k, v in cb.items() if k in ("on_change", "args")}
        if not st.checkbox(f"set {_label(d.name)}", key=key + "#on", help=d.help, **widget_cb) or value is None:
            return
    WIDGETS[d.kind].render(d, _start_value(d, value), key, {k: v for k, v in cb.items()
                                                              if k in ("on_change", "args")} | _list_cb(cb, d))


def _list_cb(cb: dict, d: FieldDesc) -> dict:
    return {k: v for k, v in cb.items() if k in ("list_add", "list_remove")} if d.kind == "list" else {}


def collect_field(d: FieldDesc, value: Any, key: str) -> Any:
    """The field's value as its widgets say (the current value where a widget was not drawn)."""
    if _switched(d) and not st.session_state.get(key + "#on", value is not None):
        return None
    start = _start_value(d, value)
    if start is None:
        return None
    return WIDGETS[d.kind].collect(d, start, key)


def render_fields(cls: type[BaseModel], value: BaseModel, prefix: str, cb: dict, columns: int = 1) -> None:
    """Every field of ``value`` (a spec of class ``cls``) that applies, in ``columns`` columns.

    ``cb`` holds streamlit's ``on_change``/``args`` for every widget (empty inside a form) and, for
    list fields, ``list_add(field, key)`` / ``list_remove(field, index)`` callbacks."""
    current = {name: getattr(value, name) for name in cls.model_fields}
    shown = [d for d in fields_of(cls) if d.applies(current) and not _fixed(d)]
    cols = st.columns(columns) if columns > 1 else None
    for i, d in enumerate(shown):
        if cols is not None:
            with cols[i % columns]:
                render_field(d, current[d.name], prefix + d.name, cb)
        else:
            render_field(d, current[d.name], prefix + d.name, cb)


def collect_fields(cls: type[BaseModel], value: BaseModel, prefix: str) -> dict:
    """The dict the widgets of ``value`` describe; fields that no longer apply (their condition changed
    in this edit) become None."""
    out = {d.name: getattr(value, d.name) if _fixed(d) else collect_field(d, getattr(value, d.name), prefix + d.name)
           for d in fields_of(cls)}
    for d in fields_of(cls):
        if d.only_with and not d.applies(out):
            out[d.name] = None
    return out
