"""State and navigation that hold (issue 18, part A), through AppTest and the pure helpers: links that name every
key and value they drop in one message, at a bounded cost."""

from __future__ import annotations

from core.preprocess.variant import Resize, Variant
from tests.apptest import editor_key, ok, open_app, plain, run_job, session

SMALL = [Variant(name="a", resize=Resize(size=64))]


def test_every_unknown_key_of_a_link_is_named_in_one_message() -> None:
    junk = {f"k{i}": str(i) for i in range(800)}
    at = open_app(model="vgg99", **junk)
    ok(at)
    assert len(at.warning) == 1, [w.value for w in at.warning]
    text = plain(at.warning[0].value)
    assert "800 parameters" in text and "'k0'" in text and "'k799'" not in text  # the count, the first names
    assert "vgg99" in text  # the unusable value is in the same message
    full = " ".join(t.value for t in at.expander[0].text)  # every name, in the expander under it
    assert at.expander[0].label == "Everything the link could not use" and "'k799'" in full and "'k400'" in full
    assert not any(k.startswith("k") for k in at.query_params)


def test_an_unknown_page_option_is_named_on_its_page_and_dropped_from_the_address() -> None:
    at = open_app("pages/feature_maps.py", SMALL, fm_nonsense="7", fm_k="3")
    ok(at)
    notes = [plain(w.value) for w in at.warning if "fm_nonsense" in plain(w.value)]
    assert len(notes) == 1 and "'fm_nonsense'='7'" in notes[0] and "this page does not use" in notes[0], notes
    assert "fm_nonsense" not in at.query_params
    assert at.query_params["fm_k"] == "3"  # a known option stays


# ------------------------------------------------------------------------------------------ accuracy settings

TINY = [Variant(name="gray", resize=Resize(size=32), channels="replicate"),
        Variant(name="rgb", resize=Resize(size=32))]


def test_accuracy_settings_and_result_survive_a_visit_to_another_page() -> None:
    at = open_app("pages/accuracy.py", TINY)
    at.selectbox(key="acc_builtin").set_value("digits")
    at.number_input(key="acc_per_class").set_value(8)
    at.number_input(key="acc_seed").set_value(3)
    at.multiselect(key="acc_models").set_value(["efficientnet_lite0", "resnet18"])
    at.radio(key="acc_method").set_value("zeroshot").run()
    at.radio(key="acc_method").set_value("probe").run()
    at.multiselect(key="acc_models").set_value(["efficientnet_lite0"]).run()
    run_job(at, "acc_run")
    ok(at)
    assert session(at).accuracy_run is not None
    at.radio(key="acc_source").set_value("Folder under the data root")
    at.radio(key="acc_method").set_value("zeroshot").run()
    at.radio(key="acc_source").set_value("Built-in").run()
    at.radio(key="acc_method").set_value("probe").run()

    at.switch_page("pages/runs.py").run()
    ok(at)
    at.switch_page("pages/accuracy.py").run()
    ok(at)
    acc = at.session_state["prepscope_session"].accuracy
    assert (acc.builtin, acc.per_class, acc.seed, acc.method) == ("digits", 8, 3, "probe")
    assert at.number_input(key="acc_per_class").value == 8 and at.number_input(key="acc_seed").value == 3
    assert at.radio(key="acc_method").value == "probe"
    headers = " ".join(h.value for h in at.subheader)
    assert "Results" in headers and "out of date" not in headers, headers  # the last result is still current


def test_accuracy_models_and_zeroshot_are_kept_across_pages() -> None:
    at = open_app("pages/accuracy.py", TINY)
    at.radio(key="acc_method").set_value("zeroshot")
    at.selectbox(key="acc_builtin").set_value("sounds")
    at.multiselect(key="acc_models").set_value(["efficientnet_lite0", "resnet18"]).run()
    at.switch_page("pages/start.py").run()
    at.switch_page("pages/accuracy.py").run()
    ok(at)
    assert at.radio(key="acc_method").value == "zeroshot"
    assert at.selectbox(key="acc_builtin").value == "sounds"
    assert at.multiselect(key="acc_models").value == ["efficientnet_lite0", "resnet18"]


# ------------------------------------------------------------------------------------------ names follow the spec


def _wkey(at, path: str, uid: str) -> str:  # noqa: ANN001
    return editor_key(at, path, uid)


def test_a_name_that_spells_out_a_setting_follows_it_and_a_typed_name_stays() -> None:
    at = open_app(None)
    s = at.session_state["prepscope_session"]
    uid = s.uids[s.variants.names.index("gray→viridis")]
    at.selectbox(key="ve_w_selected").set_value(uid).run()
    at.selectbox(key=_wkey(at, "colormap", uid)).set_value("magma").run()
    ok(at)
    names = at.session_state["prepscope_session"].variants.names
    assert "gray→magma" in names and "gray→viridis" not in names
    assert any("gray→magma" in t.value and "1. rgb" in t.value for t in at.text)  # the sidebar's summary
    assert at.text_input(key=_wkey(at, "name", uid)).value == "gray→magma"  # the editor shows the new name
    at.selectbox(key=_wkey(at, "colormap", uid)).set_value("turbo").run()  # "gray→turbo" is taken: made unique
    assert at.session_state["prepscope_session"].variants.names.count("gray→turbo") == 1
    assert "gray→turbo 2" in at.session_state["prepscope_session"].variants.names

    at.text_input(key=_wkey(at, "name", uid)).set_value("my map").run()
    at.selectbox(key=_wkey(at, "colormap", uid)).set_value("inferno").run()
    ok(at)
    v = at.session_state["prepscope_session"].variants
    assert "my map" in v.names and v[v.names.index("my map")].colormap == "inferno"


def test_followed_name_rule() -> None:
    from components.variant_editor import followed_name
    from core.preprocess.presets import get_preset

    vs = get_preset("channels")
    gray_cmap = next(v for v in vs if v.name == "gray→gray cmap")
    assert followed_name(gray_cmap, gray_cmap.replace(colormap="magma")) == "gray→magma cmap"  # the last "gray"
    replicate = next(v for v in vs if v.name == "gray-replicate")
    assert followed_name(replicate, replicate.replace(channels="conv-sum")) == "gray-conv-sum"
    viridis = next(v for v in vs if v.name == "gray→viridis")
    assert followed_name(viridis, viridis.replace(name="mine", colormap="magma")) == "mine"
    assert followed_name(viridis.replace(name="favourite"), viridis.replace(name="favourite", colormap="jet")) == \
        "favourite"


# ------------------------------------------------------------------------------------------ where to look


def test_where_to_look_shows_its_explanation_on_the_page_it_opens_until_another_page() -> None:
    from core.preprocess.presets import preset_questions

    q = next(q for q in preset_questions() if q.preset == "interpolation")
    at = open_app(None)
    at.button(key="start_where_interpolation").click().run()
    ok(at)
    assert at.title[0].value == "Feature maps"
    shown = [plain(i.value) for i in at.info if "Where to look" in i.value]
    assert len(shown) == 1 and q.where.text in shown[0], [i.value for i in at.info]
    at.run()  # a rerun on the same page (a switch) keeps it
    assert any(q.where.text in plain(i.value) for i in at.info)
    at.switch_page("pages/runs.py").run()
    assert not any("Where to look" in i.value for i in at.info)
    at.switch_page("pages/feature_maps.py").run()  # gone once another page was visited
    assert not any("Where to look" in i.value for i in at.info)


def test_an_uploaded_dataset_zip_is_kept_across_pages() -> None:
    import io
    import zipfile

    import numpy as np
    from PIL import Image

    def png(seed: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(buf, "PNG")
        return buf.getvalue()

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for k, c in enumerate(("cats", "dogs")):
            for i in range(6):
                zf.writestr(f"{c}/{c}{i}.png", png(10 * k + i))
    at = open_app("pages/accuracy.py", TINY)
    at.radio(key="acc_source").set_value("Upload a zip").run()
    at.file_uploader(key="acc_upload").upload("pets.zip", buf.getvalue(), "application/zip").run()
    ok(at)
    assert any("12 items" in plain(i.value) for i in at.info)
    at.switch_page("pages/runs.py").run()
    at.switch_page("pages/accuracy.py").run()  # Streamlit emptied the uploader it did not draw
    ok(at)
    assert at.radio(key="acc_source").value == "Upload a zip"
    assert any("Using pets.zip, uploaded earlier" in plain(c.value) for c in at.caption)
    assert any("12 items" in plain(i.value) for i in at.info)  # the plan still counts the zip's items
