"""The autoencoder architectures, rebuilt from the ``architecture`` dict a model card records.

- ``GrayEncoder``: a pointwise (1x1 convolutions) MLP from RGB to one gray value in [0, 1]. Being
  pointwise, it is a gray *rule* like 601 luma: the same color always gives the same gray, at any
  image size, and it cannot hide color in textures.
- ``ColorDecoder``: gray (one channel) to RGB with spatial context (one stride-2 level with a skip
  connection), so it can use shapes and textures to guess colors. The same decoder architecture is
  trained on every gray rule's output to compare the rules fairly.
- ``DenoiseCAE``: the single-image convolutional autoencoder: two stride-2 downsamplings to a
  bottleneck of ``bottleneck`` channels at a quarter of the resolution, two transposed convolutions
  back. Inputs are reflect-padded to a multiple of 4 and the output cropped back.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import PrepscopeError


class GrayEncoder(nn.Module):
    """RGB (N,3,H,W) in [0,1] -> gray (N,1,H,W) in [0,1], pixel by pixel."""

    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, hidden, 1), nn.ReLU(), nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
                                 nn.Conv2d(hidden, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


class ColorDecoder(nn.Module):
    """Gray (N,1,H,W) -> RGB (N,3,H,W) in [0,1], with one downsampling level and a skip connection."""

    def __init__(self, width: int = 24) -> None:
        super().__init__()
        w = width
        self.c1 = nn.Sequential(nn.Conv2d(1, w, 3, padding=1), nn.ReLU())
        self.c2 = nn.Sequential(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),
                                nn.Conv2d(2 * w, 2 * w, 3, padding=2, dilation=2), nn.ReLU())
        self.c3 = nn.Sequential(nn.Conv2d(3 * w, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, 3, 1))

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        a = self.c1(g)
        b = F.interpolate(self.c2(a), size=a.shape[-2:], mode="bilinear", align_corners=False)
        return torch.sigmoid(self.c3(torch.cat([a, b], dim=1)))


class GrayAutoencoder(nn.Module):
    """The learned gray rule (encoder) with the decoder trained jointly to reconstruct color from it."""

    def __init__(self, hidden: int = 32, width: int = 24) -> None:
        super().__init__()
        self.encoder = GrayEncoder(hidden)
        self.decoder = ColorDecoder(width)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = self.encoder(x)
        return g, self.decoder(g)


class DenoiseCAE(nn.Module):
    """Single-image convolutional autoencoder (C channels in and out, values in [0, 1])."""

    def __init__(self, channels: int = 3, width: int = 32, bottleneck: int = 16) -> None:
        super().__init__()
        c, w = channels, width
        self.encoder = nn.Sequential(
            nn.Conv2d(c, w, 3, padding=1), nn.ReLU(),
            nn.Conv2d(w, w, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * w, bottleneck, 1), nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(bottleneck, 2 * w, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(w, c, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph, pw = (-h) % 4, (-w) % 4
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="reflect")
        return torch.sigmoid(self.decoder(self.encoder(x)))[..., :h, :w]


#: class name -> (class, {argument: (low, high)}) : what a card may ask to build.
ARCHITECTURES: dict[str, tuple[type[nn.Module], dict[str, tuple[int, int]]]] = {
    "GrayAutoencoder": (GrayAutoencoder, {"hidden": (4, 256), "width": (4, 128)}),
    "ColorDecoder": (ColorDecoder, {"width": (4, 128)}),
    "DenoiseCAE": (DenoiseCAE, {"channels": (1, 3), "width": (4, 128), "bottleneck": (1, 256)}),
}


def build(architecture: Any) -> nn.Module:
    """The module an ``architecture`` dict (``{"class": name, **arguments}``) describes; PrepscopeError when
    the dict names an unknown class or an argument outside its bounds (a card is untrusted input)."""
    if not isinstance(architecture, dict) or architecture.get("class") not in ARCHITECTURES:
        raise PrepscopeError(f"Unknown architecture in the model card: {architecture!r:.80}; known: "
                             f"{', '.join(ARCHITECTURES)}.")
    cls, limits = ARCHITECTURES[architecture["class"]]
    kwargs = {k: v for k, v in architecture.items() if k != "class"}
    for k, v in kwargs.items():
        if k not in limits:
            raise PrepscopeError(f"The model card gives {architecture['class']} an unknown argument {k!r}.")
        lo, hi = limits[k]
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise PrepscopeError(f"The model card's {architecture['class']}.{k} must be an integer in "
                                 f"[{lo}, {hi}]; got {v!r:.40}.")
    return cls(**kwargs)


def architecture_of(module: nn.Module, **kwargs: int) -> dict:
    """The card's ``architecture`` dict for a module built with ``kwargs``."""
    return {"class": type(module).__name__, **kwargs}
