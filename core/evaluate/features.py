"""Streaming feature extraction for sweeps, with pooled features and logits cached on disk.

One pass over a dataset decodes each batch of items once (in a background thread, overlapping the
previous batch's forward pass), prepares it under every variant that is not cached yet, and runs one
batched forward per variant. Pooled penultimate features (N, D) and ImageNet logits (N, 1000) are
written to ``np.lib.format.open_memmap`` files as they arrive, so memory stays bounded by one batch
whatever the dataset size, and renamed into place only when complete (a stopped or failed pass leaves
no partial entry). Entries are keyed by (dataset content digest, ``variant.spec_key()``, model name,
a fingerprint of the model's weights, the prepscope version): a repeat is a file read.

The cache folder is ``cache_dir`` if given, else ``$PREPSCOPE_CACHE_DIR``, else
``$PREPSCOPE_HOME/features`` (default ``~/.cache/prepscope/features``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import weakref
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core import __version__
from core.errors import InvalidDataset, PrepscopeError
from core.evaluate.datasets import Dataset, Item
from core.preprocess.variant import Variant
from core.provenance import Progress, StopCheck, Stopped

DEFAULT_BATCH = 8  # fastest forward on a 2-core CPU (8: 75 img/s, 16: 62, 32: 52) and least memory


def default_cache_dir() -> Path:
    """``$PREPSCOPE_CACHE_DIR`` if set, else ``$PREPSCOPE_HOME/features`` (default ``~/.cache/prepscope/features``)."""
    from core.paths import prepscope_home

    env = os.environ.get("PREPSCOPE_CACHE_DIR")
    return Path(env).expanduser() if env else prepscope_home() / "features"


_FINGERPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def model_fingerprint(model) -> str:
    """A digest of the model's name, description and every parameter and buffer (computed once per module)."""
    fp = _FINGERPRINTS.get(model.module)
    if fp is None:
        h = hashlib.sha256(f"{model.name}|{model.description}".encode())
        for k, t in model.module.state_dict().items():
            h.update(k.encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        fp = h.hexdigest()[:16]
        _FINGERPRINTS[model.module] = fp
    return fp


@dataclass
class Features:
    """Pooled features (N, D) float32 and logits (N, 1000) float32 for every item of a dataset, in order."""

    pooled: np.ndarray
    logits: np.ndarray
    cached: bool
    seconds: float


class FeatureCache:
    """Files ``<key>.pooled.npy``, ``<key>.logits.npy`` and ``<key>.json`` (what the key stands for)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def key(self, dataset: Dataset, variant: Variant, model) -> str:
        parts = f"{dataset.digest}|{variant.spec_key()}|{model.name}|{model_fingerprint(model)}|{__version__}"
        return hashlib.sha256(parts.encode()).hexdigest()[:32]

    def paths(self, key: str) -> tuple[Path, Path, Path]:
        return self.root / f"{key}.pooled.npy", self.root / f"{key}.logits.npy", self.root / f"{key}.json"

    def load(self, key: str, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The cached arrays, or None when absent, unreadable or of the wrong length."""
        p, lg, _ = self.paths(key)
        try:  # memory-mapped: only the rows a probe or a zero-shot reads are brought in
            pooled, logits = np.load(p, mmap_mode="r"), np.load(lg, mmap_mode="r")
        except (OSError, ValueError, EOFError):
            return None
        if pooled.ndim != 2 or pooled.shape[0] != n or logits.shape[0] != n:
            return None
        return pooled, logits


class _Writer:
    """Memory-mapped arrays filled batch by batch, renamed into the cache when complete."""

    def __init__(self, cache: FeatureCache, key: str, n: int, meta: dict) -> None:
        self.cache, self.key, self.n, self.meta = cache, key, n, meta
        self.pooled: np.ndarray | None = None
        self.logits: np.ndarray | None = None
        self.tmp: list[Path] = []
        self.seconds = 0.0

    def write(self, start: int, pooled: np.ndarray, logits: np.ndarray) -> None:
        if self.pooled is None:
            self.cache.root.mkdir(parents=True, exist_ok=True)
            suffix = f".tmp{os.getpid()}-{id(self)}.npy"
            p, lg, _ = self.cache.paths(self.key)
            self.tmp = [p.with_name(p.name + suffix), lg.with_name(lg.name + suffix)]
            self.pooled = np.lib.format.open_memmap(self.tmp[0], "w+", np.float32, (self.n, pooled.shape[1]))
            self.logits = np.lib.format.open_memmap(self.tmp[1], "w+", np.float32, (self.n, logits.shape[1]))
        self.pooled[start : start + len(pooled)] = pooled
        self.logits[start : start + len(logits)] = logits

    def commit(self) -> None:
        assert self.pooled is not None and self.logits is not None
        self.pooled.flush()
        self.logits.flush()
        del self.pooled, self.logits
        p, lg, js = self.cache.paths(self.key)
        os.replace(self.tmp[0], p)
        os.replace(self.tmp[1], lg)
        js.write_text(json.dumps(self.meta, indent=1), encoding="utf-8")
        self.tmp = []

    def discard(self) -> None:
        self.pooled = self.logits = None
        for t in self.tmp:
            t.unlink(missing_ok=True)
        self.tmp = []


def _decode_batch(ds: Dataset, items: Sequence[Item]) -> list:
    out = []
    for it in items:
        try:
            out.append(ds.load(it))
        except PrepscopeError as e:
            raise InvalidDataset(f"{Path(str(it.ref)).name} in {ds.name} cannot be used: {e}") from None
    return out


def _prepare(ds: Dataset, items: Sequence[Item], variants: Sequence[Variant], model) -> tuple[list, float]:
    """Decode a batch once and prepare it under every variant: one (N,3,S,S) channels-last tensor per variant."""
    from core.preprocess.pipeline import prepare_grid

    t0 = time.perf_counter()
    grid = prepare_grid(_decode_batch(ds, items), variants, model.mean, model.std)
    batches = [torch.stack([p.tensor for p in row]).contiguous(memory_format=torch.channels_last) for row in grid]
    return batches, time.perf_counter() - t0


def extract(
    dataset: Dataset,
    variants: Sequence[Variant],
    model,
    cache: FeatureCache | None = None,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
    progress_span: tuple[float, float] = (0.0, 1.0),
) -> dict[str, Features]:
    """Features of every item of ``dataset`` under each variant, keyed by ``variant.spec_key()``.

    Cached entries are read from disk; the rest are computed in one streamed pass (decode once per
    batch, one forward per variant per batch). ``progress(fraction, message)`` is called after each
    batch, with fractions inside ``progress_span``; ``should_stop()`` is checked between batches and
    a True answer raises Stopped (nothing partial is kept). ``seconds`` per variant is its share
    of the pass: its own preparation and forward time plus an equal share of decoding.
    """
    cache = cache or FeatureCache()
    lo, hi = progress_span
    unique: dict[str, Variant] = {}
    for v in variants:
        unique.setdefault(v.spec_key(), v)
    out: dict[str, Features] = {}
    todo: list[tuple[str, Variant, str]] = []
    for sk, v in unique.items():
        key = cache.key(dataset, v, model)
        t0 = time.perf_counter()
        hit = cache.load(key, len(dataset))
        if hit is not None:
            out[sk] = Features(hit[0], hit[1], True, time.perf_counter() - t0)
        else:
            todo.append((sk, v, key))
    if not todo:
        if progress:
            progress(hi, f"{dataset.name}: all {len(unique)} variant(s) cached")
        return out

    n = len(dataset)
    starts = list(range(0, n, batch_size))
    todo_variants = [v for _, v, _ in todo]
    writers = [
        _Writer(cache, key, n, {"dataset": dataset.describe(), "variant": v.to_dict(), "model": model.name,
                                "model_description": model.description, "prepscope": __version__})
        for _, v, key in todo
    ]
    forward_s = [0.0] * len(todo)
    decode_s = 0.0
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepscope-decode")
    try:
        nxt: Future = pool.submit(_prepare, dataset, dataset.items[0:batch_size], todo_variants, model)
        for b, start in enumerate(starts):
            if should_stop is not None and should_stop():
                raise Stopped(
                    f"Stopped after {start} of {n} items of {dataset.name}; nothing of this pass was kept "
                    "(features cached by earlier runs stay cached)."
                )
            batches, prep_s = nxt.result()
            decode_s += prep_s
            if b + 1 < len(starts):
                s2 = starts[b + 1]
                nxt = pool.submit(_prepare, dataset, dataset.items[s2 : s2 + batch_size], todo_variants, model)
            for j, x in enumerate(batches):
                t0 = time.perf_counter()
                pooled, logits = model.features_and_logits(x)
                writers[j].write(start, pooled.float().cpu().numpy(), logits.float().cpu().numpy())
                forward_s[j] += time.perf_counter() - t0
            if progress:
                done = min(n, start + batch_size)
                progress(lo + (hi - lo) * done / n, f"{dataset.name}: {done}/{n} items × {len(todo)} variant(s)")
        for j, (sk, _, _) in enumerate(todo):
            writers[j].commit()
            p, lg, _ = cache.paths(todo[j][2])
            out[sk] = Features(np.load(p, mmap_mode="r"), np.load(lg, mmap_mode="r"), False,
                               forward_s[j] + decode_s / len(todo))
    except BaseException:
        for w in writers:
            w.discard()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return out
