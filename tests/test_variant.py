"""Variant: validation, JSON round trip, presets as data."""

import json

import pytest

from core.errors import InvalidVariant
from core.preprocess.presets import get_preset, preset_names
from core.preprocess.variant import (
    Blur,
    Jpeg,
    Median,
    Noise,
    Resize,
    Spectrogram,
    Variant,
    VariantSet,
)


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_round_trips_through_json(name):
    variants = get_preset(name)
    assert len(variants) >= 2
    back = VariantSet.from_json(variants.to_json(indent=2))
    assert back == variants
    assert [v.to_json() for v in back] == [v.to_json() for v in variants]


def test_full_variant_round_trips():
    v = Variant(
        name="everything",
        resize=Resize(size=160, method="lanczos", antialias=True, backend="pil", fit="letterbox"),
        channels="colormap",
        colormap="magma",
        gray="709",
        normalize="imagenet",
        degrade=(Jpeg(quality=30), Noise(snr_db=12.5, seed=7), Blur(sigma=1.5), Median(size=5)),
        spectrogram=Spectrogram(kind="stft", n_fft=512, hop=128, fmax=4000.0, db_range=(-60, 0)),
    )
    d = json.loads(json.dumps(v.to_dict()))
    assert Variant.from_dict(d) == v
    assert Variant.from_dict(d).spectrogram.db_range == (-60.0, 0.0)


def test_spec_key_ignores_name_only():
    a = Variant(name="a")
    assert a.spec_key() == a.replace(name="b").spec_key()
    assert a.spec_key() != a.replace(channels="replicate").spec_key()


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"resize": {"method": "lanczos", "backend": "torch"}}, "backend pil"),
        ({"resize": {"method": "nearest", "antialias": True}}, "antialias on"),
        ({"resize": {"method": "bicubic", "antialias": False, "backend": "pil"}}, "antialias off"),
        ({"resize": {"size": 8}}, "resize.size"),
        ({"channels": "colormap:nope"}, "Unknown colormap"),
        ({"channels": "colormap", "colormap": "nope"}, "Unknown colormap"),
        ({"colormap": "jet"}, "applies only with channels 'colormap'"),
        ({"channels": "colormap:jet", "colormap": "magma"}, "disagree"),
        ({"resize": {"size": "224"}}, "resize.size must be an integer"),
        ({"resize": {"size": 224.0}}, "resize.size must be an integer"),
        ({"resize": {"antialias": 1}}, "resize.antialias must be true or false"),
        ({"degrade": [{"kind": "noise", "snr_db": float("nan")}]}, "finite number"),
        ({"spectrogram": {"db_range": [1]}}, "pair"),
        ({"channels": "replicate:x"}, "Only colormap"),
        ({"channels": "grayish"}, "channels must be one of"),
        ({"normalize": "zscore"}, "normalize must be one of"),
        ({"degrade": [{"kind": "jpeg", "quality": 0}]}, r"degrade\[1\] jpeg.quality must be between 1 and 95; got 0"),
        ({"degrade": [{"kind": "median", "size": 4}]}, "odd"),
        ({"degrade": [{"kind": "sharpen"}]}, "kind among"),
        ({"name": ""}, "non-empty name"),
        ({"colour": "x"}, "unknown field"),
        ({"spectrogram": {"hop": 2048, "n_fft": 512}}, "must not exceed"),
    ],
)
def test_invalid_variants_are_refused_with_a_message(kwargs, fragment):
    d = Variant().to_dict()
    for k, val in kwargs.items():
        if isinstance(val, dict) and isinstance(d.get(k), dict):
            d[k] = {**d[k], **val}
        else:
            d[k] = val
    with pytest.raises(InvalidVariant, match=fragment):
        Variant.from_dict(d)


def test_variant_set_rules():
    with pytest.raises(InvalidVariant, match="unique"):
        VariantSet.from_json(json.dumps([Variant(name="x").to_dict()] * 2))
    with pytest.raises(InvalidVariant, match="unique"):
        VariantSet.of([Variant(name="x"), Variant(name="x")])
    with pytest.raises(InvalidVariant, match="not valid JSON"):
        VariantSet.from_json("{nope")
    with pytest.raises(InvalidVariant, match="non-empty list"):
        VariantSet.from_json("[]")
    with pytest.raises(InvalidVariant, match="At most 16"):
        VariantSet.of([Variant(name=str(i)) for i in range(17)])
    with pytest.raises(InvalidVariant, match="Variant 2"):
        VariantSet.from_json(json.dumps([Variant().to_dict(), {"name": "b", "normalize": 3}]))
    vs = VariantSet.of([Variant(name="a"), Variant(name="b")])
    assert vs.reference.name == "a" and vs.moved(1, -1).names == ["b", "a"]
    assert vs.appended(Variant(name="c")).names == ["a", "b", "c"] and vs.removed(0).names == ["b"]
    assert vs.unique_name("a") == "a 2" and vs.unique_name("z") == "z"
    with pytest.raises(InvalidVariant, match="unique"):
        vs.with_variant(1, Variant(name="a"))


def test_old_one_string_colormap_form_is_read_into_the_new_fields():
    old = {"name": "v", "channels": "colormap:turbo"}
    v = Variant.from_dict(old)
    assert (v.channels, v.colormap) == ("colormap", "turbo")
    assert v.to_dict()["channels"] == "colormap" and v.to_dict()["colormap"] == "turbo"
    assert Variant.from_dict({"channels": "colormap"}).colormap == "viridis"  # the documented default
    # a preset file in the old form and one in the new form give the same set
    assert VariantSet.from_obj([old]) == VariantSet.from_obj([v.to_dict()])


def test_replace_clears_a_field_whose_condition_no_longer_holds():
    v = Variant(name="c", channels="colormap", colormap="magma")
    assert v.replace(channels="replicate").colormap is None
    assert v.replace(channels="replicate", colormap=None) == v.replace(channels="replicate")
    with pytest.raises(InvalidVariant, match="applies only"):
        v.replace(channels="replicate", colormap="jet")


def test_integer_and_float_numbers_give_the_same_cache_key():
    a = Variant.from_dict({"degrade": [{"kind": "noise", "snr_db": 10}], "spectrogram": {"fmin": 0, "top_db": 80}})
    b = Variant.from_dict(
        {"degrade": [{"kind": "noise", "snr_db": 10.0}], "spectrogram": {"fmin": 0.0, "top_db": 80.0}}
    )
    assert a.spec_key() == b.spec_key()
