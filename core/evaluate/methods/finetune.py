"""``finetune``: fine-tuning the stem, the usual advice for one-channel data ("change the input layer and fine-tune").

For a gray variant (channels ``replicate``, ``conv-sum`` or ``zero-pad``) the network gets the variant's gray
image as ONE channel, normalized with the mean of the three channel means and stds, and a one-channel stem
initialized by conv-sum (timm's public ``adapt_input_conv``: the first conv's weights summed over input
channels), so training starts exactly at the ``conv-sum`` variant. Those three strategies thus give the same
input and the same fine-tuned network (computed once, reported for each). A three-channel variant (``rgb``,
``colormap``) keeps its input and its three-channel stem.

Trained, on a private copy of the model (the shared one is never touched): the first conv, every BatchNorm's
affine weights and a new linear head; everything else stays frozen. The network stays in evaluation mode:
BatchNorm normalizes with its running statistics (re-estimating them is the separate ``--adapt bn`` remedy,
``core.evaluate.methods.adabn``) and there is no dropout; with the small batches a CPU allows, batch statistics
would make training and evaluation see different networks (measured: a training loss two orders of
magnitude above the validation loss). The head starts at the linear probe fitted on the copy's features
(StandardScaler + LogisticRegression folded into one layer), so epoch 0 is exactly the probe on the same
items (through the conv-sum stem for gray variants).
Training: Adam (stem and BatchNorm lr ``LR_BACKBONE``, head lr ``LR_HEAD``), cross-entropy, batches of
``FT_BATCH`` in a seeded order, with early stopping on a seeded stratified validation part
(``VAL_FRACTION``) of the training side: after each epoch the validation loss is measured in evaluation mode,
the best state (epoch 0 = the starting point included) is kept, and training stops after ``PATIENCE``
epochs without improvement or at ``MAX_EPOCHS``. Cost is bounded: at most ``MAX_TRAIN_ITEMS`` training items
(a seeded stratified subset beyond that), inputs prepared once and kept as 8-bit tensors. Seeded and
deterministic on a given machine and thread count (the order comes from the seed; ``torch.random.fork_rng``
keeps the global generator untouched).

Within the sweep's evaluation (``core.evaluate.folds``): every fold (the held-out split, the given test set,
or each cross-validation fold) trains its own network on its training side and predicts its test items with
a confidence (softmax probability of the predicted class); predictions are pooled over folds like every
other method's, so item evidence, pooled scores, fold scores and identical-input groups work unchanged.
Inputs are prepared once per distinct variant for all folds. K folds cost K trainings per distinct variant.

Each variant is also scored by the linear probe (the ``probe`` method, on all training items of each fold,
from the shared feature cache) on the same test items, and the two are compared by McNemar's exact test on
the pooled items (and by the paired test across folds under cross-validation), in ``details["probe"]``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from core.errors import InvalidDataset
from core.evaluate.datasets import Dataset
from core.evaluate.features import prepared_batches
from core.evaluate.folds import Fold
from core.evaluate.methods.base import Context, Report, pool_over_folds
from core.evaluate.methods.probe import fit_probe, head_from_probe, probe_description
from core.evaluate.scoring import Predictions
from core.preprocess.channels import REPLICATE, strategy
from core.preprocess.pipeline import normalization
from core.preprocess.variant import Variant
from core.provenance import StopCheck, Stopped

MAX_EPOCHS = 6
PATIENCE = 2
FT_BATCH = 16
VAL_FRACTION = 0.2
MAX_TRAIN_ITEMS = 600
LR_BACKBONE = 1e-4
LR_HEAD = 1e-3


def finetune_description() -> str:
    return (f"stem (one-channel by conv-sum for gray variants) + every BatchNorm's affine weights (running "
            f"statistics kept, evaluation mode) + linear head, Adam (stem/BN lr "
            f"{LR_BACKBONE}, head lr {LR_HEAD}), batch {FT_BATCH}, at most {MAX_EPOCHS} epochs, early stopping on "
            f"a {VAL_FRACTION:.0%} validation part (patience {PATIENCE}), at most {MAX_TRAIN_ITEMS} training items; "
            f"head started from the linear probe")


def one_channel(variant: Variant) -> bool:
    """Whether fine-tuning gives this variant a one-channel stem (a gray channel strategy)."""
    return strategy(variant).one_channel


def input_variant(variant: Variant) -> Variant:
    """What fine-tuning feeds the network: for gray strategies the gray image itself (replicated, not
    normalized: channel 0 is taken), else the variant unchanged. Equal keys give equal inputs."""
    if one_channel(variant):
        return variant.replace(channels=REPLICATE.name, normalize="none", name=f"{variant.name} (1ch)")
    return variant


def inputs_u8(dataset: Dataset, indices: np.ndarray, variant: Variant, model, batch_size: int = 16,
              should_stop: StopCheck | None = None) -> torch.Tensor:
    """(n, C, S, S) uint8 inputs of the selected items as the network sees them before normalization
    (C = 1 for gray strategies, 3 otherwise)."""
    inv = input_variant(variant)
    c = 1 if one_channel(variant) else 3
    s = inv.resize.size
    out = torch.empty((len(indices), c, s, s), dtype=torch.uint8)
    k = 0
    for row in prepared_batches(dataset, indices, inv, model, batch_size, should_stop):
        for p in row:
            d = torch.from_numpy(np.ascontiguousarray(p.display)).permute(2, 0, 1)[:c]
            out[k] = (d * 255.0).round().clamp(0, 255).to(torch.uint8)
            k += 1
    return out


def _normalizer(variant: Variant, model) -> tuple[torch.Tensor, torch.Tensor]:
    mean, std = (torch.tensor(t, dtype=torch.float32) for t in normalization(variant, model.mean, model.std))
    if one_channel(variant):  # conv-sum's normalization: the mean of the three statistics
        mean, std = mean.mean().reshape(1), std.mean().reshape(1)
    return mean[None, :, None, None], std[None, :, None, None]


def _one_channel_stem(twin) -> None:
    """Replace the copy's first conv weights by their sum over input channels (timm's adapt_input_conv)."""
    from timm.models import adapt_input_conv

    conv = twin.first_conv
    with torch.no_grad():
        conv.weight = nn.Parameter(adapt_input_conv(1, conv.weight.detach().clone()))
    conv.in_channels = 1


def _trainable(twin) -> list[nn.Parameter]:
    """The copy's stem and BatchNorm parameters, in order; everything else stays frozen."""
    stem = list(twin.first_conv.parameters())
    return stem + [p for m in twin.module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
                   for p in m.parameters()]


def _val_split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    n_val = max(len(np.unique(y)), int(round(VAL_FRACTION * len(y))))
    counts = np.bincount(y)
    strat = y if counts[counts > 0].min() >= 2 else None
    tr, va = train_test_split(idx, test_size=n_val, stratify=strat, random_state=seed)
    return np.sort(tr), np.sort(va)


def _subset(idx: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    if len(idx) <= MAX_TRAIN_ITEMS:
        return idx
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(idx, train_size=MAX_TRAIN_ITEMS, stratify=y, random_state=seed)
    return np.sort(keep)


def train_finetune(model, x_train: torch.Tensor, y_train: np.ndarray, x_test: torch.Tensor, n_classes: int,
                   variant: Variant, seed: int = 0, *, max_epochs: int | None = None,
                   should_stop: StopCheck | None = None,
                   progress: Callable[[float, str], None] | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Fine-tune a private copy on uint8 inputs (see the module docstring); the test items' predictions, their
    confidence (softmax probability of the predicted class) and a summary."""
    t0 = time.perf_counter()
    max_epochs = MAX_EPOCHS if max_epochs is None else max_epochs
    tr_i, va_i = _val_split(y_train, seed)
    twin = model.private_copy()
    if one_channel(variant):
        _one_channel_stem(twin)
    device = twin.device
    mean, std = (t.to(device) for t in _normalizer(variant, model))
    head = nn.Linear(model.feature_dim, n_classes).to(device)
    params = _trainable(twin)
    for p in params:
        p.requires_grad_(True)
    y = torch.as_tensor(y_train, dtype=torch.long, device=device)

    def norm(x8: torch.Tensor) -> torch.Tensor:
        return ((x8.to(device).float() / 255.0) - mean) / std

    def pooled_eval(x8: torch.Tensor) -> torch.Tensor:
        twin.module.eval()
        out = []
        with torch.inference_mode():
            for s in range(0, len(x8), 32):
                out.append(twin.pooled_differentiable(norm(x8[s : s + 32])).float())
        return torch.cat(out) if out else torch.zeros((0, model.feature_dim), device=device)

    def val_loss() -> tuple[float, float]:
        with torch.inference_mode():
            logits = head(pooled_eval(x_train[va_i]))
            return (float(nn.functional.cross_entropy(logits, y[va_i])),
                    float((logits.argmax(1) == y[va_i]).float().mean()))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        twin.module.eval()
        clf = fit_probe(pooled_eval(x_train[tr_i]).cpu().numpy(), y_train[tr_i], seed)
        head_from_probe(head, clf, n_classes)
        opt = torch.optim.Adam([{"params": params, "lr": LR_BACKBONE},
                                {"params": head.parameters(), "lr": LR_HEAD}])
        best_loss, best_acc = val_loss()
        history = [{"epoch": 0, "train_loss": None, "val_loss": best_loss, "val_accuracy": best_acc}]
        best = (0, copy.deepcopy(twin.module.state_dict()), copy.deepcopy(head.state_dict()))
        steps_per_epoch = max(1, -(-len(tr_i) // FT_BATCH))
        for ep in range(1, max_epochs + 1):
            order = tr_i[torch.randperm(len(tr_i), generator=gen).numpy()]
            total = 0.0
            for k, s in enumerate(range(0, len(order), FT_BATCH)):
                if should_stop is not None and should_stop():
                    raise Stopped("Stopped while fine-tuning; nothing of the stopped run was kept.")
                idx = order[s : s + FT_BATCH]
                logits = head(twin.pooled_differentiable(norm(x_train[idx])))
                loss = nn.functional.cross_entropy(logits, y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
                if progress:
                    progress(((ep - 1) * steps_per_epoch + k + 1) / (max_epochs * steps_per_epoch),
                             f"fine-tuning epoch {ep}/{max_epochs}")
            vl, va = val_loss()
            history.append({"epoch": ep, "train_loss": total / len(order), "val_loss": vl, "val_accuracy": va})
            if vl < best_loss:
                best_loss, best = vl, (ep, copy.deepcopy(twin.module.state_dict()), copy.deepcopy(head.state_dict()))
            elif ep - best[0] >= PATIENCE:
                break
    twin.module.load_state_dict(best[1])
    head.load_state_dict(best[2])
    with torch.inference_mode():
        prob = torch.softmax(head(pooled_eval(x_test)).float(), dim=1)
        top = prob.max(dim=1)
        pred = top.indices.cpu().numpy().astype(np.int64)
        conf = top.values.cpu().numpy().astype(np.float32)
    for p in params:
        p.requires_grad_(False)
    return pred, conf, {"stem": "one-channel (conv-sum init)" if one_channel(variant) else "three-channel",
                  "best_epoch": best[0], "epochs_run": len(history) - 1, "history": history,
                  "n_train": int(len(tr_i)), "n_validation": int(len(va_i)), "seconds": time.perf_counter() - t0}


class _FinetuneRun:
    def __init__(self, ctx: Context, variant: Variant, key: str, plans: list, rows_train: np.ndarray,
                 report: Report) -> None:
        ev = ctx.ev
        self.ctx, self.variant, self.key, self.plans, self.rows_train = ctx, variant, key, plans, rows_train
        report(0.0, f"{variant.name}: preparing inputs")
        self.x_all = inputs_u8(ev.train, rows_train, variant, ctx.model, ctx.batch_size, ctx.should_stop)
        same = ev.test is ev.train
        tested = np.asarray(ev.test_idx)
        self.x_test = self.x_all if same else inputs_u8(ev.test, tested, variant, ctx.model, ctx.batch_size,
                                                        ctx.should_stop)
        self.rows_test = rows_train if same else tested

    def fold(self, k: int, fold: Fold, report: Report) -> tuple[np.ndarray, np.ndarray, dict]:
        ev, tr = self.ctx.ev, self.plans[k]
        where = f" (fold {fold.name})" if len(self.plans) > 1 else ""
        name = self.variant.name + where
        p, c, info = train_finetune(
            self.ctx.model, self.x_all[torch.as_tensor(np.searchsorted(self.rows_train, tr))], ev.train.labels[tr],
            self.x_test[torch.as_tensor(np.searchsorted(self.rows_test, fold.test_idx))], len(ev.train.classes),
            self.variant, self.ctx.seed, should_stop=self.ctx.should_stop,
            progress=lambda fr, m: report(fr, f"{name}: {m}"))
        return p, c, {"fold": fold.name, **info, "n_train_side": int(len(fold.train_idx))}

    def finish(self, predicted: np.ndarray, confidence: np.ndarray, infos: list[dict], seconds: float
               ) -> Predictions:
        if len(infos) == 1:
            details = {k: val for k, val in infos[0].items() if k != "fold"}
        else:
            details = {"stem": infos[0]["stem"], "best_epoch": [d["best_epoch"] for d in infos],
                       "epochs_run": [d["epochs_run"] for d in infos], "folds": infos}
        details["same_input_as_earlier_variant"] = False
        return Predictions(predicted, confidence, seconds, False, self.key, details)


class Finetune:
    """Fine-tune per variant and fold of the sweep's evaluation (``core.evaluate.folds``): each fold's network is
    trained on (at most ``MAX_TRAIN_ITEMS`` of) its training side and predicts its test items; the predictions and
    confidences are pooled over folds (keyed by the fine-tuned input, so variants with the same input are trained
    once). ``details`` carries the training summary (per fold under cross-validation). The sweep also runs the
    probe on the same folds (``compared_with``)."""

    name = "finetune"
    compared_with = "probe"
    fixed_batch = None
    extracts_features = True  # its probe baseline reads the shared feature cache

    def check(self, classes: list[str], model) -> None:
        return None

    def describe(self, classes: list[str], model) -> dict:
        return {"classifier": finetune_description(), "compared_with": probe_description()}

    def predict(self, ctx: Context, variants: Sequence[Variant]) -> list[Predictions]:
        ev = ctx.ev
        tested = np.asarray(ev.test_idx)
        plans = [_subset(np.asarray(f.train_idx), ev.train.labels[f.train_idx], ctx.seed) for f in ev.folds]
        if any(len(tr) < 2 for tr in plans):
            raise InvalidDataset("Fine-tuning needs training items on every fold's training side; give a dataset "
                                 "with more items (or a separate training set).")
        need_train = np.unique(np.concatenate(plans))
        rows_train = np.union1d(need_train, tested) if ev.test is ev.train else need_train
        keys = [input_variant(v).spec_key() for v in variants]
        return pool_over_folds(
            ev, variants, keys, lambda i, v, report: _FinetuneRun(ctx, v, keys[i], plans, rows_train, report),
            lambda i, v, first: first.repeated("same_input_as_earlier_variant"), ctx.report)


METHOD = Finetune()
