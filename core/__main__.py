"""Command line: ``python -m core inspect|presets|models|fields|sweep|tune|runs|autoencode``.

A refused input (any PrepscopeError) exits with status 2 and one line ``error: <message>`` on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

from core.cliutil import format_table
from core.errors import PrepscopeError


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


def cmd_inspect(args: argparse.Namespace) -> int:
    from core.cliutil import check_json_target, table_stream, write_json
    from core.inspect.engine import inspect
    from core.io import load_input
    from core.models import load_model
    from core.preprocess.presets import load_variant_set

    check_json_target(args.json)
    variants = load_variant_set(args.variants, args.preset, "channels")
    signal = load_input(args.path)
    model = load_model(args.model, args.weights)
    cams = None
    if args.cam is None and (args.cam_layer is not None or args.cam_class is not None):
        raise PrepscopeError("--cam-layer and --cam-class go with --cam METHOD.")
    if args.cam is not None:
        from core.explain import check_request, parse_target

        target = parse_target(args.cam_class)
        check_request(model, args.cam, args.cam_layer, target if isinstance(target, int) else None)
    result = inspect(signal, variants, model)
    if args.cam is not None:
        from core.explain import explain

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
            from core.explain import attach

            attach(data, cams)
        write_json(args.json, data)
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    from core.preprocess.presets import get_preset, preset_description, preset_names, preset_question
    if args.name:
        q = preset_question(args.name)
        extra = {} if q is None else {"question": q.question, "sample": q.sample, "look_for": q.look_for}
        data = {"description": preset_description(args.name), **extra, **get_preset(args.name).to_dict()}
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    for name in preset_names():
        vs = get_preset(name)
        first_sentence = preset_description(name).split(". ")[0].rstrip(".") + "."
        print(f"{name:16s} {len(vs):2d} variants  {first_sentence}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from core.models import MODELS, model_spec
    from core.models.networks import card_names

    for spec in [*MODELS.values(), *(model_spec(n) for n in card_names() if n not in MODELS)]:
        dc = spec.data_config
        print(f"{spec.name:20s} {spec.architecture}; {spec.weights}; input {dc.input_size} px, {dc.interpolation}, "
              f"crop_pct {dc.crop_pct:g}, mean {list(dc.mean)}, std {list(dc.std)}")
    return 0


def cmd_fields(args: argparse.Namespace) -> int:
    from core.preprocess.schema import field_table

    rows = field_table()
    print(format_table([[r["field"], r["type"], r["values"], r["default"], r["help"]] for r in rows],
                       ["field", "type", "values", "default", "help"]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from core.models import DEFAULT_MODEL, model_names

    p = argparse.ArgumentParser(prog="python -m core", description="prepscope: what preprocessing does to a CNN.")
    sub = p.add_subparsers(dest="command", required=True)

    ins = sub.add_parser("inspect", help="compare variants on one image or sound")
    ins.add_argument("path", help="image (PNG, JPEG, GIF, BMP, TIFF, WebP) or sound (WAV, FLAC, OGG, MP3)")
    g = ins.add_mutually_exclusive_group()
    g.add_argument("--preset", help="named variant set (see `presets`); default: channels")
    g.add_argument("--variants", metavar="FILE.json", help="variant set as JSON (format of `presets NAME`)")
    ins.add_argument("--model", default=DEFAULT_MODEL, choices=model_names())
    ins.add_argument("--weights", metavar="STATE_DICT.pth", help="local state_dict for the architecture")
    ins.add_argument("--json", metavar="OUT", help="write the full result as JSON ('-' for stdout)")
    from core.explain.cam import METHODS as CAM_METHODS

    ins.add_argument("--cam", choices=list(CAM_METHODS), help="activation maps per variant (grad-cam): agreement "
                                                              "with the reference's map and deletion/insertion AUC")
    ins.add_argument("--cam-layer", metavar="NAME", help="named layer for --cam (default: the last one)")
    ins.add_argument("--cam-class", metavar="INDEX", help="ImageNet class index for --cam, or 'own' (each "
                                                          "variant's top-1); default: the reference's top-1")
    ins.set_defaults(func=cmd_inspect)

    pre = sub.add_parser("presets", help="list presets, or print one as JSON")
    pre.add_argument("name", nargs="?")
    pre.set_defaults(func=cmd_presets)

    mod = sub.add_parser("models", help="list registered models")
    mod.set_defaults(func=cmd_models)

    fld = sub.add_parser("fields", help="every variant field: type, allowed values, default and help")
    fld.set_defaults(func=cmd_fields)

    from core.evaluate.cli import add_sweep_arguments, add_tune_arguments, run_sweep, run_tune

    sw = sub.add_parser("sweep", help="accuracy of each variant on a labelled dataset")
    add_sweep_arguments(sw)
    sw.set_defaults(func=run_sweep)

    tu = sub.add_parser("tune", help="the batch size sweeps use on this machine (measured once per model)")
    add_tune_arguments(tu)
    tu.set_defaults(func=run_tune)

    from core.runs.cli import add_runs_arguments, run_runs

    runs = sub.add_parser("runs", help="recorded sweeps: list, show ID [--json OUT], delete ID")
    add_runs_arguments(runs)
    runs.set_defaults(func=run_runs)

    from core.autoencode.cli import add_arguments as add_autoencode_arguments
    from core.models.networks_cli import add_parser as add_networks_parser

    add_networks_parser(sub)

    ae = sub.add_parser("autoencode", help="Autoencoder lab: a learned gray rule, or a CAE on one noisy image")
    add_autoencode_arguments(ae)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PrepscopeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader (e.g. `| head`) left early: not an error of ours
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
