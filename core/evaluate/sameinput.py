"""Variants whose network inputs are identical on a dataset: detected from their features, explained in a sentence.

Two variants belong to one group when their pooled features are bit-identical on every item the sweep
used (for the adapter and fine-tuning, when the inputs they train on are the same preprocessing). Their predictions are
then identical too, so tables show them as one row. The sentence says why, from the specs:

- ``rgb`` on one-channel data: there is no color to keep, so it is gray replication.
- ``conv-sum`` with a model that normalizes every channel with the same mean and std: by linearity the
  summed first conv on one channel equals the original conv on the channel replicated.
- the ``gray`` colormap writes each value to all three channels: replication again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from core.preprocess.channels import strategy
from core.preprocess.variant import Variant


def feature_fingerprint(*arrays: np.ndarray) -> str:
    """A digest of the arrays' bytes (shape included): equal digests mean bit-identical features."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def group_by(keys: Sequence[str]) -> list[list[int]]:
    """Indices sharing a key, for every key held by two or more entries, in order of first appearance."""
    seen: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        seen.setdefault(k, []).append(i)
    return [idx for idx in seen.values() if len(idx) > 1]


def _route(v: Variant, equal_stats: bool, replication: str) -> tuple[str, str | None]:
    """How a variant reaches gray replication: (route, sentence or None when it is replication itself).
    ``replication`` names it in the sentence (a member that replicates, or the words "gray replication")."""
    st = strategy(v)
    if st.is_replication:
        return "replicate", None
    label = v.name if v.name == v.channels else f"{v.name} ({v.channels})"
    reason = st.replication_reason(v, label, replication, equal_stats)
    if reason is not None:
        return "replicate", reason
    return v.channels + (f":{v.colormap}" if v.colormap else ""), None


def _without_channels(v: Variant) -> dict:
    d = v.to_dict()
    for k in ("name", "channels", "colormap"):
        d.pop(k, None)
    return d


def explain(variants: Sequence[Variant], *, method: str, mean: Sequence[float], std: Sequence[float],
            n_items: int) -> str:
    """One sentence saying why these variants give the network the same input on this dataset."""
    names = ", ".join(v.name for v in variants)
    if method == "adapter":
        return (f"{names} give the adapter the same one-channel input: it reduces every variant to one channel and "
                "learns its own mapping to three, so their channel strategies do not matter.")
    if method == "finetune" and all(strategy(v).one_channel for v in variants):
        return (f"{names} give fine-tuning the same input: every gray channel strategy feeds the gray image as one "
                "channel to a one-channel stem started by conv-sum, so the strategy does not matter there.")
    return spec_reason(variants, mean=mean, std=std) or (
        f"{names} differ in their settings but gave bit-identical features on all {n_items} items of this "
        "dataset, so they are the same input to the network here.")


def spec_reason(variants: Sequence[Variant], *, mean: Sequence[float], std: Sequence[float]) -> str | None:
    """The sentence saying why these variants give the network the same input whatever the data, read from their
    specs alone (same preprocessing under other names, or channel strategies that reduce to gray replication);
    None when the specs do not say (the inputs coincide on the data at hand only)."""
    names = ", ".join(v.name for v in variants)
    first = variants[0]
    if all(v.spec_key() == first.spec_key() for v in variants):
        return f"{names} are the same preprocessing under different names."
    equal_stats = len(set(mean)) == 1 and len(set(std)) == 1
    if all(_without_channels(v) == _without_channels(first) for v in variants):
        replicating = [v.name for v in variants if strategy(v).is_replication]
        replication = replicating[0] if replicating else "gray replication"
        routes = [_route(v, equal_stats and v.normalize == "model", replication) for v in variants]
        if len({r for r, _ in routes}) == 1:
            reasons = [s for _, s in routes if s]
            if reasons:
                return f"{names} give identical network inputs on this data: " + "; ".join(reasons) + "."
    return None


def display_rows(names: Sequence[str], groups: Sequence[Sequence[str]]) -> list[tuple[str, int, list[int]]]:
    """Rows for a results table: (label, index of the row's first variant, indices of its members), one row per
    identical group (label ``a = b = c``) and per other variant, in variant order."""
    index = {n: i for i, n in enumerate(names)}
    owner: dict[int, list[int]] = {}
    for g in groups:
        members = sorted(index[n] for n in g if n in index)
        for m in members:
            owner[m] = members
    rows: list[tuple[str, int, list[int]]] = []
    for i in range(len(names)):
        members = owner.get(i, [i])
        if members[0] != i:
            continue
        rows.append((" = ".join(names[m] for m in members), i, members))
    return rows
