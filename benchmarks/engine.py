"""Engine overhead: inspect of one photo x 8 variants vs a bare batched forward of 8 ready tensors;
and the float path's cost relative to the 8-bit path.

All are measured in the same run, interleaved, with the same model and thread count; each is the
median of several repetitions after a warm-up. Printed: the ratio inspect time / bare forward time
(target <= 1.5), then the same 8 variants with ``"storage": "float"`` against their 8-bit (png8)
selves: preprocessing alone (``prepare``) and the whole inspect.

Also measured in the same run (``--cam-repeats``, 0 to skip): the cost of activation maps for the same
input and variants (``core.explain.explain`` with Grad-CAM at the last layer: private copy, forward and
backward, agreement, and the deletion/insertion curves, 2 x 17 forwards per variant), and of the maps
alone (``cam_maps``, no curves), each printed as a ratio to the plain inspect.

    python benchmarks/engine.py [--repeats N] [--cam-repeats N] [--model NAME]

``--model`` takes any registered model or network card (``python -m core networks add``), e.g. a ViT-tiny card to
compare with Lite0; the ready tensors of the bare forward are at that model's input size.
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
from core.preprocess.pipeline import prepare  # noqa: E402
from core.preprocess.presets import get_preset  # noqa: E402
from core.signal import Signal  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--cam-repeats", type=int, default=3, help="repetitions of the activation-map timing (0: skip)")
    ap.add_argument("--model", default=None, help="a registered model or network card (default: efficientnet_lite0)")
    args = ap.parse_args()
    model = load_model() if args.model is None else load_model(args.model)
    signal = Signal(data.chelsea().astype(np.float32) / 255.0, {"name": "chelsea"})
    variants = get_preset("interpolation")  # 8 variants: every resize path, torch and PIL
    assert len(variants) == 8
    floats = [v.replace(storage="float") for v in variants]  # the raw path: never quantized
    size = model.input_size
    ready = torch.randn(8, 3, size, size).contiguous(memory_format=torch.channels_last)
    for _ in range(2):  # warm-up (allocator, oneDNN kernels, colormap tables)
        inspect(signal, variants, model)
        inspect(signal, floats, model)
        model.features_and_logits(ready)
    t_inspect, t_bare, t_inspect_f, t_prep8, t_prepf = [], [], [], [], []

    def timed(out: list, fn) -> None:  # noqa: ANN001
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)

    for _ in range(args.repeats):
        timed(t_inspect, lambda: inspect(signal, variants, model))
        timed(t_bare, lambda: model.features_and_logits(ready))
        timed(t_inspect_f, lambda: inspect(signal, floats, model))
        for _ in range(4):  # preprocessing alone is short: more pairs, interleaved
            timed(t_prep8, lambda: prepare(signal, variants, model.mean, model.std))
            timed(t_prepf, lambda: prepare(signal, floats, model.mean, model.std))
    inspect_s, bare_s = statistics.median(t_inspect), statistics.median(t_bare)
    inspect_f, prep8, prepf = (statistics.median(t) for t in (t_inspect_f, t_prep8, t_prepf))
    best8, bestf = min(t_prep8), min(t_prepf)  # least disturbed by other load on a shared machine
    print(f"threads: {torch.get_num_threads()}  model: {model.name}  input: chelsea 451x300  variants: 8")
    if args.cam_repeats > 0:
        from core.explain import explain
        from core.explain.cam import cam_maps

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
    print(f"preprocessing, 8-bit (png8) path:  {prep8 * 1000:.1f} ms   float path: {prepf * 1000:.1f} ms (medians; "
          f"best {best8 * 1000:.1f} / {bestf * 1000:.1f} ms)")
    print(f"ratio float path / 8-bit path: preprocessing {prepf / prep8:.2f} (best-of {len(t_prep8)}: "
          f"{bestf / best8:.2f}), whole inspect {inspect_f / inspect_s:.2f}")


if __name__ == "__main__":
    main()
