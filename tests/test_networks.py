"""Your own network (issue 20): cards for timm / torchvision architectures with a user's checkpoint and classes.

Small random-init timm models of five families are saved as safetensors, registered through cards and run through
inspect, a small sweep and an activation map; refusals are one sentence; timm's and torch's hubs are never called.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import PrepscopeError
from core.preprocess.variant import Resize, Variant

SIZE = 64
CLASSES = ("ants", "bees")
FAMILIES = ["resnet10t", "convnext_atto", "mobilenetv3_small_050", "regnetx_002", "vit_tiny_patch16_224"]
VARIANTS = [Variant(name="rgb", resize=Resize(size=SIZE), channels="rgb"),
            Variant(name="gray", resize=Resize(size=SIZE), channels="replicate")]


@pytest.fixture(autouse=True)
def no_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """Every function through which timm or torch could fetch weights raises (and is recorded); each test also
    gets its own networks folder."""
    import timm.models._builder as builder
    import timm.models._hub as hub
    import torch.hub

    calls: list[str] = []

    def refuse(name: str):
        def f(*a, **k):
            calls.append(name)
            raise AssertionError(f"{name} called: prepscope must never download")
        return f

    for mod, names in ((hub, ("download_cached_file", "load_state_dict_from_hf", "download_from_hf",
                              "load_model_config_from_hf")),
                       (builder, ("download_cached_file", "load_state_dict_from_url", "load_state_dict_from_hf")),
                       (torch.hub, ("load_state_dict_from_url", "download_url_to_file"))):
        for n in names:
            if hasattr(mod, n):
                monkeypatch.setattr(mod, n, refuse(f"{mod.__name__}.{n}"))
    monkeypatch.setenv("PREPSCOPE_NETWORKS_DIR", str(tmp_path / "networks"))
    yield calls
    assert calls == [], f"hub functions were called: {calls}"


def save_random(arch: str, path: Path, num_classes: int = 2, in_chans: int = 3, seed: int = 0) -> Path:
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    kw = {"img_size": SIZE} if arch.startswith("vit") else {}
    m = timm.create_model(arch, pretrained=False, num_classes=num_classes, in_chans=in_chans, **kw)
    save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(path))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("arch", FAMILIES)
def test_every_family_runs_inspect_sweep_and_cam_through_its_card(arch: str, tmp_path: Path, chelsea_signal) -> None:
    import timm

    from core.evaluate.datasets import builtin_digits
    from core.evaluate.sweep import evaluate_sweep
    from core.explain import explain
    from core.inspect.engine import inspect
    from core.models import load_model, model_names
    from core.models.install import add_network

    ckpt = save_random(arch, tmp_path / f"{arch}.safetensors")
    add_network(f"my-{arch}", arch, ckpt, CLASSES, input_size=SIZE)
    assert f"my-{arch}" in model_names()
    model = load_model(f"my-{arch}")
    assert model.labels == list(CLASSES) and model.input_size == SIZE
    kw = {"img_size": SIZE} if arch.startswith("vit") else {}
    reference = timm.create_model(arch, pretrained=False, num_classes=2, **kw)
    assert model.layer_names == [f["module"] for f in reference.feature_info]

    res = inspect(chelsea_signal, VARIANTS, model)
    assert {p.label for p in res.variants[0].top5} == set(CLASSES)
    assert len(res.variants[1].layers) == len(reference.feature_info)
    for lr in res.variants[1].layers:
        assert lr.cka is not None and np.isfinite(lr.similarity)
        assert lr.fmap is None or lr.fmap.ndim >= 2
    has_bn = arch not in ("convnext_atto", "vit_tiny_patch16_224")
    assert model.has_batchnorm is has_bn
    assert (res.variants[1].layers[0].bn_shift is not None) is has_bn

    cams = explain(chelsea_signal, VARIANTS, model, method="gradcam")
    for c in cams.variants:
        assert c.map.shape == (SIZE, SIZE) and np.isfinite(c.map).all() and c.class_label in CLASSES
    assert cams.variants[0].map.max() > 0

    ds = builtin_digits().sample_per_class(3, seed=0)
    sweep = evaluate_sweep(ds, VARIANTS[1:], model, cache_dir=tmp_path / "cache", batch_size=8, cv="none",
                           test_fraction=0.5)
    assert sweep.variants[0].n_test > 0 and 0.0 <= sweep.variants[0].accuracy <= 1.0
    assert sweep.provenance["model"] == f"my-{arch}"
    if not has_bn:
        with pytest.raises(PrepscopeError, match="no BatchNorm"):
            evaluate_sweep(ds, VARIANTS[1:], model, cache_dir=tmp_path / "cache", batch_size=8, cv="none",
                           test_fraction=0.5, adapt="bn")


@pytest.mark.slow
def test_vit_tokens_are_reshaped_to_the_grid_read_from_the_model(tmp_path: Path) -> None:
    from core.models import load_model
    from core.models.install import add_network

    add_network("vit", "vit_tiny_patch16_224", save_random("vit_tiny_patch16_224", tmp_path / "v.safetensors"),
                CLASSES, input_size=SIZE)
    model = load_model("vit")
    maps, pooled, logits = model.forward_layers(torch.zeros(2, 3, SIZE, SIZE))
    assert all(m.shape == (2, 192, SIZE // 16, SIZE // 16) for m in maps)
    tokens = torch.arange(2 * 17 * 3, dtype=torch.float32).reshape(2, 17, 3)  # 1 class token + 4x4 patches
    grid = model.reshape_transform(tokens)
    assert grid.shape == (2, 3, 4, 4)
    assert torch.equal(grid[0, :, 0, 1], tokens[0, 2])  # patch 1 (after the class token) at row 0, column 1
    assert model.layers[-1].path == "blocks.11.norm1"  # after the last block only the class token has a gradient

    # fine-tuning the stem trains the patch embedding, on a private copy
    from core.evaluate.datasets import builtin_digits
    from core.evaluate.sweep import evaluate_sweep

    assert model.first_conv is model.module.patch_embed.proj
    before = model.first_conv.weight.clone()
    res = evaluate_sweep(builtin_digits().sample_per_class(3, seed=0), VARIANTS[1:], model, method="finetune",
                         cache_dir=tmp_path / "cache", batch_size=8, cv="none", test_fraction=0.5)
    assert res.variants[0].n_test > 0 and torch.equal(model.first_conv.weight, before)


def test_refusals_are_one_sentence_each(tmp_path: Path) -> None:
    import timm

    from core.models import load_model
    from core.models.install import add_network
    from core.models.networks import NetworkError, networks_dir, read_card

    good = save_random("resnet10t", tmp_path / "r.safetensors")
    with pytest.raises(NetworkError, match=r"Unknown architecture 'no_such_net'"):
        add_network("x", "no_such_net", good, CLASSES)
    with pytest.raises(NetworkError, match=r"head has 2 outputs but the classes list names 3; give exactly 2"):
        add_network("x", "resnet10t", good, ("a", "b", "c"))
    with pytest.raises(NetworkError, match=r"head has 2 outputs, not ImageNet's 1000; give the class names"):
        add_network("x", "resnet10t", good)
    wrong = save_random("convnext_atto", tmp_path / "c.safetensors")
    with pytest.raises(NetworkError, match=r"c.safetensors does not fit convnext_femto: .* is \(40,.*\) in the "
                                           r"checkpoint but \(48,.*\) in the architecture"):
        add_network("x", "convnext_femto", wrong, CLASSES)
    gray = save_random("resnet10t", tmp_path / "g.safetensors", in_chans=1)
    with pytest.raises(NetworkError, match=r"first conv's input channels: check --in-chans"):
        add_network("x", "resnet10t", gray, CLASSES)
    pickled = tmp_path / "model.pt"
    torch.save(timm.create_model("resnet10t", pretrained=False, num_classes=2), pickled)
    with pytest.raises(NetworkError, match=r"model.pt is a pickle .* weights_only=True refused it; save "
                                           r"model.state_dict\(\)"):
        add_network("x", "resnet10t", pickled, CLASSES)
    with pytest.raises(NetworkError, match=r"Network name '../evil' is not allowed"):
        add_network("../evil", "resnet10t", good, CLASSES)
    with pytest.raises(NetworkError, match=r"built-in model"):
        add_network("efficientnet_lite0", "resnet10t", good, CLASSES)
    assert not networks_dir().exists() or list(networks_dir().iterdir()) == []  # nothing written by a refusal

    # a weights-only .pt state_dict with a DDP prefix is read by timm's loader
    sd = {f"module.{k}": v for k, v in timm.create_model("resnet10t", pretrained=False, num_classes=2)
          .state_dict().items()}
    torch.save(sd, tmp_path / "ddp.pt")
    add_network("ddp", "resnet10t", tmp_path / "ddp.pt", CLASSES, input_size=SIZE)
    assert load_model("ddp").labels == list(CLASSES)

    add_network("ok", "resnet10t", good, CLASSES, input_size=SIZE)
    ckpt = networks_dir() / read_card("ok").checkpoint
    data = bytearray(ckpt.read_bytes())
    data[-1] ^= 0xFF
    ckpt.write_bytes(bytes(data))
    load_model.__globals__["_cached"].cache_clear()
    with pytest.raises(PrepscopeError, match=r"has changed since the card was written \(SHA-256 differs\)"):
        load_model("ok")

    card = json.loads((networks_dir() / "ok.json").read_text())
    card["checkpoint"] = "../r.safetensors"
    (networks_dir() / "outside.json").write_text(json.dumps({**card, "name": "outside"}))
    with pytest.raises(PrepscopeError, match=r"lies outside the networks folder"):
        load_model("outside")
    (networks_dir() / "bad.json").write_text(json.dumps({**card, "name": "bad", "in_chans": 2}))
    with pytest.raises(PrepscopeError, match=r"bad.json is not a valid network card: in_chans"):
        read_card("bad")
    from core.models import model_names

    assert "bad" not in model_names() and "ok" in model_names()  # pickers list only valid cards


@pytest.mark.slow
def test_one_channel_network_takes_the_gray_of_rgb_variants(tmp_path: Path, chelsea_signal) -> None:
    from core.explain import explain
    from core.inspect.engine import inspect
    from core.models import load_model
    from core.models.install import add_network

    card = add_network("gray", "resnet10t", save_random("resnet10t", tmp_path / "g.safetensors", in_chans=1),
                       CLASSES, in_chans=1, input_size=SIZE)
    assert card.in_chans == 1 and len(set(card.recipe.mean)) == 1  # one channel: one mean on all three entries
    model = load_model("gray")
    assert model.first_conv.in_channels == 1
    res = inspect(chelsea_signal, VARIANTS, model)
    assert {p.label for p in res.variants[0].top5} == set(CLASSES)
    cams = explain(chelsea_signal, VARIANTS, model, method="gradcam")
    assert cams.variants[1].map.shape == (SIZE, SIZE)


@pytest.mark.slow
def test_cli_add_list_show_inspect_sweep_remove(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from PIL import Image

    from core.__main__ import main

    rng = np.random.default_rng(0)
    for cls in CLASSES:
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "data" / cls / f"{i}.png")
    photo = tmp_path / "data" / "ants" / "0.png"

    ckpt = save_random("resnet10t", tmp_path / "r.safetensors")
    (tmp_path / "classes.txt").write_text("ants\nbees\n")
    assert main(["networks", "add", "antbee", "--arch", "resnet10t", "--checkpoint", str(ckpt),
                 "--classes", str(tmp_path / "classes.txt"), "--input-size", str(SIZE)]) == 0
    out = capsys.readouterr().out
    assert "recipe: input 64 px" in out and "layer4" in out and "use --model antbee" in out
    assert main(["networks", "list"]) == 0 and "antbee" in capsys.readouterr().out
    assert main(["networks", "show", "antbee"]) == 0 and '"architecture": "resnet10t"' in capsys.readouterr().out
    assert main(["models"]) == 0 and "antbee" in capsys.readouterr().out
    assert main(["inspect", str(photo), "--model", "antbee", "--preset", "channels", "--cam", "gradcam"]) == 0
    out = capsys.readouterr().out
    assert "your checkpoint antbee.safetensors" in out and ("ants" in out or "bees" in out)
    assert main(["sweep", "--train", str(photo.parents[1]), "--max-per-class", "3", "--model", "antbee",
                 "--method", "zeroshot", "--no-record", "--quiet", "--batch", "8"]) == 0
    assert "zeroshot" in capsys.readouterr().out
    assert main(["networks", "remove", "antbee"]) == 0
    assert main(["networks", "show", "antbee"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: No network named 'antbee'") and err.count("\n") == 1
    assert main(["networks", "add", "x", "--arch", "resnet10t", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert capsys.readouterr().err == f"error: Checkpoint not found: {tmp_path / 'none.pt'}.\n"


def test_multi_model_sweeps_accept_card_names(tmp_path: Path) -> None:
    from core.evaluate.multimodel import parse_models
    from core.models.install import add_network

    add_network("mine", "resnet10t", save_random("resnet10t", tmp_path / "r.safetensors"), CLASSES, input_size=SIZE)
    assert parse_models("efficientnet_lite0,mine") == ["efficientnet_lite0", "mine"]
    with pytest.raises(PrepscopeError, match="Unknown model"):
        parse_models("nope")


def test_links_carry_a_network_name_and_say_when_this_server_lacks_it(tmp_path: Path) -> None:
    from components.session import from_params, to_params
    from core.models.install import add_network

    session, warnings = from_params({"model": "antbee"})
    assert session.model == "efficientnet_lite0"
    assert "model 'antbee', which is not available on this server" in warnings[0]
    add_network("antbee", "resnet10t", save_random("resnet10t", tmp_path / "r.safetensors"), CLASSES,
                input_size=SIZE)
    session, warnings = from_params({"model": "antbee"})
    assert session.model == "antbee" and warnings == []
    assert to_params(session)["model"] == "antbee"


@pytest.mark.slow
def test_a_torchvision_classifier_reads_its_conv_stages_through_hooks(tmp_path: Path, chelsea_signal) -> None:
    import torchvision

    from core.explain import explain
    from core.inspect.engine import inspect
    from core.models import load_model
    from core.models.install import add_network

    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=2)
    torch.save(net.state_dict(), tmp_path / "tv.pth")
    card = add_network("tv", "torchvision:resnet18", tmp_path / "tv.pth", CLASSES, input_size=SIZE)
    assert card.recipe.interpolation == "bilinear"  # torchvision's default weights' transforms
    model = load_model("tv")
    assert model.layer_names == ["conv1", "layer1", "layer2", "layer3", "layer4"]
    assert model.feature_dim == 512 and model.has_batchnorm
    x = torch.randn(2, 3, SIZE, SIZE)
    maps, pooled, logits = model.forward_layers(x)
    net.eval()
    with torch.inference_mode():
        assert torch.allclose(logits.cpu(), net(x), atol=1e-5)  # the hooked forward is the network's own
    assert [m.shape[1] for m in maps] == [64, 64, 128, 256, 512]
    res = inspect(chelsea_signal, VARIANTS, model)
    assert res.variants[1].layers[-1].cka is not None
    assert explain(chelsea_signal, VARIANTS, model, method="gradcam").variants[0].map.max() > 0


def test_a_hand_written_toml_card_is_read_like_a_json_one(tmp_path: Path) -> None:
    from core.models import load_model, model_names
    from core.models.install import add_network
    from core.models.networks import networks_dir, read_card, remove_card

    add_network("j", "resnet10t", save_random("resnet10t", tmp_path / "r.safetensors"), CLASSES, input_size=SIZE)
    card = read_card("j")
    r = card.recipe
    (networks_dir() / "j.safetensors").rename(networks_dir() / "t.safetensors")
    (networks_dir() / "j.json").unlink()
    (networks_dir() / "t.toml").write_text(
        f'name = "t"\narchitecture = "resnet10t"\ncheckpoint = "t.safetensors"\nsha256 = "{card.sha256}"\n'
        f'classes = ["ants", "bees"]\n[recipe]\ninput_size = {r.input_size}\ninterpolation = "{r.interpolation}"\n'
        f"crop_pct = {r.crop_pct}\nmean = {list(r.mean)}\nstd = {list(r.std)}\n", encoding="utf-8")
    assert "t" in model_names() and load_model("t").labels == list(CLASSES)
    remove_card("t")
    assert list(networks_dir().iterdir()) == []
    (networks_dir() / "u.toml").write_text("name = ", encoding="utf-8")
    with pytest.raises(PrepscopeError, match=r"u.toml is not valid TOML"):
        read_card("u")


class _Upload:
    """What st.file_uploader hands the page: a name, a size and the bytes."""

    def __init__(self, path: Path) -> None:
        self.name, self._data = path.name, path.read_bytes()
        self.size = len(self._data)

    def getvalue(self) -> bytes:
        return self._data


def test_page_uploads_are_bounded_checked_and_refused_with_a_sentence(tmp_path: Path, monkeypatch) -> None:
    import timm

    from components import networks as page
    from core.models.networks import NetworkError, card_names

    ckpt = _Upload(save_random("resnet10t", tmp_path / "r.safetensors"))
    (tmp_path / "classes.txt").write_text("ants\nbees\n")
    classes = _Upload(tmp_path / "classes.txt")
    monkeypatch.setattr(page, "MAX_UPLOAD_BYTES", ckpt.size - 1)
    with pytest.raises(NetworkError, match=r"r.safetensors is \d+ MB; uploads are limited to"):
        page.add_from_uploads("n", "resnet10t", ckpt, classes, "", 3, SIZE)
    monkeypatch.setattr(page, "MAX_UPLOAD_BYTES", 2**30)
    with pytest.raises(NetworkError, match=r"Upload the checkpoint"):
        page.add_from_uploads("n", "resnet10t", None, classes, "", 3, SIZE)
    torch.save(timm.create_model("resnet10t", pretrained=False, num_classes=2), tmp_path / "m.pt")
    with pytest.raises(NetworkError, match=r"m.pt is a pickle"):
        page.add_from_uploads("n", "resnet10t", _Upload(tmp_path / "m.pt"), classes, "", 3, SIZE)
    (tmp_path / "w.bin").write_bytes(b"x")
    with pytest.raises(NetworkError, match=r"w.bin is not a checkpoint prepscope reads"):
        page.add_from_uploads("n", "resnet10t", _Upload(tmp_path / "w.bin"), classes, "", 3, SIZE)
    assert card_names() == []
    card = page.add_from_uploads("n", "resnet10t", ckpt, None, "ants\nbees", 3, SIZE)  # names typed, not a file
    assert card.classes == CLASSES and card_names() == ["n"]


def test_networks_page_refuses_an_incomplete_form_in_the_page() -> None:
    from tests.apptest import ok, open_app, plain

    at = open_app("pages/networks.py")
    ok(at)
    assert any("None yet" in c.value for c in at.caption)
    submit = next(b for b in at.button if b.label == "Check and add")
    submit.click().run()
    ok(at)
    assert [plain(e.value) for e in at.error] == [
        "Give the network a name and an architecture (a timm model name, or torchvision:BUILDER)."]


def _first_conv_inputs(model) -> list[torch.Tensor]:
    """Every input the network's first conv receives from now on (hooked on the shared module)."""
    seen: list[torch.Tensor] = []
    model.first_conv.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach().clone()))
    return seen


@pytest.mark.slow
def test_native_gives_a_one_channel_network_exactly_the_normalized_gray(tmp_path: Path, chelsea_signal) -> None:
    """``native``: the first conv's one input channel is the gray normalized with the card's one mean/std, bit for
    bit; ``replicate`` on the same network is the average of the three per-channel normalizations, which differs
    from it by the affine map the card's per-channel statistics imply (and equals it when they are one value)."""
    from core.evaluate.sameinput import spec_reason
    from core.inspect.engine import inspect
    from core.models import load_model
    from core.models.install import add_network
    from core.models.networks import default_recipe, recipe_with
    from core.preprocess.pipeline import prepare_grid

    mean, std = (0.2, 0.5, 0.8), (0.1, 0.3, 0.5)  # a card with its own per-channel statistics
    recipe = recipe_with(default_recipe("resnet10t", 1, SIZE), mean=mean, std=std)
    ckpt = save_random("resnet10t", tmp_path / "g.safetensors", in_chans=1)
    add_network("gray", "resnet10t", ckpt, CLASSES, in_chans=1, recipe=recipe)
    model = load_model("gray")
    seen = _first_conv_inputs(model)
    native = Variant(name="native", resize=Resize(size=SIZE), channels="native")
    replicate = Variant(name="replicate", resize=Resize(size=SIZE), channels="replicate")
    inspect(chelsea_signal, [native, replicate], model)
    x = next(t for t in seen if t.shape[0] == 2)
    assert x.shape == (2, 1, SIZE, SIZE)

    shown = prepare_grid([chelsea_signal], [native], mean, std)[0][0].display
    g = torch.from_numpy(np.ascontiguousarray(shown[..., 0]))
    m, s = torch.tensor(mean), torch.tensor(std)
    assert torch.equal(x[0, 0], (g - m.mean()) / s.mean())  # exactly the normalized gray
    per_channel = ((g[None] - m[:, None, None]) / s[:, None, None]).mean(dim=0)
    torch.testing.assert_close(x[1, 0], per_channel, rtol=0, atol=1e-5)
    assert (x[1, 0] - x[0, 0]).abs().max() > 0.5  # the per-channel statistics make replicate another input

    add_network("gray1", "resnet10t", ckpt, CLASSES, in_chans=1, input_size=SIZE)  # one mean/std (the default)
    one = load_model("gray1")
    seen = _first_conv_inputs(one)
    inspect(chelsea_signal, [native, replicate], one)
    x = next(t for t in seen if t.shape[0] == 2)
    assert torch.equal(x[0], x[1])
    reason = spec_reason([replicate, native], mean=one.mean, std=one.std)
    assert reason is not None and "native equals replicate" in reason


@pytest.mark.slow
def test_native_flows_through_sweeps_links_and_json_and_is_refused_on_three_channels(
        tmp_path: Path, chelsea_signal, capsys: pytest.CaptureFixture) -> None:
    from PIL import Image

    from components.session import decode_variants, encode_variants
    from core.__main__ import main
    from core.errors import InvalidVariant
    from core.evaluate.datasets import builtin_digits
    from core.evaluate.sweep import evaluate_sweep
    from core.models import MODELS, load_model
    from core.models.install import add_network
    from core.preprocess.recipe import for_network, resolve
    from core.preprocess.variant import VariantSet

    native = Variant(name="native", resize=Resize(size=SIZE), channels="native")
    assert Variant.from_dict(json.loads(json.dumps(native.to_dict()))) == native
    assert VariantSet.from_json(VariantSet.of([native]).to_json())[0].channels == "native"
    assert list(decode_variants(encode_variants([VARIANTS[0], native]))) == [VARIANTS[0], native]  # links

    add_network("gray", "resnet10t", save_random("resnet10t", tmp_path / "g.safetensors", in_chans=1), CLASSES,
                in_chans=1, input_size=SIZE)
    ds = builtin_digits().sample_per_class(3, seed=0)
    sweep = evaluate_sweep(ds, [VARIANTS[1], native], load_model("gray"), cache_dir=tmp_path / "cache",
                           batch_size=8, cv="none", test_fraction=0.5)
    assert [v.name for v in sweep.variants] == ["gray", "native"]
    assert sweep.variants[1].n_test > 0
    assert sweep.variants[1].same_input_as == "gray"  # one mean/std: replicate is the same one-channel input

    with pytest.raises(InvalidVariant) as refused:
        for_network([native], MODELS["efficientnet_lite0"])
    assert resolve([native], MODELS["efficientnet_lite0"]) == [native]  # a form reading the resize never raises
    msg = str(refused.value)
    assert msg.count(". ") == 0 and msg.endswith(".")
    assert "efficientnet_lite0 takes 3 channels; use replicate" in msg and "conv-sum" in msg
    add_network("rgbnet", "resnet10t", save_random("resnet10t", tmp_path / "r.safetensors"), CLASSES,
                input_size=SIZE)
    with pytest.raises(InvalidVariant, match="rgbnet takes 3 channels"):
        evaluate_sweep(ds, [native], load_model("rgbnet"), cache_dir=tmp_path / "cache", batch_size=8, cv="none",
                       test_fraction=0.5)
    (tmp_path / "v.json").write_text(VariantSet.of([native]).to_json())
    photo = tmp_path / "p.png"
    Image.fromarray((np.asarray(chelsea_signal.array) * 255).round().astype(np.uint8)).save(photo)
    assert main(["inspect", str(photo), "--model", "rgbnet", "--variants", str(tmp_path / "v.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Variant 'native' uses channels 'native'") and err.count("\n") == 1
    assert main(["inspect", str(photo), "--model", "gray", "--variants", str(tmp_path / "v.json")]) == 0


def test_own_head_wording_in_zeroshot_cams_and_the_cam_class_help(tmp_path: Path, chelsea_signal,
                                                                   capsys: pytest.CaptureFixture) -> None:
    from core.__main__ import main
    from core.errors import InvalidDataset
    from core.evaluate.methods import get_method
    from core.explain import explain
    from core.models import load_model
    from core.models.install import add_network

    add_network("antbee", "resnet10t", save_random("resnet10t", tmp_path / "r.safetensors"), CLASSES,
                input_size=SIZE)
    model = load_model("antbee")
    zeroshot = get_method("zeroshot")
    with pytest.raises(InvalidDataset) as refused:
        zeroshot.check(["ants", "wasps"], model)
    assert "ImageNet" not in str(refused.value) and "antbee's own classes ('ants', 'bees'); no match for 'wasps'" in (
        str(refused.value))
    assert "antbee head" in zeroshot.describe(["Ants", "bees"], model)["rule"]
    cams = explain(chelsea_signal, VARIANTS[:1], model, method="gradcam", target=1)
    assert cams.target == "antbee's class 1 (bees)"

    with pytest.raises(SystemExit):
        main(["inspect", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "class index of the model's head for --cam" in help_text and "ImageNet class index" not in help_text


@pytest.mark.slow
def test_the_example_trains_the_last_stage_only_when_asked(tmp_path: Path) -> None:
    """``examples/finetune_hymenoptera.py``: by default the checkpoint is Lite0's backbone unchanged with a new head;
    ``--last-stage N`` changes the last stage's weights too, and nothing before it."""
    import os
    import subprocess
    import sys

    from PIL import Image
    from safetensors.torch import load_file

    from core.models import load_model
    from tests.conftest import ROOT

    rng = np.random.default_rng(0)
    for ci, cls in enumerate(CLASSES):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(4):
            pixels = rng.integers(0, 255, (64, 80, 3)).astype(np.uint8)
            pixels[..., ci] //= 3
            Image.fromarray(pixels).save(tmp_path / "data" / cls / f"{i}.png")
    base = load_model("efficientnet_lite0").module.state_dict()
    for name, extra in (("head", []), ("stage", ["--last-stage", "2"])):
        cmd = [sys.executable, "examples/finetune_hymenoptera.py", "--data", str(tmp_path / "data"), "--out",
               str(tmp_path / name), "--name", name, "--steps", "5", *extra]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "PREPSCOPE_NETWORKS_DIR": str(tmp_path / "networks")})
        assert proc.returncode == 0, proc.stderr
        sd = load_file(str(tmp_path / name / f"{name}.safetensors"))
        changed = {k for k, v in sd.items() if k in base and v.shape == base[k].shape and not torch.equal(v, base[k])}
        assert all(k.startswith(("blocks.6.", "conv_head.", "bn2.")) for k in changed), sorted(changed)[:5]
        assert bool(changed) is (name == "stage")
        assert sd["classifier.weight"].shape == (2, 1280)
        assert (tmp_path / "networks" / f"{name}.json").is_file()


@pytest.mark.slow
def test_compare_with_native_on_a_three_channel_model_shows_the_sentence_not_a_traceback() -> None:
    from tests.apptest import ok, open_app, plain

    at = open_app("pages/compare.py", [Variant(name="rgb"), Variant(name="native", channels="native")],
                  sample="chelsea")
    ok(at)
    errors = [plain(e.value) for e in at.error]
    assert len(errors) == 1 and "efficientnet_lite0 takes 3 channels; use replicate" in errors[0], errors
