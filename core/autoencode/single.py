"""The single-image lab: one (noisy, repetitive, colored) image, one convolutional autoencoder, four regimes.

Regimes, each differing from ``plain`` in one thing:

- ``plain``: the whole image is both input and target at every step (what people first try).
- ``augmented``: batches of random square crops with random flips and 90° rotations.
- ``prefiltered``: the image is denoised first (``prefilter``, NL-means by default) and the plain
  regime is trained on that; at use, the pre-filter runs before the network.
- ``blindspot``: Noise2Self-style masked training (Batson & Royer 2019). Every step masks a grid of
  pixels (one pixel in each ``grid`` x ``grid`` cell, at a random phase per copy), replaces each masked
  pixel by the mean of its four neighbours, and computes the loss on the masked pixels only: the
  network must predict a pixel from its surroundings, which carry the signal but not that pixel's
  independent noise. Prediction is J-invariant: for each of the grid² phases the masked input is
  passed through the network and its output kept at that phase's pixels, so no output pixel ever
  sees its own input value.

Metrics on the whole image (what the trained network returns for the noisy input): PSNR and SSIM
against the noisy input and, when known, against the clean image; the residual (output − input) and
its Pearson correlation with the true noise (input − clean; −1 means the residual is exactly the
negative noise, i.e. all the noise and nothing else was removed; 0, none of it); mean squared error
on 8 seeded crops placed on the network's stride-4 grid (``aligned_crop_mse``) and on the same crops
shifted by 1-3 pixels (``shifted_crop_mse``), both against the input crop (how well it reconstructs
what it is shown), and ``shifted_crop_mse_clean`` against the clean crop when known.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from core.autoencode.train import adam, run_steps, seeded, threads
from core.errors import UnsupportedInput
from core.learned.inference import grid_mask, mask_input, predict
from core.learned.nets import DenoiseCAE, architecture_of
from core.learned.store import make_card
from core.preprocess.denoise import apply_denoiser, denoiser_spec
from core.provenance import Progress, StopCheck, versions
from core.signal import array_digest

REGIMES = ("plain", "augmented", "prefiltered", "blindspot")
#: Images are refused above this side (memory and time of whole-image training on a CPU).
MAX_SIDE = 512
MIN_SIDE = 32
TEXTURE_SIDE = 128
TEXTURE_SIGMA = 0.1


@dataclass(frozen=True)
class SingleConfig:
    """Training settings shared by every regime (the defaults train all four in well under a minute)."""

    steps: int = 300
    width: int = 16
    bottleneck: int = 16
    lr: float = 2e-3
    crop: int = 64
    batch: int = 4
    grid: int = 4
    prefilter: dict = field(default_factory=lambda: {"kind": "nl_means"})
    seed: int = 0

    def check(self) -> SingleConfig:
        for name, lo, hi in (("steps", 1, 20000), ("width", 4, 128), ("bottleneck", 1, 256), ("crop", 16, 256),
                             ("batch", 1, 64), ("grid", 2, 8), ("seed", 0, 2**31 - 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise UnsupportedInput(f"{name} must be an integer between {lo} and {hi}; got {v!r}.")
        if not (isinstance(self.lr, float) and 1e-5 <= self.lr <= 0.1):
            raise UnsupportedInput(f"lr must be a number between 1e-05 and 0.1; got {self.lr!r}.")
        if not isinstance(self.prefilter, dict) or self.prefilter.get("kind") == "learned":
            raise UnsupportedInput("The pre-filter is a scikit-image denoiser: nl_means, tv_chambolle, wavelet or "
                                   "bilateral (with its parameters).")
        denoiser_spec(self.prefilter)
        return self


def builtin_texture(side: int = TEXTURE_SIDE, sigma: float = TEXTURE_SIGMA, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, clean) HxWx3 float32: a repetitive colored texture (a 16-px tile: a red disk, a blue
    diagonal band and a yellow square on a green-teal ground, with a slow color drift across the image)
    plus Gaussian noise of standard deviation ``sigma`` (seeded), clipped to [0, 1]. Colors stay inside
    [0.15, 0.85] so clipping is rare and the noise stays nearly zero-mean."""
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32)
    ty, tx = yy % 16, xx % 16
    img = np.empty((side, side, 3), np.float32)
    img[...] = (0.25, 0.55, 0.5)
    band = np.abs((tx - ty + 16) % 16 - 8) < 2
    img[band] = (0.2, 0.3, 0.8)
    disk = (ty - 7.5) ** 2 + (tx - 7.5) ** 2 < 16
    img[disk] = (0.85, 0.25, 0.2)
    square = (ty < 3) & (tx < 3)
    img[square] = (0.85, 0.8, 0.3)
    drift = 0.08 * np.sin(2 * np.pi * (xx + yy) / side)[..., None] * np.array([1.0, -0.5, 0.5], np.float32)
    clean = np.clip(img + drift, 0.15, 0.85).astype(np.float32)
    rng = np.random.default_rng(seed)
    noisy = np.clip(clean + sigma * rng.standard_normal(clean.shape), 0.0, 1.0).astype(np.float32)
    return noisy, clean


def check_image(arr: np.ndarray, what: str = "the image") -> np.ndarray:
    """HxW or HxWx3 float32 in [0, 1] -> HxWxC; refuses sizes outside [MIN_SIDE, MAX_SIDE] with a message."""
    a = np.asarray(arr, dtype=np.float32)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise UnsupportedInput(f"{what} must be a gray or RGB image; got shape {a.shape}.")
    h, w = a.shape[:2]
    if max(h, w) > MAX_SIDE:
        raise UnsupportedInput(f"{what} is {w}×{h} pixels; the single-image lab trains on images of at most "
                               f"{MAX_SIDE}×{MAX_SIDE} (memory and time on a CPU): crop or shrink it first.")
    if min(h, w) < MIN_SIDE:
        raise UnsupportedInput(f"{what} is {w}×{h} pixels; the single-image lab needs at least {MIN_SIDE} pixels "
                               "per side.")
    return a


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB for values in [0, 1]."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(1.0 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (scikit-image, data range 1, channels averaged)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(a, b, channel_axis=2, data_range=1.0))


# ------------------------------------------------------------------------------------------------ masking


# ------------------------------------------------------------------------------------------------ training


@dataclass
class RegimeResult:
    """One trained regime: the model, its loss per step and its metrics (see the module docstring)."""

    name: str
    model: torch.nn.Module = field(repr=False)
    losses: list[float] = field(repr=False)
    output: np.ndarray = field(repr=False)
    residual: np.ndarray = field(repr=False)
    psnr_vs_input: float
    psnr_vs_clean: float | None
    ssim_vs_input: float
    ssim_vs_clean: float | None
    aligned_crop_mse: float
    shifted_crop_mse: float
    shifted_crop_mse_clean: float | None
    residual_noise_corr: float | None
    seconds: float
    inference: str
    track: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"name": self.name, "psnr_vs_input": self.psnr_vs_input, "psnr_vs_clean": self.psnr_vs_clean,
                "ssim_vs_input": self.ssim_vs_input, "ssim_vs_clean": self.ssim_vs_clean,
                "aligned_crop_mse": self.aligned_crop_mse, "shifted_crop_mse": self.shifted_crop_mse,
                "shifted_crop_mse_clean": self.shifted_crop_mse_clean,
                "residual_noise_corr": self.residual_noise_corr, "seconds": self.seconds,
                "inference": self.inference, "final_loss": self.losses[-1] if self.losses else None,
                "track": self.track, "losses": [round(v, 7) for v in self.losses]}


@dataclass
class SingleResult:
    """Every regime's result on one image, with what produced it."""

    regimes: list[RegimeResult]
    noisy: np.ndarray = field(repr=False)
    clean: np.ndarray | None = field(repr=False)
    prefiltered: np.ndarray | None = field(repr=False)
    source: dict
    config: SingleConfig
    seconds: float

    def input_psnr_vs_clean(self) -> float | None:
        return None if self.clean is None else psnr(self.noisy, self.clean)

    def regime(self, name: str) -> RegimeResult:
        return next(r for r in self.regimes if r.name == name)

    def to_dict(self) -> dict:
        return {"regimes": [r.to_dict() for r in self.regimes], "input": self.source,
                "input_psnr_vs_clean": self.input_psnr_vs_clean(),
                "input_ssim_vs_clean": None if self.clean is None else ssim(self.noisy, self.clean),
                "config": asdict(self.config), "seconds": self.seconds, "conventions": CONVENTIONS,
                "versions": versions()}


CONVENTIONS = ("PSNR in dB (peak 1.0) and SSIM (scikit-image, data range 1) of the network's output for the whole "
               "noisy image; residual = output - input; residual_noise_corr = Pearson correlation of the residual "
               "with the true noise (input - clean), -1 = exactly the noise removed; crop MSE on 8 seeded crops, "
               "aligned to the stride-4 grid or shifted by 1-3 px, against the input crop (and against the clean "
               "crop when known); seconds = training time of the regime (without the PSNR tracking); track = PSNR "
               "of the whole-image output at 10 evenly spaced steps")


def _to_tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None].float()


def _to_array(t: torch.Tensor) -> np.ndarray:
    return t[0].detach().permute(1, 2, 0).numpy().astype(np.float32)


def _augment(x: torch.Tensor, side: int, batch: int, gen: torch.Generator) -> torch.Tensor:
    h, w = x.shape[-2:]
    crops = []
    for _ in range(batch):
        i = int(torch.randint(0, h - side + 1, (1,), generator=gen))
        j = int(torch.randint(0, w - side + 1, (1,), generator=gen))
        c = x[0, :, i : i + side, j : j + side]
        k, flip = int(torch.randint(0, 4, (1,), generator=gen)), bool(torch.randint(0, 2, (1,), generator=gen))
        c = torch.rot90(c, k, dims=(1, 2))
        crops.append(torch.flip(c, dims=(2,)) if flip else c)
    return torch.stack(crops)


#: PSNR along training is measured at this many evenly spaced steps (excluded from ``seconds``).
TRACK_POINTS = 10


def _train_regime(name: str, x_noisy: torch.Tensor, x_pre: torch.Tensor | None, x_clean: torch.Tensor | None,
                  cfg: SingleConfig, progress: Progress | None, should_stop: StopCheck | None,
                  span: tuple[float, float]) -> tuple[torch.nn.Module, list[float], float, list[dict]]:
    gen = seeded(cfg.seed)
    c = x_noisy.shape[1]
    model = DenoiseCAE(c, cfg.width, cfg.bottleneck)
    opt = adam(model.parameters(), cfg.lr)
    h, w = x_noisy.shape[-2:]
    side = min(cfg.crop, h, w) // 4 * 4
    target = x_pre if name == "prefiltered" else x_noisy
    copies = 2  # blind-spot: masked copies per step, each at its own random phase
    feed = x_pre if name == "prefiltered" else x_noisy
    every = max(1, cfg.steps // TRACK_POINTS)
    track: list[dict] = []
    tracking = [0.0]

    def measure(i: int) -> None:
        t = time.perf_counter()
        model.eval()
        with torch.inference_mode():
            y = predict(model, feed, name == "blindspot", cfg.grid)
            row = {"step": i, "psnr_vs_input": _psnr_t(y, x_noisy),
                   "psnr_vs_clean": None if x_clean is None else _psnr_t(y, x_clean)}
        model.train()
        track.append(row)
        tracking[0] += time.perf_counter() - t

    def step(i: int) -> float:
        if name == "augmented":
            x = _augment(target, side, cfg.batch, gen)
            loss = F.mse_loss(model(x), x)
        elif name == "blindspot":
            phases = torch.randint(0, cfg.grid, (copies, 2), generator=gen)
            masks = torch.stack([grid_mask(h, w, cfg.grid, (int(a), int(b))) for a, b in phases])[:, None]
            x = target.expand(copies, -1, -1, -1)
            out = model(mask_input(x, masks))
            m = masks.expand_as(x)
            loss = F.mse_loss(out[m], x[m])
        else:
            loss = F.mse_loss(model(target), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (i + 1) % every == 0 or i + 1 == cfg.steps:
            measure(i + 1)
        return float(loss.detach())

    t0 = time.perf_counter()
    model.train()
    with threads():
        losses = run_steps(cfg.steps, step, label=f"{name} regime", progress=progress, should_stop=should_stop,
                           span=span)
    seconds = time.perf_counter() - t0 - tracking[0]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, losses, seconds, track


def _psnr_t(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(F.mse_loss(a.double(), b.double()))
    return float("inf") if mse == 0 else 10.0 * float(np.log10(1.0 / mse))


def _crop_positions(h: int, w: int, side: int, seed: int, n: int = 8) -> list[tuple[int, int, int, int]]:
    """(top, left, dy, dx) of ``n`` crops: top/left on the stride-4 grid, shifts of 1-3 px."""
    rng = np.random.default_rng([seed, 7])
    out = []
    for _ in range(n):
        top = int(rng.integers(0, (h - side - 3) // 4 + 1)) * 4
        left = int(rng.integers(0, (w - side - 3) // 4 + 1)) * 4
        out.append((top, left, int(rng.integers(1, 4)), int(rng.integers(1, 4))))
    return out


def _crop_errors(model: torch.nn.Module, feed: torch.Tensor, noisy: np.ndarray, clean: np.ndarray | None,
                 blind: bool, grid: int, seed: int) -> tuple[float, float, float | None]:
    h, w = noisy.shape[:2]
    side = max(16, min(64, min(h, w) // 2) // 4 * 4)
    aligned, shifted, shifted_clean = [], [], []
    with torch.inference_mode():
        for top, left, dy, dx in _crop_positions(h, w, side, seed):
            for (t, lft), sink in (((top, left), aligned), ((top + dy, left + dx), shifted)):
                y = _to_array(predict(model, feed[..., t : t + side, lft : lft + side], blind, grid))
                sink.append(float(np.mean((y - noisy[t : t + side, lft : lft + side]) ** 2)))
                if sink is shifted and clean is not None:
                    shifted_clean.append(float(np.mean((y - clean[t : t + side, lft : lft + side]) ** 2)))
    return float(np.mean(aligned)), float(np.mean(shifted)), (float(np.mean(shifted_clean)) if clean is not None
                                                              else None)


def train_single(noisy: np.ndarray, clean: np.ndarray | None = None, regimes: tuple[str, ...] = REGIMES,
                 config: SingleConfig | None = None, *, source: dict | None = None,
                 progress: Progress | None = None, should_stop: StopCheck | None = None) -> SingleResult:
    """Train one CAE per regime on ``noisy`` (HxW or HxWx3 in [0, 1]) and measure each (module docstring).

    ``clean`` (same shape), when known, adds the metrics against the clean image. Each regime starts
    from the same seed. ``should_stop()`` is polled between steps (Stopped; nothing is kept)."""
    cfg = (config or SingleConfig()).check()
    unknown = [r for r in regimes if r not in REGIMES]
    if unknown or not regimes:
        raise UnsupportedInput(f"Unknown regime(s) {', '.join(unknown) or '(none given)'}; choose among "
                               f"{', '.join(REGIMES)}.")
    regimes = tuple(dict.fromkeys(regimes))
    a = check_image(noisy, "the image")
    c = None
    if clean is not None:
        c = check_image(clean, "the clean image")
        if c.shape[:2] != a.shape[:2]:
            raise UnsupportedInput(f"The clean image is {c.shape[1]}×{c.shape[0]} but the image is "
                                   f"{a.shape[1]}×{a.shape[0]}; they must have the same size.")
        if c.shape[2] != a.shape[2]:
            c = c.mean(axis=2, keepdims=True) if a.shape[2] == 1 else np.repeat(c, 3, axis=2)
    t_start = time.perf_counter()
    pre = None
    if "prefiltered" in regimes:
        if progress:
            progress(0.0, f"Pre-filtering the image ({cfg.prefilter['kind']})")
        pre = apply_denoiser(a, denoiser_spec(cfg.prefilter))
    x_noisy = _to_tensor(a)
    x_pre = None if pre is None else _to_tensor(pre)
    x_clean = None if c is None else _to_tensor(c)
    results = []
    for k, name in enumerate(regimes):
        span = (k / len(regimes), (k + 1) / len(regimes))
        model, losses, seconds, track = _train_regime(name, x_noisy, x_pre, x_clean, cfg, progress, should_stop,
                                                      span)
        blind = name == "blindspot"
        feed = x_pre if name == "prefiltered" else x_noisy
        with torch.inference_mode(), threads():
            out = _to_array(predict(model, feed, blind, cfg.grid))
            aligned, shifted, shifted_clean = _crop_errors(model, feed, a, c, blind, cfg.grid, cfg.seed)
        residual = out - a
        corr = None
        if c is not None:
            noise = (a - c).ravel()
            r = residual.ravel()
            corr = float(np.corrcoef(r, noise)[0, 1]) if r.std() > 0 and noise.std() > 0 else None
        results.append(RegimeResult(
            name=name, model=model, losses=losses, output=out, residual=residual, psnr_vs_input=psnr(out, a),
            psnr_vs_clean=None if c is None else psnr(out, c), ssim_vs_input=ssim(out, a),
            ssim_vs_clean=None if c is None else ssim(out, c), aligned_crop_mse=aligned, shifted_crop_mse=shifted,
            shifted_crop_mse_clean=shifted_clean, residual_noise_corr=corr, seconds=seconds,
            inference="j-invariant" if blind else "direct", track=track))
    src = dict(source or {})

    src.setdefault("digest", array_digest(a))
    src.update({"width": int(a.shape[1]), "height": int(a.shape[0]), "channels": int(a.shape[2]),
                "clean_known": c is not None})
    return SingleResult(results, a, c, pre, src, cfg, time.perf_counter() - t_start)


def lab_card(result: SingleResult, regime: str, name: str) -> dict:
    """The card of one regime's model, to save it as a named lab denoiser."""
    r = result.regime(regime)
    cfg = result.config
    arch = architecture_of(r.model, channels=int(result.noisy.shape[2]), width=cfg.width, bottleneck=cfg.bottleneck)
    return make_card(
        name, "denoise", r.model, arch, regime=regime, inference=r.inference,
        prefilter=cfg.prefilter if regime == "prefiltered" else None,
        dataset={"kind": "single image", **result.source},
        training={**asdict(cfg), "regime": regime, "seconds": r.seconds},
        epochs=cfg.steps, seed=cfg.seed, losses=[round(v, 7) for v in r.losses],
        metrics={k: v for k, v in r.to_dict().items() if k not in ("losses", "name")})
