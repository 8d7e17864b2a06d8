"""The learned input adapter: a 1x1 conv (1 -> 3 channels) trained jointly with a linear head.

For one-channel input the question "replicate, colormap or something else?" can be answered by
learning: the variant's input is reduced to one channel (its gray rule, resize, degradations), a
1x1 conv maps it to three channels and the frozen backbone and a linear head follow. Only the conv
(6 numbers) and the head are trained, by backpropagating through the frozen network (its weights
are never modified; gradients are taken with ``torch.autograd.grad`` for the trainable tensors only).

Start: the conv is initialized to exactly "replicate, then the model's normalization"
(weight 1/std_c, bias -mean_c/std_c) and the head to the linear probe fitted on those features
(StandardScaler + LogisticRegression folded into one linear layer), so training starts from the
probe's solution. Then ``ADAPTER_EPOCHS`` epochs of Adam (conv lr ``ADAPTER_LR_CONV``, head lr
``ADAPTER_LR_HEAD``, batch ``ADAPTER_BATCH``, cross-entropy) over the training side in a seeded order.
CPU cost is about three forward passes per training item per epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from core.evaluate.datasets import Dataset
from core.evaluate.methods import fit_probe
from core.preprocess.variant import Variant
from core.provenance import Stopped

ADAPTER_EPOCHS = 2
ADAPTER_BATCH = 16
ADAPTER_LR_CONV = 1e-2
ADAPTER_LR_HEAD = 1e-3


def adapter_description() -> str:
    return (f"1x1 conv (1->3) + linear head, trained through the frozen backbone: {ADAPTER_EPOCHS} epochs of "
            f"Adam (conv lr {ADAPTER_LR_CONV}, head lr {ADAPTER_LR_HEAD}, batch {ADAPTER_BATCH}), started from "
            f"replicate + the linear probe")


def one_channel_variant(variant: Variant) -> Variant:
    """The variant's input as one channel in [0, 1] (channels replicated, no normalization)."""
    return variant.replace(channels="replicate", normalize="none", name=f"{variant.name} (1ch)")


def gray_inputs(dataset: Dataset, indices: np.ndarray, variant: Variant, model, batch_size: int = 32,
                should_stop: Callable[[], bool] | None = None) -> torch.Tensor:
    """(n, S, S) one-channel network-size inputs of the selected items (decoded batch by batch): uint8 when
    the variant stores 8 bits (png8, jpeg), float32 in [0, 1] for float and png16 (which stay float)."""
    from core.evaluate.features import _decode_batch
    from core.preprocess.pipeline import prepare_many

    one = one_channel_variant(variant)
    s = one.resize.size
    eight_bit = one.storage_kind in ("png8", "jpeg")
    out = torch.empty((len(indices), s, s), dtype=torch.uint8 if eight_bit else torch.float32)
    for start in range(0, len(indices), batch_size):
        if should_stop is not None and should_stop():
            raise Stopped("Stopped while preparing the adapter's inputs.")
        items = [dataset.items[int(i)] for i in indices[start : start + batch_size]]
        x = prepare_many(_decode_batch(dataset, items), one, model.mean, model.std)
        g = x[:, 0]
        out[start : start + len(items)] = (g * 255.0).round().clamp(0, 255).to(torch.uint8) if eight_bit else g
    return out


class _Adapter(nn.Module):
    def __init__(self, mean: Sequence[float], std: Sequence[float], feature_dim: int, n_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, kernel_size=1)
        self.head = nn.Linear(feature_dim, n_classes)
        with torch.no_grad():
            m = torch.tensor(mean, dtype=torch.float32)
            s = torch.tensor(std, dtype=torch.float32)
            self.conv.weight.copy_((1.0 / s).view(3, 1, 1, 1))
            self.conv.bias.copy_(-m / s)

    def pooled(self, model, g8: torch.Tensor) -> torch.Tensor:
        g = g8.to(self.conv.weight.device)[:, None].float()
        g = g / 255.0 if g8.dtype == torch.uint8 else g
        return model.pooled_differentiable(self.conv(g))


def _set_head_from_probe(head: nn.Linear, clf, n_classes: int) -> None:
    scaler, lr = clf[0], clf[-1]
    coef = lr.coef_ / scaler.scale_[None, :]
    bias = lr.intercept_ - (lr.coef_ * (scaler.mean_ / scaler.scale_)[None, :]).sum(axis=1)
    if coef.shape[0] == 1:  # binary: scikit-learn keeps one row for class 1
        coef = np.vstack([-coef / 2, coef / 2])
        bias = np.array([-bias[0] / 2, bias[0] / 2])
    full_w = np.zeros((n_classes, coef.shape[1]))
    full_b = np.full(n_classes, -1e4)
    full_w[lr.classes_] = coef
    full_b[lr.classes_] = bias
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(full_w).float())
        head.bias.copy_(torch.from_numpy(full_b).float())


def train_and_predict(model, train_g8: torch.Tensor, y_train: np.ndarray, test_g8: torch.Tensor, n_classes: int,
                      seed: int = 0, *, epochs: int = ADAPTER_EPOCHS, batch_size: int = ADAPTER_BATCH,
                      should_stop: Callable[[], bool] | None = None,
                      progress: Callable[[float, str], None] | None = None
                      ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Train the adapter on one-channel uint8 inputs; return test predictions, their confidence (the softmax
    probability of the predicted class) and a training summary."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    device = getattr(model, "device", torch.device("cpu"))
    ad = _Adapter(model.mean, model.std, model.feature_dim, n_classes).to(device)
    t0 = time.perf_counter()

    def pooled_all(g8: torch.Tensor) -> np.ndarray:
        feats = []
        with model.lock, torch.inference_mode():
            for s in range(0, len(g8), 32):
                feats.append(ad.pooled(model, g8[s : s + 32]).float().cpu().numpy())
        return np.concatenate(feats) if feats else np.zeros((0, model.feature_dim), np.float32)

    clf = fit_probe(pooled_all(train_g8), y_train, seed)
    _set_head_from_probe(ad.head, clf, n_classes)
    opt = torch.optim.Adam([{"params": ad.conv.parameters(), "lr": ADAPTER_LR_CONV},
                            {"params": ad.head.parameters(), "lr": ADAPTER_LR_HEAD}])
    params = [p for g in opt.param_groups for p in g["params"]]
    y = torch.as_tensor(y_train, dtype=torch.long, device=device)
    losses = []
    steps_total = max(1, epochs * ((len(train_g8) + batch_size - 1) // batch_size))
    step = 0
    for ep in range(epochs):
        order = torch.randperm(len(train_g8), generator=gen)
        total = 0.0
        for s in range(0, len(order), batch_size):
            if should_stop is not None and should_stop():
                raise Stopped("Stopped while training the adapter.")
            idx = order[s : s + batch_size]
            with model.lock, torch.enable_grad():
                logits = ad.head(ad.pooled(model, train_g8[idx]))
                loss = nn.functional.cross_entropy(logits, y[idx.to(device)])
                grads = torch.autograd.grad(loss, params)
            for p, g in zip(params, grads, strict=True):
                p.grad = g
            opt.step()
            opt.zero_grad(set_to_none=True)
            total += float(loss.detach()) * len(idx)
            step += 1
            if progress:
                progress(step / steps_total, f"adapter epoch {ep + 1}/{epochs}")
        losses.append(total / max(1, len(order)))
    with torch.no_grad():
        proba = torch.softmax(ad.head(torch.from_numpy(pooled_all(test_g8)).to(device)).float(), dim=1)
        conf, pred = (t.cpu().numpy() for t in proba.max(dim=1))
    w = ad.conv.weight.detach().cpu().view(3).tolist()
    b = ad.conv.bias.detach().cpu().tolist()
    return pred.astype(np.int64), conf.astype(np.float32), {"epoch_loss": losses, "conv_weight": w, "conv_bias": b,
                                   "seconds": time.perf_counter() - t0}
