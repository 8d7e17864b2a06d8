"""Sweep throughput with a cold feature cache, against the bare forward pass and a naive per-item loop.

Run: ``python benchmarks/sweep.py [--datasets photos,sounds] [--items N] [--rounds R] [--batch auto|N]``
(data: ../shared/data/hymenoptera/train and ../shared/data/fsdd beside the project).

Per dataset, in items per second, measured in this run on this machine:

- bare forward: the model's batched forward (pooled features + logits, ``LoadedModel.features_and_logits``,
  torch's default threads) on ready-made normalized tensors, at the sweep's batch size, at batch 1 and
  at batch 8 (the old default); also the forward alone in the sweep's own layout (streams at one
  intra-op thread), the ceiling of what the sweep's layout can reach;
- sweep (cold cache): ``core.evaluate.features.extract`` with an empty cache folder: decode (core.io),
  preprocessing (photos: gray -> viridis, bicubic resize, normalization; sounds: the mel spectrogram of
  the ``spectrogram`` preset, viridis, stretch to 224), forward, pooling, cache writes;
- naive loop: per item, plain library calls (photos: PIL decode, gray, resize and crop, numpy
  colormap; sounds: soundfile decode, librosa mel spectrogram, numpy colormap, torch resize) and one
  forward at a time with torch's default threads.

The measures run in interleaved rounds and medians are compared, so a busy machine slows all of them
alike; the load average is printed at the start and the end. Each measure runs in a fresh thread, as
Streamlit runs a page and as the sweep's streams run: on the 2-core machine this was written on, a
two-thread forward started from the process's main thread ran up to ten times slower than the same
forward from any other thread while the machine was busy, which would flatter every ratio.

After the rounds, one more cold sweep runs with the pipeline's functions wrapped to print where an
item's time goes (decode, preprocessing, forward, cache write: milliseconds per item in the threads
doing them, and CPU milliseconds) and which threads did what with how many torch threads. The last
lines are the summary: per dataset sweep/bare (bare at the sweep's batch size), naive/bare,
sweep/naive (targets: sweep/bare >= 0.9, sweep/naive >= 1.1), and the stricter sweep/best bare (the
fastest bare forward among batch 1, the sweep's and 8).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import core.evaluate.features as features  # noqa: E402
import core.preprocess.pipeline as pipeline  # noqa: E402
from core.evaluate.datasets import scan_folder  # noqa: E402
from core.evaluate.features import FeatureCache, extract  # noqa: E402
from core.models import load_model  # noqa: E402
from core.models.registry import LoadedModel  # noqa: E402
from core.preprocess.presets import get_preset  # noqa: E402
from core.preprocess.variant import Variant  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
PHOTO_VARIANT = Variant(name="gray→viridis", channels="colormap", colormap="viridis")
SOUND_VARIANT = next(v for v in get_preset("spectrogram") if v.channels == "colormap" and v.colormap == "viridis")


def in_thread(fn: Callable, *args):
    """``fn(*args)`` run in a fresh thread (see the module docstring); its result or its exception."""
    out: list = []

    def job() -> None:
        try:
            out.append((fn(*args), None))
        except BaseException as e:  # noqa: BLE001 - re-raised below
            out.append((None, e))

    t = threading.Thread(target=job, name="bench")
    t.start()
    t.join()
    value, error = out[0]
    if error is not None:
        raise error
    return value


def load_text() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _random_batch(model, n: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    s = model.input_size
    return torch.randn(n, 3, s, s, generator=g).contiguous(memory_format=torch.channels_last)


def bare_forward(model, n: int, batch: int) -> float:
    """Items per second of ``features_and_logits`` (torch's default threads) on random normalized tensors."""
    x = _random_batch(model, batch)
    model.features_and_logits(x)  # warm-up for this shape
    done, t0 = 0, time.perf_counter()
    while done < n:
        b = min(batch, n - done)
        model.features_and_logits(x[:b])
        done += b
    return n / (time.perf_counter() - t0)


def layout_forward(model, n: int, batch: int) -> float | None:
    """Items per second of the forward alone in the sweep's layout: as many streams as the sweep uses, each at one
    intra-op thread, through ``features.forward_batch`` (None when this version of the code has no such layout)."""
    if not hasattr(features, "forward_batch"):
        return None
    from core.evaluate.tuning import plan_layout

    streams = plan_layout(model.device, batch, n).streams
    x = _random_batch(model, batch)
    per = -(-n // streams)

    def run() -> None:
        torch.set_num_threads(1)
        features.forward_batch(model, x)  # warm-up
        for i in range(0, per, batch):
            features.forward_batch(model, x[: min(batch, per - i)])

    saved = torch.get_num_threads()
    threads = [threading.Thread(target=run) for _ in range(streams)]
    t0 = time.perf_counter()
    with model.lock:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    torch.set_num_threads(saved)
    return per * streams / (time.perf_counter() - t0)


def sweep_cold(model, ds, variant: Variant, batch) -> float:
    """Items per second of a cold-cache feature extraction (one variant) over the dataset."""
    with tempfile.TemporaryDirectory(prefix="prepscope-bench-") as d:
        t0 = time.perf_counter()
        out = extract(ds, [variant], model, FeatureCache(d), batch_size=batch)
        seconds = time.perf_counter() - t0
    assert next(iter(out.values())).pooled.shape[0] == len(ds)
    return len(ds) / seconds


def _naive_forward(model, rgb: np.ndarray) -> None:
    mean = np.asarray(model.mean, np.float32)
    std = np.asarray(model.std, np.float32)
    x = torch.from_numpy((rgb - mean) / std).permute(2, 0, 1)[None].contiguous()
    model.features_and_logits(x)


def naive_photos(model, paths: list[str]) -> float:
    """Items per second: PIL decode, gray, resize + center crop, numpy colormap, one forward each."""
    from matplotlib import colormaps
    from PIL import Image

    lut = colormaps["viridis"](np.linspace(0, 1, 256))[:, :3].astype(np.float32)
    s = model.input_size
    t0 = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            g = im.convert("L")
        w, h = g.size
        scale = s / min(w, h)
        g = g.resize((max(s, round(w * scale)), max(s, round(h * scale))), Image.Resampling.BICUBIC)
        left, top = (g.size[0] - s) // 2, (g.size[1] - s) // 2
        _naive_forward(model, lut[np.asarray(g.crop((left, top, left + s, top + s)))])
    return len(paths) / (time.perf_counter() - t0)


def naive_sounds(model, paths: list[str]) -> float:
    """Items per second: soundfile decode, librosa resample + mel spectrogram in dB (the preset's settings), numpy
    colormap, torch resize to the network size, one forward each."""
    import librosa
    import soundfile as sf
    import torchvision.transforms.v2.functional as TF
    from matplotlib import colormaps

    spec = SOUND_VARIANT.spectrogram
    lut = (colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    s = model.input_size
    t0 = time.perf_counter()
    for p in paths:
        y, sr = sf.read(p, dtype="float32")
        y = librosa.resample(y, orig_sr=sr, target_sr=spec.sample_rate)
        mel = librosa.feature.melspectrogram(y=y, sr=spec.sample_rate, n_fft=spec.n_fft, hop_length=spec.hop,
                                             n_mels=spec.n_mels, fmax=spec.fmax)
        db = librosa.power_to_db(mel, ref=np.max, top_db=spec.top_db)
        g8 = np.clip((db[::-1] + 80) / 80 * 255, 0, 255).round().astype(np.uint8)
        rgb8 = torch.from_numpy(lut[g8]).permute(2, 0, 1)
        rgb = TF.resize(rgb8, [s, s], antialias=True).permute(1, 2, 0).numpy().astype(np.float32) / 255
        _naive_forward(model, rgb)
    return len(paths) / (time.perf_counter() - t0)


# ------------------------------------------------------------------------------------------------ profile


class StageProfile:
    """Wraps the sweep's stage functions (whichever this version of the code has) to time them per call, with the
    thread that ran them and its torch thread count."""

    STAGES = ("decode", "prepare", "forward", "write")

    def __init__(self) -> None:
        self.wall = dict.fromkeys(self.STAGES, 0.0)
        self.cpu = dict.fromkeys(self.STAGES, 0.0)
        self.where: dict[str, set[str]] = {s: set() for s in self.STAGES}
        self.lock = threading.Lock()

    def wrap(self, stage: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            w0, c0 = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                w, c = time.perf_counter() - w0, time.thread_time() - c0
                name = threading.current_thread().name
                name = "caller's thread" if name == "bench" else re.sub(r"[-_]?\d+$", "", name) + " thread(s)"
                with self.lock:
                    self.wall[stage] += w
                    self.cpu[stage] += c
                    self.where[stage].add(f"{name}, {torch.get_num_threads()} torch thread(s)")
        return timed

    @contextlib.contextmanager
    def installed(self):
        patches = [(features, "decode_batch", "decode"), (pipeline, "prepare_grid", "prepare"),
                   (features._Writer, "write", "write")]
        if hasattr(features, "forward_batch"):
            patches.append((features, "forward_batch", "forward"))
        else:
            patches.append((LoadedModel, "features_and_logits", "forward"))
        saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
        for obj, name, stage in patches:
            setattr(obj, name, self.wrap(stage, getattr(obj, name)))
        try:
            yield self
        finally:
            for obj, name, fn in saved:
                setattr(obj, name, fn)

    def report(self, n: int, seconds: float) -> list[str]:
        lines = [f"  per-stage profile of one cold sweep ({n} items, {seconds:.2f} s, "
                 f"{seconds * 1000 / n:.2f} ms per item of wall time):"]
        for s in self.STAGES:
            lines.append(f"    {s:<8} {self.wall[s] * 1000 / n:7.2f} ms/item in its threads, "
                         f"{self.cpu[s] * 1000 / n:7.2f} ms CPU   [{'; '.join(sorted(self.where[s]))}]")
        return lines


def profile_sweep(model, ds, variant: Variant, batch) -> list[str]:
    prof = StageProfile()
    with prof.installed(), tempfile.TemporaryDirectory(prefix="prepscope-bench-") as d:
        t0 = time.perf_counter()
        extract(ds, [variant], model, FeatureCache(d), batch_size=batch)
        seconds = time.perf_counter() - t0
    return prof.report(len(ds), seconds)


# ------------------------------------------------------------------------------------------------ main


def _spread(ds, n: int):
    idx = np.unique(np.linspace(0, len(ds) - 1, min(n, len(ds))).round().astype(int))
    return ds.subset(idx.tolist())


def run_dataset(name: str, model, ds, variant: Variant, naive: Callable, batch, rounds: int, naive_n: int) -> dict:
    """Interleaved rounds of the five measures on one dataset; prints each round, returns the medians."""
    sweep_batch = features.resolve_batch(batch, model) if hasattr(features, "resolve_batch") else int(batch)
    paths = [str(it.ref) for it in _spread(ds, naive_n).items]
    print(f"\n== {name}: {len(ds)} items, variant {variant.name}, sweep batch {sweep_batch}, naive loop on "
          f"{len(paths)} items, {rounds} interleaved rounds (load average {load_text()})")
    in_thread(sweep_cold, model, ds.subset(range(min(8, len(ds)))), variant, sweep_batch)  # warm-up: lazy imports
    in_thread(naive, model, paths[:2])
    res: dict[str, list[float]] = {k: [] for k in ("bare", "bare1", "bare8", "layout", "sweep", "naive")}
    for r in range(rounds):
        res["bare"].append(in_thread(bare_forward, model, len(ds), sweep_batch))
        res["sweep"].append(in_thread(sweep_cold, model, ds, variant, sweep_batch))
        res["bare1"].append(in_thread(bare_forward, model, max(8, len(ds) // 4), 1))
        res["naive"].append(in_thread(naive, model, paths))
        res["bare8"].append(res["bare"][-1] if sweep_batch == 8 else in_thread(bare_forward, model, len(ds), 8))
        lay = in_thread(layout_forward, model, len(ds), sweep_batch)
        if lay is not None:
            res["layout"].append(lay)
        print(f"  round {r + 1}: bare b{sweep_batch} {res['bare'][-1]:.1f}, bare b1 {res['bare1'][-1]:.1f}, "
              f"bare b8 {res['bare8'][-1]:.1f}, " + (f"forward in sweep layout {lay:.1f}, " if lay is not None else "")
              + f"sweep {res['sweep'][-1]:.1f}, naive {res['naive'][-1]:.1f} items/s (load {load_text()})")
    med = {k: float(np.median(v)) for k, v in res.items() if v}
    med["best_bare"] = max(med["bare"], med["bare1"], med["bare8"])
    if hasattr(features, "StageTimes"):
        from core.evaluate.tuning import plan_layout

        print(f"  sweep layout: {plan_layout(model.device, sweep_batch, len(ds)).describe(model.device)}")
    med["profile"] = in_thread(profile_sweep, model, ds, variant, sweep_batch)
    print("\n".join(med["profile"]))
    med["batch"] = sweep_batch
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="photos,sounds", help="comma-separated: photos, sounds (default both)")
    ap.add_argument("--items", type=int, default=96, help="items per dataset for the sweep (default 96)")
    ap.add_argument("--naive-items", type=int, default=48, help="items for the naive loop (default 48)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported (default 3)")
    ap.add_argument("--batch", default="auto", help="sweep batch size, or auto (default: measured once per model "
                                                    "and machine, as the sweep CLI does)")
    args = ap.parse_args()
    batch = args.batch if args.batch == "auto" else int(args.batch)
    if batch == "auto" and not hasattr(features, "resolve_batch"):
        batch = 8  # this version of the code has no measured choice: its default
    wanted = [d.strip() for d in args.datasets.split(",") if d.strip()]
    sources = {"photos": (DATA / "hymenoptera" / "train", PHOTO_VARIANT, naive_photos),
               "sounds": (DATA / "fsdd", SOUND_VARIANT, naive_sounds)}
    for w in wanted:
        if w not in sources:
            sys.exit(f"unknown dataset {w!r}; choose photos, sounds")
        if not sources[w][0].is_dir():
            sys.exit(f"benchmark data missing: {sources[w][0]}")
    t_start = time.perf_counter()
    load_start = load_text()
    model = load_model()
    gpu = f" ({torch.cuda.get_device_name(model.device)})" if model.device.type == "cuda" else ""
    print(f"model {model.name} on {model.device}{gpu}, {os.cpu_count()} CPU(s), torch {torch.__version__} with "
          f"{torch.get_num_threads()} intra-op threads by default; load average {load_start}")
    in_thread(bare_forward, model, 16, 8)  # warm-up: first-call allocations and kernel selection
    results = {}
    for w in wanted:
        root, variant, naive = sources[w]
        results[w] = run_dataset(w, model, _spread(scan_folder(root), args.items), variant, naive, batch,
                                 args.rounds, args.naive_items)
    print(f"\n== summary ({time.perf_counter() - t_start:.0f} s; load average at start {load_start}, "
          f"at end {load_text()})")
    for w, m in results.items():
        lay = f", forward in sweep layout {m['layout']:.1f}" if "layout" in m else ""
        print(f"{w}: bare b{m['batch']} {m['bare']:.1f}, bare b1 {m['bare1']:.1f}, bare b8 {m['bare8']:.1f}{lay}, "
              f"sweep {m['sweep']:.1f}, naive {m['naive']:.1f} items/s (medians)")
        print(f"{w}: sweep / bare {m['sweep'] / m['bare']:.2f} (target >= 0.9)   naive / bare "
              f"{m['naive'] / m['bare']:.2f}   sweep / naive {m['sweep'] / m['naive']:.2f} (target >= 1.1)   "
              f"sweep / best bare {m['sweep'] / m['best_bare']:.2f}")


if __name__ == "__main__":
    main()
