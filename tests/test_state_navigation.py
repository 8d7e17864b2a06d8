"""State and navigation that hold (issue 18, part A), through AppTest and the pure helpers: links that name every
key and value they drop in one message, at a bounded cost."""

from __future__ import annotations

from core.preprocess.variant import Resize, Variant
from tests.apptest import ok, open_app, plain

SMALL = [Variant(name="a", resize=Resize(size=64))]


def test_every_unknown_key_of_a_link_is_named_in_one_message() -> None:
    junk = {f"k{i}": str(i) for i in range(800)}
    at = open_app(model="vgg99", **junk)
    ok(at)
    assert len(at.warning) == 1, [w.value for w in at.warning]
    text = plain(at.warning[0].value)
    assert "800 parameters" in text and "'k0'" in text and "'k799'" in text and "'k400'" in text
    assert "vgg99" in text  # the unusable value is in the same message
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
    at.button(key="acc_run").click().run()
    ok(at)
    assert "acc_result" in at.session_state
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
