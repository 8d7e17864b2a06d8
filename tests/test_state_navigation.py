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
