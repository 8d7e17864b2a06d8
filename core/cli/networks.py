"""``python -m core networks add|list|show|remove``: register your own network (``core.models.networks``).

``add`` builds the architecture offline, loads the checkpoint, runs one forward, prints the recipe and the
layers, and writes the card; the network is then a ``--model NAME`` everywhere a model is chosen.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from core.cliutil import format_table
from core.models import load_model, networks
from core.models.install import add_network
from core.models.networks import forward_check


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Declare ``networks add|list|show|remove`` on ``p``."""
    sub = p.add_subparsers(dest="networks_command", required=True)
    add = sub.add_parser("add", help="check a checkpoint against an architecture and register it as a card")
    add.add_argument("name", help="the network's name (letters, digits, '.', '_', '-')")
    add.add_argument("--arch", required=True, help="a timm model name (timm.list_models()) or torchvision:BUILDER")
    add.add_argument("--checkpoint", required=True, metavar="FILE",
                     help=".safetensors (preferred) or a .pt/.pth state_dict (read with weights_only=True)")
    add.add_argument("--classes", metavar="FILE", help="class names, one per line or a JSON list (default: ImageNet "
                                                       "when the head has 1000 outputs)")
    add.add_argument("--in-chans", type=int, choices=(1, 3), default=3, help="input channels the network takes")
    add.add_argument("--input-size", type=int, metavar="PX", help="input size (default: the architecture's)")
    add.add_argument("--interpolation", choices=("nearest", "bilinear", "bicubic"))
    add.add_argument("--crop-pct", type=float)
    add.add_argument("--mean", type=float, nargs=3, metavar=("R", "G", "B"))
    add.add_argument("--std", type=float, nargs=3, metavar=("R", "G", "B"))
    add.add_argument("--layers", metavar="A,B,...", help="named layers to report (default: every stage)")
    sub.add_parser("list", help="the registered networks")
    show = sub.add_parser("show", help="a network's card as JSON (without its class list past 20)")
    show.add_argument("name")
    rm = sub.add_parser("remove", help="delete a network's card and its checkpoint")
    rm.add_argument("name")


def describe(card, model) -> str:  # noqa: ANN001 - NetworkCard, LoadedModel
    """Recipe and layers of a loaded card, as printed by ``add`` and ``show``."""
    r = card.recipe
    classes = ", ".join(card.classes[:8]) + (f", … ({len(card.classes)} in all)" if len(card.classes) > 8 else "")
    lines = [f"network {card.name}: {card.architecture}, {card.in_chans} input channel(s), checkpoint "
             f"{card.checkpoint} (sha256 {card.sha256[:16]}…)",
             f"recipe: input {r.input_size} px, {r.interpolation}, crop_pct {r.crop_pct:g}, mean {list(r.mean)}, "
             f"std {list(r.std)}",
             f"classes: {classes}"]
    check = forward_check(model)
    shapes = dict((name, shape) for name, shape in check["layers"])
    rows = [[layer.name, "x".join(map(str, shapes[layer.name])), "BatchNorm" if layer.norm is not None else "-"]
            for layer in model.layers]
    lines.append(format_table(rows, ["layer", "output (C x H x W)", "statistics"]))
    top = ", ".join(f"{label} {p:.3f}" for label, p in check["top"])
    lines.append(f"test forward (a uniform input at the mean, {model.input_size} px): pooled features "
                 f"{check['pooled']}, top classes {top}")
    if not model.has_batchnorm:
        lines.append("no BatchNorm layers (a LayerNorm network): BN-shift and BatchNorm re-estimation do not apply.")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``networks add|list|show|remove`` as ``args`` say."""
    cmd = args.networks_command
    if cmd == "list":
        names = networks.card_names()
        if not names:
            print(f"no networks yet in {networks.networks_dir()} (python -m core networks add NAME --arch ARCH "
                  "--checkpoint FILE)")
            return 0
        rows = []
        for n in names:
            try:
                c = networks.read_card(n)
                rows.append([n, c.architecture, str(len(c.classes)), str(c.in_chans), str(c.recipe.input_size)])
            except networks.NetworkError as e:
                rows.append([n, f"unreadable: {e}", "", "", ""])
        print(format_table(rows, ["name", "architecture", "classes", "in_chans", "input"]))
        return 0
    if cmd == "remove":
        card = networks.remove_card(args.name)
        print(f"removed network {card.name} ({card.architecture}) and its checkpoint {card.checkpoint}")
        return 0
    if cmd == "show":
        card = networks.read_card(args.name)
        data = json.loads(card.model_dump_json())
        if len(data["classes"]) > 20:
            data["classes"] = [*data["classes"][:20], f"… {len(card.classes)} in all"]
        print(json.dumps(data, indent=2, ensure_ascii=False))
        print(describe(card, load_model(card.name)))
        return 0
    classes = None if args.classes is None else networks.read_classes(Path(args.classes))
    recipe = None
    if any(v is not None for v in (args.interpolation, args.crop_pct, args.mean, args.std)):
        given = {"interpolation": args.interpolation, "crop_pct": args.crop_pct, "mean": args.mean, "std": args.std}
        recipe = networks.recipe_with(networks.default_recipe(args.arch, args.in_chans, args.input_size),
                                      **{k: v for k, v in given.items() if v is not None})
    layers = tuple(x.strip() for x in (args.layers or "").split(",") if x.strip())
    card = add_network(args.name, args.arch, Path(args.checkpoint), classes, args.in_chans,
                       args.input_size, recipe, layers)
    print(describe(card, load_model(card.name)))
    print(f"added: use --model {card.name} (card {networks.networks_dir() / (card.name + '.json')})")
    return 0
