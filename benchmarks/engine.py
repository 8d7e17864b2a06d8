"""Engine overhead: inspect of one photo x 8 variants vs a bare batched forward of 8 ready tensors.

Both are measured in the same run, interleaved, with the same model and thread count; each is the
median of several repetitions after a warm-up. The last line is the ratio (inspect time / bare forward
time); the target is <= 1.5.

Also measured in the same run (``--cam-repeats``, 0 to skip): the cost of activation maps for the same
input and variants (``core.explain.explain`` with Grad-CAM at the last layer: private copy, forward and
backward, agreement, and the deletion/insertion curves, 2 x 17 forwards per variant), and of the maps
alone (``cam_maps``, no curves), each printed as a ratio to the plain inspect.

    python benchmarks/engine.py [--repeats N] [--cam-repeats N]
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
    ap.add_argument("--cam-repeats", type=int, default=3, help="repetitions of the activation-map timing (0: skip)")
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
    if args.cam_repeats > 0:
        from core.explain import explain
        from core.explain.cam import cam_maps
        from core.preprocess.pipeline import prepare

        batch = torch.stack([p.tensor for p in prepare(signal, variants, model.mean, model.std)])
        classes = [int(model.features_and_logits(batch[:1])[1].argmax())] * len(variants)
        cam_maps(model, batch, model.layer_names[-1], classes)  # warm-up
        t_cam, t_maps, t_plain = [], [], []
        for _ in range(args.cam_repeats):
            t0 = time.perf_counter()
            inspect(signal, variants, model)
            t_plain.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            cam_maps(model, batch, model.layer_names[-1], classes)
            t_maps.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            explain(signal, variants, model, method="gradcam")
            t_cam.append(time.perf_counter() - t0)
        plain, maps_s, cam_s = (statistics.median(t) for t in (t_plain, t_maps, t_cam))
        print(f"plain inspect (same rounds): {plain * 1000:.1f} ms (median)")
        print(f"activation maps only, Grad-CAM at {model.layer_names[-1]}: {maps_s * 1000:.1f} ms (median), "
              f"ratio to plain inspect {maps_s / plain:.2f}")
        print(f"activation maps + agreement + deletion/insertion AUC: {cam_s * 1000:.1f} ms (median), "
              f"ratio to plain inspect {cam_s / plain:.2f}")
    print(f"inspect (preprocess + forward + maps + statistics + similarity): {inspect_s * 1000:.1f} ms (median)")
    print(f"bare batched forward of 8 ready tensors:                         {bare_s * 1000:.1f} ms (median)")
    print(f"ratio inspect / bare forward (target <= 1.5): {inspect_s / bare_s:.3f}")


if __name__ == "__main__":
    main()
