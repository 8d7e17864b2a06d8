"""The models folder: each trained autoencoder is a state_dict ``NAME.pt`` plus its card ``NAME.json``.

The folder is ``$PREPSCOPE_MODELS_DIR``, else ``$PREPSCOPE_HOME/models``, else ``~/.cache/prepscope/models``;
the command line and the dashboard use the same one. A card says how the model was made (task,
architecture, data and its digest, training settings, losses, seed, prepscope and library versions)
and records the SHA-256 of its weights file. Saving is atomic (temporary files renamed into place, the
card last), so a stopped or failed run leaves no partial model. Loading refuses, with a sentence for
the user: a missing pair, a card that is not a prepscope card, weights whose digest differs from the
card's, a file that ``torch.load(..., weights_only=True)`` will not read (a pickle of arbitrary
objects) or that is not a flat dict of tensors, and a state_dict that does not fit the card's
architecture. Loaded modules are cached per file state, so a retrained model is picked up.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import PrepscopeError
from core.paths import prepscope_home
from core.provenance import versions
from core.shared import audit, public_path

if TYPE_CHECKING:  # torch is imported where weights are read or written: listing models (the sidebar) needs none
    import torch
    from torch import nn

TASKS = ("gray", "denoise")
CARD_FORMAT = "prepscope-autoencoder-card"
CARD_VERSION = 1
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,47}$")
#: Larger files are refused before reading: these models are a few hundred kilobytes.
MAX_WEIGHTS_BYTES = 64 * 1024 * 1024
MAX_CARD_BYTES = 4 * 1024 * 1024


class InvalidModelFile(PrepscopeError):
    """A model or card in the models folder is missing, malformed, or does not match its pair."""


def models_dir() -> Path:
    """``$PREPSCOPE_MODELS_DIR``, else ``$PREPSCOPE_HOME/models``, else ``~/.cache/prepscope/models``."""
    env = os.environ.get("PREPSCOPE_MODELS_DIR")
    return Path(env).expanduser() if env else prepscope_home() / "models"


def check_name(name: Any) -> str:
    """A model name: 1-48 characters, letters, digits, '.', '_' or '-', starting with a letter or digit."""
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidModelFile(f"A model name is 1-48 letters, digits, '.', '_' or '-' (starting with a letter or "
                               f"digit); got {name!r:.60}.")
    return name


def paths(name: str, folder: Path | None = None) -> tuple[Path, Path]:
    """(weights ``NAME.pt``, card ``NAME.json``) in ``folder`` (default: the models folder)."""
    folder = models_dir() if folder is None else folder
    return folder / f"{check_name(name)}.pt", folder / f"{name}.json"


def exists(name: str, folder: Path | None = None) -> bool:
    w, c = paths(name, folder)
    return w.is_file() and c.is_file()


def check_new(name: str, *, overwrite: bool, folder: Path | None = None) -> str:
    """``name`` for a model about to be trained and saved: well formed (``check_name``) and, unless ``overwrite``,
    not taken; InvalidModelFile saying what to do otherwise. The lab checks it before queueing a training."""
    check_name(name)
    if not overwrite and exists(name, folder):
        where = public_path(models_dir() if folder is None else folder)
        raise InvalidModelFile(f"A model named {name!r} already exists in {where}; choose another name or overwrite "
                               "it.")
    return name


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def state_dict_bytes(module: nn.Module) -> bytes:
    """The module's state_dict serialized by ``torch.save`` (CPU tensors), as bytes."""
    import torch  # noqa: PLC0415 - listing models (the sidebar) needs no torch

    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}, buf)
    return buf.getvalue()


def make_card(name: str, task: str, module: nn.Module, architecture: dict, **fields: Any) -> dict:
    """A card for ``module`` (its weights digest is filled in by ``save``)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}")
    n_params = int(sum(p.numel() for p in module.parameters()))
    return {"format": CARD_FORMAT, "format_version": CARD_VERSION, "name": check_name(name), "task": task,
            "architecture": dict(architecture), "parameters": n_params, **fields,
            "prepscope": versions()["prepscope"], "versions": versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def save(module: nn.Module, card: dict, *, overwrite: bool = False, folder: Path | None = None) -> Path:
    """Write ``NAME.pt`` and ``NAME.json`` atomically (weights first, the card last); return the card path.

    Refuses an existing name unless ``overwrite``. The card gets the weights' SHA-256 and file name."""
    name = check_name(card["name"])
    folder = models_dir() if folder is None else folder
    w_path, c_path = paths(name, folder)
    if not overwrite and (w_path.exists() or c_path.exists()):
        raise InvalidModelFile(f"A model named {name!r} already exists in {folder}; choose another name or "
                               "overwrite it.")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InvalidModelFile(f"Cannot create the models folder {folder}: {e.strerror}.") from None
    data = state_dict_bytes(module)
    card = {**card, "weights_file": w_path.name, "weights_sha256": sha256_bytes(data)}
    text = json.dumps(card, indent=2, ensure_ascii=False)
    suffix = f".tmp{os.getpid()}-{threading.get_ident()}"
    tmp_w, tmp_c = w_path.with_name(w_path.name + suffix), c_path.with_name(c_path.name + suffix)
    try:
        tmp_w.write_bytes(data)
        tmp_c.write_text(text + "\n", encoding="utf-8")
        c_path.unlink(missing_ok=True)  # a reader never sees the new card with the old weights
        os.replace(tmp_w, w_path)
        os.replace(tmp_c, c_path)
    except OSError as e:
        raise InvalidModelFile(f"Cannot write the model {name!r} into {folder}: {e.strerror}.") from None
    finally:
        tmp_w.unlink(missing_ok=True)
        tmp_c.unlink(missing_ok=True)

    audit("model saved", name=name, task=card.get("task"), overwrite=overwrite, folder=str(folder))
    return c_path


def read_card(path: Path) -> dict:
    """A card file, checked for the fields every card has."""
    try:
        if path.stat().st_size > MAX_CARD_BYTES:
            raise InvalidModelFile(f"{path.name} is larger than {MAX_CARD_BYTES // 2**20} MiB: not a model card.")
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidModelFile(f"No model card {path.name} in {path.parent}.") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise InvalidModelFile(f"{path.name} is not a readable JSON model card ({type(e).__name__}).") from None
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise InvalidModelFile(f"{path.name} is not a prepscope model card (no \"format\": \"{CARD_FORMAT}\").")
    if card.get("task") not in TASKS:
        raise InvalidModelFile(f"{path.name}: unknown task {card.get('task')!r:.40}; known: {', '.join(TASKS)}.")
    if card.get("name") != path.stem:
        raise InvalidModelFile(f"{path.name} describes a model named {card.get('name')!r:.60}, not {path.stem!r}; "
                               "keep a model's two files under the name it was saved with.")
    digest = card.get("weights_sha256")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise InvalidModelFile(f"{path.name} has no valid weights_sha256.")
    return card


@dataclass(frozen=True)
class BrokenModel:
    """A saved model that is listed but never offered for use: its name, its task when its card says, and why."""

    name: str
    task: str | None
    reason: str


def list_models(task: str | None = None, folder: Path | None = None) -> list[dict]:
    """Cards of the intact models in the folder (of one task, if given), newest first: the card reads, its
    weights file exists and matches the card's SHA-256 and is a torch.save archive (with torch already imported,
    the pair also loads into its card's architecture). ``broken_models`` lists the others with the reason."""
    return [card for card in scan_models(folder)[0] if task is None or card["task"] == task]


def broken_models(task: str | None = None, folder: Path | None = None) -> list[BrokenModel]:
    """The models in the folder that ``list_models`` leaves out, each with a sentence saying what is wrong
    (those whose card cannot say its task are listed for every task)."""
    return [b for b in scan_models(folder)[1] if task is None or b.task in (None, task)]


def scan_models(folder: Path | None = None) -> tuple[list[dict], list[BrokenModel]]:
    """(intact cards newest first, broken models by name) in the folder; each pair is checked once per state
    (modification time and size) of its two files."""
    folder = models_dir() if folder is None else folder
    if not folder.is_dir():
        return [], []
    intact, broken = [], []
    names = {p.stem for p in folder.glob("*.json")} | {p.stem for p in folder.glob("*.pt")}
    for name in sorted(names):
        if not NAME_RE.match(name):
            continue
        w_path, c_path = folder / f"{name}.pt", folder / f"{name}.json"
        card, reason = _checked(w_path, c_path)
        if reason is None:
            intact.append((c_path.stat().st_mtime_ns, card))
        else:
            broken.append(BrokenModel(name, card.get("task") if card else None, reason))
    return [card for _, card in sorted(intact, key=lambda t: (-t[0], t[1]["name"]))], broken


def _pair_signature(w_path: Path, c_path: Path) -> tuple:
    out = []
    for f in (w_path, c_path):
        try:
            st = f.stat()
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append(None)
    return tuple(out)


def _checked(w_path: Path, c_path: Path) -> tuple[dict | None, str | None]:
    """(card, None) for an intact pair, (card or None, reason) for a broken one; cached per file state."""
    sig = _pair_signature(w_path, c_path)
    with _LOCK:
        hit = _CHECKED.get(str(c_path))
    if hit is not None and hit[0] == sig:
        return hit[1], hit[2]
    card = None
    try:
        if sig[1] is None:
            raise InvalidModelFile(f"{w_path.name} has no card {c_path.name} beside it (a model is the pair); "
                                   "retrain it or restore the card.")
        card = read_card(c_path)
        if sig[0] is None:
            raise InvalidModelFile(f"The card {c_path.name} has no weights file {w_path.name} beside it; retrain "
                                   "the model or restore its weights.")
        if "torch" in sys.modules:  # loading is cheap once torch is there: check the whole pair (and keep it)
            module, card = _load_pair(w_path, c_path)
            with _LOCK:
                _LOADED[str(w_path)] = (_signature(w_path, c_path), module, card)
        else:  # listing without torch (the sidebar's first paint): digest and archive format
            data = _verified_bytes(w_path, c_path, card)
            if not data.startswith(b"PK\x03\x04"):
                raise InvalidModelFile(_not_torch(w_path.name) if not data.startswith(b"\x80")
                                       else _pickled(w_path.name))
        reason = None
    except InvalidModelFile as e:
        reason = str(e)
    except OSError as e:
        reason = f"{w_path.name} cannot be read ({e.strerror})."
    _remember(w_path, c_path, sig, card, reason)
    return card, reason


def _remember(w_path: Path, c_path: Path, sig: tuple, card: dict | None, reason: str | None) -> None:
    with _LOCK:
        _CHECKED[str(c_path)] = (sig, card, reason)


def model_names(task: str, folder: Path | None = None) -> tuple[str, ...]:
    """Names of the saved models of ``task``, sorted."""
    return tuple(sorted(c["name"] for c in list_models(task, folder)))


def _signature(*files: Path) -> tuple:
    out = []
    for f in files:
        st = f.stat()
        out.append((str(f), st.st_mtime_ns, st.st_size))
    return tuple(out)


_LOCK = threading.Lock()
_LOADED: dict[str, tuple[tuple, nn.Module, dict]] = {}
_DIGESTS: dict[str, tuple[tuple, str]] = {}
#: card path -> (state of the pair, card or None, reason it is broken or None): what ``scan_models`` found
_CHECKED: dict[str, tuple[tuple, dict | None, str | None]] = {}


def weights_digest(name: str, folder: Path | None = None) -> str:
    """The card's weights digest (cheap: cached per card file state), or ``"missing"`` when there is no card.
    Used in cache keys, so results computed with a model are not reused after it is retrained."""
    try:
        _, c_path = paths(name, folder)
        sig = _signature(c_path)
    except (InvalidModelFile, OSError):
        return "missing"
    with _LOCK:
        hit = _DIGESTS.get(str(c_path))
    if hit is not None and hit[0] == sig:
        return hit[1]
    try:
        digest = read_card(c_path)["weights_sha256"]
    except InvalidModelFile:
        digest = "invalid"
    with _LOCK:
        _DIGESTS[str(c_path)] = (sig, digest)
    return digest


def _not_torch(label: str) -> str:
    return (f"{label} is not a file written by torch.save (it is damaged or in another format), so it cannot be "
            "read as a state_dict.")


def _pickled(label: str) -> str:
    return (f"{label} is not a plain state_dict: it holds pickled Python objects, which "
            "torch.load(weights_only=True) refuses to run; save only the tensors, as "
            "torch.save(model.state_dict(), path) does.")


def load_state_dict_bytes(data: bytes, label: str) -> dict[str, torch.Tensor]:
    """A state_dict from bytes, read with ``weights_only=True``; refuses pickles and non-state_dicts."""
    import torch  # noqa: PLC0415 - listing models (the sidebar) needs no torch

    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # PyTorch's own text is a page of advice to load it unsafely: not ours to give
        if not data.startswith((b"PK\x03\x04", b"\x80")):  # neither torch.save's zip nor a pickle
            raise InvalidModelFile(_not_torch(label)) from None
        raise InvalidModelFile(_pickled(label)) from None
    except Exception:  # noqa: BLE001 - any other failure of the safe loader: not a torch.save file at all
        raise InvalidModelFile(_not_torch(label)) from None
    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise InvalidModelFile(f"{label} is not a state_dict (a mapping of parameter names to tensors).")
    return obj


def load(name: str, task: str, folder: Path | None = None) -> tuple[nn.Module, dict]:
    """The saved model ``name`` of ``task`` (in eval mode, shared: do not modify) and its card.

    InvalidModelFile with a sentence for the user when the pair is missing or does not check out."""
    folder = models_dir() if folder is None else folder
    w_path, c_path = paths(name, folder)
    if not c_path.is_file() or not w_path.is_file():
        kind = "learned gray rule" if task == "gray" else "lab denoiser"
        have = ", ".join(model_names(task, folder)) or "none yet"
        raise InvalidModelFile(f"No {kind} named {name!r} in the models folder {folder} (saved {kind}s: {have}); "
                               "train one in the Autoencoder lab or with `python -m core autoencode`, or set "
                               "PREPSCOPE_MODELS_DIR to the folder that holds it.")
    sig = _signature(w_path, c_path)
    with _LOCK:
        hit = _LOADED.get(str(w_path))
    if hit is not None and hit[0] == sig:
        module, card = hit[1], hit[2]
    else:
        try:
            module, card = _load_pair(w_path, c_path)
        except InvalidModelFile as e:  # listed as broken from now on, never offered again in this state
            _remember(w_path, c_path, _pair_signature(w_path, c_path), None, str(e))
            raise
        with _LOCK:
            _LOADED[str(w_path)] = (sig, module, card)
    if card["task"] != task:
        raise InvalidModelFile(f"{name!r} is a {card['task']} model, not a {task} model.")
    return module, card


def _verified_bytes(w_path: Path, c_path: Path, card: dict) -> bytes:
    """The weights file's bytes, refused when too large or when their SHA-256 is not the card's."""
    if w_path.stat().st_size > MAX_WEIGHTS_BYTES:
        raise InvalidModelFile(f"{w_path.name} is larger than {MAX_WEIGHTS_BYTES // 2**20} MiB; not a lab model.")
    data = w_path.read_bytes()
    if sha256_bytes(data) != card["weights_sha256"]:
        raise InvalidModelFile(f"The card {c_path.name} does not match its weights {w_path.name} (their SHA-256 "
                               "differs): one of the two was changed or replaced. Retrain the model or restore "
                               "the pair.")
    return data


def _load_pair(w_path: Path, c_path: Path) -> tuple[nn.Module, dict]:
    card = read_card(c_path)
    data = _verified_bytes(w_path, c_path, card)
    return module_from_state(load_state_dict_bytes(data, w_path.name), card, w_path.name), card


def module_from_state(state: dict[str, torch.Tensor], card: dict, label: str) -> nn.Module:
    """Build the card's architecture and load ``state`` strictly; refuse keys or shapes that differ."""
    from core.learned.nets import build  # noqa: PLC0415 - torch; listing models (the sidebar) needs none

    try:
        module = build(card.get("architecture"))
    except InvalidModelFile:
        raise
    except PrepscopeError as e:
        raise InvalidModelFile(f"{label}: {e}") from None
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    extra = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or extra or wrong:
        detail = "; ".join(f"{what}: {', '.join(keys[:3])}{'…' if len(keys) > 3 else ''}"
                           for what, keys in (("missing", missing), ("unexpected", extra), ("wrong shape", wrong))
                           if keys)
        raise InvalidModelFile(f"{label} does not fit the architecture its card describes "
                               f"({card['architecture'].get('class')}): {detail}.")
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module
