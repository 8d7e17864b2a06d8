"""Sweep throughput with a cold feature cache, relative to the bare batched forward pass of the same model.

Run: ``python benchmarks/sweep.py [--images N] [--batch B]`` (uses ../shared/data/hymenoptera/train).

Three numbers, each in images per second, measured in this run on this machine:

- bare forward: the model's batched forward (pooled features + logits) on ready-made normalized
  tensors;
- sweep (cold cache): ``core.evaluate.features.extract`` on the photos with an empty cache folder:
  JPEG decode (core.io), preprocessing (gray -> viridis colormap, bicubic resize, normalization),
  forward, pooling, writing the cache; decode and preprocessing of the next batch overlap the
  current forward in a background thread;
- naive loop: per image PIL decode and resize, a numpy colormap, one forward at a time.

The three are measured in interleaved rounds and the medians compared, so a busy machine slows
all of them alike. The LAST line printed is the ratio sweep / bare forward (target >= 0.8).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.evaluate.datasets import scan_folder  # noqa: E402
from core.evaluate.features import DEFAULT_BATCH, FeatureCache, extract  # noqa: E402
from core.models import load_model  # noqa: E402
from core.preprocess.variant import Variant  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "hymenoptera" / "train"
VARIANT = Variant(name="gray→viridis", channels="colormap", colormap="viridis")


def bare_forward(model, n: int, batch: int) -> float:
    """Images per second of the batched forward on random normalized tensors (channels_last)."""
    x = torch.randn(batch, 3, model.input_size, model.input_size).contiguous(memory_format=torch.channels_last)
    model.features_and_logits(x[:2])  # warm-up
    done, t0 = 0, time.perf_counter()
    while done < n:
        b = min(batch, n - done)
        model.features_and_logits(x[:b])
        done += b
    return n / (time.perf_counter() - t0)


def sweep_cold(model, ds, batch: int) -> float:
    """Images per second of a cold-cache feature extraction (one variant) over the dataset."""
    with tempfile.TemporaryDirectory(prefix="prepscope-bench-") as d:
        t0 = time.perf_counter()
        out = extract(ds, [VARIANT], model, FeatureCache(d), batch_size=batch)
        seconds = time.perf_counter() - t0
    assert next(iter(out.values())).pooled.shape[0] == len(ds)
    return len(ds) / seconds


def naive_loop(model, paths: list[str]) -> float:
    """Images per second of a per-image loop: PIL decode + resize, numpy colormap, one forward each."""
    from matplotlib import colormaps
    from PIL import Image

    lut = colormaps["viridis"](np.linspace(0, 1, 256))[:, :3].astype(np.float32)
    mean = np.asarray(model.mean, np.float32)
    std = np.asarray(model.std, np.float32)
    s = model.input_size
    t0 = time.perf_counter()
    for p in paths:
        with Image.open(p) as im:
            g = im.convert("L")
        w, h = g.size
        scale = s / min(w, h)
        g = g.resize((max(s, round(w * scale)), max(s, round(h * scale))), Image.Resampling.BICUBIC)
        left, top = (g.size[0] - s) // 2, (g.size[1] - s) // 2
        g = np.asarray(g.crop((left, top, left + s, top + s)))
        rgb = (lut[g] - mean) / std
        x = torch.from_numpy(rgb).permute(2, 0, 1)[None].contiguous()
        model.features_and_logits(x)
    return len(paths) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=128, help="number of photos (default 128)")
    ap.add_argument("--batch", type=int, default=DEFAULT_BATCH, help=f"batch size (default {DEFAULT_BATCH})")
    ap.add_argument("--naive-images", type=int, default=48, help="photos for the naive loop (default 48)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians are reported (default 3)")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"benchmark data missing: {DATA}")
    ds = scan_folder(DATA)
    ds = ds.subset(range(min(args.images, len(ds))))
    paths = [str(it.ref) for it in ds.items[: args.naive_images]]
    model = load_model()
    print(f"model {model.name} on {getattr(model, 'device', 'cpu')}, torch threads {torch.get_num_threads()}, "
          f"{len(ds)} photos, batch {args.batch}, variant {VARIANT.name}, {args.rounds} interleaved rounds")
    bare_forward(model, 32, args.batch)  # warm-up: first-call allocations and kernel selection
    bare, sweep, naive = [], [], []
    for r in range(args.rounds):
        bare.append(bare_forward(model, len(ds), args.batch))
        sweep.append(sweep_cold(model, ds, args.batch))
        naive.append(naive_loop(model, paths))
        print(f"round {r + 1}: bare {bare[-1]:.1f}, sweep {sweep[-1]:.1f}, naive {naive[-1]:.1f} img/s")
    b, s_, n = (float(np.median(x)) for x in (bare, sweep, naive))
    print(f"bare batched forward (median): {b:.1f} img/s")
    print(f"naive per-image loop (median): {n:.1f} img/s, ratio to bare forward {n / b:.2f}")
    print(f"sweep, cold cache (median):    {s_:.1f} img/s")
    print(f"sweep / bare forward ratio: {s_ / b:.2f}")


if __name__ == "__main__":
    main()
