"""Saved lab models applied as preprocessing: learned gray rules and lab denoisers (blind-spot prediction included).

The inference side of the Autoencoder lab, below ``core.preprocess``: it reads the models folder
(``core.learned.store``) and runs a saved network, nothing else (training and the lab's comparisons are
``core.autoencode.gray`` and ``core.autoencode.single``, which sit above preprocess and evaluate).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from core.errors import InvalidVariant
from core.learned import store

#: The lab keeps these imported where the pipeline finds them (``core.preprocess.color``).
__all__ = ["encode_gray", "learned_gray", "load_lab_denoiser", "predict", "run_lab_denoiser"]


def learned_gray(rgb: np.ndarray, name: str) -> np.ndarray:
    """HxWx3 float in [0, 1] -> HxW float32 by the saved learned gray rule ``name`` (pixel by pixel, in
    chunks of a million pixels so memory stays bounded at any image size)."""
    try:
        model, _ = store.load(name, "gray")
    except store.InvalidModelFile as e:
        raise InvalidVariant(str(e)) from None
    return encode_gray(model.encoder, rgb)


def encode_gray(encoder: torch.nn.Module, rgb: np.ndarray) -> np.ndarray:
    """Run a pointwise gray encoder over an HxWx3 image in chunks."""
    h, w = rgb.shape[:2]
    flat = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32).reshape(-1, 3))
    out = torch.empty(flat.shape[0])
    chunk = 1 << 20
    with torch.inference_mode():
        for s in range(0, flat.shape[0], chunk):
            px = flat[s : s + chunk].T.reshape(1, 3, -1, 1)
            out[s : s + chunk] = encoder(px).reshape(-1)
    return out.numpy().reshape(h, w)


def grid_mask(h: int, w: int, grid: int, phase: tuple[int, int]) -> torch.Tensor:
    """Boolean (h, w): the pixels (i, j) with i % grid == phase[0] and j % grid == phase[1]."""
    m = torch.zeros(h, w, dtype=torch.bool)
    m[phase[0]::grid, phase[1]::grid] = True
    return m


_NEIGHBOURS = torch.tensor([[0.0, 0.25, 0.0], [0.25, 0.0, 0.25], [0.0, 0.25, 0.0]])


def mask_input(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(N,C,H,W) with the masked pixels (mask (H,W) or (N,1,H,W)) replaced by the mean of their four
    neighbours (reflected at the borders). With a grid of at least 2, no neighbour of a masked pixel is
    masked, so the replaced values never contain the masked pixels' own values."""
    c = x.shape[1]
    k = _NEIGHBOURS.to(x.dtype).expand(c, 1, 3, 3)
    avg = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), k, groups=c)
    return torch.where(mask, avg, x)


def predict(model: torch.nn.Module, x: torch.Tensor, blind: bool, grid: int = 4) -> torch.Tensor:
    """The network's output for (N,C,H,W): direct, or J-invariant for a blind-spot model (every pixel
    predicted from an input in which it is masked; grid² forward passes)."""
    if not blind:
        return model(x)
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    for a in range(grid):
        for b in range(grid):
            m = grid_mask(h, w, grid, (a, b))
            out = torch.where(m, model(mask_input(x, m)), out)
    return out


def load_lab_denoiser(name: str) -> tuple[torch.nn.Module, dict]:
    """The saved lab denoiser ``name`` and its card (InvalidVariant when it is missing or does not load)."""
    try:
        return store.load(name, "denoise")
    except store.InvalidModelFile as e:
        raise InvalidVariant(str(e)) from None


def run_lab_denoiser(model: torch.nn.Module, card: dict, x: np.ndarray) -> np.ndarray:
    """A loaded lab denoiser on a float HxWxC image in [0, 1] (already pre-filtered as its card says): a 3-channel
    model on a gray image sees it replicated and returns the mean of its outputs; a 1-channel model on color runs
    on each channel. Blind-spot models predict J-invariantly."""
    c_model = int(card["architecture"].get("channels", 3))
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
    blind = card.get("inference") == "j-invariant"
    grid = int(card.get("training", {}).get("grid", 4))
    with torch.inference_mode():
        if c_model == t.shape[1]:
            y = predict(model, t, blind, grid)
        elif c_model == 3:  # gray input, color model: replicate, then average the outputs
            y = predict(model, t.expand(-1, 3, -1, -1), blind, grid).mean(dim=1, keepdim=True)
        else:  # color input, gray model: each channel on its own
            y = predict(model, t.permute(1, 0, 2, 3), blind, grid).permute(1, 0, 2, 3)
    return y[0].permute(1, 2, 0).numpy()
