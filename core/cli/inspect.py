"""``python -m core inspect PATH``: compare variants on one image or sound, optionally with activation maps."""

from __future__ import annotations

import argparse

from core.cliutil import check_json_target, format_table, table_stream, write_json
from core.errors import PrepscopeError
from core.explain import attach, check_request, explain, parse_target
from core.explain.cam import METHODS as CAM_METHODS
from core.inspect.engine import inspect
from core.io import load_input
from core.models import DEFAULT_MODEL, load_model, model_names
from core.preprocess.presets import load_variant_set


def add_arguments(ins: argparse.ArgumentParser) -> None:
    """Declare ``inspect``'s options on ``ins``."""
    ins.add_argument("path", help="image (PNG, JPEG, GIF, BMP, TIFF, WebP) or sound (WAV, FLAC, OGG, MP3)")
    g = ins.add_mutually_exclusive_group()
    g.add_argument("--preset", help="named variant set (see `presets`); default: channels")
    g.add_argument("--variants", metavar="FILE.json", help="variant set as JSON (format of `presets NAME`)")
    ins.add_argument("--model", default=DEFAULT_MODEL, choices=model_names())
    ins.add_argument("--weights", metavar="STATE_DICT.pth", help="local state_dict for the architecture")
    ins.add_argument("--json", metavar="OUT", help="write the full result as JSON ('-' for stdout)")
    ins.add_argument("--cam", choices=list(CAM_METHODS), help="activation maps per variant (grad-cam): agreement "
                                                              "with the reference's map and deletion/insertion AUC")
    ins.add_argument("--cam-layer", metavar="NAME", help="named layer for --cam (default: the last one)")
    ins.add_argument("--cam-class", metavar="INDEX", help="class index of the model's head for --cam (ImageNet's "
                                                          "for the built-in models, a network card's own classes "
                                                          "for a card), or 'own' (each variant's top-1); default: "
                                                          "the reference's top-1")


def inspect_table(result, cams=None) -> str:
    """The human-readable inspect summary: one row per variant, the reference first; with ``cams`` (a
    ``core.explain.CamReport``) also the map's agreement with the reference's and its deletion/insertion AUC."""
    ref = result.reference
    ref_top5 = {p.index for p in ref.top5}
    rows = []
    for i, v in enumerate(result.variants):
        head, stem = v.layers[-1], v.layers[0]
        rows.append([
            v.name + (" (ref)" if v is ref else ""),
            v.top5[0].label,
            f"{v.top5[0].prob:.3f}",
            "yes" if v.top5[0].index == ref.top5[0].index else "no",
            f"{len(ref_top5 & {p.index for p in v.top5})}/5",
            f"{head.similarity:.3f}",
            "-" if head.cka is None else f"{head.cka:.3f}",
            "-" if stem.bn_shift is None else f"{stem.bn_shift:.2f}",
        ])
        if cams is not None:
            c = cams.variants[i]
            rows[-1] += ["-" if c.agreement_spearman is None else f"{c.agreement_spearman:.3f}",
                         f"{c.agreement_iou:.3f}", f"{c.deletion_auc:.3f}", f"{c.insertion_auc:.3f}"]
    header = ["variant", "top-1", "conf", "same top-1", "top-5 overlap", "cos(head)", "CKA(head)", "BN-shift(stem)"]
    if cams is not None:
        header += ["CAM rho", "CAM IoU15", "deletion", "insertion"]
    return format_table(rows, header)


def run(args: argparse.Namespace) -> int:
    """Inspect one input under the variant set; print the table (and write ``--json``)."""
    check_json_target(args.json)
    variants = load_variant_set(args.variants, args.preset, "channels")
    signal = load_input(args.path)
    model = load_model(args.model, args.weights)
    cams = None
    if args.cam is None and (args.cam_layer is not None or args.cam_class is not None):
        raise PrepscopeError("--cam-layer and --cam-class go with --cam METHOD.")
    if args.cam is not None:
        target = parse_target(args.cam_class)
        check_request(model, args.cam, args.cam_layer, target if isinstance(target, int) else None)
    result = inspect(signal, variants, model)
    if args.cam is not None:
        cams = explain(signal, variants, model, method=args.cam, layer=args.cam_layer, target=target)
    prov = result.provenance
    out = table_stream(args.json)
    print(f"input: {prov.get('name', args.path)}  digest {prov.get('digest')}  model: {model.description}", file=out)
    print(inspect_table(result, cams), file=out)
    print("cos(head): cosine of pooled head features vs the reference; CKA: linear CKA over positions; "
          "BN-shift: symmetric Gaussian KL to the stem BatchNorm's training statistics.", file=out)
    if cams is not None:
        print(f"CAM: {cams.conventions()}.", file=out)
    if args.json:
        data = result.to_dict()
        if cams is not None:
            attach(data, cams)
        write_json(args.json, data)
    return 0
