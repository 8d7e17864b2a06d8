"""The learned gray rule: can an autoencoder make a gray image that keeps more than luma does?

An encoder (``nets.GrayEncoder``: pointwise, RGB -> one value in [0, 1]) and a decoder
(``nets.ColorDecoder``: gray -> RGB with spatial context) are trained together to reconstruct color
from the gray, with an optional term ``luma_weight * MSE(gray, 601 luma)`` that keeps the gray looking
like a gray photo. Once saved under a name, the encoder is the gray rule ``learned:<name>`` of every
variant (``core.preprocess.color.to_gray``).

The comparison with the fixed rules is fair by construction: for each rule (601, 709, mean and the
learned one, frozen) a fresh decoder of the same architecture is trained from the same seed on the
same crop sequence for the same number of steps, and its color reconstruction PSNR is measured on
held-out images (20% of the images, seeded; per-image PSNR, mean with a 95% bootstrap interval over
images). The isoluminant pattern is a row of colors of equal 601 luma (0.5) around the hue circle:
601 luma maps them all to the same gray; the contrast of a rule is the standard deviation of the
pattern's patch grays (0 = the colors cannot be told apart). Probe accuracy per rule is a sweep
(``core.evaluate``) of the rules as gray-replicate variants.

Data: a folder or zip of images (any layout, searched recursively), or the built-in ``photos`` (the
color photos bundled with scikit-image). Gray images are skipped; each color image is shrunk so its
shorter side is ``side`` pixels and kept as uint8 (at most ``MAX_IMAGES``, a seeded subset), so memory
stays bounded whatever the dataset.
"""

from __future__ import annotations

import hashlib
import math
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from core.autoencode.train import adam, run_steps, seeded, threads
from core.errors import InvalidDataset, PrepscopeError
from core.evaluate.datasets import extract_zip
from core.io import load_input
from core.io.formats import media_kind
from core.learned import store
from core.learned.inference import encode_gray
from core.learned.nets import ColorDecoder, GrayAutoencoder, architecture_of
from core.preprocess.color import GRAY_WEIGHTS, to_gray
from core.preprocess.variant import Variant
from core.provenance import Progress, StopCheck, Stopped, versions

BUILTIN_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina",
                  "colorwheel")
MAX_IMAGES = 1000
MIN_IMAGES = 4
#: An epoch draws at least this many crops (small image sets cycle through their images).
MIN_EPOCH_CROPS = 160
FIXED_RULES = ("601", "709", "mean")
ISO_LUMA = 0.5
CONVENTIONS = ("reconstruction_psnr = mean over held-out images of the per-image PSNR (dB, peak 1) of the color "
               "reconstructed by a decoder trained on that rule's gray (same architecture, seed, crops and steps for "
               "every rule); psnr_ci95 = 95% bootstrap interval over the held-out images; isoluminant_contrast = "
               "standard deviation of the gray of 8 colors of equal 601 luma (0.5)")


@dataclass(frozen=True)
class GrayConfig:
    """Training settings; an epoch is one random crop per training image, at least MIN_EPOCH_CROPS crops
    (defaults: about a minute on 2 CPU cores for a few hundred photos, the fair comparison included)."""

    epochs: int = 20
    batch: int = 16
    crop: int = 48
    side: int = 96
    hidden: int = 32
    width: int = 16
    lr: float = 3e-3
    luma_weight: float = 0.1
    seed: int = 0

    def check(self) -> GrayConfig:
        for name, lo, hi in (("epochs", 1, 1000), ("batch", 1, 64), ("crop", 16, 128), ("side", 16, 256),
                             ("hidden", 4, 256), ("width", 4, 128), ("seed", 0, 2**31 - 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise PrepscopeError(f"{name} must be an integer between {lo} and {hi}; got {v!r}.")
        if self.crop > self.side:
            raise PrepscopeError(f"crop ({self.crop}) must not exceed side ({self.side}).")
        if not 1e-5 <= float(self.lr) <= 0.1:
            raise PrepscopeError(f"lr must be between 1e-05 and 0.1; got {self.lr!r}.")
        if not 0.0 <= float(self.luma_weight) <= 100.0:
            raise PrepscopeError(f"luma_weight must be between 0 and 100; got {self.luma_weight!r}.")
        return self


@dataclass
class GrayData:
    """Color images (uint8 HxWx3, shorter side ``side``) with where they came from."""

    images: list[np.ndarray] = field(repr=False)
    source: str
    digest: str
    skipped_gray: int = 0
    skipped_unreadable: int = 0
    total_found: int = 0

    def describe(self) -> dict:
        return {"source": self.source, "digest": self.digest, "n_images": len(self.images),
                "skipped_gray": self.skipped_gray, "skipped_unreadable": self.skipped_unreadable,
                "total_found": self.total_found}


def _shrink(rgb: np.ndarray, side: int) -> np.ndarray:
    u8 = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    h, w = u8.shape[:2]
    s = side / min(h, w)
    size = (max(side, round(w * s)), max(side, round(h * s)))
    return np.array(Image.fromarray(u8).resize(size, Image.Resampling.BICUBIC))


def _image_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and media_kind(p.name) == "image"
                  and not any(part.startswith(".") or part == "__MACOSX" for part in p.relative_to(root).parts))


def collect_images(path: str | Path | None = None, builtin: str | None = None, *, side: int = 96, seed: int = 0,
                   zip_bytes: bytes | None = None, progress: Progress | None = None,
                   should_stop: StopCheck | None = None) -> GrayData:
    """The color images of a folder or zip (searched recursively), of uploaded zip bytes, or of the built-in
    ``photos``; each shrunk to shorter side ``side``. InvalidDataset when fewer than MIN_IMAGES are color."""
    if builtin is not None:
        if builtin != "photos":
            raise InvalidDataset(f"Unknown built-in image set {builtin!r}; available: photos.")
        from skimage import data as skdata

        images = [_shrink(getattr(skdata, n)().astype(np.float32) / 255.0, side) for n in BUILTIN_PHOTOS]
        h = hashlib.sha256(b"builtin-photos|" + ",".join(BUILTIN_PHOTOS).encode())
        for im in images:
            h.update(im.tobytes())
        return GrayData(images, "builtin:photos", h.hexdigest()[:24], total_found=len(images))
    tmp = None
    try:
        if zip_bytes is not None or (path is not None and Path(path).is_file()):
            tmp = Path(tempfile.mkdtemp(prefix="prepscope-gray-"))
            if zip_bytes is not None:
                (tmp / "upload.zip").write_bytes(zip_bytes)
                archive = tmp / "upload.zip"
            else:
                archive = Path(path)
            root = extract_zip(archive, tmp / "x")
            source = "upload.zip" if zip_bytes is not None else str(path)
        elif path is not None and Path(path).is_dir():
            root, source = Path(path), str(path)
        else:
            raise InvalidDataset(f"{path} is neither a folder nor a zip of images." if path else
                                 "Choose images: a folder, a zip or the built-in photos.")
        files = _image_files(root)
        total = len(files)
        if len(files) > MAX_IMAGES:
            keep = np.sort(np.random.default_rng(seed).choice(len(files), MAX_IMAGES, replace=False))
            files = [files[i] for i in keep]
        images, gray, bad = [], 0, 0
        h = hashlib.sha256(f"images|side={side}".encode())
        for i, f in enumerate(files):
            if should_stop is not None and should_stop():
                raise Stopped(f"Stopped while reading images ({i} of {len(files)}); nothing was trained.")
            try:
                sig = load_input(f)
            except PrepscopeError:
                bad += 1
                continue
            if sig.audio is not None or sig.array.ndim != 3:
                gray += 1
                continue
            im = _shrink(sig.array, side)
            images.append(im)
            h.update(f.relative_to(root).as_posix().encode() + im.tobytes())
            if progress is not None and (i + 1) % 25 == 0:
                progress(0.1 * (i + 1) / len(files), f"Reading images: {i + 1}/{len(files)}")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if len(images) < MIN_IMAGES:
        raise InvalidDataset(f"{source} holds {len(images)} usable color image(s) ({gray} gray, {bad} unreadable "
                             f"skipped); a learned gray rule needs at least {MIN_IMAGES} color images.")
    return GrayData(images, source, h.hexdigest()[:24], gray, bad, total)


# ------------------------------------------------------------------------------------------------ rules


def luma(x: torch.Tensor, rule: str = "601") -> torch.Tensor:
    """(N,3,H,W) -> (N,1,H,W) by a fixed luma rule."""
    w = torch.tensor(GRAY_WEIGHTS[rule], dtype=x.dtype)[None, :, None, None]
    return (x * w).sum(dim=1, keepdim=True)


def isoluminant_pattern(n: int = 8, patch: int = 16, y: float = ISO_LUMA) -> np.ndarray:
    """A row of ``n`` square patches (HxWx3 float32) whose colors all have 601 luma ``y``, evenly spaced around
    the hue circle at the largest common chroma inside the RGB cube (times 0.95)."""
    theta = 2 * np.pi * np.arange(n) / n
    cb, cr = np.cos(theta), np.sin(theta)
    # inverse BT.601 (YCbCr -> RGB), Kr = 0.299, Kb = 0.114
    dirs = np.stack([1.402 * cr, -0.344136 * cb - 0.714136 * cr, 1.772 * cb], axis=1)
    with np.errstate(divide="ignore"):
        limits = np.where(dirs > 0, (1 - y) / dirs, np.where(dirs < 0, -y / dirs, np.inf))
    chroma = 0.95 * float(limits.min())
    colors = (y + chroma * dirs).astype(np.float32)
    return np.repeat(np.repeat(colors[None], patch, axis=0), patch, axis=1).reshape(patch, n * patch, 3)


def contrast(gray: np.ndarray, n: int = 8, patch: int = 16) -> float:
    """Standard deviation of the mean gray of each patch of an isoluminant pattern."""
    means = gray.reshape(patch, n, patch).mean(axis=(0, 2))
    return float(means.std())


# ------------------------------------------------------------------------------------------------ training


@dataclass
class RuleScore:
    rule: str
    reconstruction_psnr: float
    psnr_ci95: tuple[float, float]
    per_image: list[float] = field(repr=False)
    losses: list[float] = field(repr=False)

    def to_dict(self) -> dict:
        return {"rule": self.rule, "reconstruction_psnr": self.reconstruction_psnr,
                "psnr_ci95": list(self.psnr_ci95), "n_images": len(self.per_image),
                "final_loss": self.losses[-1] if self.losses else None}


@dataclass
class GrayResult:
    """A trained learned gray rule, its fair comparison with the fixed rules, and what produced them."""

    name: str
    model: GrayAutoencoder = field(repr=False)
    card: dict = field(repr=False)
    rules: list[RuleScore]
    isoluminant: dict[str, float]
    losses: list[float] = field(repr=False)
    joint_psnr: float
    config: GrayConfig
    data: dict
    n_train: int
    n_test: int
    seconds: float
    timings: dict[str, float]
    decoders: dict[str, ColorDecoder] = field(repr=False, default_factory=dict)
    examples: list[np.ndarray] = field(repr=False, default_factory=list)
    saved: str | None = None

    @property
    def rule_name(self) -> str:
        return f"learned:{self.name}"

    def gray_of(self, rule: str, rgb: np.ndarray) -> np.ndarray:
        """The gray of ``rgb`` (HxWx3 float) under one of the compared rules."""
        if rule == self.rule_name:
            return encode_gray(self.model.encoder, rgb)

        return to_gray(rgb, rule)

    def reconstruct(self, rule: str, rgb: np.ndarray) -> np.ndarray:
        """The color that rule's fairly trained decoder reconstructs from the gray of ``rgb``."""
        g = torch.from_numpy(self.gray_of(rule, rgb))[None, None]
        with torch.inference_mode():
            return self.decoders[rule](g)[0].permute(1, 2, 0).numpy()

    def to_dict(self) -> dict:
        return {"name": self.name, "rules": [r.to_dict() for r in self.rules],
                "isoluminant_contrast": dict(self.isoluminant), "joint_decoder_psnr": self.joint_psnr,
                "data": self.data, "n_train_images": self.n_train, "n_test_images": self.n_test,
                "config": asdict(self.config), "seconds": self.seconds, "timings": self.timings,
                "model_path": self.saved, "conventions": CONVENTIONS,
                "losses": [round(v, 7) for v in self.losses], "versions": versions()}


def _batches(images: list[np.ndarray], cfg: GrayConfig, gen: torch.Generator) -> list[torch.Tensor]:
    """The whole crop sequence for training (uint8 crops, (B,3,c,c)): per epoch one random crop and flip per
    image (and at least MIN_EPOCH_CROPS crops, images cycled, for small sets), in a seeded order. Kept as uint8
    so every rule's decoder sees exactly the same crops."""
    out = []
    c = cfg.crop
    reps = math.ceil(MIN_EPOCH_CROPS / len(images))
    for _ in range(cfg.epochs):
        order = [i for _ in range(reps) for i in torch.randperm(len(images), generator=gen).tolist()]
        order = order[: max(len(images), MIN_EPOCH_CROPS)]
        for s in range(0, len(order), cfg.batch):
            crops = []
            for i in order[s : s + cfg.batch]:
                im = images[i]
                h, w = im.shape[:2]
                y = int(torch.randint(0, h - c + 1, (1,), generator=gen))
                x = int(torch.randint(0, w - c + 1, (1,), generator=gen))
                crop = im[y : y + c, x : x + c]
                if bool(torch.randint(0, 2, (1,), generator=gen)):
                    crop = crop[:, ::-1]
                crops.append(torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1))
            out.append(torch.stack(crops))
    return out


def _as_float(b: torch.Tensor) -> torch.Tensor:
    return b.float() / 255.0


def _psnr_per_image(decode, test: list[np.ndarray]) -> list[float]:  # noqa: ANN001 - callable
    out = []
    with torch.inference_mode():
        for im in test:
            x = _as_float(torch.from_numpy(im).permute(2, 0, 1)[None])
            mse = float(F.mse_loss(decode(x), x))
            out.append(10 * math.log10(1.0 / max(mse, 1e-12)))
    return out


def _bootstrap_ci(values: list[float], seed: int, n: int = 2000) -> tuple[float, float]:
    v = np.asarray(values)
    if len(v) < 2:
        return float(v.mean()), float(v.mean())
    means = np.random.default_rng([seed, 11]).choice(v, size=(n, len(v)), replace=True).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def train_gray(data: GrayData, name: str, config: GrayConfig | None = None, *, overwrite: bool = False,
               save: bool = True, progress: Progress | None = None, should_stop: StopCheck | None = None
               ) -> GrayResult:
    """Train the learned gray rule on ``data``, compare it fairly with 601/709/mean, save it as ``name``.

    The name is checked (and an existing model refused unless ``overwrite``) before any training.
    ``should_stop()`` is polled between steps (Stopped; nothing is saved). Runs with
    ``train.default_threads()`` torch threads."""
    with threads():
        return _train_gray(data, name, config, overwrite=overwrite, save=save, progress=progress,
                           should_stop=should_stop)


def _train_gray(data: GrayData, name: str, config: GrayConfig | None, *, overwrite: bool, save: bool,
                progress: Progress | None, should_stop: StopCheck | None) -> GrayResult:
    cfg = (config or GrayConfig()).check()
    store.check_new(name, overwrite=overwrite or not save)
    t_start = time.perf_counter()
    n = len(data.images)
    perm = np.random.default_rng([cfg.seed, 3]).permutation(n)
    n_test = max(1, round(0.2 * n))
    test = [data.images[i] for i in sorted(perm[:n_test])]
    train = [data.images[i] for i in sorted(perm[n_test:])]
    batches = _batches(train, cfg, torch.Generator().manual_seed(cfg.seed))
    steps = len(batches)
    rules = [*FIXED_RULES, f"learned:{name}"]
    n_phases = 1 + len(rules)
    timings: dict[str, float] = {}

    # 1. the joint autoencoder (the learned rule)
    seeded(cfg.seed)
    model = GrayAutoencoder(cfg.hidden, cfg.width)
    opt = adam(model.parameters(), cfg.lr)

    def joint_step(i: int) -> float:
        x = _as_float(batches[i])
        g, y = model(x)
        loss = F.mse_loss(y, x)
        if cfg.luma_weight:
            loss = loss + cfg.luma_weight * F.mse_loss(g, luma(x))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    t0 = time.perf_counter()
    model.train()
    losses = run_steps(steps, joint_step, label="learned gray (encoder + decoder)", progress=progress,
                       should_stop=should_stop, span=(0.1, 0.1 + 0.9 / n_phases))
    timings["joint"] = time.perf_counter() - t0
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    joint_psnr = float(np.mean(_psnr_per_image(lambda x: model(x)[1], test)))

    # 2. a fresh decoder per rule, same seed, same crops, same steps
    encoder = model.encoder
    scores, decoders = [], {}
    for k, rule in enumerate(rules):
        gray_fn = encoder if rule.startswith("learned:") else (lambda x, r=rule: luma(x, r))
        seeded(cfg.seed)
        dec = ColorDecoder(cfg.width)
        dopt = adam(dec.parameters(), cfg.lr)

        def dec_step(i: int, dec=dec, dopt=dopt, gray_fn=gray_fn) -> float:  # noqa: ANN001
            x = _as_float(batches[i])
            with torch.no_grad():
                g = gray_fn(x)
            loss = F.mse_loss(dec(g), x)
            dopt.zero_grad(set_to_none=True)
            loss.backward()
            dopt.step()
            return float(loss.detach())

        t0 = time.perf_counter()
        lo = 0.1 + 0.9 * (k + 1) / n_phases
        dec_losses = run_steps(steps, dec_step, label=f"decoder for {rule}", progress=progress,
                               should_stop=should_stop, span=(lo, lo + 0.9 / n_phases))
        timings[f"decoder {rule}"] = time.perf_counter() - t0
        dec.eval()
        per = _psnr_per_image(lambda x, dec=dec, gray_fn=gray_fn: dec(gray_fn(x)), test)
        scores.append(RuleScore(rule, float(np.mean(per)), _bootstrap_ci(per, cfg.seed), per, dec_losses))
        decoders[rule] = dec


    pattern = isoluminant_pattern()
    iso = {r: contrast(encode_gray(encoder, pattern) if r.startswith("learned:") else to_gray(pattern, r))
           for r in rules}
    seconds = time.perf_counter() - t_start
    card = store.make_card(
        name, "gray", model, architecture_of(model, hidden=cfg.hidden, width=cfg.width),
        dataset=data.describe(), training={**asdict(cfg), "steps": steps, "n_train_images": len(train),
                                           "n_test_images": len(test), "seconds": seconds},
        epochs=cfg.epochs, seed=cfg.seed, losses=[round(v, 7) for v in losses],
        metrics={"rules": [s.to_dict() for s in scores], "isoluminant_contrast": iso, "joint_decoder_psnr": joint_psnr},
        note="The encoder is the gray rule learned:" + name + "; the decoder is the one trained jointly with it.")
    saved = str(store.save(model, card, overwrite=overwrite)) if save else None
    return GrayResult(name, model, card, scores, iso, losses, joint_psnr, cfg, data.describe(), len(train), len(test),
                      seconds, timings, decoders, test[:4], saved)


def rule_variants(name: str | None):  # noqa: ANN201 - list[Variant]
    """The gray rules as gray-replicate variants (601 first, the reference), plus ``learned:<name>``."""
    rules = [*FIXED_RULES, *([f"learned:{name}"] if name else [])]
    return [Variant(name=r, channels="replicate", gray=r) for r in rules]
