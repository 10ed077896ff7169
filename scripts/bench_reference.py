"""The same recipe as `vstyle image`, in Python/PyTorch, for the speed benchmark.

Same weights file (vstyle's safetensors), same layers and losses, PyTorch's own
torch.optim.LBFGS with strong-Wolfe line search. Prints one JSON line with the
number of function evaluations and the seconds spent optimising.
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open

VGG19_BLOCKS = [2, 2, 4, 4, 4]


def load_vgg19(path):
    with safe_open(path, "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    layers, names = [], []
    for b, n in enumerate(VGG19_BLOCKS, start=1):
        for i in range(1, n + 1):
            layers.append(("conv", tensors[f"conv{b}_{i}.weight"], tensors[f"conv{b}_{i}.bias"]))
            names.append(f"conv{b}_{i}")
            layers.append(("relu",))
            names.append(f"relu{b}_{i}")
        layers.append(("pool",))
        names.append(f"pool{b}")
    return meta, layers, names


def features(x, layers, wanted, meta):
    mean = torch.tensor([float(v) for v in meta["mean"].split(",")]).view(1, 3, 1, 1)
    std = torch.tensor([float(v) for v in meta["std"].split(",")]).view(1, 3, 1, 1)
    if meta["channel_order"] == "bgr":
        x = x.flip(1)
    x = (x - mean) / std
    out = {}
    for i, layer in enumerate(layers[: max(wanted) + 1]):
        if layer[0] == "conv":
            x = F.conv2d(x, layer[1], layer[2], padding=1)
        elif layer[0] == "relu":
            x = F.relu(x)
        else:
            x = F.max_pool2d(x, 2, 2)
        if i in wanted:
            out[i] = x
    return [out[i] for i in wanted]


def gram(f):
    _, c, h, w = f.shape
    f = f.view(c, h * w)
    return f @ f.t() / (c * h * w)


def load(path, size, scale):
    img = Image.open(path).convert("RGB")
    w, h = img.size
    s = size / max(w, h)
    img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS)
    return (torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255 * scale).contiguous()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--content", required=True)
    ap.add_argument("--style", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--content-weight", type=float, default=5.0)
    ap.add_argument("--style-weight", type=float, default=100.0)
    ap.add_argument("--tv-weight", type=float, default=1e-3)
    args = ap.parse_args()

    torch.manual_seed(0)
    meta, layers, names = load_vgg19(args.weights)
    scale = float(meta["input_scale"])
    content_idx = [names.index("relu4_2")]
    style_idx = [names.index(n) for n in ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]]
    wanted = sorted(set(content_idx + style_idx))
    content = load(args.content, args.size, scale)
    style = load(args.style, args.size, scale)
    with torch.no_grad():
        cf = dict(zip(wanted, features(content, layers, wanted, meta)))
        sf = dict(zip(wanted, features(style, layers, wanted, meta)))
        c_targets = [cf[i] for i in content_idx]
        s_targets = [gram(sf[i]) for i in style_idx]

    x = content.clone().requires_grad_(True)
    # Same evaluation budget as vstyle's default (5/4 of the iterations plus 25).
    opt = torch.optim.LBFGS([x], lr=1.0, max_iter=args.iterations, max_eval=args.iterations * 5 // 4 + 25, history_size=100,
                            tolerance_grad=1e-5, tolerance_change=1e-9, line_search_fn="strong_wolfe")
    evals = 0

    def closure():
        nonlocal evals
        evals += 1
        opt.zero_grad()
        fs = dict(zip(wanted, features(x, layers, wanted, meta)))
        loss = 0
        for i, t in zip(content_idx, c_targets):
            loss = loss + args.content_weight * (fs[i] - t).square().mean()
        for i, t in zip(style_idx, s_targets):
            loss = loss + args.style_weight * (gram(fs[i]) - t).square().mean()
        dx = x[:, :, :, 1:] - x[:, :, :, :-1]
        dy = x[:, :, 1:, :] - x[:, :, :-1, :]
        loss = loss + args.tv_weight * (dx.square().mean() + dy.square().mean())
        loss.backward()
        return loss

    t0 = time.perf_counter()
    opt.step(closure)
    secs = time.perf_counter() - t0
    print(json.dumps({"impl": "python", "size": args.size, "evaluations": evals, "seconds": secs,
                      "per_evaluation": secs / max(evals, 1), "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
