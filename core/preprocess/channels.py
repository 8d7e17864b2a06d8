"""Channel strategies: how a (gray, color or sound) source becomes the network's three input channels.

One registry, like ``DEGRADATIONS``: ``CHANNELS[name]`` is a ``ChannelStrategy`` object that knows how to build
the channel image from the source, how that image is normalized into three network channels, what it looks like
on screen, whether it is a one-channel (gray) input, whether the device-side path can run it, which stored image
it shares with other strategies, and when it is the same network input as gray replication. Everything that
used to test ``variant.channels == "..."`` asks the strategy instead (``strategy(variant)``); adding a strategy is
one class here and its name in ``Variant.channels``.

Normalization rules (per channel c, model statistics mean_c and std_c):
- ``rgb``, ``colormap``, ``multi-window``, ``deltas``: three channels, ``(x_c - mean_c) / std_c``.
- ``replicate``: gray copied to three channels, then ``(g - mean_c) / std_c``.
- ``conv-sum``: ``(g - mean(mean)) / mean(std)`` on all three channels: by linearity this is the first conv's
  weights summed over its input channels applied to one gray channel.
- ``zero-pad``: gray in channel 0, channels 1 and 2 at the training mean (0 after normalization).
- ``native``: for a network built with one input channel (a card with ``in_chans: 1``): the gray image is the
  network's single channel, ``(g - mean) / std`` with the card's one mean and std (the mean of its three recipe
  entries, which ``default_recipe`` writes equal). The tensor carries it on all three channels like ``conv-sum``
  and the one-channel network takes their (exact) average, so the network sees exactly the normalized gray.
  A three-channel network has no single channel: ``core.preprocess.recipe.resolve`` refuses it there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from core.errors import UnsupportedInput
from core.preprocess import soundchannels
from core.preprocess.color import colormap_lut, colormap_lut8, to_gray, to_uint8
from core.preprocess.variant import MultiWindow, Spectrogram, Variant
from core.signal import Signal

#: Colormaps whose 256 entries have R = G = B = the index (replication after 8-bit quantization).
GRAY_COLORMAPS = ("gray", "grey")


def _gray(img: np.ndarray, variant: Variant) -> np.ndarray:
    return img if img.ndim == 2 else to_gray(img, variant.gray)


def _three(x: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    return (x - m) / s


class ChannelStrategy:
    """A channel strategy (see the module docstring). Subclasses override what differs."""

    name = ""
    #: The network input is built from one gray channel (replicate, conv-sum, zero-pad, native): fine-tuning gives such
    #: variants a one-channel stem, and they share one stored gray image.
    one_channel = False
    #: Builds its channels from the sound itself, not from an image.
    needs_sound = False
    #: The device-side path (``core.preprocess.device``) implements it.
    on_device = False
    #: Is gray replication itself (the reference form the others are compared with).
    is_replication = False

    def group(self, variant: Variant) -> str:
        """Variants with the same group (and the same other channel fields) share one stored channel image."""
        return self.name

    def needs_source(self) -> bool:
        """Whether the channel image is built from the source image (a sound strategy may build its own)."""
        return True

    def image(self, img: np.ndarray, variant: Variant, signal: Signal | None) -> np.ndarray:
        """The channel image from the source ``img``: float32 HxWx3 or HxWx1 in [0, 1]."""
        return np.asarray(_gray(img, variant), dtype=np.float32)[..., None]

    def stored_fast(self, img: np.ndarray, variant: Variant) -> np.ndarray | None:
        """The 8-bit stored image in one step when the strategy has a faster route to the same values, else None."""
        return None

    def normalize(self, g: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """A one-channel (N,1,S,S) batch in [0, 1] -> the normalized (N,3,S,S) network input (``m``, ``s``: (3,1,1))."""
        return _three(g.expand(-1, 3, -1, -1), m, s)

    def display(self, g: torch.Tensor, mean: Sequence[float]) -> np.ndarray:
        """A one-channel (1,S,S) image -> what the screen shows (S,S,3)."""
        return g.expand(3, -1, -1).permute(1, 2, 0).numpy().copy()

    def device_variant(self, variant: Variant) -> Variant:
        """The variant whose 8-bit channel image the device path starts from."""
        return variant

    def on_device_lookup(self, images: list[torch.Tensor], variant: Variant) -> list[torch.Tensor]:
        """Device-side work between the 8-bit channel image and the resize (a colormap's table lookup)."""
        return images

    def replication_reason(self, variant: Variant, label: str, replication: str, equal_stats: bool) -> str | None:
        """When this variant is the same network input as gray replication on one-channel data, the sentence why
        (``label`` names the variant, ``replication`` the replicating member); None when it is not."""
        return None

    def channel_labels(self, variant: Variant) -> tuple[str, str, str] | None:
        """What each of the three channels holds, when that is not color (sound strategies)."""
        return None


class Rgb(ChannelStrategy):
    name = "rgb"
    on_device = True

    def image(self, img: np.ndarray, variant: Variant, signal: Signal | None) -> np.ndarray:
        rgb = img if img.ndim == 3 else np.repeat(img[..., None], 3, axis=2)
        return np.asarray(rgb, dtype=np.float32)

    def replication_reason(self, variant: Variant, label: str, replication: str, equal_stats: bool) -> str | None:
        return f"{label} equals {replication} on one-channel data: there is no color to keep"


class Replicate(ChannelStrategy):
    name = "replicate"
    one_channel = True
    on_device = True
    is_replication = True

    def group(self, variant: Variant) -> str:
        return "gray"


class ConvSum(Replicate):
    name = "conv-sum"
    is_replication = False

    def normalize(self, g: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        return ((g - m.mean()) / s.mean()).expand(-1, 3, -1, -1).contiguous()

    def replication_reason(self, variant: Variant, label: str, replication: str, equal_stats: bool) -> str | None:
        if not equal_stats:
            return None
        return (f"{label} equals {replication} because the model normalizes every channel with the same mean and std, "
                "so the summed first conv on one channel is the original conv on the channel copied three times")


class ZeroPad(Replicate):
    name = "zero-pad"
    is_replication = False

    def normalize(self, g: torch.Tensor, m: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        norm = torch.zeros(g.shape[0], 3, *g.shape[2:], device=g.device)
        norm[:, 0] = (g[:, 0] - m[0]) / s[0]
        return norm

    def display(self, g: torch.Tensor, mean: Sequence[float]) -> np.ndarray:
        m = torch.tensor(mean, dtype=torch.float32)[:, None, None]
        return torch.cat([g, m[1:].expand(2, *g.shape[1:])]).permute(1, 2, 0).numpy().copy()


class Native(ConvSum):
    """The gray image as a one-channel network's only input channel (see the module docstring)."""

    name = "native"  # only for one-channel networks: ``NETWORK_CHANNELS`` in the variant module says so

    def replication_reason(self, variant: Variant, label: str, replication: str, equal_stats: bool) -> str | None:
        if not equal_stats:
            return None
        return (f"{label} equals {replication} because the one-channel network's input is normalized with one mean "
                "and std, the same for every copy of the gray image")


class Colormap(ChannelStrategy):
    name = "colormap"
    on_device = True

    def image(self, img: np.ndarray, variant: Variant, signal: Signal | None) -> np.ndarray:
        return np.take(colormap_lut(str(variant.colormap)), to_uint8(_gray(img, variant)), axis=0)  # lut[g8]

    def stored_fast(self, img: np.ndarray, variant: Variant) -> np.ndarray | None:
        # same values as store(image(...)) for 8-bit storage: the table already quantized to 8 bits
        if variant.storage_kind not in ("png8", "jpeg"):
            return None
        return np.take(colormap_lut8(str(variant.colormap)), to_uint8(_gray(img, variant)), axis=0)

    def device_variant(self, variant: Variant) -> Variant:
        return variant.replace(channels=REPLICATE.name)  # the gray image; the table is looked up on the device

    def on_device_lookup(self, images: list[torch.Tensor], variant: Variant) -> list[torch.Tensor]:
        lut = torch.from_numpy(colormap_lut8(str(variant.colormap)).copy()).to(images[0].device)
        return [lut[g[0].long()].permute(2, 0, 1) for g in images]

    def replication_reason(self, variant: Variant, label: str, replication: str, equal_stats: bool) -> str | None:
        if (variant.colormap or "").lower() not in GRAY_COLORMAPS:
            return None
        return f"{variant.name} (the gray colormap) writes each value to all three channels, which is {replication}"


class _Sound(ChannelStrategy):
    needs_sound = True

    def check_sound(self, signal: Signal | None) -> tuple[np.ndarray, int]:
        if signal is None or signal.audio is None:
            images = [n for n, c in CHANNELS.items() if not c.needs_sound]
            raise UnsupportedInput(f"The channel strategy '{self.name}' builds its three channels from a sound; this "
                                   f"input is an image. Use {', '.join(images[:-1])} or {images[-1]} for images.")
        return signal.audio


class MultiWindowStrategy(_Sound):
    name = "multi-window"

    def needs_source(self) -> bool:
        return False  # it computes its own spectrograms from the sound

    def image(self, img: np.ndarray, variant: Variant, signal: Signal | None) -> np.ndarray:
        wave, sr = self.check_sound(signal)
        return soundchannels.multi_window_image(wave, sr, variant.spectrogram or Spectrogram(), variant.multi_window)

    def channel_labels(self, variant: Variant) -> tuple[str, str, str] | None:
        mw = variant.multi_window or MultiWindow()
        return tuple(f"{w:g} ms window, {h:g} ms hop" for w, h in zip(mw.windows_ms, mw.hops_ms, strict=True))


class DeltasStrategy(_Sound):
    name = "deltas"

    def image(self, img: np.ndarray, variant: Variant, signal: Signal | None) -> np.ndarray:
        self.check_sound(signal)
        return soundchannels.deltas_image(img, variant.deltas)

    def channel_labels(self, variant: Variant) -> tuple[str, str, str] | None:
        return ("spectrogram", "delta", "delta-delta")


REPLICATE = Replicate()
#: Every channel strategy by name, in the order ``Variant.channels`` lists them.
CHANNELS: dict[str, ChannelStrategy] = {s.name: s for s in (
    Rgb(), REPLICATE, ConvSum(), ZeroPad(), Native(), Colormap(), MultiWindowStrategy(), DeltasStrategy())}


def strategy(variant: Variant) -> ChannelStrategy:
    """The variant's channel strategy object."""
    return CHANNELS[variant.channels]


def channel_labels(variant: Variant) -> tuple[str, str, str] | None:
    """What each of the three channels of a ``multi-window`` or ``deltas`` variant holds (None otherwise)."""
    return strategy(variant).channel_labels(variant)
