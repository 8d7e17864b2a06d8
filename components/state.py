"""Shared dashboard state: the input, the variant set, the model and page options, mirrored in the URL.

Every page reads the current selection through these functions instead of touching
``st.session_state`` directly. The session state is the truth within a browser session; the URL
(``st.query_params``) mirrors it after every run so a copied link reproduces the view, and on the
first run of a session the URL wins over the defaults. Encoding of the URL lives in pure helpers
(:func:`encode_variants`, :func:`decode_variants`, :func:`coerce_option`) that tests call directly.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from core.errors import InvalidVariant, PrepscopeError, UnknownModel
from core.preprocess.presets import get_preset, preset_names
from core.preprocess.variant import MAX_VARIANTS, Variant, variants_from_obj, variants_to_dict
from core.signal import Signal

if TYPE_CHECKING:
    from core.inspect.engine import InspectResult
    from core.models import LoadedModel

DEFAULT_MODEL = "efficientnet_lite0"
DEFAULT_PRESET = "channels"
DEFAULT_SAMPLE = "chelsea"
#: Bundled photos from scikit-image: color, grayscale (camera) and a repetitive texture (brick).
IMAGE_SAMPLES: dict[str, str] = {
    "chelsea": "a cat (color photo)",
    "coffee": "a cup of coffee (color photo)",
    "astronaut": "an astronaut portrait (color photo)",
    "camera": "a cameraman (grayscale photo)",
    "brick": "a brick wall (repetitive grayscale texture)",
}
SOUND_PREFIX = "sound:"
#: URL keys owned by the shell; page options may use any other key.
RESERVED_KEYS = ("sample", "preset", "v", "model")

class UnknownSample(PrepscopeError):
    """A sample name (e.g. from a link) that is not bundled."""


_K_INIT = "ps_init"
_K_VARIANTS = "ps_variants"
_K_UIDS = "ps_variant_uids"
_K_MODEL = "ps_model"
_K_SAMPLE = "ps_sample"
_K_SOURCE = "ps_source"
_K_UPLOAD = "ps_upload"
_K_OPTS = "ps_page_opts"
_K_URL_OPTS = "ps_url_opts"
_K_WARN = "ps_url_warnings"


# ----------------------------------------------------------------------------- pure helpers


def _canonical(variants: Sequence[Variant]) -> str:
    return json.dumps(variants_to_dict(list(variants)), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def variants_key(variants: Sequence[Variant]) -> str:
    """Canonical JSON of a variant set (names included): the cache key and the equality test for presets."""
    return _canonical(variants)


def matching_preset(variants: Sequence[Variant]) -> str | None:
    """The name of the preset this variant set equals exactly (order and names included), or None."""
    key = _canonical(variants)
    for name in preset_names():
        if _canonical(get_preset(name)) == key:
            return name
    return None


def encode_variants(variants: Sequence[Variant]) -> dict[str, str]:
    """URL parameters for a variant set: ``{"preset": NAME}`` for an unmodified preset, else ``{"v": blob}``
    where blob is urlsafe base64 (no padding) of the zlib-compressed canonical JSON."""
    preset = matching_preset(variants)
    if preset is not None:
        return {"preset": preset}
    raw = zlib.compress(_canonical(variants).encode("utf-8"), 9)
    return {"v": base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")}


def decode_variants(params: dict[str, str]) -> list[Variant] | None:
    """Inverse of :func:`encode_variants`; None when neither ``preset`` nor ``v`` is given.

    Raises InvalidVariant with a user-facing sentence when the parameter is malformed.
    """
    if params.get("v"):
        blob = params["v"]
        try:
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
            text = zlib.decompress(raw, bufsize=1 << 16).decode("utf-8")
        except (ValueError, zlib.error, UnicodeDecodeError):
            raise InvalidVariant("The variant set in the link (v=…) is damaged; it may have been cut off.") from None
        try:
            data = json.loads(text)
        except ValueError:
            raise InvalidVariant("The variant set in the link (v=…) is not valid JSON.") from None
        return variants_from_obj(data)
    if params.get("preset"):
        return get_preset(params["preset"])
    return None


def option_to_url(value: Any) -> str:
    """How a page option value is written into the URL."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (list, tuple)):
        return ",".join(str(x) for x in value)
    return str(value)


def coerce_option(raw: str, default: Any) -> Any:
    """Parse a page option read from the URL into the type of ``default``; raises ValueError when impossible."""
    if isinstance(default, bool):
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(raw)
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        value = float(raw)
        if value != value:
            raise ValueError(raw)
        return value
    if isinstance(default, (list, tuple)):
        items = [x for x in raw.split(",") if x != ""]
        if default:
            items = [coerce_option(x, default[0]) for x in items]
        return type(default)(items)
    return raw


def sample_names() -> list[str]:
    """Bundled inputs: the scikit-image photos, then the synthesized sounds (``sound:<label>``) when available."""
    return list(IMAGE_SAMPLES) + [SOUND_PREFIX + label for label in _sound_labels()]


def sample_description(name: str) -> str:
    """One line saying what a bundled sample is."""
    if name in IMAGE_SAMPLES:
        return IMAGE_SAMPLES[name]
    return f"synthesized sound '{name.removeprefix(SOUND_PREFIX)}'"


def _sound_labels() -> list[str]:
    try:
        from core.io import synth
    except ImportError:
        return []
    for attr in ("SOUND_CLASSES", "SAMPLE_LABELS", "LABELS"):
        labels = getattr(synth, attr, None)
        if labels:
            return [str(x) for x in labels]
    names = getattr(synth, "sample_labels", None) or getattr(synth, "labels", None)
    return [str(x) for x in names()] if callable(names) else []


def _png_bytes(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


@st.cache_resource(show_spinner=False, max_entries=32)
def load_sample(name: str) -> Signal:
    """Decode a bundled sample through the same path as an upload (shared, read-only across sessions)."""
    from core.io import load_input

    if name in IMAGE_SAMPLES:
        import skimage.data

        return load_input(_png_bytes(getattr(skimage.data, name)()), name=f"{name}.png")
    if name.startswith(SOUND_PREFIX) and name.removeprefix(SOUND_PREFIX) in _sound_labels():
        from core.io import synth

        clip = synth.sample_clip(name.removeprefix(SOUND_PREFIX))
        if isinstance(clip, Signal):
            return clip
        if isinstance(clip, (bytes, bytearray)):
            return load_input(bytes(clip), name=f"{name.removeprefix(SOUND_PREFIX)}.wav")
        wave, sr = clip
        import soundfile

        buf = io.BytesIO()
        soundfile.write(buf, np.asarray(wave, dtype=np.float32), int(sr), format="WAV", subtype="PCM_16")
        return load_input(buf.getvalue(), name=f"{name.removeprefix(SOUND_PREFIX)}.wav")
    raise UnknownSample(f"Unknown sample {name!r}; choose one of: {', '.join(sample_names())}.")


def _new_uid() -> str:
    return uuid.uuid4().hex[:8]


def _model_names() -> list[str]:
    from core.models import model_names

    return list(model_names())


def _check_variants(variants: Sequence[Variant]) -> list[Variant]:
    variants = list(variants)
    if not variants:
        raise InvalidVariant("Keep at least one variant: the first one is the reference.")
    if len(variants) > MAX_VARIANTS:
        raise InvalidVariant(f"At most {MAX_VARIANTS} variants at once; got {len(variants)}.")
    for v in variants:
        if not isinstance(v, Variant):
            raise InvalidVariant(f"Not a Variant: {v!r}.")
    names = [v.name for v in variants]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise InvalidVariant(f"Variant names must be unique; repeated: {', '.join(dup)}.")
    return variants


# ----------------------------------------------------------------------------- session state


def init_state() -> None:
    """Idempotent: on a session's first run set the defaults and then apply the URL; every run re-mirrors the URL.

    Invalid URL parameters are reported with ``st.warning`` (once) and replaced by the defaults.
    """
    ss = st.session_state
    if not ss.get(_K_INIT):
        ss[_K_VARIANTS] = get_preset(DEFAULT_PRESET)
        ss[_K_UIDS] = [_new_uid() for _ in ss[_K_VARIANTS]]
        ss[_K_MODEL] = DEFAULT_MODEL
        ss[_K_SAMPLE] = DEFAULT_SAMPLE
        ss[_K_SOURCE] = "sample"
        ss[_K_UPLOAD] = None
        ss[_K_OPTS] = {}
        ss[_K_URL_OPTS] = {}
        ss[_K_WARN] = warnings = _apply_url(dict(st.query_params.to_dict()))
        ss[_K_INIT] = True
        for msg in warnings:
            st.warning(msg, icon=":material/link_off:")
    sync_url()


def _apply_url(params: dict[str, str]) -> list[str]:
    ss = st.session_state
    warnings: list[str] = []
    try:
        variants = decode_variants(params)
        if variants is not None:
            ss[_K_VARIANTS] = _check_variants(variants)
            ss[_K_UIDS] = [_new_uid() for _ in variants]
    except PrepscopeError as e:
        warnings.append(f"The link's variant set was not used: {e} Showing the '{DEFAULT_PRESET}' preset instead.")
    if "model" in params:
        try:
            names = _model_names()
        except ImportError:
            names = [DEFAULT_MODEL]
        if params["model"] in names:
            ss[_K_MODEL] = params["model"]
        else:
            warnings.append(
                f"The link asks for model {params['model']!r}, which is not available "
                f"({', '.join(names)}); using {DEFAULT_MODEL}."
            )
    if "sample" in params:
        if params["sample"] in sample_names():
            ss[_K_SAMPLE] = params["sample"]
        else:
            warnings.append(
                f"The link asks for sample {params['sample']!r}, which is not bundled; showing {DEFAULT_SAMPLE}."
            )
    ss[_K_URL_OPTS] = {k: v for k, v in params.items() if k not in RESERVED_KEYS}
    return warnings


def url_warnings() -> list[str]:
    """Warnings produced when this session's link was read (empty when the link was fine)."""
    return list(st.session_state.get(_K_WARN, []))


def url_params() -> dict[str, str]:
    """The URL parameters that reproduce the current state (uploads cannot be carried; the sample is then left out)."""
    ss = st.session_state
    out: dict[str, str] = {}
    if ss.get(_K_SOURCE, "sample") == "sample":
        out["sample"] = ss.get(_K_SAMPLE, DEFAULT_SAMPLE)
    out.update(encode_variants(ss.get(_K_VARIANTS) or get_preset(DEFAULT_PRESET)))
    out["model"] = ss.get(_K_MODEL, DEFAULT_MODEL)
    out.update(ss.get(_K_URL_OPTS, {}))
    out.update({k: option_to_url(v) for k, v in ss.get(_K_OPTS, {}).items()})
    return out


def sync_url() -> None:
    """Write the state into ``st.query_params``, touching only the keys the dashboard manages."""
    desired = url_params()
    managed = set(RESERVED_KEYS) | set(st.session_state.get(_K_OPTS, {})) | set(desired)
    current = st.query_params.to_dict()
    changes = {k: v for k, v in desired.items() if current.get(k) != v}
    if changes:
        st.query_params.update(changes)
    for k in managed:
        if k in current and k not in desired:
            del st.query_params[k]


def _ensure() -> None:
    if not st.session_state.get(_K_INIT):
        init_state()


def get_variants() -> list[Variant]:
    """The current variant set (a fresh list); the first is the reference. Default: the 'channels' preset."""
    _ensure()
    return list(st.session_state[_K_VARIANTS])


def variant_uids() -> list[str]:
    """Stable ids of the current variants (same order), used to key editor widgets across reorders."""
    _ensure()
    ss = st.session_state
    if len(ss[_K_UIDS]) != len(ss[_K_VARIANTS]):
        ss[_K_UIDS] = [_new_uid() for _ in ss[_K_VARIANTS]]
    return list(ss[_K_UIDS])


def set_variants(variants: list[Variant], uids: list[str] | None = None) -> None:
    """Replace the variant set after validation (1..16 variants, unique names) and update the URL.

    Raises InvalidVariant (state unchanged) when the set is not acceptable. ``uids`` keeps editor
    widget identities when the caller edits in place; by default every variant gets a fresh id.
    """
    _ensure()
    variants = _check_variants(variants)
    if uids is None or len(uids) != len(variants) or len(set(uids)) != len(uids):
        uids = [_new_uid() for _ in variants]
    st.session_state[_K_VARIANTS] = variants
    st.session_state[_K_UIDS] = list(uids)
    sync_url()


def get_model_name() -> str:
    """The registry name of the chosen model (default efficientnet_lite0)."""
    _ensure()
    return str(st.session_state[_K_MODEL])


def set_model_name(name: str) -> None:
    """Choose the model; raises UnknownModel for a name the registry does not know."""
    _ensure()
    names = _model_names()
    if name not in names:
        raise UnknownModel(f"Unknown model {name!r}; choose one of: {', '.join(names)}.")
    st.session_state[_K_MODEL] = name
    sync_url()


@st.cache_resource(show_spinner="Loading the model…")
def _load_model(name: str) -> LoadedModel:
    from core.models import load_model

    return load_model(name)


def get_model() -> LoadedModel:
    """The chosen model, loaded once per server process (shared read-only; the engine holds its lock)."""
    return _load_model(get_model_name())


def get_sample_name() -> str:
    """The chosen bundled sample (kept even while an upload is the current input)."""
    _ensure()
    return str(st.session_state[_K_SAMPLE])


def set_sample(name: str) -> None:
    """Make a bundled sample the current input; raises UnknownSample for a name that is not bundled."""
    _ensure()
    if name not in sample_names():
        raise UnknownSample(f"Unknown sample {name!r}; choose one of: {', '.join(sample_names())}.")
    st.session_state[_K_SAMPLE] = name
    st.session_state[_K_SOURCE] = "sample"
    sync_url()


def handle_upload(name: str, data: bytes, file_id: str | None = None) -> str | None:
    """Decode an uploaded file and make it the current input; return None on success or the user-facing
    error message when the engine refuses it (the previous input then stays current)."""
    _ensure()
    from core.io import load_input

    try:
        signal = load_input(bytes(data), name=name)
    except PrepscopeError as e:
        return str(e)
    st.session_state[_K_UPLOAD] = {"name": name, "signal": signal, "file_id": file_id}
    st.session_state[_K_SOURCE] = "upload"
    sync_url()
    return None


def uploaded_name() -> str | None:
    """File name of the accepted upload held in this session, or None."""
    _ensure()
    up = st.session_state.get(_K_UPLOAD)
    return None if up is None else str(up["name"])


def uploaded_file_id() -> str | None:
    """Uploader file id of the accepted upload (to tell a new upload from the one already decoded)."""
    _ensure()
    up = st.session_state.get(_K_UPLOAD)
    return None if up is None else up.get("file_id")


def input_source() -> str:
    """``"sample"`` or ``"upload"``: where the current input comes from."""
    _ensure()
    return str(st.session_state[_K_SOURCE])


def use_sample_input() -> None:
    """Go back from an upload to the chosen bundled sample."""
    _ensure()
    st.session_state[_K_SOURCE] = "sample"
    sync_url()


def get_signal() -> Signal:
    """The current input: the accepted upload, or the chosen bundled sample (default chelsea)."""
    _ensure()
    ss = st.session_state
    if ss[_K_SOURCE] == "upload" and ss.get(_K_UPLOAD):
        return ss[_K_UPLOAD]["signal"]
    return load_sample(ss[_K_SAMPLE])


def get_input_label() -> str:
    """A short label of the current input, e.g. ``sample: chelsea`` or ``upload: foo.png``."""
    _ensure()
    ss = st.session_state
    if ss[_K_SOURCE] == "upload" and ss.get(_K_UPLOAD):
        return f"upload: {ss[_K_UPLOAD]['name']}"
    return f"sample: {ss[_K_SAMPLE]}"


def get_page_option(key: str, default: Any) -> Any:
    """A page option (e.g. layer, topk): the value set this session, else the link's value coerced to
    ``default``'s type, else ``default``. A link value that cannot be read gives a warning and the default."""
    _ensure()
    ss = st.session_state
    opts = ss[_K_OPTS]
    if key in opts:
        return opts[key]
    url_opts = ss[_K_URL_OPTS]
    if key in url_opts:
        raw = url_opts.pop(key)
        try:
            value = coerce_option(raw, default) if default is not None else raw
        except ValueError:
            st.warning(f"The link's option {key}={raw!r} could not be read; using {default!r}.")
            sync_url()
            return default
        opts[key] = value
        return value
    return default


def set_page_option(key: str, value: Any) -> None:
    """Set a page option for this session and mirror it in the URL."""
    _ensure()
    if key in RESERVED_KEYS:
        raise ValueError(f"{key!r} is reserved for the dashboard's own URL state")
    st.session_state[_K_OPTS][key] = value
    st.session_state[_K_URL_OPTS].pop(key, None)
    sync_url()


# ----------------------------------------------------------------------------- engine calls


@st.cache_resource(show_spinner=False)
def _run_cache():  # noqa: ANN202 - RunCache comes from the engine module, imported lazily
    from core.inspect.engine import RunCache

    return RunCache(max_entries=64)


class _Miss(Exception):
    """Raised inside the cached function to detect a cache miss without computing."""


@st.cache_data(max_entries=16, show_spinner=False)
def _cached_inspect(digest: str, variants_json: str, model_name: str, _job: Any) -> InspectResult:
    if _job is None:
        raise _Miss
    return _job()


def run_inspect(signal: Signal | None = None, variants: list[Variant] | None = None) -> InspectResult:
    """Run the engine on ``signal`` (default: current input) and ``variants`` (default: current set).

    Results are cached by (signal digest, canonical variants JSON, model name) with ``st.cache_data``
    (16 entries); below it the engine's RunCache (64 per-variant runs, shared across sessions) makes an
    edit of one variant recompute only that variant. A ``st.status`` reports progress while computing.
    Raises PrepscopeError subclasses with user-facing messages.
    """
    from core.inspect.engine import inspect

    signal = get_signal() if signal is None else signal
    variants = get_variants() if variants is None else _check_variants(variants)
    model_name = get_model_name()
    key = (signal.digest, _canonical(variants), model_name)
    try:
        return _cached_inspect(*key, None)
    except _Miss:
        pass
    model = get_model()
    n = len(variants)
    with st.status(f"Running {model_name} on {n} variant{'s' * (n != 1)}…", expanded=False) as status:

        def progress(fraction: float, message: str) -> None:
            status.update(label=f"{message} ({100 * min(max(fraction, 0.0), 1.0):.0f}%)")

        def job() -> InspectResult:
            return inspect(signal, variants, model, cache=_run_cache(), progress=progress)

        result = _cached_inspect(*key, job)
        status.update(label=f"Computed {n} variant{'s' * (n != 1)} in {result.seconds:.1f} s", state="complete")
    return result
