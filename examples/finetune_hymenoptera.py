"""A real example of your own network: EfficientNet-Lite0 with a new two-class head (ants, bees) trained on a
seeded part of the hymenoptera photos, saved as safetensors and registered as a network card; the rest of the
photos are copied to a held-out folder the network never saw, for ``python -m core sweep --method zeroshot``.

Training: the ImageNet-pretrained Lite0 (prepscope's built-in, offline weights) stays frozen; its pooled features
of the training photos (prepscope's own ``rgb`` preprocessing at the model's recipe) fit a new linear head
(Adam, weight decay, full batch, seeded). The card's checkpoint is the whole network: the backbone's weights with
that head as ``classifier``.

With ``--last-stage N`` (N > 0) the head is then trained further for N full-batch Adam steps together with Lite0's
last stage (``blocks[-1]``, ``conv_head`` and ``bn2``; BatchNorm statistics kept, dropout off): the frozen layers
before that stage run once, and the stage is trained on their cached outputs, so a few dozen steps take seconds to
minutes on a CPU. The checkpoint then holds the trained stage too.

    python examples/finetune_hymenoptera.py [--data ../shared/data/hymenoptera/train] [--train-fraction 0.5]
        [--seed 0] [--out OUT] [--name lite0-antsbees] [--steps 300] [--last-stage N]
    python -m core sweep --train OUT/heldout --method zeroshot --model lite0-antsbees --preset channels
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "hymenoptera" / "train"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="a folder with one subfolder per class")
    ap.add_argument("--train-fraction", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("examples-out/hymenoptera"))
    ap.add_argument("--name", default="lite0-antsbees")
    ap.add_argument("--steps", type=int, default=300, help="full-batch Adam steps of the new head")
    ap.add_argument("--last-stage", type=int, default=0, metavar="N",
                    help="then N full-batch steps training the last stage with the head (default 0: head only)")
    args = ap.parse_args()
    if args.last_stage < 0 or args.steps < 1:
        print("error: --steps must be at least 1 and --last-stage at least 0", file=sys.stderr)
        return 2
    if not args.data.is_dir():
        print(f"error: {args.data} is not a folder (give --data with one subfolder per class)", file=sys.stderr)
        return 2
    from safetensors.torch import save_file
    from sklearn.model_selection import train_test_split

    from core.io import load_input
    from core.models import load_model
    from core.models.install import add_network
    from core.preprocess.pipeline import prepare_many
    from core.preprocess.recipe import resolve_variant
    from core.preprocess.variant import Variant

    classes = sorted(p.name for p in args.data.iterdir() if p.is_dir())
    items = [(f, i) for i, c in enumerate(classes) for f in sorted((args.data / c).iterdir()) if f.is_file()]
    labels = np.array([y for _, y in items])
    train_idx, held_idx = train_test_split(np.arange(len(items)), train_size=args.train_fraction,
                                           stratify=labels, random_state=args.seed)
    held = args.out / "heldout"
    if held.exists():
        shutil.rmtree(held)
    for i in sorted(held_idx):
        f, y = items[i]
        (held / classes[y]).mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, held / classes[y] / f.name)

    base = load_model("efficientnet_lite0")
    net = base.private_copy().module.eval()  # trained instead of the shared model; eval: BN statistics kept
    rgb = resolve_variant(Variant(name="rgb", channels="rgb"), base)
    feats, stage_in = [], []  # pooled features (for the head); the last stage's inputs (frozen layers run once)
    for start in range(0, len(train_idx), 16):
        signals = [load_input(items[i][0]) for i in train_idx[start:start + 16]]
        batch = prepare_many(signals, rgb, base.mean, base.std)
        feats.append(base.features_and_logits(batch)[0])
        if args.last_stage:
            with torch.no_grad():
                stage_in.append(net.blocks[:-1](net.bn1(net.conv_stem(batch))))
    x, y = torch.cat(feats).float(), torch.as_tensor(labels[train_idx])
    torch.manual_seed(args.seed)
    head = torch.nn.Linear(x.shape[1], len(classes))
    opt = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(args.steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(x), y)
        loss.backward()
        opt.step()
    train_acc = float((head(x).argmax(1) == y).float().mean())
    if args.last_stage:
        h = torch.cat(stage_in)

        def pooled(h: torch.Tensor) -> torch.Tensor:  # the last stage, up to the features the classifier sees
            return net.global_pool(net.bn2(net.conv_head(net.blocks[-1](h))))

        stage_params = [p for m in (net.blocks[-1], net.conv_head, net.bn2) for p in m.parameters()]
        for p in stage_params:
            p.requires_grad_(True)
        opt = torch.optim.Adam([{"params": stage_params, "lr": 1e-4}, {"params": head.parameters(), "lr": 1e-3}],
                               weight_decay=1e-3)
        t0 = time.perf_counter()
        for _ in range(args.last_stage):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(head(pooled(h)), y)
            loss.backward()
            opt.step()
        with torch.no_grad():
            train_acc = float((head(pooled(h)).argmax(1) == y).float().mean())
        print(f"last stage: {args.last_stage} steps in {time.perf_counter() - t0:.1f} s")
    sd = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    sd["classifier.weight"], sd["classifier.bias"] = head.weight.detach().clone(), head.bias.detach().clone()
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt = args.out / f"{args.name}.safetensors"
    save_file(sd, str(ckpt))
    card = add_network(args.name, "tf_efficientnet_lite0", ckpt, tuple(classes), replace=True)
    what = f"the head and the last stage ({args.last_stage} steps)" if args.last_stage else "the head"
    print(f"trained {what} on {len(train_idx)} photos (seed {args.seed}; training accuracy {train_acc:.3f}, "
          f"loss {float(loss.detach()):.3f}); {len(held_idx)} held-out photos in {held}")
    print(f"registered network {card.name} (sha256 {card.sha256[:16]}…); now run:")
    print(f"  python -m core sweep --train {held} --method zeroshot --model {card.name} --preset channels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
