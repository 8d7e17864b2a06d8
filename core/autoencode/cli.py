"""``python -m core autoencode gray|single``: the Autoencoder lab from the command line.

- ``gray --train PATH | --builtin photos --name NAME [--epochs N] [--seed N] [--luma-weight W] [--probe
  [--model NAME]] [--overwrite] [--json OUT]``: trains a learned gray rule, saves it into the models folder
  (``$PREPSCOPE_MODELS_DIR``, default ``~/.cache/prepscope/models``) and prints the fair comparison with
  601/709/mean (and, with ``--probe``, each rule's probe accuracy on PATH's labelled images through ``--model``:
  a built-in model or a network card, default the default model).
- ``single IMAGE | --builtin texture [--clean IMAGE] [--regimes plain,augmented,prefiltered,blindspot]
  [--steps N] [--seed N] [--prefilter KIND] [--save NAME [--save-regime R]] [--json OUT]``: the four
  regimes on one image, optionally saving one regime's model as a lab denoiser (by default blindspot when it
  was trained, else the first regime trained).

Same error contract as the other commands: a refusal is one ``error:`` line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from core.autoencode.gray import GrayConfig, collect_images, rule_variants, train_gray
from core.autoencode.single import REGIMES, SingleConfig, builtin_texture, lab_card, train_single
from core.cliutil import check_json_target, format_table, progress_printer, table_stream, write_json
from core.errors import PrepscopeError
from core.evaluate.datasets import DatasetRequest, open_request
from core.evaluate.report import sweep_table
from core.evaluate.sweep import evaluate_sweep
from core.io import load_input
from core.learned import store
from core.models import load_model
from core.models.catalog import model_spec
from core.models.specs import DEFAULT_MODEL


def _progress(quiet: bool):  # noqa: ANN202

    return progress_printer(quiet)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``autoencode gray`` and ``autoencode single`` on ``parser``."""
    sub = parser.add_subparsers(dest="task", required=True)
    g = sub.add_parser("gray", help="train a learned gray rule and compare it with 601/709/mean")
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--train", metavar="PATH", help="folder or zip of color images (searched recursively)")
    src.add_argument("--builtin", choices=("photos",), help="scikit-image's bundled color photos")
    g.add_argument("--name", required=True, help="model name (letters, digits, . _ -): the rule is learned:NAME")
    gc = GrayConfig()
    g.add_argument("--epochs", type=int, default=gc.epochs, help=f"passes over the images (default {gc.epochs})")
    g.add_argument("--seed", type=int, default=0, help="seed of the split, crops and weights (default 0)")
    g.add_argument("--luma-weight", type=float, default=gc.luma_weight,
                   help=f"weight keeping the gray close to 601 luma (default {gc.luma_weight}; 0 = free)")
    g.add_argument("--probe", action="store_true",
                   help="also run a probe sweep of the four rules on PATH's labelled images (class folders)")
    g.add_argument("--model", metavar="NAME", help="the network --probe runs: a registered model or a network card "
                                                   f"(see `models`; default {DEFAULT_MODEL})")
    g.add_argument("--overwrite", action="store_true", help="replace an existing model of the same name")
    g.add_argument("--json", metavar="OUT", help="write the result as JSON ('-' for stdout)")
    g.add_argument("--quiet", action="store_true", help="no progress on stderr")
    g.set_defaults(func=run_gray)

    s = sub.add_parser("single", help="train a CAE on one noisy image under four regimes")
    s.add_argument("image", nargs="?", metavar="IMAGE", help="the (noisy) image; or --builtin texture")
    s.add_argument("--builtin", choices=("texture",), help="the built-in noisy repetitive texture (clean known)")
    s.add_argument("--clean", metavar="IMAGE", help="the clean version of IMAGE, when known")
    s.add_argument("--regimes", default=",".join(REGIMES), help=f"comma-separated, among {', '.join(REGIMES)}")
    sc = SingleConfig()
    s.add_argument("--steps", type=int, default=sc.steps, help=f"training steps per regime (default {sc.steps})")
    s.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    s.add_argument("--prefilter", default="nl_means", choices=("nl_means", "tv_chambolle", "wavelet", "bilateral"),
                   help="the pre-filtered regime's denoiser (default nl_means, sigma estimated)")
    s.add_argument("--save", metavar="NAME", help="save one regime's model as the lab denoiser NAME")
    s.add_argument("--save-regime", choices=REGIMES,
                   help="which regime --save keeps (default: blindspot when trained, else the first regime trained)")
    s.add_argument("--overwrite", action="store_true", help="replace an existing model of the same name")
    s.add_argument("--json", metavar="OUT", help="write the result as JSON ('-' for stdout)")
    s.add_argument("--quiet", action="store_true", help="no progress on stderr")
    s.set_defaults(func=run_single)


def _check_seed(seed: int) -> None:
    if not 0 <= seed < 2**31:
        raise PrepscopeError(f"--seed must be between 0 and 2**31 - 1; got {seed}.")


def run_gray(args: argparse.Namespace) -> int:
    """Train, save and compare a learned gray rule; print the comparison table."""
    check_json_target(args.json)
    _check_seed(args.seed)
    store.check_name(args.name)
    if not args.overwrite and store.exists(args.name):
        raise store.InvalidModelFile(f"A model named {args.name!r} already exists in {store.models_dir()}; choose "
                                     "another --name or pass --overwrite.")
    if args.probe and not args.train:
        raise PrepscopeError("--probe needs labelled images: use it with --train PATH (class folders).")
    if args.model is not None and not args.probe:
        raise PrepscopeError("--model names the network that --probe runs (the gray rule itself is trained without "
                             "one); add --probe or leave --model out.")
    if args.model is not None:
        model_spec(args.model)  # an unknown name is refused before the training, not after it
    cfg = replace(GrayConfig(), epochs=args.epochs, seed=args.seed, luma_weight=float(args.luma_weight)).check()
    progress = _progress(args.quiet)
    data = collect_images(args.train, args.builtin, side=cfg.side, seed=cfg.seed, progress=progress)
    result = train_gray(data, args.name, cfg, overwrite=args.overwrite, progress=progress)
    out = table_stream(args.json)
    payload = result.to_dict()
    rows = [[s.rule, f"{s.reconstruction_psnr:.2f}", f"[{s.psnr_ci95[0]:.2f}, {s.psnr_ci95[1]:.2f}]",
             f"{result.isoluminant[s.rule]:.4f}"] for s in result.rules]
    print(format_table(rows, ["rule", "reconstruction PSNR (dB)", "95% CI", "isoluminant contrast"]), file=out)
    print(f"data: {data.source} ({len(data.images)} color images, digest {data.digest[:12]}; "
          f"{result.n_train} train / {result.n_test} held out) · seed {cfg.seed} · {cfg.epochs} epochs · "
          f"{result.seconds:.1f} s · saved {result.saved}", file=out)
    if args.probe:
        payload["probe"] = _probe(args, result.name, progress, out)
    if args.json:
        write_json(args.json, payload)
    return 0


def _probe(args: argparse.Namespace, name: str, progress, out) -> dict:  # noqa: ANN001
    with open_request(DatasetRequest(path=args.train, seed=args.seed)) as (train, test):
        result = evaluate_sweep(train, rule_variants(name), load_model(args.model or DEFAULT_MODEL), test=test,
                                method="probe", seed=args.seed, progress=progress)
    print(sweep_table(result), file=out)
    print("probe provenance: " + result.provenance_line(), file=out)
    return result.to_dict()


def _load_image(path: str, what: str):  # noqa: ANN202

    sig = load_input(path)
    if sig.audio is not None:
        raise PrepscopeError(f"{what} {path} is a sound; the single-image lab takes an image.")
    return sig


def run_single(args: argparse.Namespace) -> int:
    """Train the requested regimes on one image and print the table."""
    check_json_target(args.json)
    _check_seed(args.seed)
    if (args.image is None) == (args.builtin is None):
        raise PrepscopeError("Give one image: a file path, or --builtin texture.")
    if args.builtin and args.clean:
        raise PrepscopeError("--clean goes with an IMAGE; the built-in texture's clean version is known already.")
    regimes = tuple(r.strip() for r in args.regimes.split(",") if r.strip())
    if args.save_regime is None and regimes:
        args.save_regime = "blindspot" if "blindspot" in regimes else regimes[0]
    if args.save:
        store.check_name(args.save)
        if not args.overwrite and store.exists(args.save):
            raise store.InvalidModelFile(f"A model named {args.save!r} already exists in {store.models_dir()}; "
                                         "choose another name or pass --overwrite.")
        if args.save_regime not in regimes:
            raise PrepscopeError(f"--save-regime {args.save_regime} is not among the trained regimes "
                                 f"({', '.join(regimes)}).")
    if args.builtin:
        noisy, clean = builtin_texture(seed=0)
        source = {"name": "builtin:texture", "noise_sigma": 0.1}
    else:
        sig = _load_image(args.image, "IMAGE")
        noisy, source = sig.array, {"name": args.image, "digest": sig.digest}
        clean = None
        if args.clean:
            csig = _load_image(args.clean, "--clean")
            clean, source["clean"] = csig.array, args.clean
    cfg = SingleConfig(steps=args.steps, seed=args.seed, prefilter={"kind": args.prefilter}).check()
    result = train_single(noisy, clean, regimes, cfg, source=source, progress=_progress(args.quiet))
    out = table_stream(args.json)

    def f(x: float | None, spec: str = ".2f") -> str:
        return "-" if x is None else format(x, spec)

    rows = [[r.name, f(r.psnr_vs_clean), f(r.psnr_vs_input), f(r.ssim_vs_clean, ".3f"), f(r.aligned_crop_mse, ".5f"),
             f(r.shifted_crop_mse, ".5f"), f(r.residual_noise_corr, ".3f"), f"{r.seconds:.1f}"] for r in result.regimes]
    print(format_table(rows, ["regime", "PSNR vs clean", "PSNR vs input", "SSIM vs clean", "aligned-crop MSE",
                              "shifted-crop MSE", "corr(residual, noise)", "seconds"]), file=out)
    base = result.input_psnr_vs_clean()
    print(("the noisy input itself: PSNR vs clean " + f(base) + " dB · " if base is not None else "") +
          f"image {source['name']} {noisy.shape[1]}×{noisy.shape[0]} · {cfg.steps} steps per regime · seed {cfg.seed}",
          file=out)
    payload = result.to_dict()
    if args.save:
        path = store.save(result.regime(args.save_regime).model, lab_card(result, args.save_regime, args.save),
                          overwrite=args.overwrite)
        payload["saved"] = {"name": args.save, "regime": args.save_regime, "card": str(path)}
        print(f"saved the {args.save_regime} model as the lab denoiser {args.save!r}: {path}", file=out)
    if args.json:
        write_json(args.json, payload)
    return 0

