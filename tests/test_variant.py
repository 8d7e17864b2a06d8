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
    variants_from_json,
    variants_to_json,
)


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_round_trips_through_json(name):
    variants = get_preset(name)
    assert len(variants) >= 2
    back = variants_from_json(variants_to_json(variants))
    assert back == variants
    assert [v.to_json() for v in back] == [v.to_json() for v in variants]


def test_full_variant_round_trips():
    v = Variant(
        name="everything",
        resize=Resize(size=160, method="lanczos", antialias=True, backend="pil", fit="letterbox"),
        channels="colormap:magma",
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
        ({"channels": "replicate:x"}, "Only colormap"),
        ({"channels": "grayish"}, "channels must be one of"),
        ({"normalize": "zscore"}, "normalize must be one of"),
        ({"degrade": [{"kind": "jpeg", "quality": 0}]}, "jpeg.quality"),
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
        variants_from_json(json.dumps([Variant(name="x").to_dict()] * 2))
    with pytest.raises(InvalidVariant, match="not valid JSON"):
        variants_from_json("{nope")
    with pytest.raises(InvalidVariant, match="non-empty list"):
        variants_from_json("[]")
    with pytest.raises(InvalidVariant, match="Variant 2"):
        variants_from_json(json.dumps([Variant().to_dict(), {"name": "b", "normalize": 3}]))


def test_integer_and_float_numbers_give_the_same_cache_key():
    a = Variant.from_dict({"degrade": [{"kind": "noise", "snr_db": 10}], "spectrogram": {"fmin": 0, "top_db": 80}})
    b = Variant.from_dict(
        {"degrade": [{"kind": "noise", "snr_db": 10.0}], "spectrogram": {"fmin": 0.0, "top_db": 80.0}}
    )
    assert a.spec_key() == b.spec_key()
