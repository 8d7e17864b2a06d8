"""Per-item evidence after a sweep: find a tested item again from its recorded path, for a thumbnail or a player.

A sweep records, for every tested item, its path inside the dataset (``Dataset.item_path``) and the
dataset's description (source, root folder or zip name, built-in parameters). ``open_item`` turns that
back into the item: a file under the recorded root folder (the path must stay inside it), a member
of the uploaded zip (its bytes must be supplied again: the extraction folder was temporary), or a
built-in item regenerated from its parameters. Nothing is decoded that the view does not show.
"""

from __future__ import annotations

import io
import zipfile
from functools import lru_cache
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from core.errors import PrepscopeError, UnsupportedInput
from core.evaluate.datasets import Item, link_boundary, load_builtin
from core.io import load_input
from core.shared import public_path, shared_mode, under_data_root
from core.signal import Signal

THUMB_PX = 72


def items_dataset(provenance: dict) -> dict:
    """The description of the dataset the tested items came from: the given test set, else the training set."""
    ds = provenance["dataset"]
    return ds["test"] or ds["train"]


def unavailable_reason(desc: dict, zip_bytes: bytes | None = None) -> str | None:
    """Why items of this dataset cannot be shown again (None when they can)."""
    if desc["source"].startswith("builtin:"):
        return None
    if desc.get("archive"):
        return None if zip_bytes is not None else (f"The items came from the uploaded zip {desc['archive']}, which "
                                                   "is not kept; upload it again on the Accuracy page to see them.")
    root = desc.get("root")
    if shared_mode() and not under_data_root(root):
        return ("The items came from a folder outside this server's data root; on a shared server they are listed "
                "by name only.")
    if not root or not Path(root).is_dir():
        return f"The dataset folder {public_path(root or desc['source'])} is no longer there."
    return None


@lru_cache(maxsize=4)
def _builtin(source: str, n_per_class: int, seed: int):  # noqa: ANN202 - Dataset

    name = source.removeprefix("builtin:")
    return load_builtin(name, n_per_class=n_per_class, seed=seed) if name == "sounds" else load_builtin(name)


def open_item(desc: dict, path: str, zip_bytes: bytes | None = None) -> Signal:
    """The item at ``path`` of the described dataset, decoded; UnsupportedInput with a sentence when it cannot be
    found again (moved folder, zip not supplied, a path that leaves the dataset)."""
    reason = unavailable_reason(desc, zip_bytes)
    if reason:
        raise UnsupportedInput(reason)
    if desc["source"].startswith("builtin:"):
        params = desc.get("params", {})
        ds = _builtin(desc["source"], int(params.get("n_per_class", 20)), int(params.get("seed", 0)))
        try:
            index = int(path.removeprefix("#"))
        except ValueError:
            raise UnsupportedInput(f"{path!r} is not an item of {desc['source']}.") from None
        if not 0 <= index < len(ds):
            raise UnsupportedInput(f"{path!r} is not an item of {desc['source']}.")
        return ds.load(Item(index, 0))
    source = item_file(desc, path, zip_bytes)
    return load_input(source, name=PurePosixPath(path).name) if isinstance(source, bytes) else load_input(source)


def item_file(desc: dict, path: str, zip_bytes: bytes | None = None) -> bytes | Path:
    """A file item of the described dataset: the zip member's bytes, or the path under the recorded root folder;
    UnsupportedInput when ``path`` leaves the dataset or is not in the zip supplied."""
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts:
        raise UnsupportedInput(f"{path!r} is not a path inside the dataset.")
    if desc.get("archive"):
        try:
            with zipfile.ZipFile(io.BytesIO(zip_bytes or b"")) as zf:
                return zf.read(str(rel))
        except (KeyError, zipfile.BadZipFile, OSError):
            raise UnsupportedInput(f"{path} is not in the zip {desc['archive']} supplied.") from None
    root = Path(desc["root"])
    full = root / rel  # inside the dataset (checked above); a link in it is followed as the sweep followed it,
    boundary = link_boundary(root)  # but never out of the data root when the dataset lies under it
    if boundary is not None and boundary not in full.resolve().parents:
        raise UnsupportedInput(f"{path!r} leads outside the data root.")
    return full


def thumbnail_png(signal: Signal, size: int = THUMB_PX) -> bytes:
    """A small PNG of an image item (aspect kept, longer side ``size``; tiny images are enlarged without
    smoothing so their pixels stay visible)."""
    a = np.clip(signal.array, 0.0, 1.0)
    img = Image.fromarray((a * 255.0 + 0.5).astype(np.uint8))
    scale = size / max(img.size)
    new = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    img = img.resize(new, Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def item_audio(signal: Signal) -> tuple[np.ndarray, int]:
    """A sound item's waveform and sample rate, for a player; UnsupportedInput for an image."""
    if signal.audio is None:
        raise UnsupportedInput("This item is an image, not a sound.")
    wave, sr = signal.audio
    return np.asarray(wave, dtype=np.float32), int(sr)


def try_open(desc: dict, path: str, zip_bytes: bytes | None = None) -> tuple[Signal | None, str | None]:
    """``open_item`` that returns (signal, None) or (None, the reason) instead of raising."""
    try:
        return open_item(desc, path, zip_bytes), None
    except PrepscopeError as e:
        return None, str(e)
