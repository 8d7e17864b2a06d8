"""Views and exports that tell the story (issue 18, part C): Compare shows variants with identical network inputs as
one column ``a = b`` with the reason; the Compare PNG carries the difference images and the zoom insets, the Audio
PNG its time and frequency axes and the analysis rate; activation maps are drawn over a gray input with an opacity
switch (the Autoencoder lab's text and axis: tests/test_lab_story.py)."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from components import exports, results
from core.inspect.engine import STATS, InspectResult, LayerResult, Prediction, VariantResult
from core.preprocess.variant import Resize, Spectrogram, Variant
from tests.apptest import ok, open_app, plain

LAYERS = ["stem", "head"]


def _variant(name: str, display: np.ndarray, fmaps: list[np.ndarray], **spec: object) -> VariantResult:
    stats = {k: float(i) for i, k in enumerate(STATS)}
    layers = [LayerResult(name=n, **stats, similarity=1.0, cka=1.0, bn_shift=0.5, fmap=f.astype(np.float16))
              for n, f in zip(LAYERS, fmaps, strict=True)]
    return VariantResult(variant=Variant(name=name, **spec), display=display.astype(np.float32),
                         top5=[Prediction("tabby", 281, 0.5)], layers=layers, pooled=fmaps[-1].mean(axis=(1, 2)))


def gray_ramp_result(n: int = 3) -> InspectResult:
    """``n`` gray inputs (a horizontal ramp, brighter per variant) with their own feature maps."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 0.6, 32, dtype=np.float32)[None, :, None].repeat(32, 0).repeat(3, 2)
    variants = [_variant(f"v{i}", ramp + 0.1 * i, [rng.random((4, 8, 8)) + i, rng.random((6, 2, 2))])
                for i in range(n)]
    return InspectResult(model="efficientnet_lite0", model_description="test", provenance={"digest": "d1"},
                         layer_names=list(LAYERS), variants=variants, seconds=0.1)


def _png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def _pixels(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


# ----------------------------------------------------------------------------- 1. identical inputs as one column


def test_identical_variants_merge_into_one_named_a_equals_b_with_a_reason() -> None:
    result = gray_ramp_result(4)
    twin = result.variants[1]
    result.variants[3] = VariantResult(variant=Variant(name="v1 again"), display=twin.display.copy(),
                                       top5=twin.top5, layers=twin.layers, pooled=twin.pooled.copy())
    groups = results.same_input_groups(result)
    assert [(g.members, g.label) for g in groups] == [((1, 3), "v1 = v1 again")]
    assert "same preprocessing under different names" in groups[0].reason
    view = results.merge_same_inputs(result, groups)
    assert [v.variant.name for v in view.variants] == ["v0", "v1 = v1 again", "v2"]
    assert len(result.variants) == 4  # the full result (JSON, CSV, provenance) keeps every variant
    assert results.same_input_groups(gray_ramp_result(3)) == []
    import json

    data = json.loads(exports.result_json(result, "x", identical=[g.record(result) for g in groups]))
    assert data["identical_inputs"] == [{"variants": ["v1", "v1 again"], "reason": groups[0].reason}]
    assert len(data["variants"]) == 4


@pytest.mark.slow
def test_compare_page_shows_variants_with_identical_inputs_as_one_column() -> None:
    """On the zone plate (512 px), OpenCV's linear and area kernels halving it to 256 px give the network the same
    input to the last bit: one column "OpenCV linear = OpenCV area", one difference image, one table row, and the
    reason naming the settings that differ."""
    stretch = {"size": 256, "backend": "opencv", "fit": "stretch"}
    variants = [Variant(name="reference", resize=Resize(size=256, fit="stretch")),
                Variant(name="OpenCV linear", resize=Resize(method="bilinear", antialias=False, **stretch)),
                Variant(name="OpenCV area", resize=Resize(method="area", antialias=True, **stretch))]
    at = open_app("pages/compare.py", variants, sample="zoneplate")
    ok(at)
    captions = [plain(c) for img in at.image for c in img.captions]
    assert captions.count("OpenCV linear = OpenCV area") == 1, captions
    assert "OpenCV area" not in captions and "OpenCV linear" not in captions
    assert sum(c.startswith("OpenCV linear = OpenCV area: |Δ| mean") for c in captions) == 1
    notes = [plain(i.value) for i in at.info if "OpenCV linear = OpenCV area" in plain(i.value)]
    assert len(notes) == 1 and "bit-identical inputs on this image" in notes[0]
    assert "differ in resize.method (bilinear vs area), resize.antialias (false vs true)" in notes[0]
    summary = at.dataframe[-1].value if "top-5 overlap" in at.dataframe[-1].value else next(
        d.value for d in at.dataframe if "top-5 overlap" in d.value)
    assert list(summary["variant"]) == ["reference", "OpenCV linear = OpenCV area"]


# ----------------------------------------------------------------------------- 2. exports that keep the story


def test_compare_png_carries_difference_images_with_their_scales_and_the_zoom() -> None:
    result = gray_ramp_result(3)
    prov = exports.Provenance("Compare", "sample: ramp", result, "http://h/compare")
    panels = exports.ComparePanels(differences="per variant", zoom="center", factor=4)
    data = exports.comparison_png(result, prov, panels=panels)
    grid_w, grid_h = exports.png_size(3, sections=3)
    assert grid_h == exports.png_size(3)[1] * 3 + 2 * exports.PNG_SECTION_PX  # three sections, two heading bands
    _, stamped = exports.comparison_figure(result, prov, panels=panels)
    assert _png_size(data) == (grid_w, grid_h + exports.header_px(stamped, grid_w))
    meta = exports.png_metadata(data)["record"]
    assert meta["settings"] == {"difference images": "per variant scale", "zoom": "center 4×"}
    by_section: dict[str, list[dict]] = {}
    for p in meta["panels"]:
        by_section.setdefault(p["section"], []).append(p)
    assert [p["variant"] for p in by_section["input"]] == ["v0", "v1", "v2"]
    assert [p["variant"] for p in by_section["difference"]] == ["v1", "v2"]  # the reference has none
    assert [p["variant"] for p in by_section["zoom"]] == ["v0", "v1", "v2"]
    maps, _ = results.difference_maps(result)
    scales = results.difference_scales(maps, "per variant")
    assert [p["scale"][1] for p in by_section["difference"]] == pytest.approx(scales[1:], abs=1e-5)
    pixels = _pixels(data)

    def region(p: dict) -> np.ndarray:
        left, top, right, bottom = p["box"]
        return pixels[top + 4:bottom - 4, left + 4:right - 4]

    for p in by_section["input"] + by_section["zoom"]:  # the gray inputs stay gray
        r = region(p)
        assert np.abs(r[..., 0] - r[..., 1]).max() <= 2 and np.abs(r[..., 1] - r[..., 2]).max() <= 2
    for p in by_section["difference"]:  # magma: colored, and a difference, not a copy of the input
        r = region(p)
        assert np.abs(r[..., 0] - r[..., 2]).mean() > 20
    # each box lies below the previous section: inputs, then differences, then zoom insets
    assert by_section["input"][0]["box"][3] < by_section["difference"][0]["box"][1] < by_section["zoom"][0]["box"][1]


def test_compare_png_draws_merged_variants_and_records_every_spec() -> None:
    result = gray_ramp_result(3)
    twin = result.variants[1]
    result.variants.append(VariantResult(variant=Variant(name="v1b"), display=twin.display.copy(), top5=twin.top5,
                                         layers=twin.layers, pooled=twin.pooled.copy()))
    view = results.merge_same_inputs(result, results.same_input_groups(result))
    prov = exports.Provenance("Compare", "x", result, settings={"identical inputs": "v1 = v1b"})
    meta = exports.png_metadata(exports.comparison_png(view, prov, panels=exports.ComparePanels("shared")))["record"]
    assert [p["variant"] for p in meta["panels"] if p["section"] == "input"] == ["v0", "v1 = v1b", "v2"]
    assert [v["name"] for v in meta["variants"]] == ["v0", "v1", "v2", "v1b"]
    assert meta["settings"]["identical inputs"] == "v1 = v1b"


@pytest.fixture(scope="module")
def sound_result(model):  # noqa: ANN001, ANN201
    from components.session import decode_sample
    from core.inspect.engine import inspect

    signal = decode_sample("sound:tone")
    spec = Spectrogram()
    variants = [Variant(name="gray", channels="replicate", spectrogram=spec, resize=Resize(size=96, fit="stretch")),
                Variant(name="viridis at 8 kHz", channels="colormap", colormap="viridis",
                        spectrogram=spec.replace(sample_rate=8000, fmax=None), resize=Resize(size=96, fit="stretch"))]
    return inspect(signal, variants, model)


def test_audio_png_keeps_time_and_frequency_axes_and_the_analysis_rate(sound_result) -> None:  # noqa: ANN001
    prov = exports.Provenance("Audio", "sound: tone", sound_result)
    panels = exports.ComparePanels(differences="per variant")
    fig, stamped = exports.comparison_figure(sound_result, prov, panels=panels)
    drawn = [ax for ax in fig.axes if ax.axison]
    assert len(drawn) == 3  # two inputs and one difference image, each with its axes
    for ax in drawn:
        assert ax.get_xlabel() == "time (s)" and ax.get_ylabel() == "frequency (Hz)"
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks[0] == "0" and len(ticks) >= 3
        assert any(t.get_text().endswith("k") for t in ax.get_yticklabels())
    rate = sound_result.provenance["sample_rate"]
    meta = exports.png_metadata(exports.comparison_png(sound_result, prov, panels=panels))["record"]
    assert meta["settings"]["sound"] == f"{rate} Hz"
    rates = sorted({8000, Spectrogram().sample_rate})
    assert meta["settings"]["analysis rate"] == " and ".join(f"{r} Hz" for r in rates)
    inputs = [p for p in meta["panels"] if p["section"] == "input"]
    assert all(p["axes"]["x"] == "time (s)" and p["axes"]["y"] == "frequency (Hz)" for p in inputs)
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "analysed at 8000 Hz" in texts and f"analysed at {Spectrogram().sample_rate} Hz" in texts
    assert f"analysis rate 8000 Hz and {Spectrogram().sample_rate} Hz" in " ".join(stamped.lines(800))


# ----------------------------------------------------------------------------- 3. maps over a gray input


def _report(display: np.ndarray):  # noqa: ANN202
    from core.explain import CamReport, VariantCam

    cam = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8).repeat(4, 0).repeat(4, 1)
    v = VariantCam(name="turbo", class_index=1, class_label="goldfish", class_prob=0.5, map=cam, display=display,
                   agreement_spearman=None, agreement_iou=1.0, deletion_auc=0.1, insertion_auc=0.2,
                   deletion_curve=[1.0, 0.0], insertion_curve=[0.0, 1.0])
    return CamReport(model="efficientnet_lite0", method="gradcam", layer="stage7", target="reference", variants=[v],
                     seconds=0.1)


def test_maps_are_drawn_over_a_gray_input_by_default_at_the_chosen_opacity() -> None:
    from matplotlib import colormaps

    from components import cams

    turbo = colormaps["turbo"](np.linspace(0, 1, 32))[None, :, :3].repeat(32, 0).astype(np.float32)
    report = _report(turbo)
    fig = cams.cam_figure(report)
    image = np.asarray(next(t for t in fig.data if t.type == "image").z, dtype=np.int16)
    assert image.shape == (32, 32, 3)
    assert (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()  # gray, not a rainbow
    luma = turbo @ np.array(cams.LUMA, dtype=np.float32)
    assert np.abs(image[..., 0] - np.round(luma * 255)).max() <= 1  # its 601 luma
    assert next(t for t in fig.data if t.type == "heatmap").opacity == cams.OPACITY
    colored = cams.cam_figure(report, gray=False, opacity=0.85)
    z = np.asarray(next(t for t in colored.data if t.type == "image").z, dtype=np.int16)
    assert np.abs(z[..., 0] - z[..., 2]).max() > 100  # the input as the network receives it, when asked
    assert next(t for t in colored.data if t.type == "heatmap").opacity == 0.85


@pytest.mark.slow
def test_compare_page_map_base_and_opacity_are_page_options_in_the_link() -> None:
    variants = [Variant(name="rgb", resize=Resize(size=64)),
                Variant(name="turbo", channels="colormap", colormap="turbo", resize=Resize(size=64))]
    at = open_app("pages/compare.py", variants, compare_cam="1", compare_cam_opacity="0.85")
    ok(at)
    gray = next(t for t in at.toggle if t.key == "compare_cam_gray__widget")
    opacity = next(s for s in at.select_slider if s.key == "compare_cam_opacity__widget")
    assert gray.value is True and opacity.value == 0.85
    gray.set_value(False).run()
    ok(at)
    assert at.query_params["compare_cam_gray"] in ("0", ["0"])
    assert at.query_params["compare_cam_opacity"] in ("0.85", ["0.85"])
    assert any("at 85% opacity, over that variant's network input." in c.value for c in at.caption)
