"""Issue 13's defect list, one test each (the browser-only ones are in tests/browser/): malformed links get a message,
names and link values are plain text, messages on the page speak the page's language, a failed or changed sweep
never shows other settings' results, and its provenance names the zip as the user gave it."""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from components.text import ZWSP, md, plot
from core.errors import InvalidDataset, page_message
from core.evaluate.datasets import DatasetRequest, open_request
from core.preprocess.variant import Resize, Variant
from tests.apptest import ok, open_app, run_job, session

HOSTILE = ("**b** [x](http://e.com) $x^2$ :red[red] :material/home: <b>h</b> _i_ `c` ~~s~~ | "
           "<a href='http://e.com'>a</a> :smile: www.e.com a@b.co %{x} &lt;")


def _blob(raw: bytes) -> str:
    return base64.urlsafe_b64encode(zlib.compress(raw)).decode().rstrip("=")


# ------------------------------------------------------------------------------------------ plain text


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text.replace(ZWSP, ""))


@pytest.mark.parametrize("text", [HOSTILE, "1. first", "# heading", "- item", "> quote", "plain name", "a\\b"])
def test_md_escapes_every_markdown_construct_and_keeps_the_text(text: str) -> None:
    out = md(text)
    assert _unescape(out) == text  # nothing lost: only escapes and invisible breaks are added
    bare = re.sub(r"\\.", "\x00", out)  # what Markdown parses as syntax: escaped characters are literal
    for construct in ("](", "**", ":material/", ":red[", "http://", "www.", ":smile:", "<b>", "$x", "`c`", "a@b"):
        assert construct not in bare, construct
    assert not re.match(r"\s*(#|[-+>]|\d+\.)\s", bare)


def test_plot_text_cannot_form_tags_or_templates() -> None:
    out = plot(HOSTILE)
    assert "<" not in out and ">" not in out and "%{" not in out
    assert out.count("&lt;") == 4 and "&amp;lt;" in out  # the literal "&lt;" stays literal


# ------------------------------------------------------------------------------------------ links


LINKS = {
    "damaged blob": ({"v": "!!!not-base64"}, "damaged"),
    "deep nesting": ({"v": _blob(b"[" * 5000 + b"]" * 5000)}, "nests too deeply"),
    "zip bomb": ({"v": _blob(b" " * 5_000_000)}, "larger than 64 KiB"),
    "wrong JSON type": ({"v": _blob(b"5")}, "non-empty list"),
    "empty set": ({"v": _blob(b'{"variants": []}')}, "non-empty list"),
    "bad variant": ({"v": _blob(json.dumps([{"name": "a", "resize": {"size": -3}}]).encode())}, "resize.size"),
    "unknown preset": ({"preset": "nope"}, "Unknown preset"),
    "unknown model": ({"model": "vgg99"}, "vgg99"),
    "unknown sample": ({"sample": "../../etc/passwd"}, "not bundled"),
    "huge value": ({"sample": "x" * 100_000}, "not bundled"),
    "unknown key": ({"utm_source": "mail"}, "belongs to no page"),
    "hostile value": ({"sample": HOSTILE}, "not bundled"),
}


@pytest.mark.parametrize("params, expected", LINKS.values(), ids=LINKS.keys())
def test_a_malformed_link_gets_a_message_on_the_page(params: dict, expected: str) -> None:
    at = open_app(None, timeout=120, **params)
    ok(at)
    warnings = [w.value for w in at.warning]
    assert any(expected in _unescape(w) for w in warnings), warnings
    assert all(len(w) < 600 for w in warnings)  # a 100,000-character value is not echoed whole
    bare = re.sub(r"\\.", "\x00", " ".join(warnings))
    assert "](" not in bare and ":red[" not in bare


def test_a_malformed_page_switch_in_the_link_gets_a_message_on_its_page() -> None:
    at = open_app("pages/feature_maps.py", [Variant(name="a", resize=Resize(size=64))], fm_k="many")
    ok(at)
    assert any("fm_k='many'" in _unescape(w.value) and "could not be read" in w.value for w in at.warning)
    assert at.query_params["fm_k"] == "6"


# ------------------------------------------------------------------------------------------ names in views


@pytest.mark.slow
def test_hostile_variant_names_are_escaped_in_the_captions_and_the_charts() -> None:
    variants = [Variant(name="ref", resize=Resize(size=64)), Variant(name=HOSTILE[:80], resize=Resize(size=64),
                                                                     channels="replicate")]
    at = open_app("pages/compare.py", variants)
    ok(at)
    provenance = next(c.value for c in at.caption if "variants:" in c.value)
    assert md(variants[1].name) in provenance and variants[1].name not in provenance
    figures = [json.dumps(json.loads(c.proto.spec), ensure_ascii=False) for c in at.get("plotly_chart")]
    assert any("&lt;b&gt;h&lt;/b&gt;" in f for f in figures)  # the name reached the heatmap, escaped
    assert not any("<b>h" in f for f in figures)


# ------------------------------------------------------------------------------------------ messages and zips


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_refusals_name_settings_as_each_surface_does_and_the_zip_as_given() -> None:
    flat = _zip({"a.png": _png(0), "b.png": _png(1)})
    with pytest.raises(InvalidDataset) as err, open_request(DatasetRequest(zip_bytes=flat, zip_name="photos.zip")):
        pass
    cli, page = str(err.value), page_message(err.value)
    assert "--label-pattern" in cli and "Label pattern field" not in cli
    assert "--" not in page and "Label pattern field" in page
    assert cli.startswith("photos: ") and page.startswith("photos: ")  # not the temporary folder it was unpacked in
    assert "prepscope-" not in cli


@pytest.mark.slow
def test_accuracy_page_zip_run_then_a_refused_zip_clears_results_with_a_page_message() -> None:
    at = open_app("pages/accuracy.py", [Variant(name="gray", resize=Resize(size=32), channels="replicate"),
                                       Variant(name="rgb", resize=Resize(size=32))])
    good = _zip({f"{c}/{c}{i}.png": _png(10 * k + i) for k, c in enumerate(("cats", "dogs")) for i in range(6)})
    at.radio(key="acc_source").set_value("Upload a zip").run()
    at.file_uploader(key="acc_upload").upload("pets.zip", good, "application/zip").run()
    run_job(at, "acc_run")
    ok(at)
    assert session(at).accuracy_run is not None
    provenance = " ".join(c.value for c in at.caption if "Provenance" in c.value)
    assert "pets.zip (zip)" in _unescape(provenance) and "/tmp" not in provenance and "prepscope-" not in provenance

    bad = _zip({"a.png": _png(0), "b.png": _png(1)})
    at.file_uploader(key="acc_upload").upload("flat.zip", bad, "application/zip").run()
    assert "out of date" in " ".join(h.value for h in at.subheader)  # changed settings: marked at once
    run_job(at, "acc_run")
    ok(at)
    errors = " ".join(_unescape(e.value) for e in at.error)
    assert "flat: the file name 'a.png'" in errors and "--" not in errors and "Label pattern field" in errors
    assert session(at).accuracy_run is None and not any("mcnemar_p" in d.value.columns for d in at.dataframe)
