"""How a sweep uses this machine: an extraction pass's layout, and a batch size measured once per model and machine.

Thread budget (``plan_layout``): the threads that compute never outnumber the usable cores.

- CPU: one *stream* per usable core. A stream takes the next batch of items, decodes it, prepares it
  and runs the network on it at ONE intra-op thread, then writes its rows; the streams run side by side.
  Measured on a 2-core machine: a two-thread forward waits at every layer for the slower of its two
  threads, and any third runnable thread (a decode thread, another process) stalls it; two one-thread
  streams never wait on each other. Decoding happens in a stream between its own forwards, never
  beside them on a core the forward needs.
- GPU: the caller's thread drives the device (one stream); ``decoders`` threads (usable cores - 1, at
  most 8) decode and prepare the next batches on the CPU while the device computes (``device_prep``:
  colormap, resize and normalization on the device, see ``core.preprocess.device``).

Batch size (``choose_batch``, the CLI's ``--batch auto``): candidates are timed on random inputs in the
layout a sweep uses (CPU: each stream's thread CPU time per item at one intra-op thread, so a busy
machine does not bias the choice; GPU: wall time per item with the device synchronized), and the
largest batch within 3% of the fastest is chosen (fewer, larger batches cost less bookkeeping per
item). The choice and the measurements are recorded in ``$PREPSCOPE_HOME/tuning.json`` under a key
naming the machine (CPU model, usable cores, device, torch version) and the model; later sweeps read
it, ``python -m core tune`` measures again.
"""

from __future__ import annotations

import json
import math
import os
import platform
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

from core.paths import prepscope_home

#: On the CPU a forward never takes more items than this at once (see core.evaluate.features: the features of
#: an item then do not depend on the batch size); the CPU candidates for ``--batch auto`` stay within it.
CPU_MAX_CHUNK = 8
CPU_CANDIDATES = (1, 2, 4, 8)
GPU_CANDIDATES = (16, 32, 64, 128, 256)
#: A candidate within this fraction of the fastest counts as as fast (the larger batch wins).
TIE = 0.03
MAX_DECODERS = 8
TUNING_VERSION = 1



@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run the block at one intra-op thread in this thread (torch's OpenMP setting is per thread), restored after."""
    saved = torch.get_num_threads()
    if saved == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def forward_batch(model, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(pooled (N, D), logits (N, 1000)) float32 of a normalized batch. The caller holds ``model.lock``.

    On the CPU the network runs at one intra-op thread on at most ``CPU_MAX_CHUNK`` items at a time and the
    classifier on one row at a time, so an item's numbers do not depend on the batch it came in (module
    docstring). On a GPU the batch goes through whole."""
    with torch.inference_mode():
        if model.device.type == "cpu":
            with one_torch_thread():
                pooled = torch.cat([model.pooled_features(x[i : i + CPU_MAX_CHUNK])
                                    for i in range(0, x.shape[0], CPU_MAX_CHUNK)])
                logits = model.logits_by_row(pooled)
        else:
            pooled = model.pooled_features(x)
            logits = model.head(pooled)
        return pooled.float().cpu().numpy(), logits.float().cpu().numpy()


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask; the CPU count where that is unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class Layout:
    """How one extraction pass uses the machine.

    ``batch``: items decoded, prepared and sent through the network together (on the CPU the forward itself
    takes at most ``CPU_MAX_CHUNK`` of them at a time). ``streams``: CPU threads each decoding, preparing and
    running its own batches at one intra-op thread (1 on a GPU). ``decoders``: threads decoding and preparing
    ahead of a single forward stream (the GPU layout; 0 when streams decode their own batches).
    ``device_prep``: colormap, resize and normalization of eligible variants on the model's device.
    """

    batch: int
    streams: int = 1
    decoders: int = 0
    device_prep: bool = False

    def __post_init__(self) -> None:
        if self.batch < 1 or self.streams < 1 or self.decoders < 0:
            raise ValueError(f"invalid layout {self}")
        if self.decoders and self.streams != 1:
            raise ValueError("decoder threads feed a single forward stream")

    def describe(self, device: torch.device | str = "cpu") -> str:
        """One line for people: what runs where."""
        dev = str(device)
        if self.decoders:
            prep = "colormap/resize/normalize on the device" if self.device_prep else "prepared on the CPU"
            return (f"batch {self.batch}: {self.decoders} decode thread(s) (1 torch thread each) feeding one forward "
                    f"stream on {dev}; {prep}")
        per = "1 torch thread" if dev.startswith("cpu") else dev
        return (f"batch {self.batch}: {self.streams} stream(s) x ({per}) each decoding, preparing, running the network "
                f"and writing its own batches; {usable_cores()} usable core(s)")

    def to_dict(self) -> dict:
        return asdict(self)


def plan_layout(device: torch.device, batch: int, n_items: int, cores: int | None = None) -> Layout:
    """The thread budget for a pass of ``n_items`` items in batches of ``batch`` on ``device``: CPU streams =
    usable cores (no more than there are batches); on a GPU one forward stream plus usable cores - 1 decode
    threads (at most ``MAX_DECODERS``) and device-side preparation."""
    cores = cores or usable_cores()
    batches = max(1, math.ceil(n_items / batch))
    if device.type == "cpu":
        return Layout(batch, streams=max(1, min(cores, batches)))
    return Layout(batch, decoders=max(1, min(cores - 1, MAX_DECODERS, batches)), device_prep=True)


# ------------------------------------------------------------------------------------------------ choosing


def tuning_path() -> Path:
    """``$PREPSCOPE_HOME/tuning.json``."""
    return prepscope_home() / "tuning.json"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_key(device: torch.device) -> str:
    """What a measured choice depends on besides the model: CPU model, usable cores, device, torch version."""
    dev = "cpu" if device.type == "cpu" else f"{device.type} {torch.cuda.get_device_name(device)}"
    return f"{_cpu_name()} | {usable_cores()} cores | {dev} | torch {torch.__version__}"


def _read() -> dict:
    try:
        data = json.loads(tuning_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != TUNING_VERSION or not isinstance(data.get("entries"), dict):
        return {}
    return data["entries"]


def recorded(model) -> dict | None:
    """The recorded choice for this model on this machine, or None."""
    entry = _read().get(f"{machine_key(model.device)} | {model.name}")
    ok = isinstance(entry, dict) and isinstance(entry.get("batch"), int) and entry["batch"] >= 1
    return entry if ok else None


def _record(model, entry: dict) -> None:
    entries = _read()
    entries[f"{machine_key(model.device)} | {model.name}"] = entry
    path = tuning_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(json.dumps({"version": TUNING_VERSION, "entries": entries}, indent=1), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable home costs a probe next time, never a sweep


def choose_batch(model, *, again: bool = False) -> dict:
    """The batch size for ``model`` on this machine: the recorded choice, or (first time, or ``again``) a
    probe whose result is recorded. Returns the entry: ``batch``, ``ms_per_item`` per candidate, ``metric``,
    ``machine``, ``model``, ``probed_at``, ``load_average``."""
    if not again:
        entry = recorded(model)
        if entry is not None:
            return entry
    entry = probe(model)
    _record(model, entry)
    return entry


def _pick(ms: dict[int, float]) -> int:
    best = min(ms.values())
    return max(b for b, v in ms.items() if v <= best * (1 + TIE))


def probe(model, rounds: int = 2, items: int = 12) -> dict:
    """Time each candidate batch in the sweep's layout (see the module docstring); nothing is recorded."""
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    if model.device.type == "cpu":
        ms, metric = _probe_cpu(model, rounds, items)
    else:
        ms, metric = _probe_gpu(model, rounds)
    return {"batch": _pick(ms), "ms_per_item": {str(b): round(v, 3) for b, v in ms.items()}, "metric": metric,
            "machine": machine_key(model.device), "model": model.name,
            "probed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "load_average": None if load is None else [round(x, 2) for x in load]}


def _inputs(model, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    s = model.input_size
    return torch.randn(n, 3, s, s, generator=g).contiguous(memory_format=torch.channels_last)


def _probe_cpu(model, rounds: int, items: int) -> tuple[dict[int, float], str]:
    streams = usable_cores()
    x = _inputs(model, max(CPU_CANDIDATES))
    cpu: dict[int, list[float]] = {b: [] for b in CPU_CANDIDATES}
    errors: list[BaseException] = []

    def stream(b: int, out: list[float]) -> None:
        try:
            torch.set_num_threads(1)
            forward_batch(model, x[:b])  # warm-up: kernel selection and buffers for this shape
            t0 = time.thread_time()
            for _ in range(max(1, items // b)):
                forward_batch(model, x[:b])
            out.append((time.thread_time() - t0) * 1000 / (max(1, items // b) * b))
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(e)

    saved = torch.get_num_threads()
    try:
        with model.lock:
            for r in range(rounds):
                order = CPU_CANDIDATES if r % 2 == 0 else CPU_CANDIDATES[::-1]
                for b in order:
                    per: list[float] = []
                    threads = [threading.Thread(target=stream, args=(b, per), daemon=True) for _ in range(streams)]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    if errors:
                        raise errors[0]
                    cpu[b].append(float(np.mean(per)))
    finally:
        torch.set_num_threads(saved)
    metric = f"thread CPU ms per item, {streams} stream(s) at one intra-op thread, median of {rounds} rounds"
    return {b: float(np.median(v)) for b, v in cpu.items()}, metric


def _probe_gpu(model, rounds: int) -> tuple[dict[int, float], str]:  # pragma: no cover - needs a GPU

    ms: dict[int, list[float]] = {}
    with model.lock:
        for b in GPU_CANDIDATES:
            try:
                x = _inputs(model, b).to(model.device)
                forward_batch(model, x)
                torch.cuda.synchronize(model.device)
                for _ in range(rounds):
                    t0 = time.perf_counter()
                    for _ in range(3):
                        forward_batch(model, x)
                    torch.cuda.synchronize(model.device)
                    ms.setdefault(b, []).append((time.perf_counter() - t0) * 1000 / (3 * b))
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                break
    if not ms:
        raise RuntimeError("the GPU ran out of memory at the smallest batch size tried")
    return {b: float(np.median(v)) for b, v in ms.items()}, f"wall ms per item on {model.device}, device synchronized"
