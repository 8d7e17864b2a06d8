"""What each Variant field is, read from its pydantic declaration: the one description that the
dashboard's widget dispatch (``components.widgets``) and the CLI's field table (``python -m core
fields``) both use."""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from core.preprocess.variant import CHOICES_NOTE, DYNAMIC_CHOICES, Variant, bounds, field_extra, only_with


@dataclass(frozen=True)
class FieldDesc:
    """One field: ``kind`` is bool, int, float, choice, text, spec, pair (a fixed-length tuple of numbers,
    ``length`` of them, labelled by ``labels``), list or union (one of the ``choices``, where the choice
    ``object_label`` stands for a nested ``spec``: ``"storage": "png8"`` or a JPEG object); ``optional``
    when None is allowed (the widget then has an on/off switch, starting from ``default_when_set``)."""

    name: str
    kind: str
    help: str
    default: Any
    optional: bool = False
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    spec: type[BaseModel] | None = None  # nested model (kind spec), or None
    items: tuple[type[BaseModel], ...] = ()  # kinds a list may hold
    only_with: tuple[tuple[str, Any], ...] = ()
    default_when_set: Any = None
    length: int = 2  # pair: how many numbers
    labels: tuple[str, ...] = ()  # pair: a label per number (default low, high)
    object_label: str | None = None  # union: the choice that means the nested spec
    choices_note: str = ""  # how the field table describes dynamic choices (e.g. "any matplotlib colormap")

    def applies(self, values: dict) -> bool:
        """Whether this field applies given the other fields' values (e.g. colormap only with channels colormap)."""
        return all(values.get(k) == v for k, v in self.only_with)


def _scalar(tp: Any) -> Any:
    """Strip ``Annotated`` wrappers."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def describe(info: FieldInfo, name: str) -> FieldDesc:
    tp = _scalar(info.annotation)
    optional = False
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        optional = True
        tp = _scalar(next(a for a in args if a is not type(None)))
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    extra = field_extra(info)
    lo, hi = bounds(info)
    common = {"name": name, "help": info.description or "", "default": info.get_default(call_default_factory=True),
              "optional": optional, "only_with": tuple(only_with(info).items()),
              "default_when_set": extra.get("default_when_set")}
    if origin in (typing.Union, types.UnionType):  # choices from Literal members, plus one nested spec
        spec = next(a for a in args if isinstance(a, type) and issubclass(a, BaseModel))
        kind_field = spec.model_fields.get("kind")
        label = str(kind_field.default) if kind_field is not None else str(extra.get("object_label", "custom"))
        choices = [c for a in args for c in ((label,) if a is spec else typing.get_args(_scalar(a)))]
        return FieldDesc(kind="union", choices=tuple(choices), spec=spec, object_label=label, **common)
    if origin is typing.Literal:
        return FieldDesc(kind="choice", choices=tuple(args), **common)
    if "choices_from" in extra:
        return FieldDesc(kind="choice", choices=tuple(DYNAMIC_CHOICES[extra["choices_from"]]()),
                         choices_note=CHOICES_NOTE.get(extra["choices_from"], ""), **common)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return FieldDesc(kind="spec", spec=tp, **common)
    if origin is tuple and args[-1:] == (Ellipsis,):
        return FieldDesc(kind="list", items=list_items(args[0]), **common)
    if origin is tuple:
        return FieldDesc(kind="pair", length=len(args), labels=tuple(extra.get("labels", ("low", "high"))), **common)
    kind = {bool: "bool", int: "int", float: "float", str: "text"}[tp]
    return FieldDesc(kind=kind, low=lo, high=hi, step=extra.get("step"), **common)


def list_items(item_type: Any) -> tuple[type[BaseModel], ...]:
    """The spec classes a list field may hold: the members of its (discriminated) union, or the one class."""
    tp = _scalar(item_type)
    members = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    return tuple(m for m in members if isinstance(m, type) and issubclass(m, BaseModel))


def fields_of(model: type[BaseModel]) -> list[FieldDesc]:
    """Every field of a spec class, in declaration order."""
    return [describe(info, name) for name, info in model.model_fields.items()]


def _values(d: FieldDesc) -> str:
    if d.kind == "choice":
        return d.choices_note or ", ".join(d.choices)
    if d.kind in ("int", "float") and (d.low is not None or d.high is not None):
        fmt = (lambda x: str(int(x))) if d.kind == "int" else (lambda x: f"{x:g}")
        return f"{fmt(d.low)} to {fmt(d.high)}" + (f" step {d.step:g}" if d.step else "")
    if d.kind == "list":
        return "ordered list of " + ", ".join(str(m.model_fields["kind"].default) for m in d.items)
    if d.kind == "union":
        return ", ".join(f"an object ({c})" if c == d.object_label else c for c in d.choices)
    if d.kind == "pair":
        return f"[{', '.join(d.labels)}]" if d.length == 2 else f"{d.length} numbers [{', '.join(d.labels)}]"
    return {"bool": "true, false", "text": "text", "spec": "object"}.get(d.kind, "")


def field_table(model: type[BaseModel] = Variant, prefix: str = "") -> list[dict[str, str]]:
    """Rows (field, type, values, default, help) for every field, nested specs and degradations expanded."""
    rows = []
    for d in fields_of(model):
        default = d.default.to_dict() if isinstance(d.default, BaseModel) else d.default
        if d.kind == "union" and isinstance(d.default, BaseModel):
            default = d.object_label
        cond = " Only with " + ", ".join(f"{k} {v}" for k, v in d.only_with) if d.only_with else ""
        rows.append({"field": prefix + d.name, "type": d.kind + (" or null" if d.optional else ""),
                     "values": _values(d), "default": "" if d.kind == "spec" else _short(default),
                     "help": d.help + cond})
        if d.kind == "spec" and d.spec is not None:
            rows += field_table(d.spec, f"{prefix}{d.name}.")
        if d.kind == "union" and d.spec is not None:  # a tagged object's fixed kind is not a choice
            rows += [r for r in field_table(d.spec, f"{prefix}{d.name}.") if not r["field"].endswith(".kind")]
        for item in d.items:
            rows += [r for r in field_table(item, f"{prefix}{d.name}[{item.model_fields['kind'].default}].")
                     if not r["field"].endswith(".kind")]
    return rows


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 30 else text[:27] + "..."
