"""The dashboard's state in streamlit: one ``Session`` under one session-state key, mirrored in the URL.

Pages read ``session()`` and change it only through the setters below, which validate and then
re-mirror the URL (``components.session.to_params``), so a copied link reproduces the view. On a
tab's first run the link wins over the defaults (``from_params``); what it holds that cannot be
used is shown once as a warning. Engine results come from one cache: the engine's ``RunCache`` per
model, held in ``st.cache_resource`` (shared by every session, read-only).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import streamlit as st

from components.session import (
    Session,
    UnknownSample,
    Upload,
    coerce_option,
    decode_sample,
    from_params,
    option_page,
    sample_names,
    shown,
    to_params,
    unknown_keys_message,
)
from components.text import md
from core.errors import PrepscopeError, UnknownModel, page_message
from core.io import load_input
from core.models import model_names
from core.preprocess.variant import VariantSet
from core.signal import Signal

if TYPE_CHECKING:
    from core.inspect.engine import InspectResult, RunCache
    from core.models import LoadedModel

_KEY = "prepscope_session"
_PAGE = "prepscope_page"


def session() -> Session:
    """This tab's session; created from the link (or the defaults) on first use."""
    ss = st.session_state
    if _KEY not in ss:
        params = st.query_params.to_dict()
        s, warnings = from_params(params)
        ss[_KEY] = s
        if params.get("upload"):
            note = _restore_kept_upload(s, params["upload"])
            if note:
                warnings.append(note)
        if warnings:
            show_link_notes(warnings)
    return ss[_KEY]


#: A link message longer than this is shown shortened, with the whole text in an expander below it.
LONG_NOTE = 600


def show_link_notes(warnings: list[str]) -> None:
    """One warning for everything the link held that cannot be used; a message that names hundreds of parameters is
    cut at ``LONG_NOTE`` characters there, and the whole of it is in an expander under the warning."""
    long = [msg for msg in warnings if len(msg) > LONG_NOTE]
    short = [msg if len(msg) <= LONG_NOTE else msg[:LONG_NOTE].rsplit(", ", 1)[0] + ", … (every name is listed "
             "under “Everything the link could not use”)." for msg in warnings]
    st.warning("  \n".join(md(msg) for msg in short), icon=":material/link_off:")
    if long:
        with st.expander("Everything the link could not use"):
            st.text("\n\n".join(long))


def current_page() -> str | None:
    """The page this run shows (its file name under pages/, e.g. ``compare``), set by the shell; None outside it."""
    return st.session_state.get(_PAGE)


def link_params() -> dict[str, str]:
    """The URL parameters of the current view: the shell's keys and the current page's own switches."""
    return to_params(session(), current_page())


def page_link() -> str:
    """The full link of the current view (the browser's address without its query, plus ``link_params``); only
    the query when the address is unknown (outside a browser)."""
    try:
        base = st.context.url or ""
    except Exception:  # noqa: BLE001 - no browser context (bare scripts, AppTest)
        base = ""
    return f"{base}?{urlencode(link_params())}"


def sync_url() -> None:
    """Write the session into ``st.query_params``: the shell's keys and the current page's switches; every other
    key (another page's switches, a key no page uses) is removed. One rewrite of the whole query, only when it
    differs: each write is one message to the browser (and, without the shell's history guard, one history
    entry), so a link with thousands of keys costs one rewrite, not one per key."""
    desired = link_params()
    if st.query_params.to_dict() != desired:
        st.query_params.from_dict(desired)


def set_variants(variants: Any, uids: list[str] | None = None) -> None:
    """Replace the variant set (validated as a VariantSet: 1..16 variants, unique names) and update the URL.
    Raises InvalidVariant (state unchanged) when the set is not acceptable."""
    st.session_state[_KEY] = session().with_variants(VariantSet.of(variants), uids)
    sync_url()


def set_accuracy(**changes: Any) -> None:
    """Change the Accuracy page's settings (``AccuracySettings`` fields) for the rest of this tab's session."""
    s = session()
    s.accuracy = replace(s.accuracy, **changes)


def _store_accuracy(field: str, key: str) -> None:
    value = st.session_state.get(key)
    if field == "models":
        current = session().model
        value = () if not value or list(value) == [current] else tuple(value)  # () follows the sidebar's model
    set_accuracy(**{field: value})


def accuracy_widget(field: str, key: str, options: Any = None) -> dict[str, Any]:
    """Widget arguments that draw widget ``key`` from the settings' ``field`` and write it back when the user changes
    it (a value a select box does not offer is left to the widget's default)."""
    value = getattr(session().accuracy, field)
    if field == "models":
        value = list(value) or [session().model]
    if options is None or value in list(options):
        st.session_state[key] = value
    return {"key": key, "on_change": _store_accuracy, "args": (field, key)}


def set_guide(page: str, text: str) -> None:
    """Show ``text`` (a guided question's explanation) on ``page`` (a ``PAGE_OPTIONS`` name) until another page
    is visited."""
    session().guide = (page, text)


def current_guide() -> str | None:
    """The explanation to show on the current page, or None; forgets it once another page is shown."""
    s = session()
    if s.guide is None:
        return None
    if s.guide[0] != current_page():
        s.guide = None
        return None
    return s.guide[1]


def set_model(name: str) -> None:
    """Choose the model; raises UnknownModel for a name the registry does not know."""
    if name not in model_names():
        raise UnknownModel(f"Unknown model {name!r}; choose one of: {', '.join(model_names())}.")
    session().model = name
    sync_url()


# ----------------------------------------------------------------------------- the model, loaded in the background
#
# Building a model takes seconds; nothing on the shell or the Start page needs it, so the shell starts loading it in
# a background thread (``preload_model``) and draws at once; a page that needs numbers waits for it (``get_model``).
# Loads are serialized by one lock (the registry's own cache is not thread-safe for a first load).

_LOAD_LOCK = threading.Lock()
_READY: set[str] = set()
_STARTED: set[str] = set()


def _load(name: str) -> LoadedModel:
    with _LOAD_LOCK:  # the import too: two threads importing torchvision at once can see it half initialized
        from core.models import load_model  # noqa: PLC0415 - imports torch: the first call runs in preload_model's thread

        model = load_model(name)
    _READY.add(name)
    return model


_TORCH_IMPORTED = threading.Event()


def import_torch() -> None:
    """Import torch and torchvision under the load lock, once per server process. A page whose modules import them
    while the background load is importing them too can see torchvision half initialized (``ImportError: cannot
    import name 'InterpolationMode' from partially initialized module``); the shell calls this before every page
    but Start, so the first import is never concurrent (at worst the page waits for the background load)."""
    if _TORCH_IMPORTED.is_set():
        return
    with _LOAD_LOCK:
        import torchvision  # noqa: F401, PLC0415 - the point of this function: imported once, under the lock

    _TORCH_IMPORTED.set()


def preload_model(name: str) -> None:
    """Start loading model ``name`` in a background thread (once per server process); returns at once."""
    if name in _STARTED or name not in model_names():
        return
    _STARTED.add(name)

    def job() -> None:
        try:
            _load(name)
        except Exception:  # noqa: BLE001 - reported by get_model when a page asks for the model
            _STARTED.discard(name)

    threading.Thread(target=job, name=f"prepscope-load-{name}", daemon=True).start()


def model_ready(name: str) -> bool:
    """Whether model ``name`` is loaded in this server process."""
    return name in _READY


def get_model() -> LoadedModel:
    """The chosen model, built once per server process by the registry (shared read-only); waits for a load
    in progress, with a visible spinner when it is not ready yet."""
    name = session().model
    if model_ready(name):
        return _load(name)
    with st.spinner(f"Loading {name}…", show_time=True):
        return _load(name)


def set_sample(name: str) -> None:
    """Make a bundled sample the current input. The upload no longer claims it: every uploader is emptied
    (a new widget generation), so a file still shown in an uploader cannot take the input back later."""
    if name not in sample_names():
        raise UnknownSample(f"Unknown sample {name!r}; choose one of: {', '.join(sample_names())}.")
    s = session()
    s.sample, s.source = name, "sample"
    _clear_uploaders()
    sync_url()


def use_sample_input() -> None:
    """Go back from an upload to the chosen bundled sample (the uploaders are emptied, as for ``set_sample``)."""
    session().source = "sample"
    _clear_uploaders()
    sync_url()


def handle_upload(name: str, data: bytes, file_id: str | None = None) -> str | None:
    """Decode an uploaded file and make it the current input; return None on success or the user-facing
    error message when the engine refuses it (the previous input then stays current)."""
    try:
        signal = load_input(bytes(data), name=name)
    except PrepscopeError as e:
        return page_message(e)
    s = session()
    s.upload, s.source = Upload(name, signal, file_id, _keep_upload(name, bytes(data))), "upload"
    sync_url()
    return None


# ----------------------------------------------------------------------------- uploads kept across a reload
#
# A reload starts a new Streamlit session: the tab's state is gone and the uploader is empty. The server keeps each
# accepted upload's bytes (in memory, bounded) under a random token that the address carries (``upload=``), bound
# to the browser that uploaded it (a hash of its XSRF cookie, which the browser keeps across reloads); the new
# session decodes it again. A copied link opened in another browser does not get the file: it gets a message and
# the bundled sample.

#: At most this many bytes of uploads are kept per server process (the oldest go first) and for this long.
KEPT_UPLOAD_BYTES = 256 * 1024 * 1024
KEPT_UPLOAD_SECONDS = 12 * 3600
_KEPT_LOCK = threading.Lock()


@st.cache_resource(show_spinner=False)
def _kept_uploads() -> dict[str, tuple[str, str, bytes, float]]:
    """token -> (browser, name, bytes, time kept), oldest first; shared by the sessions of this server process."""
    return {}


def browser_id() -> str | None:
    """This browser's identity: a hash of the token in its XSRF cookie (None without one, e.g. XSRF protection
    switched off). The cookie (tornado's ``2|mask|masked token|time``) is masked anew on each page load; the token
    under the mask stays the browser's."""
    try:
        cookie = st.context.cookies.get("_streamlit_xsrf")
    except Exception:  # noqa: BLE001 - no browser context (AppTest, bare scripts)
        cookie = None
    if not isinstance(cookie, str) or not cookie:  # AppTest's context answers with a mock
        return None
    parts = cookie.split("|")
    try:
        mask, masked = bytes.fromhex(parts[1]), bytes.fromhex(parts[2])
        token = bytes(b ^ mask[i % len(mask)] for i, b in enumerate(masked)) if parts[0] == "2" and mask else b""
    except (IndexError, ValueError):
        token = b""
    return hashlib.sha256(token or cookie.encode("utf-8")).hexdigest()


def _keep_upload(name: str, data: bytes) -> str | None:
    """Keep an accepted upload's bytes for a reload of this browser's tab; its token, or None when it cannot be kept
    (no browser identity, or larger than the whole store)."""
    browser = browser_id()
    if browser is None or len(data) > KEPT_UPLOAD_BYTES:
        return None
    token = secrets.token_urlsafe(16)
    kept = _kept_uploads()
    with _KEPT_LOCK:
        kept[token] = (browser, name, data, time.time())
        total = sum(len(v[2]) for v in kept.values())
        for old in list(kept):
            if total <= KEPT_UPLOAD_BYTES and time.time() - kept[old][3] <= KEPT_UPLOAD_SECONDS:
                break
            total -= len(kept.pop(old)[2])
    return token


def _restore_kept_upload(s: Session, token: str) -> str | None:
    """On a tab's first run with ``upload=token`` in the address: make the kept upload the input again (this browser's
    only); returns the message when it cannot be (the sample is then the input), or None."""
    kept = _kept_uploads().get(token)
    browser = browser_id()
    if kept is None or browser is None or kept[0] != browser:
        where = "was uploaded in another browser" if kept is not None else "is no longer kept by the server"
        return (f"This address names an uploaded file that {where}: an uploaded file cannot travel in a link, so the "
                f"bundled sample '{s.sample}' is shown; upload the file again to use it.")
    _, name, data, _ = kept
    try:
        signal = load_input(data, name=name)
    except PrepscopeError as e:
        return f"The upload {name} could not be restored: {page_message(e)}"
    s.upload, s.source = Upload(name, signal, None, token), "upload"
    return None


# ----------------------------------------------------------------------------- uploaders
#
# An uploader's file is read on every run (not in an on_change callback, which Streamlit can drop when an upload
# and a page switch arrive together, or replay after a page switch): a file id not seen before is decoded once;
# a file id already handled changes nothing, so the input is whatever the user chose last. Choosing a sample
# empties the uploaders by moving them to a new key generation.
#
# Choosing a second file in a single-file uploader reaches the server as two runs: first the uploader empty (the
# front end removes the old file before the new one has arrived), then the new file. The empty run therefore
# never moves the uploader to a new generation (that would drop the file on its way); it goes back to the sample,
# as a removal with the × does, and remembers the removed upload for a short while: a refused file arriving next
# in the same uploader gives that upload back, so a refused replacement keeps the previous input.

_UPLOAD_GEN = "prepscope_upload_gen"
_UPLOAD_SEEN = "prepscope_upload_seen"
_UPLOAD_LAST = "prepscope_upload_last"
_UPLOAD_REPLACED = "prepscope_upload_replaced"
#: How long after an upload left its uploader a refused file in the same uploader still counts as its replacement.
REPLACE_WINDOW_S = 120.0


def _clear_uploaders() -> None:
    st.session_state[_UPLOAD_GEN] = st.session_state.get(_UPLOAD_GEN, 0) + 1
    st.session_state.pop(_UPLOAD_REPLACED, None)


def uploader_key(base: str) -> str:
    """The widget key of an input uploader (``sb_upload``, ``audio_upload``) in the current generation."""
    return f"{base}_{st.session_state.get(_UPLOAD_GEN, 0)}"


def _uploader_emptied(key: str, removed: str | None) -> None:
    """The uploader ``key`` lost its file ``removed``: when that file is the input, go back to the sample (the
    uploader keeps its key) and remember the upload in case a refused replacement follows."""
    s = session()
    if removed is None or s.source != "upload" or s.upload is None or s.upload.file_id != removed:
        return
    s.source = "sample"
    st.session_state[_UPLOAD_REPLACED] = (key, s.upload, time.monotonic())
    sync_url()


def _restore_replaced(key: str) -> None:
    """After a refused file in uploader ``key``: give back the upload it replaced (see above), if nothing else was
    chosen since."""
    replaced = st.session_state.pop(_UPLOAD_REPLACED, None)
    if replaced is None:
        return
    where, upload, when = replaced
    s = session()
    if where == key and s.source == "sample" and time.monotonic() - when <= REPLACE_WINDOW_S:
        s.upload, s.source = upload, "upload"
        sync_url()


def take_upload(key: str) -> str | None:
    """Read the uploader with widget key ``key`` (from ``uploader_key``) after it was drawn: a new file becomes
    the input (or is refused with a message, the previous input staying); removing the file that is the input
    goes back to the sample. Returns the message for the file the uploader holds (``"name: reason"``), or None."""
    ss = st.session_state
    up = ss.get(key)
    seen: dict[str, str | None] = ss.setdefault(_UPLOAD_SEEN, {})
    last: dict[str, str | None] = ss.setdefault(_UPLOAD_LAST, {})
    if up is None:
        _uploader_emptied(key, last.pop(key, None))
        return None
    last[key] = up.file_id
    if up.file_id not in seen:
        err = handle_upload(up.name, up.getvalue(), up.file_id)
        if err is None:
            ss.pop(_UPLOAD_REPLACED, None)
            seen[up.file_id] = None
        else:
            _restore_replaced(key)
            seen[up.file_id] = f"{up.name}: {err} The input stays {session().input_label}."
    return seen[up.file_id]


@st.cache_resource(show_spinner=False, max_entries=32)
def load_sample(name: str) -> Signal:
    """A bundled sample, decoded once per server process (shared, read-only across sessions)."""
    return decode_sample(name)


def get_signal() -> Signal:
    """The current input: the accepted upload, or the chosen bundled sample."""
    s = session()
    if s.source == "upload" and s.upload is not None:
        return s.upload.signal
    return load_sample(s.sample)


def get_page_option(key: str, default: Any) -> Any:
    """A page option (e.g. layer, topk): the value set this session, else the link's value coerced to
    ``default``'s type, else ``default``. A link value that cannot be read gives a warning and the default."""
    s = session()
    if key in s.options:
        return s.options[key]
    if key in s.url_options:
        raw = s.url_options.pop(key)
        try:
            value = coerce_option(raw, default) if default is not None else raw
        except ValueError:
            st.warning(md(f"The link's option {key}={shown(raw)} could not be read; using {default!r}."),
                       icon=":material/link_off:")
            sync_url()
            return default
        s.options[key] = value
        return value
    return default


def drop_unread_options() -> str | None:
    """After the current page has run: the link's options of this page that it did not read (a key it does not
    have, such as ``compare_nonsense``, or one its current settings do not use) are dropped from the session (the
    shell's one write of the address after the page follows); returns the message naming them, or None."""
    s, page = session(), current_page()
    unread = {k: v for k, v in s.url_options.items() if option_page(k) == page}
    if not unread:
        return None
    for k in unread:
        del s.url_options[k]  # the shell writes the address once, after this
    return unknown_keys_message(list(unread), ("that this page does not use", "that this page does not use"), unread)


def set_page_option(key: str, value: Any, *, sync: bool = True) -> None:
    """Set a page option for this session and mirror it in the URL (``sync=False``: at the end of the page's run,
    when the shell writes the address once; each write before the tab's history guard is installed is a history
    entry of its own)."""
    if option_page(key) is None:
        raise ValueError(f"{key!r} is no page's option (components.session.PAGE_OPTIONS)")
    s = session()
    s.options[key] = value
    s.url_options.pop(key, None)
    if sync:
        sync_url()


def bound_widget(widget: Any, label: str, key: str, default: Any, **kwargs: Any) -> Any:
    """Draw ``widget`` (``st.toggle``, ``st.selectbox``, …) as the page option ``key``: it starts from the option
    (the link's value on a tab's first visit, else this session's, else ``default``) and writes its value back,
    so the page's link reproduces the switch. A value a selectbox does not offer falls back to ``default``."""
    wkey = f"{key}__widget"
    value = get_page_option(key, default)
    offered = list(kwargs["options"]) if "options" in kwargs else None
    if offered is not None and isinstance(default, (list, tuple)):  # a multiselect: the offered ones, in order
        value = type(default)(v for v in value if v in offered)
    elif offered is not None and value not in offered:
        value = default
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # a link's number outside the bounds
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        value = max(value, low) if low is not None else value
        value = min(value, high) if high is not None else value
    if wkey not in st.session_state:
        st.session_state[wkey] = value
    out = widget(label, key=wkey, **kwargs)
    set_page_option(key, out, sync=False)  # the shell writes the address once, after the page has run
    return out


@st.cache_resource(show_spinner=False)
def run_cache(model_name: str) -> RunCache:
    """The engine's result cache for one model, shared by every session of this server."""
    from core.inspect.engine import RunCache  # noqa: PLC0415 - torch, not at first paint

    return RunCache(max_entries=64)


def run_inspect(signal: Signal | None = None, variants: Any = None) -> InspectResult:
    """Run the engine on ``signal`` (default: current input) and ``variants`` (default: current set).

    A repeat of the same input, variant set and model is answered from the engine's cache without
    drawing anything; otherwise a ``st.status`` reports progress while computing. Raises PrepscopeError
    subclasses with user-facing messages.
    """
    from core.inspect.engine import inspect, result_key  # noqa: PLC0415 - torch, not at first paint

    model = get_model()  # first: waits for the background load, which imports torch and torchvision

    signal = get_signal() if signal is None else signal
    variants = session().variants if variants is None else VariantSet.of(variants)
    cache = run_cache(model.name)
    hit = cache.get_result(result_key(signal, variants, model))
    if hit is not None:
        return hit
    n = len(variants)
    with st.status(f"Running {model.name} on {n} variant{'s' * (n != 1)}…", expanded=False) as status:

        def progress(fraction: float, message: str) -> None:
            status.update(label=f"{message} ({100 * min(max(fraction, 0.0), 1.0):.0f}%)")

        try:
            result = inspect(signal, variants, model, cache=cache, progress=progress)
        except PrepscopeError:  # the page shows the reason; the status must not stay at its last percentage
            status.update(label="Could not compute the variants (the reason is below).", state="error")
            raise
        status.update(label=f"Computed {n} variant{'s' * (n != 1)} in {result.seconds:.1f} s", state="complete")
    return result


def init(page: str | None = None) -> Session:
    """Once per run, before the page: the session (from the link on a tab's first run), the page being shown
    (``PAGE_OPTIONS`` name) and the URL mirror."""
    st.session_state[_PAGE] = page
    s = session()
    sync_url()
    return s
