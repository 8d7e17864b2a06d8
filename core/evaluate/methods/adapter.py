"""``adapter``: the learned input adapter, a 1x1 conv (1 -> 3 channels) trained jointly with a linear head.

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
from core.evaluate.features import decode_batch
from core.evaluate.folds import Fold
from core.evaluate.methods.base import Context, Report, pool_over_folds
from core.evaluate.methods.probe import fit_probe, head_from_probe
from core.evaluate.scoring import Predictions
from core.preprocess.pipeline import prepare_many
from core.preprocess.variant import Variant
from core.provenance import Stopped

ADAPTER_EPOCHS = 2
ADAPTER_BATCH = 16
ADAPTER_LR_CONV = 1e-2
ADAPTER_LR_HEAD = 1e-3
#: With ``batch_size="auto"`` the adapter groups decoding in batches of this size (its network runs inside its own
#: training loop, so the measured forward batch does not apply).
ADAPTER_DECODE_BATCH = 32


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
    one = one_channel_variant(variant)
    s = one.resize.size
    eight_bit = one.storage_kind in ("png8", "jpeg")
    out = torch.empty((len(indices), s, s), dtype=torch.uint8 if eight_bit else torch.float32)
    for start in range(0, len(indices), batch_size):
        if should_stop is not None and should_stop():
            raise Stopped("Stopped while preparing the adapter's inputs.")
        items = [dataset.items[int(i)] for i in indices[start : start + batch_size]]
        x = prepare_many(decode_batch(dataset, items), one, model.mean, model.std)
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
    head_from_probe(ad.head, clf, n_classes)
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


class _AdapterRun:
    def __init__(self, ctx: Context, variant: Variant, key: str, report: Report) -> None:
        ev, model = ctx.ev, ctx.model
        self.ctx, self.variant, self.key = ctx, variant, key
        report(0.0, f"{variant.name}: preparing one-channel inputs")
        self.g_tr = gray_inputs(ev.train, np.arange(len(ev.train)), variant, model, ctx.batch_size, ctx.should_stop)
        self.g_te = self.g_tr if ev.test is ev.train else gray_inputs(ev.test, np.arange(len(ev.test)), variant, model,
                                                                      ctx.batch_size, ctx.should_stop)

    def fold(self, k: int, fold: Fold, report: Report) -> tuple[np.ndarray, np.ndarray, dict]:
        ev, name = self.ctx.ev, self.variant.name
        return train_and_predict(
            self.ctx.model, self.g_tr[torch.as_tensor(fold.train_idx)], ev.train.labels[fold.train_idx],
            self.g_te[torch.as_tensor(fold.test_idx)], len(ev.train.classes), self.ctx.seed,
            should_stop=self.ctx.should_stop, progress=lambda fr, m: report(fr, f"{name}: {m}"))

    def finish(self, predicted: np.ndarray, confidence: np.ndarray, infos: list[dict], seconds: float
               ) -> Predictions:
        details = dict(infos[0]) if len(infos) == 1 else {"folds": infos}
        details["same_one_channel_input_as_earlier_variant"] = False
        return Predictions(predicted, confidence, seconds, False, self.key, details)


class Adapter:
    name = "adapter"
    compared_with = None
    fixed_batch = ADAPTER_DECODE_BATCH
    extracts_features = False

    def check(self, classes: list[str], model) -> None:
        return None

    def describe(self, classes: list[str], model) -> dict:
        return {"classifier": adapter_description()}

    def predict(self, ctx: Context, variants: Sequence[Variant]) -> list[Predictions]:
        keys = [one_channel_variant(v).spec_key() for v in variants]
        return pool_over_folds(
            ctx.ev, variants, keys, lambda i, v, report: _AdapterRun(ctx, v, keys[i], report),
            lambda i, v, first: first.repeated("same_one_channel_input_as_earlier_variant"), ctx.report)


METHOD = Adapter()
