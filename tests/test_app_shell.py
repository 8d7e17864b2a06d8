"""AppTest tests of the dashboard shell: navigation, shared sidebar, variant editor, URL state, Start page."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from components import session as codec
from components.sidebar import UPLOAD_CAPTION
from core.errors import InvalidVariant
from core.preprocess.presets import get_preset
from core.preprocess.variant import Blur, Jpeg, Resize, Variant, VariantSet
from tests.apptest import editor_key, open_app, plain, session, uploader
from tests.apptest import ok as _ok

SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect/></svg>'


def _png(seed: int = 0, size: tuple[int, int] = (80, 120)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _app(params: dict[str, str] | None = None) -> AppTest:
    return open_app(timeout=120, **(params or {}))


#: The sidebar's input and import pieces alone, without st.navigation (the uploaders are also tested in the app).
HARNESS = """
import streamlit as st
from components import state, sidebar, variant_editor
state.init()
with st.sidebar:
    sidebar.render_input()
    variant_editor.render_presets_and_json()
st.text(state.session().input_label)
"""


def _harness(params: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_string(HARNESS, default_timeout=120)
    if params:
        at.query_params.update(params)
    return at.run()


def _variants(at: AppTest) -> VariantSet:
    return session(at).variants


def _uids(at: AppTest) -> list[str]:
    return list(session(at).uids)


def _wkey(at: AppTest, path: str, uid: str | None = None) -> str:
    return editor_key(at, path, uid)


# ----------------------------------------------------------------------------- pure URL helpers


def test_encode_decode_round_trip_and_preset_shortcut() -> None:
    preset = get_preset("interpolation")
    assert codec.encode_variants(preset) == {"preset": "interpolation"}
    custom = [Variant(name="a"),
              Variant(name="b ✓", resize=Resize(size=128, method="area"), degrade=(Jpeg(quality=30),))]
    params = codec.encode_variants(custom)
    assert set(params) == {"v"} and "=" not in params["v"] and "+" not in params["v"] and "/" not in params["v"]
    assert codec.decode_variants(params) == VariantSet.of(custom)
    # A modified preset is no longer the preset: it travels as v=.
    assert "v" in codec.encode_variants([preset[0].replace(name="renamed"), *preset[1:]])


def test_decode_rejects_damaged_links() -> None:
    blob = codec.encode_variants([Variant(name="a"), Variant(name="b")])["v"]
    with pytest.raises(InvalidVariant, match="damaged"):
        codec.decode_variants({"v": blob[: len(blob) // 2]})
    with pytest.raises(InvalidVariant, match="preset"):
        codec.decode_variants({"preset": "nope"})
    assert codec.decode_variants({}) is None


def _blob(text: str) -> str:
    import base64
    import zlib

    return base64.urlsafe_b64encode(zlib.compress(text.encode(), 9)).decode().rstrip("=")


def test_old_links_with_the_one_string_colormap_still_load() -> None:
    old = '{"variants":[{"name":"g","channels":"replicate"},{"name":"v","channels":"colormap:viridis"}]}'
    got = codec.decode_variants({"v": _blob(old)})
    assert [(v.channels, v.colormap) for v in got] == [("replicate", None), ("colormap", "viridis")]


def test_links_are_bounded_in_length_size_and_depth() -> None:
    with pytest.raises(InvalidVariant, match="nests too deeply"):
        codec.decode_variants({"v": _blob("[" * 5000 + "]" * 5000)})  # tiny link, deep JSON
    with pytest.raises(InvalidVariant, match="larger than"):
        codec.decode_variants({"v": _blob('{"variants": [], "pad": "' + "x" * 200_000 + '"}')})
    with pytest.raises(InvalidVariant, match="longer than"):
        codec.decode_variants({"v": "A" * (codec.MAX_LINK_CHARS + 1)})
    with pytest.raises(InvalidVariant, match="damaged"):
        codec.decode_variants({"v": "!!!not base64!!!"})


def test_coerce_option_types() -> None:
    assert codec.coerce_option("3", 5) == 3
    assert codec.coerce_option("0.25", 1.0) == 0.25
    assert codec.coerce_option("0", True) is False
    assert codec.coerce_option("a,b", ["x"]) == ["a", "b"]
    assert codec.coerce_option("1,2", (0,)) == (1, 2)
    for raw, default in (("x", 5), ("maybe", True), ("nan", 1.0)):
        with pytest.raises(ValueError):
            codec.coerce_option(raw, default)
    assert codec.option_to_url(True) == "1" and codec.option_to_url([1, 2]) == "1,2"


# ----------------------------------------------------------------------------- shell and URL state


def test_default_run_lists_pages_and_writes_url() -> None:
    at = _app()
    _ok(at)
    assert at.query_params["sample"] == "chelsea"
    assert at.query_params["preset"] == "channels"
    assert at.query_params["model"] == "efficientnet_lite0"
    assert [v.name for v in _variants(at)] == [v.name for v in get_preset("channels")]
    # The sidebar labels random-init models as untrained baselines.
    model_box = at.selectbox(key="sb_model")
    assert model_box.value == "efficientnet_lite0"
    assert any("untrained baseline" in o for o in model_box.options)
    assert "untrained baseline" not in model_box.options[0]
    assert any(UPLOAD_CAPTION in c.value for c in at.caption)
    assert at.title[0].value == "prepscope"


def test_url_params_set_state() -> None:
    custom = [Variant(name="ref"), Variant(name="blurred", degrade=(Blur(sigma=2.0),))]
    at = _app({"sample": "brick", "model": "resnet18", **codec.encode_variants(custom)})
    _ok(at)
    assert not at.warning
    assert _variants(at) == VariantSet.of(custom)
    assert at.selectbox(key="sb_sample").value == "brick"
    assert at.selectbox(key="sb_model").value == "resnet18"
    assert at.query_params["model"] == "resnet18" and at.query_params["v"] == codec.encode_variants(custom)["v"]


def test_invalid_url_params_warn_and_fall_back() -> None:
    at = _app({"sample": "nope", "model": "vgg99", "v": "not-a-variant-set"})
    _ok(at)
    text = " ".join(w.value for w in at.warning)
    assert len(at.warning) == 1, text  # one message for everything the link held that cannot be used
    assert "vgg99" in text and "nope" in text and "damaged" in text
    assert [v.name for v in _variants(at)] == [v.name for v in get_preset("channels")]
    assert at.query_params["sample"] == "chelsea" and at.query_params["model"] == "efficientnet_lite0"


def test_page_options_read_from_and_written_to_url() -> None:
    script = """
import streamlit as st
from components import state
state.init(st.session_state.get("page", "feature_maps"))
st.text(f"topk={state.get_page_option('fm_k', 5)!r} diff={state.get_page_option('fm_diff', False)!r}")
if st.button("set", key="set"):
    state.set_page_option("fm_k", 7)
"""
    at = AppTest.from_string(script, default_timeout=60)
    at.query_params.update({"fm_k": "3", "fm_diff": "yes", "fm_layer": "stage2"})
    at.run()
    _ok(at)
    assert at.text[0].value == "topk=3 diff=True"
    assert at.query_params["fm_layer"] == "stage2"  # an option the page has not read yet is kept in the link
    at.button(key="set").click().run()
    assert at.query_params["fm_k"] == "7" and at.query_params["fm_diff"] == "1"
    # on another page, the link carries that page's switches only (the session keeps these for the way back)
    at.session_state["page"] = "compare"
    at.run()
    assert not any(k.startswith("fm_") for k in at.query_params)
    at.session_state["page"] = "feature_maps"
    at.run()
    assert at.query_params["fm_k"] == "7" and at.query_params["fm_layer"] == "stage2"

    bad = AppTest.from_string(script, default_timeout=60)
    bad.query_params.update({"fm_k": "many", "utm_source": "mail"})
    bad.run()
    assert bad.text[0].value == "topk=5 diff=False"
    warnings = plain(" ".join(w.value for w in bad.warning))
    assert "fm_k='many'" in warnings
    assert "parameter that belongs to no page of prepscope was dropped from the address: 'utm_source'" in warnings
    assert "utm_source" not in bad.query_params


# ----------------------------------------------------------------------------- input


@pytest.mark.parametrize("make", [_app, _harness], ids=["app", "harness"])
def test_upload_image_then_refused_upload_keeps_previous_input(make) -> None:  # noqa: ANN001
    at = make()
    uploader(at, "sb_upload").set_value(("photo.png", _png(), "image/png")).run()
    _ok(at)
    assert not at.error
    assert any("upload: photo.png" in c.value and "120×80" in c.value for c in at.caption)
    assert "sample" not in at.query_params  # an upload cannot travel in a link
    assert at.query_params["preset"] == "channels"

    uploader(at, "sb_upload").set_value(("drawing.svg", SVG, "image/svg+xml")).run()
    _ok(at)
    assert len(at.error) == 1 and at.error[0].value.startswith("drawing.svg: ")
    assert "SVG" in at.error[0].value  # the engine's own message
    assert any("upload: photo.png" in c.value for c in at.caption)  # the previous input stays
    # The page stays usable: switching back to a sample works.
    at.selectbox(key="sb_sample").set_value("coffee").run()
    _ok(at)
    assert any("sample: coffee" in c.value for c in at.caption)
    assert at.query_params["sample"] == "coffee"


def test_refused_first_upload_keeps_sample() -> None:
    at = _harness({"sample": "astronaut"})
    uploader(at, "sb_upload").set_value(("empty.png", b"", "image/png")).run()
    _ok(at)
    assert at.error and "empty.png" in at.error[0].value
    assert any("sample: astronaut" in c.value for c in at.caption)
    assert at.query_params["sample"] == "astronaut"


# ----------------------------------------------------------------------------- variant editor


def test_add_duplicate_move_remove_variants() -> None:
    at = _app()
    n = len(_variants(at))
    at.button(key="ve_add").click().run()
    _ok(at)
    vs = _variants(at)
    assert len(vs) == n + 1 and vs[-1] == Variant(name="variant")
    assert at.selectbox(key="ve_w_selected").value == _uids(at)[-1]  # the new one is selected for editing
    assert "v" in at.query_params and "preset" not in at.query_params

    at.button(key="ve_dup").click().run()
    vs = _variants(at)
    assert len(vs) == n + 2 and vs[-1] == Variant(name="variant copy")

    at.button(key="ve_up").click().run()
    assert [v.name for v in _variants(at)][-2:] == ["variant copy", "variant"]

    at.button(key="ve_remove").click().run()
    at.button(key="ve_remove").click().run()
    _ok(at)
    assert _variants(at) == get_preset("channels")
    assert at.query_params["preset"] == "channels"  # back to the unmodified preset


def test_rename_and_duplicate_name_is_refused() -> None:
    at = _app()
    first = _uids(at)[0]
    at.text_input(key=_wkey(at, "name", first)).set_value("color original").run()
    _ok(at)
    assert _variants(at)[0].name == "color original"
    assert codec.decode_variants(dict(at.query_params))[0].name == "color original"

    before = _variants(at)
    at.text_input(key=_wkey(at, "name", first)).set_value("gray-replicate").run()
    _ok(at)
    assert _variants(at) == before
    assert any("unique" in e.value for e in at.error)


def test_edit_fields_generated_from_metadata() -> None:
    at = _app()
    uid = _uids(at)[0]
    method = at.selectbox(key=_wkey(at, "resize.method", uid))
    assert list(method.options) == ["nearest", "nearest-exact", "bilinear", "bicubic", "lanczos", "area", "hamming"]
    size = at.number_input(key=_wkey(at, "resize.size", uid))
    assert (size.min, size.max) == (16, 1024)
    size.set_value(160).run()
    method = at.selectbox(key=_wkey(at, "resize.method", uid))
    method.set_value("bilinear").run()
    _ok(at)
    assert _variants(at)[0].resize == Resize(size=160, method="bilinear")

    # Colormap strategy reveals the colormap-name widget (argument declared as data).
    at.selectbox(key=_wkey(at, "channels", uid)).set_value("colormap").run()
    assert (_variants(at)[0].channels, _variants(at)[0].colormap) == ("colormap", "viridis")
    at.selectbox(key=_wkey(at, "colormap", uid)).set_value("magma").run()
    assert _variants(at)[0].colormap == "magma"
    at.selectbox(key=_wkey(at, "channels", uid)).set_value("replicate").run()  # the colormap no longer applies
    assert (_variants(at)[0].channels, _variants(at)[0].colormap) == ("replicate", None)
    assert not any(w.key == _wkey(at, "colormap", uid) for w in at.selectbox)
    at.selectbox(key=_wkey(at, "channels", uid)).set_value("colormap").run()

    # An impossible combination shows the engine's message and keeps the last valid variant.
    valid = _variants(at)[0]
    at.selectbox(key=_wkey(at, "resize.method", uid)).set_value("hamming").run()
    _ok(at)
    assert _variants(at)[0] == valid
    assert any("torch backend has no 'hamming'" in e.value for e in at.error)
    at.selectbox(key=_wkey(at, "resize.backend", uid)).set_value("pil").run()
    assert _variants(at)[0].resize.method == "hamming" and _variants(at)[0].resize.backend == "pil"
    assert not at.error


def test_degradation_list_and_optional_spectrogram() -> None:
    at = _app()
    uid = _uids(at)[1]
    at.selectbox(key="ve_w_selected").set_value(uid).run()
    at.selectbox(key=_wkey(at, "degrade#kind", uid)).set_value("jpeg").run()
    at.button(key=_wkey(at, "degrade#add", uid)).click().run()
    at.selectbox(key=_wkey(at, "degrade#kind", uid)).set_value("blur").run()
    at.button(key=_wkey(at, "degrade#add", uid)).click().run()
    _ok(at)
    assert _variants(at)[1].degrade == (Jpeg(quality=75), Blur(sigma=1.0))
    at.number_input(key=_wkey(at, "degrade.0.quality", uid)).set_value(20).run()
    assert _variants(at)[1].degrade == (Jpeg(quality=20), Blur(sigma=1.0))
    at.button(key=_wkey(at, "degrade.0#rm", uid)).click().run()
    assert _variants(at)[1].degrade == (Blur(sigma=1.0),)
    assert at.number_input(key=_wkey(at, "degrade.0.sigma", uid)).value == 1.0

    at.checkbox(key=_wkey(at, "spectrogram#on", uid)).check().run()
    _ok(at)
    spec = _variants(at)[1].spectrogram
    assert spec is not None and spec.kind == "mel"
    at.selectbox(key=_wkey(at, "spectrogram.kind", uid)).set_value("stft").run()
    at.number_input(key=_wkey(at, "spectrogram.db_range.0", uid)).set_value(-60.0).run()
    assert _variants(at)[1].spectrogram.kind == "stft" and _variants(at)[1].spectrogram.db_range == (-60.0, 0.0)


def test_load_preset_and_json_import_export_round_trip() -> None:
    at = _app()
    at.selectbox(key="ve_preset").set_value("colormaps").run()
    at.button(key="ve_load_preset").click().run()
    _ok(at)
    assert _variants(at) == get_preset("colormaps")
    assert at.query_params["preset"] == "colormaps"
    assert at.get("download_button")[0].proto.label == "Export variants (JSON)"

    custom = [Variant(name="r"), Variant(name="q10", degrade=(Jpeg(quality=10),))]
    at.text_area(key="ve_import_text").input(VariantSet.of(custom).to_json(indent=2)).run()
    at.button(key="ve_import_apply").click().run()
    _ok(at)
    assert _variants(at) == VariantSet.of(custom)
    # What the export button serves, imported again, is the same set.
    assert codec.decode_variants(dict(at.query_params)) == VariantSet.of(custom)

    at.text_area(key="ve_import_text").input('{"variants": [{"name": "x", "channels": "sepia"}]}').run()
    at.button(key="ve_import_apply").click().run()
    _ok(at)
    assert _variants(at) == VariantSet.of(custom)
    assert any("channels must be one of" in e.value for e in at.error)



def test_json_file_import() -> None:
    at = _harness()
    at.file_uploader(key="ve_import_file").set_value(
        ("set.json", get_preset("interpolation").to_json(indent=2).encode(), "application/json")
    ).run()
    _ok(at)
    assert _variants(at) == get_preset("interpolation")
    assert at.query_params["preset"] == "interpolation"
    at.file_uploader(key="ve_import_file").set_value(("bad.json", b"{not json", "application/json")).run()
    assert _variants(at) == get_preset("interpolation")
    assert any("not valid JSON" in e.value for e in at.error)


def test_start_page_question_opens_compare_with_preset_and_sample() -> None:
    at = _app()
    at.button(key="start_interpolation").click().run()
    _ok(at)
    assert _variants(at) == get_preset("interpolation")
    assert at.query_params["sample"] == "brick" and at.query_params["preset"] == "interpolation"
    assert not any(b.key == "start_interpolation" for b in at.button)  # we left the Start page
    assert at.title[0].value == "Compare"


def test_builtin_sound_sample_from_link() -> None:
    sounds = [n for n in codec.sample_names() if n.startswith(codec.SOUND_PREFIX)]
    assert sounds
    at = _app({"sample": sounds[0]})
    _ok(at)
    assert not at.warning
    assert at.selectbox(key="sb_sample").value == sounds[0]
    assert any(f"Current input: sample: {sounds[0]}" in plain(c.value) and " Hz" in c.value for c in at.caption)


def test_sample_after_upload_empties_the_uploader_and_the_file_cannot_take_the_input_back() -> None:
    at = _app()
    uploader(at, "sb_upload").set_value(("photo.png", _png(), "image/png")).run()
    assert session(at).input_label == "upload: photo.png"
    old_key = uploader(at, "sb_upload").key
    at.selectbox(key="sb_sample").set_value("coffee").run()
    _ok(at)
    assert session(at).input_label == "sample: coffee"
    assert uploader(at, "sb_upload").key != old_key and uploader(at, "sb_upload").value is None  # emptied
    at.run()  # any further run (a toggle, a page switch) keeps the sample
    assert session(at).input_label == "sample: coffee" and at.query_params["sample"] == "coffee"


def test_removing_the_uploaded_file_goes_back_to_the_sample() -> None:
    at = _app({"sample": "camera"})
    uploader(at, "sb_upload").set_value(("photo.png", _png(), "image/png")).run()
    assert session(at).input_label == "upload: photo.png" and "sample" not in at.query_params
    uploader(at, "sb_upload").set_value(None).run()
    _ok(at)
    assert session(at).input_label == "sample: camera" and at.query_params["sample"] == "camera"


def test_an_upload_arriving_with_a_page_switch_is_taken_not_dropped() -> None:
    """The upload's widget value is read on every run (not in an on_change callback that Streamlit can drop when a
    page switch arrives in the same rerun), so it becomes the input whatever else the run does."""
    at = _app({"sample": "camera"})
    at.switch_page("pages/runs.py")
    uploader(at, "sb_upload").set_value(("photo.png", _png(3), "image/png"))
    at.run()
    _ok(at)
    assert at.title[0].value == "Runs"
    assert session(at).input_label == "upload: photo.png" and "sample" not in at.query_params
    at.switch_page("pages/start.py").run()  # and it stays the input afterwards
    assert session(at).input_label == "upload: photo.png"


def test_the_shell_and_the_start_page_modules_import_no_torch() -> None:
    """First paint does not wait for torch: the shell, sidebar, session and Start page's modules list models from
    ``core.models.specs``; torch is imported by the model's background load (or a page that needs numbers)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; import components.shell, components.state, components.sidebar, components.results, "
            "components.variant_editor, core.preprocess.presets, core.io.synth; "
            "from core.models import MODELS; MODELS['efficientnet_lite0'].label; "
            "from core.preprocess.variant import DYNAMIC_CHOICES; [f() for f in DYNAMIC_CHOICES.values()]; "
            "print(sorted(m for m in ('torch', 'timm', 'torchvision') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                         text=True, timeout=120, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_light_model_metadata_agrees_with_the_libraries() -> None:
    from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    from core.models import MODELS, load_model
    from core.models.specs import IMAGENET_MEAN, IMAGENET_STD

    assert IMAGENET_MEAN == tuple(IMAGENET_DEFAULT_MEAN) and IMAGENET_STD == tuple(IMAGENET_DEFAULT_STD)
    assert MODELS["efficientnet_lite0"].data_config.crop_pct == 0.875
    assert load_model("efficientnet_lite0").spec is MODELS["efficientnet_lite0"]
