"""Engine overhead: inspect of one photo x 8 variants vs a bare batched forward of 8 ready tensors.

Both are measured in the same run, interleaved, with the same model and thread count; each is the
median of several repetitions after a warm-up. The last number printed is the ratio
(inspect time / bare forward time); the target is <= 1.5.

    python benchmarks/engine.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from skimage import data  # noqa: E402

from core.inspect.engine import inspect  # noqa: E402
from core.models import load_model  # noqa: E402
from core.preprocess.presets import get_preset  # noqa: E402
from core.signal import Signal  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    model = load_model()
    signal = Signal(data.chelsea().astype(np.float32) / 255.0, {"name": "chelsea"})
    variants = get_preset("interpolation")  # 8 variants: every resize path, torch and PIL
    assert len(variants) == 8
    ready = torch.randn(8, 3, 224, 224).contiguous(memory_format=torch.channels_last)
    for _ in range(2):  # warm-up (allocator, oneDNN kernels, colormap tables)
        inspect(signal, variants, model)
        model.features_and_logits(ready)
    t_inspect, t_bare = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        inspect(signal, variants, model)
        t_inspect.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        model.features_and_logits(ready)
        t_bare.append(time.perf_counter() - t0)
    inspect_s, bare_s = statistics.median(t_inspect), statistics.median(t_bare)
    print(f"threads: {torch.get_num_threads()}  model: {model.name}  input: chelsea 451x300  variants: 8")
    print(f"inspect (preprocess + forward + maps + statistics + similarity): {inspect_s * 1000:.1f} ms (median)")
    print(f"bare batched forward of 8 ready tensors:                         {bare_s * 1000:.1f} ms (median)")
    print(f"ratio inspect / bare forward (target <= 1.5): {inspect_s / bare_s:.3f}")


if __name__ == "__main__":
    main()
