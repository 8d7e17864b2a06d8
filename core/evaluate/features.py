"""Streaming feature extraction for sweeps, with pooled features and logits cached on disk.

One pass over a dataset decodes each batch of items once, prepares it under every variant that is not
cached yet and runs the network on it per variant (once for variants whose inputs are identical, such as
gray replicated and gray through the summed first conv under equal per-channel statistics: the same
input has the same features). How the pass uses the machine (the *layout*: CPU
streams, or decode threads feeding a GPU; the thread budget) is ``core.evaluate.tuning``'s, and so is
``batch_size="auto"`` (a batch size measured once per model and machine). Pooled penultimate features
(N, D) and ImageNet logits (N, 1000) are written to ``np.lib.format.open_memmap`` files as batches
finish, so memory stays bounded by a few batches whatever the dataset size, and renamed into place only
when complete (a stopped or failed pass leaves no partial entry). Entries are keyed by (dataset content
digest, ``core.preprocess.recipe.cache_key(variant)`` — the spec plus the digest of any saved lab model it names
—, model name, a fingerprint of the model's weights, the prepscope version, and the device type when it is not
the CPU): a repeat is a file read.

The arithmetic contract: on the CPU an item's features are the same bytes whatever the layout and the
batch size (tests/test_features.py). Measured here (oneDNN 3.12, AVX-512): a pointwise convolution
picks its kernel, and with it the rounding, by batch size and thread count (at two threads a batch of
1 differs from a batch of 8; at one thread batches of 1 to 12 agree and 16 differs), and the
classifier's matrix product by the number of rows. So the network always runs at one intra-op thread
on at most ``CPU_MAX_CHUNK`` items at once, and the classifier on one row at a time (``forward_batch``).
On a GPU, cuDNN also chooses kernels by shape: features may differ in the last bits between batch
sizes, and the device type in the cache key keeps them apart from CPU entries.

The cache folder is ``cache_dir`` if given, else ``$PREPSCOPE_CACHE_DIR``, else
``$PREPSCOPE_HOME/features`` (default ``~/.cache/prepscope/features``).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from core import __version__
from core.errors import InvalidDataset, PrepscopeError
from core.evaluate.datasets import Dataset, Item
from core.evaluate.tuning import Layout, choose_batch, forward_batch, one_torch_thread, plan_layout
from core.paths import prepscope_home
from core.preprocess.device import host_images, on_device, prepare_on_device, to_device
from core.preprocess.pipeline import prepare_grid
from core.preprocess.recipe import cache_key
from core.preprocess.variant import Variant
from core.provenance import Progress, StopCheck, Stopped

#: ``batch_size`` when none is given: measured once per model and machine (``core.evaluate.tuning``).
DEFAULT_BATCH = "auto"
#: Streams hand the model's lock back between rounds of about this many seconds, so other requests get a turn.
ROUND_SECONDS = 1.0
STAGES = ("decode", "prepare", "forward", "write")


def default_cache_dir() -> Path:
    """``$PREPSCOPE_CACHE_DIR`` if set, else ``$PREPSCOPE_HOME/features`` (default ``~/.cache/prepscope/features``)."""
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


def resolve_batch(batch_size: int | str, model) -> int:
    """An explicit batch size (at least 1), or ``"auto"``: the measured choice for this model and machine."""
    if batch_size == "auto":
        return int(choose_batch(model)["batch"])
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidDataset(f"The batch size must be a whole number of at least 1, or 'auto'; got {batch_size!r}.")
    return batch_size


@dataclass
class Features:
    """Pooled features (N, D) float32 and logits (N, 1000) float32 for every item of a dataset, in order."""

    pooled: np.ndarray
    logits: np.ndarray
    cached: bool
    seconds: float


@dataclass
class StageTimes:
    """Where extraction passes spent their time, per stage (``decode``, ``prepare``, ``forward``, ``write``):
    seconds of the threads doing it (``wall``; threads running side by side each count) and their CPU
    seconds (``cpu``); ``items`` items went through, in ``seconds`` of pass time, with ``layout``."""

    wall: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    items: int = 0
    variants: int = 0
    seconds: float = 0.0
    layout: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, stage: str, wall: float, cpu: float) -> None:
        with self._lock:
            self.wall[stage] += wall
            self.cpu[stage] += cpu

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        """Time the block as ``stage`` (wall and this thread's CPU time)."""
        w0, c0 = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - w0, time.thread_time() - c0)

    def per_item_ms(self) -> dict[str, tuple[float, float]]:
        """(wall ms, CPU ms) per item for each stage (forward and write: summed over the variants)."""
        n = max(1, self.items)
        return {s: (self.wall[s] * 1000 / n, self.cpu[s] * 1000 / n) for s in STAGES}

    def summary(self) -> str:
        """One line per stage plus the pass time per item, for people."""
        lines = [f"layout: {self.layout}", f"{self.items} items x {self.variants} variant(s) in {self.seconds:.2f} s "
                 f"({self.seconds * 1000 / max(1, self.items):.2f} ms per item of pass time)"]
        for s, (w, c) in self.per_item_ms().items():
            lines.append(f"  {s:<8} {w:7.2f} ms/item in its threads, {c:7.2f} ms CPU")
        return "\n".join(lines)


class FeatureCache:
    """Files ``<key>.pooled.npy``, ``<key>.logits.npy`` and ``<key>.json`` (what the key stands for)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()

    def key(self, dataset: Dataset, variant: Variant, model) -> str:
        parts = f"{dataset.digest}|{cache_key(variant)}|{model.name}|{model_fingerprint(model)}|{__version__}"
        device = getattr(getattr(model, "device", None), "type", "cpu")
        if device != "cpu":  # CPU keys are unchanged, so earlier CPU entries stay valid
            parts += f"|{device}"
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
    """Memory-mapped arrays filled batch by batch (from any thread, disjoint rows), renamed into the cache when
    complete."""

    def __init__(self, cache: FeatureCache, key: str, n: int, meta: dict) -> None:
        self.cache, self.key, self.n, self.meta = cache, key, n, meta
        self.pooled: np.ndarray | None = None
        self.logits: np.ndarray | None = None
        self.tmp: list[Path] = []
        self._open = threading.Lock()

    def write(self, rows: int | np.ndarray, pooled: np.ndarray, logits: np.ndarray) -> None:
        """Fill the rows from ``rows`` on (an int: consecutive rows), or the rows ``rows`` names (item ids, any
        order)."""
        with self._open:
            if self.pooled is None:
                self.cache.root.mkdir(parents=True, exist_ok=True)
                suffix = f".tmp{os.getpid()}-{id(self)}.npy"
                p, lg, _ = self.cache.paths(self.key)
                self.tmp = [p.with_name(p.name + suffix), lg.with_name(lg.name + suffix)]
                self.pooled = np.lib.format.open_memmap(self.tmp[0], "w+", np.float32, (self.n, pooled.shape[1]))
                self.logits = np.lib.format.open_memmap(self.tmp[1], "w+", np.float32, (self.n, logits.shape[1]))
        where = slice(rows, rows + len(pooled)) if isinstance(rows, int) else rows
        self.pooled[where] = pooled
        self.logits[where] = logits

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


def _same_input(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True when two prepared batches are the same network input (e.g. gray replicated, and gray through the summed
    first conv under equal per-channel statistics): a strided sample first, then every value."""
    if a.shape != b.shape or a.device != b.device:
        return False
    return bool(torch.equal(a[..., ::29, ::31], b[..., ::29, ::31])) and bool(torch.equal(a, b))


def decode_batch(ds: Dataset, items: Sequence[Item]) -> list:
    """The items' Signals (``Dataset.load``); a file that cannot be used is InvalidDataset naming it."""
    out = []
    for it in items:
        try:
            out.append(ds.load(it))
        except PrepscopeError as e:
            raise InvalidDataset(f"{Path(str(it.ref)).name} in {ds.name} cannot be used: {e}") from None
    return out


def prepared_batches(dataset: Dataset, indices: Sequence[int], variant: Variant, model, batch_size: int,
                     should_stop: StopCheck | None = None) -> Iterator[list]:
    """The selected items decoded and preprocessed under ``variant``, ``batch_size`` at a time (lists of
    ``core.preprocess.pipeline.Prepared``); Stopped when ``should_stop()`` says so between batches."""
    for start in range(0, len(indices), batch_size):
        if should_stop is not None and should_stop():
            raise Stopped("Stopped; nothing of the stopped pass was kept.")
        items = [dataset.items[int(i)] for i in indices[start : start + batch_size]]
        yield prepare_grid(decode_batch(dataset, items), [variant], model.mean, model.std)[0]


class _Pass:
    """One extraction pass: the work for one batch (decode, prepare, forward, write), callable from any thread."""

    def __init__(self, dataset: Dataset, variants: list[Variant], model, writers: list[_Writer], layout: Layout,
                 profile: StageTimes) -> None:
        self.ds, self.variants, self.model, self.writers = dataset, variants, model, writers
        self.layout, self.profile = layout, profile
        self.device_side = [layout.device_prep and on_device(v) for v in variants]
        self.forward_s = [0.0] * len(variants)
        self.host_s = 0.0
        self._lock = threading.Lock()

    def host(self, start: int) -> list:
        """``host_items`` of the batch starting at item ``start``."""
        return self.host_items(self.ds.items[start : start + self.layout.batch])

    def host_items(self, items: Sequence[Item]) -> list:
        """Decode the items and do the CPU part of their preparation: per variant an (N,3,S,S) channels-last tensor,
        or (device-side variants) the 8-bit channel images the device path starts from."""
        t0 = time.perf_counter()
        with one_torch_thread():
            with self.profile.timed("decode"):
                signals = decode_batch(self.ds, items)
            with self.profile.timed("prepare"):
                on_cpu = [v for v, d in zip(self.variants, self.device_side, strict=True) if not d]
                grid = iter(prepare_grid(signals, on_cpu, self.model.mean, self.model.std) if on_cpu else [])
                sources: dict = {}
                out = []
                for v, dev in zip(self.variants, self.device_side, strict=True):
                    if dev:
                        out.append(host_images(signals, v, sources))
                    else:
                        row = next(grid)
                        out.append(torch.stack([p.tensor for p in row]).contiguous(memory_format=torch.channels_last))
        with self._lock:
            self.host_s += time.perf_counter() - t0
        return out

    def forward(self, host: list) -> list[tuple[np.ndarray, np.ndarray]]:
        """Move a prepared batch to the device (device-side preparation there) and run the network per variant:
        (pooled, logits) per variant. The caller holds ``model.lock``."""
        device = self.model.device
        done: list[tuple[torch.Tensor, np.ndarray, np.ndarray]] = []
        out = []
        for j, x in enumerate(host):
            t0 = time.perf_counter()
            with self.profile.timed("forward"):
                if self.device_side[j]:
                    x = prepare_on_device(to_device(x, device), self.variants[j], self.model.mean, self.model.std)
                elif device.type == "cuda":
                    x = x.pin_memory().to(device, non_blocking=True)
                same = next((r for r in done if _same_input(r[0], x)), None)
                if same is None:  # an input identical to an earlier variant's has the same features: reuse them
                    pooled, logits = forward_batch(self.model, x)
                    done.append((x, pooled, logits))
                else:
                    pooled, logits = same[1], same[2]
            out.append((pooled, logits))
            with self._lock:
                self.forward_s[j] += time.perf_counter() - t0
        return out

    def write(self, rows: int | np.ndarray, results: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Write each variant's (pooled, logits) at ``rows`` (``_Writer.write``)."""
        for j, (pooled, logits) in enumerate(results):
            t0 = time.perf_counter()
            with self.profile.timed("write"):
                self.writers[j].write(rows, pooled, logits)
            with self._lock:
                self.forward_s[j] += time.perf_counter() - t0

    def forward_write(self, start: int, host: list) -> None:
        """``forward`` then ``write`` the rows from ``start`` on. The caller holds ``model.lock``."""
        self.write(start, self.forward(host))

    def run(self, start: int) -> int:
        """The whole batch in this thread (a CPU stream); returns its number of items."""
        host = self.host(start)
        self.forward_write(start, host)
        return len(host[0]) if host else 0


def _run_streams(job: _Pass, starts: list[int], tick, should_stop: StopCheck | None) -> None:
    """CPU layout: ``streams`` threads each running whole batches at one intra-op thread. The caller's thread holds
    the model's lock on the streams' behalf, handing it back between rounds of about ``ROUND_SECONDS``."""
    model, n_streams = job.model, job.layout.streams
    if n_streams == 1:
        for start in starts:
            if should_stop is not None and should_stop():
                raise Stopped
            with model.lock:
                n = job.run(start)
            tick(n)
        return
    work: queue.Queue = queue.Queue()
    done: queue.Queue = queue.Queue()

    def stream() -> None:
        torch.set_num_threads(1)
        while (start := work.get()) is not None:
            try:
                done.put((job.run(start), None))
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
                done.put((0, e))

    saved = torch.get_num_threads()
    threads = [threading.Thread(target=stream, name=f"prepscope-stream-{i}", daemon=True) for i in range(n_streams)]
    for t in threads:
        t.start()
    pending = deque(starts)
    error: BaseException | None = None
    stopped = False
    try:
        while pending and error is None and not stopped:
            if should_stop is not None and should_stop():
                stopped = True
                break
            with model.lock:
                until = time.perf_counter() + ROUND_SECONDS
                in_flight = 0
                while pending and in_flight < n_streams:
                    work.put(pending.popleft())
                    in_flight += 1
                while in_flight:
                    n, e = done.get()
                    in_flight -= 1
                    if e is not None:
                        error = error or e
                        continue
                    tick(n)
                    if should_stop is not None and not stopped and should_stop():
                        stopped = True
                    if error is None and not stopped and pending and time.perf_counter() < until:
                        work.put(pending.popleft())
                        in_flight += 1
            time.sleep(0.002)  # let a request waiting for the model take it between rounds
    finally:
        for _ in threads:
            work.put(None)
        for t in threads:
            t.join()
        torch.set_num_threads(saved)  # the streams' setting is per thread, but torch also keeps it as a default
    if error is not None:
        raise error
    if stopped:
        raise Stopped


def _run_pipeline(job: _Pass, starts: list[int], tick, should_stop: StopCheck | None) -> None:
    """GPU layout: ``decoders`` threads decode and prepare batches ahead (at most two each in flight) while the
    caller's thread sends them through the network in order."""

    def init() -> None:
        torch.set_num_threads(1)

    pool = ThreadPoolExecutor(max_workers=job.layout.decoders, thread_name_prefix="prepscope-decode", initializer=init)
    ahead: deque[tuple[int, Future]] = deque()
    pending = deque(starts)
    try:
        while pending or ahead:
            while pending and len(ahead) < 2 * job.layout.decoders:
                s = pending.popleft()
                ahead.append((s, pool.submit(job.host, s)))
            if should_stop is not None and should_stop():
                raise Stopped
            start, fut = ahead.popleft()
            host = fut.result()
            with job.model.lock:
                job.forward_write(start, host)
            tick(len(host[0]) if host else 0)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class InProcess:
    """The default extraction engine: this process's threads in ``layout`` (CPU streams, or decode threads feeding
    a GPU). An engine has a ``name``, ``describe(layout, device)`` (one line for people) and ``run(job, starts,
    tick, should_stop)``, which computes every item of ``job`` (a ``_Pass``), writes its rows into the pass's
    writers, calls ``tick(n_items)`` as batches finish and raises Stopped when ``should_stop()`` says so;
    ``core.evaluate.rayengine.RayEngine`` is the other one."""

    name = "inprocess"

    def describe(self, layout: Layout, device: torch.device) -> str:
        return layout.describe(device)

    def info(self) -> dict:
        """What the sweep's provenance records about the engine."""
        return {"name": self.name}

    def run(self, job: _Pass, starts: list[int], tick, should_stop: StopCheck | None) -> None:
        (_run_pipeline if job.layout.decoders else _run_streams)(job, starts, tick, should_stop)


IN_PROCESS = InProcess()


def extract(
    dataset: Dataset,
    variants: Sequence[Variant],
    model,
    cache: FeatureCache | None = None,
    *,
    batch_size: int | str = DEFAULT_BATCH,
    layout: Layout | None = None,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
    progress_span: tuple[float, float] = (0.0, 1.0),
    profile: StageTimes | None = None,
    engine=None,  # noqa: ANN001 - InProcess (default) or core.evaluate.rayengine.RayEngine
) -> dict[str, Features]:
    """Features of every item of ``dataset`` under each variant, keyed by ``variant.spec_key()``.

    Cached entries are read from disk; the rest are computed in one streamed pass in ``layout`` (default:
    ``plan_layout`` for ``batch_size``, an int or ``"auto"``). ``progress(fraction, message)`` is called after
    each batch, with fractions inside ``progress_span``; ``should_stop()`` is checked between batches and a
    True answer raises Stopped (nothing partial is kept). ``seconds`` per variant is its share of the pass's
    time: its own forward time plus an equal share of decoding and preparing. ``profile`` (if given)
    accumulates the time of each stage. ``engine`` runs the pass (default ``IN_PROCESS``; see ``InProcess``):
    whichever runs it, the rows land in the same cache entries.
    """
    cache = cache or FeatureCache()
    engine = engine or IN_PROCESS
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
    if layout is None:
        layout = plan_layout(model.device, resolve_batch(batch_size, model), n)
    profile = profile if profile is not None else StageTimes()
    profile.layout = engine.describe(layout, model.device)
    profile.variants = max(profile.variants, len(todo))
    starts = list(range(0, n, layout.batch))
    writers = [
        _Writer(cache, key, n, {"dataset": dataset.describe(), "variant": v.to_dict(), "model": model.name,
                                "model_description": model.description, "prepscope": __version__,
                                "device": str(model.device), "layout": layout.to_dict(), "engine": engine.name})
        for _, v, key in todo
    ]
    job = _Pass(dataset, [v for _, v, _ in todo], model, writers, layout, profile)
    finished = [0]

    def tick(items: int) -> None:
        finished[0] += items
        if progress:
            msg = f"{dataset.name}: {finished[0]}/{n} items × {len(todo)} variant(s)"
            progress(lo + (hi - lo) * finished[0] / n, msg)

    t_pass = time.perf_counter()
    try:
        with threadpool_limits(limits=1, user_api="blas"):  # numpy's BLAS threads would compete with the streams
            try:
                engine.run(job, starts, tick, should_stop)
            except Stopped:
                raise Stopped(
                    f"Stopped after {finished[0]} of {n} items of {dataset.name}; nothing of this pass was kept "
                    "(features cached by earlier runs stay cached)."
                ) from None
        seconds = time.perf_counter() - t_pass
        share = [f + job.host_s / len(todo) for f in job.forward_s]  # thread seconds; scaled to the pass's time
        scale = seconds / max(1e-9, sum(share))
        for j, (sk, _, key) in enumerate(todo):
            writers[j].commit()
            p, lg, _ = cache.paths(key)
            out[sk] = Features(np.load(p, mmap_mode="r"), np.load(lg, mmap_mode="r"), False, share[j] * scale)
    except BaseException:
        for w in writers:
            w.discard()
        raise
    profile.items += n
    profile.seconds += seconds
    return out
