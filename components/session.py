"""The dashboard's session as one typed value, and the URL codec: pure functions, no streamlit.

``Session`` holds everything a browser tab has chosen: the variant set (with a stable id per variant
so editor widgets survive reorders), the model, the input (a bundled sample or an accepted upload)
and page options. ``components.state`` keeps one ``Session`` under one session-state key and mirrors
it into the URL with ``to_params``; a link is read back with ``from_params``. Links are bounded:
a ``v=`` blob is limited in length, decompressed size and nesting depth, and anything malformed
becomes a warning for the user, never an exception.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
import zlib
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image

from core.errors import InvalidVariant, PrepscopeError, page_message
from core.io import load_input
from core.io.synth import SOUND_CLASSES, sample_clip, zone_plate
from core.models import DEFAULT_MODEL, model_names
from core.preprocess.presets import get_preset, matching_preset
from core.preprocess.variant import VariantSet
from core.signal import Signal

DEFAULT_PRESET = "channels"
DEFAULT_SAMPLE = "chelsea"
#: Bundled photos from scikit-image: color, grayscale (camera) and a repetitive texture (brick).
IMAGE_SAMPLES: dict[str, str] = {
    "chelsea": "a cat (color photo)",
    "coffee": "a cup of coffee (color photo)",
    "astronaut": "an astronaut portrait (color photo)",
    "camera": "a cameraman (grayscale photo)",
    "brick": "a brick wall (repetitive grayscale texture)",
    "zoneplate": "a zone plate (rings ever finer outward: aliases visibly when shrunk without antialiasing)",
}
#: Bundled images that are synthesized rather than read from scikit-image.
SYNTH_IMAGES = ("zoneplate",)
SOUND_PREFIX = "sound:"
#: URL keys owned by the shell; page options use the keys of ``PAGE_OPTIONS``.
RESERVED_KEYS = ("sample", "preset", "v", "model", "dropped", "upload")
#: Each page's own switches in the URL, by page (its file name under pages/): a key ending in "_" is a prefix.
#: A page's link carries the shell's keys and its own switches only.
PAGE_OPTIONS: dict[str, tuple[str, ...]] = {
    "compare": ("compare_",),
    "feature_maps": ("fm_",),
    "activations": ("stats_",),
    "audio": ("audio_",),
    "runs": ("run",),
    "check": ("check_",),
    "autoencoder_lab": ("ael_g_source", "ael_g_folder", "ael_g_sub", "ael_g_name", "ael_g_epochs", "ael_g_luma",
                        "ael_g_seed", "ael_s_source", "ael_s_regimes", "ael_s_steps", "ael_s_seed", "ael_s_prefilter"),
}
#: Bounds on a link's variant blob: encoded characters, decompressed bytes, JSON nesting depth.
MAX_LINK_CHARS = 16_384
MAX_LINK_BYTES = 65_536
MAX_LINK_DEPTH = 12
#: A link past Streamlit's query limits is reopened by the shell's browser guard with the keys prepscope uses and one
#: ``dropped`` parameter (JSON: how many were dropped, and the first ``MAX_DROPPED_NAMED`` of their names).
DROPPED_KEY = "dropped"
MAX_DROPPED_NAMED = 2_000


class UnknownSample(PrepscopeError):
    """A sample name (e.g. from a link) that is not bundled."""


def new_uid() -> str:
    return uuid.uuid4().hex[:8]


@dataclass(frozen=True)
class Upload:
    """An accepted upload: its name, decoded signal, the uploader's file id and the token under which the server
    keeps its bytes for this browser (``upload=`` in the address, so a reload of the tab finds it again)."""

    name: str
    signal: Signal
    file_id: str | None = None
    token: str | None = None


#: The Accuracy page's dataset sources and evaluations (its radio and select box offer these, in this order).
ACCURACY_SOURCES = ("Built-in", "Folder under the data root", "Upload a zip")
ACCURACY_EVALUATIONS = ("automatic", "one held-out split", "K-fold cross-validation", "leave one group out")


@dataclass(frozen=True)
class AccuracySettings:
    """What the Accuracy page's settings say, kept for the whole tab (a visit to another page keeps them): the
    dataset (a built-in set, a folder under the data root, or an uploaded zip kept by name and bytes), the label
    pattern, the method, the evaluation (K folds), seed, test fraction, items per class (0 = automatic), the models
    (empty = the sidebar's model) and whether BatchNorm statistics are re-estimated."""

    source: str = ACCURACY_SOURCES[0]
    builtin: str = "digits"
    folder: str | None = None
    pattern: str = ""
    zip_name: str | None = None
    zip_bytes: bytes | None = field(default=None, repr=False)
    method: str = "probe"
    evaluation: str = ACCURACY_EVALUATIONS[0]
    k: int = 10
    seed: int = 0
    test_fraction: float = 0.2
    per_class: int = 0
    models: tuple[str, ...] = ()
    adapt: bool = False


@dataclass(frozen=True)
class AccuracyRun:
    """The Accuracy page's last result (a ``SweepResult`` or, for several models, a ``MultiSweepResult``), the
    settings signature that produced it (a setting that differs marks it out of date) and the zip it read."""

    result: Any
    settings: dict[str, Any]
    zip_bytes: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class CheckRun:
    """The Dataset check page's last report (a ``core.check.report.CheckReport``) and the zip it read."""

    report: Any
    zip_bytes: bytes | None = field(default=None, repr=False)


@dataclass
class JobFollow:
    """A job (``core.jobs``) this tab shows on the page that started or opened it, whether its result has been
    taken into the session (once: a later rerun draws the taken result, not the job's again) and whether the tab
    found it already ended (a reload: the page then takes back the settings that produced it, too)."""

    job_id: int
    handled: bool = False
    restored: bool = False


@dataclass
class LabState:
    """The Autoencoder lab's results in this tab: the learned-gray training, the dataset it used and the probe per
    rule on it; the single-image training and the denoiser saved from it; a stopped training's notice per training
    (``ael_g``, ``ael_s``) and the line of the last "use this" action (``("success" | "error", text)``)."""

    gray_result: Any = None
    gray_dataset: str | None = None
    probe_result: Any = None
    single_result: Any = None
    saved_denoiser: str | None = None
    notices: dict[str, str] = field(default_factory=dict)
    message: tuple[str, str] | None = None


def widget_prefix(uid: str, generation: int = 0) -> str:
    """The key prefix of the variant editor's widgets for variant ``uid`` at widget ``generation``."""
    return f"ve:{uid}:{generation}:"


@dataclass
class EditorState:
    """The variant editor's state in this tab: the selected variant (its uid), the widget generation per variant
    (bumped after a structural edit so its widgets are re-seeded), the refusal to show (``(uid or None, text)``) and
    the last import's refusal."""

    selected: str | None = None
    generations: dict[str, int] = field(default_factory=dict)
    error: tuple[str | None, str] | None = None
    import_error: str | None = None


@dataclass
class Session:
    """One browser tab's choices. ``source`` says which input is current: the sample or the upload."""

    variants: VariantSet
    uids: list[str]
    model: str = DEFAULT_MODEL
    sample: str = DEFAULT_SAMPLE
    source: str = "sample"
    upload: Upload | None = None
    options: dict[str, Any] = field(default_factory=dict)
    url_options: dict[str, str] = field(default_factory=dict)
    accuracy: AccuracySettings = field(default_factory=AccuracySettings)
    #: The Accuracy page's last run (None: none yet, or it was stopped or failed) and the notice it shows above it.
    accuracy_run: AccuracyRun | None = None
    accuracy_notice: str | None = None
    #: The Dataset check page's last report.
    check_run: CheckRun | None = None
    lab: LabState = field(default_factory=LabState)
    #: The job each page follows, by its key (``acc``, ``check``, ``ael_g``, ``ael_p``, ``ael_s``).
    jobs: dict[str, JobFollow] = field(default_factory=dict)
    editor: EditorState = field(default_factory=EditorState)
    #: A guided question's "where to look" explanation and the page it was opened on: shown on that page until
    #: another page is visited.
    guide: tuple[str, str] | None = None

    @classmethod
    def default(cls) -> Session:
        variants = get_preset(DEFAULT_PRESET)
        return cls(variants, [new_uid() for _ in variants])

    def with_variants(self, variants: VariantSet, uids: list[str] | None = None) -> Session:
        """The session with a new variant set; ``uids`` keeps editor identities when editing in place."""
        if uids is None or len(uids) != len(variants) or len(set(uids)) != len(uids):
            uids = [new_uid() for _ in variants]
        return replace(self, variants=variants, uids=list(uids))

    @property
    def input_label(self) -> str:
        """``sample: chelsea`` or ``upload: foo.png``."""
        if self.source == "upload" and self.upload is not None:
            return f"upload: {self.upload.name}"
        return f"sample: {self.sample}"


# ----------------------------------------------------------------------------- samples


def sound_labels() -> list[str]:
    return list(SOUND_CLASSES)


def sample_names() -> list[str]:
    """Bundled inputs: the scikit-image photos, then the synthesized sounds (``sound:<label>``)."""
    return list(IMAGE_SAMPLES) + [SOUND_PREFIX + label for label in sound_labels()]


def sample_description(name: str) -> str:
    """One line saying what a bundled sample is."""
    if name in IMAGE_SAMPLES:
        return IMAGE_SAMPLES[name]
    return f"synthesized sound '{name.removeprefix(SOUND_PREFIX)}'"


def decode_sample(name: str) -> Signal:
    """Decode a bundled sample through the same path as an upload (a photo as PNG bytes; a sound as the
    synthesizer's signal)."""
    if name in IMAGE_SAMPLES:
        import skimage.data

        if name in SYNTH_IMAGES:
            pixels = np.round(zone_plate() * 255).astype(np.uint8)
        else:
            pixels = getattr(skimage.data, name)()
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG")
        return load_input(buf.getvalue(), name=f"{name}.png")
    label = name.removeprefix(SOUND_PREFIX)
    if name.startswith(SOUND_PREFIX) and label in sound_labels():
        return sample_clip(label)
    raise UnknownSample(f"Unknown sample {name!r}; choose one of: {', '.join(sample_names())}.")


# ----------------------------------------------------------------------------- URL codec


def encode_variants(variants: Any) -> dict[str, str]:
    """URL parameters for a variant set: ``{"preset": NAME}`` for an unmodified preset, else ``{"v": blob}``
    where blob is urlsafe base64 (no padding) of the zlib-compressed canonical JSON."""
    variants = VariantSet.of(variants)
    preset = matching_preset(variants)
    if preset is not None:
        return {"preset": preset}
    raw = zlib.compress(variants.to_json().encode("utf-8"), 9)
    return {"v": base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")}


def _depth(obj: Any, limit: int) -> int:
    """Nesting depth of parsed JSON, stopping as soon as it exceeds ``limit``."""
    stack, deepest = [(obj, 1)], 0
    while stack:
        o, d = stack.pop()
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        if isinstance(o, dict):
            stack.extend((v, d + 1) for v in o.values())
        elif isinstance(o, list):
            stack.extend((v, d + 1) for v in o)
    return deepest


def decode_variants(params: dict[str, str]) -> VariantSet | None:
    """Inverse of :func:`encode_variants`; None when neither ``preset`` nor ``v`` is given. Reads the old
    one-string colormap form too. Raises InvalidVariant with a sentence for the user when malformed,
    too long, too large once decompressed, or nested too deeply."""
    if params.get("v"):
        blob = params["v"]
        if len(blob) > MAX_LINK_CHARS:
            raise InvalidVariant(f"The variant set in the link (v=…) is longer than {MAX_LINK_CHARS} characters.")
        try:
            raw = base64.urlsafe_b64decode(blob + "=" * (-len(blob) % 4))
            inflater = zlib.decompressobj()
            text = inflater.decompress(raw, MAX_LINK_BYTES)
            if inflater.unconsumed_tail or not inflater.eof:
                raise InvalidVariant(f"The variant set in the link (v=…) is damaged or larger than "
                                     f"{MAX_LINK_BYTES // 1024} KiB once unpacked.")
            data = json.loads(text.decode("utf-8"))
        except InvalidVariant:
            raise
        except RecursionError:
            raise InvalidVariant("The variant set in the link (v=…) nests too deeply to be a variant set.") from None
        except (ValueError, zlib.error, UnicodeDecodeError):
            raise InvalidVariant("The variant set in the link (v=…) is damaged; it may have been cut off.") from None
        if _depth(data, MAX_LINK_DEPTH) > MAX_LINK_DEPTH:
            raise InvalidVariant("The variant set in the link (v=…) nests too deeply to be a variant set.")
        return VariantSet.from_obj(data)
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


def shown(value: str, limit: int = 40) -> str:
    """A value from a link for a message: quoted, and cut to ``limit`` characters (a link can be huge)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "…" + text[-1]


def option_page(key: str) -> str | None:
    """The page whose switch the URL key ``key`` is (``PAGE_OPTIONS``), or None for no page."""
    for page, keys in PAGE_OPTIONS.items():
        if any(key.startswith(k) if k.endswith("_") else key == k for k in keys):
            return page
    return None


def unknown_keys_message(keys: list[str], why: tuple[str, str], values: dict[str, str] | None = None,
                         more: int = 0) -> str:
    """One sentence naming every one of ``keys`` (each cut to a readable length, with its value from ``values``
    when given) that a link gave and that was dropped, because of ``why`` (its singular and plural forms, e.g.
    ``("that belongs to no page", "that belong to no page")``), and ``more`` dropped keys not named; the count and
    the reason come first, the names last. Linear in the number of keys."""
    many = len(keys) + more > 1
    names = ", ".join(shown(k, 24) + ("" if values is None else "=" + shown(values[k])) for k in keys)
    rest = f", and {more:,} more" if more else ""
    return (f"The link's {f'{len(keys) + more:,} parameters' if many else 'parameter'} {why[many]} "
            f"{'were' if many else 'was'} dropped from the address: {names}{rest}.")


def dropped_message(raw: str) -> str:
    """The message for a link that was past Streamlit's limits (the shell's browser guard reopened it with the keys
    prepscope uses and ``dropped={"n": count, "keys": [names…]}``)."""
    try:
        data = json.loads(raw[: 64 * MAX_DROPPED_NAMED])
        n, keys = int(data["n"]), [str(k) for k in data["keys"]][:MAX_DROPPED_NAMED]
    except (ValueError, TypeError, KeyError):
        return "The link was longer than the dashboard reads; the parameters it could not use were dropped."
    head = "The link had more parameters than the dashboard reads at once; it was opened with the ones prepscope uses. "
    if not keys:
        return head + f"{n:,} parameters were dropped."
    return head + unknown_keys_message(keys, ("that it does not use", "that it does not use"),
                                       more=max(0, n - len(keys)))


def to_params(s: Session, page: str | None = None) -> dict[str, str]:
    """The URL parameters that reproduce a session on ``page`` (a ``PAGE_OPTIONS`` name): the shell's keys and that
    page's own switches only, never another page's (``page`` None: every option). An upload cannot travel: the
    sample is then left out."""
    out: dict[str, str] = {}
    if s.source == "sample":
        out["sample"] = s.sample
    elif s.upload is not None and s.upload.token:
        out["upload"] = s.upload.token
    out.update(encode_variants(s.variants))
    out["model"] = s.model
    options = {**s.url_options, **{k: option_to_url(v) for k, v in s.options.items()}}
    out.update({k: v for k, v in options.items() if page is None or option_page(k) == page})
    return out


def from_params(params: dict[str, str]) -> tuple[Session, list[str]]:
    """A session from a link (defaults for what it does not say) and the warnings for what could not be used."""
    s = Session.default()
    warnings: list[str] = []
    try:
        variants = decode_variants(params)
        if variants is not None:
            s = s.with_variants(variants)
    except PrepscopeError as e:
        warnings.append(f"The link's variant set was not used: {page_message(e)} Showing the '{DEFAULT_PRESET}' "
                        "preset instead.")
    if "model" in params:
        if params["model"] in model_names():  # the built-ins and this server's networks
            s.model = params["model"]
        else:
            warnings.append(f"The link asks for model {shown(params['model'])}, which is not available on this "
                            f"server (a network must be added on the Networks page first; have: "
                            f"{', '.join(model_names())}); using {DEFAULT_MODEL}.")
    if "sample" in params:
        if params["sample"] in sample_names():
            s.sample = params["sample"]
        else:
            warnings.append(f"The link asks for sample {shown(params['sample'])}, which is not bundled; "
                            f"showing {DEFAULT_SAMPLE}.")
    if DROPPED_KEY in params:
        warnings.append(dropped_message(params[DROPPED_KEY]))
    unknown = [k for k in params if k not in RESERVED_KEYS and option_page(k) is None]
    if unknown:
        why = ("that belongs to no page of prepscope", "that belong to no page of prepscope")
        warnings.append(unknown_keys_message(unknown, why))
    s.url_options = {k: v for k, v in params.items() if k not in RESERVED_KEYS and option_page(k) is not None}
    return s, warnings
