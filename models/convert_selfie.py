"""Converts MediaPipe's selfie_segmentation.tflite to ONNX and checks it against TFLite.

Usage: convert_selfie.py MODEL.tflite OUT.onnx

The model uses one MediaPipe custom op, `Convolution2DTransposeBias` (a transposed convolution
with bias). Its custom options are a raw 12-byte TfLiteTransposeConvParams (padding, stride_w,
stride_h as int32), not a flexbuffer, so tf2onnx cannot read them; this script reads them from
the flatbuffer, checks every such op uses the same values, and turns each op into an ONNX
ConvTranspose (NCHW, between transposes) with those strides and TF "SAME" padding. HardSwish
needs opset >= 14. The parity check runs both models on random inputs and on smooth synthetic
images and prints the largest difference of the person probability.
"""
import os
import struct
import sys

import numpy as np
import onnxruntime as ort
import tensorflow as tf
import tf2onnx
from tf2onnx import utils
from tf2onnx.tflite import Model

tfl_path, out_path = sys.argv[1], sys.argv[2]

# Read the custom options of every Convolution2DTransposeBias op.
with open(tfl_path, "rb") as f:
    model = Model.Model.GetRootAsModel(f.read(), 0)
custom = {
    i
    for i in range(model.OperatorCodesLength())
    if (model.OperatorCodes(i).CustomCode() or b"") == b"Convolution2DTransposeBias"
}
params = set()
graph = model.Subgraphs(0)
for i in range(graph.OperatorsLength()):
    op = graph.Operators(i)
    if op.OpcodeIndex() in custom:
        raw = op.CustomOptionsAsNumpy().tobytes()
        assert len(raw) == 12, f"unexpected options length {len(raw)}"
        params.add(struct.unpack("<3i", raw))
assert len(params) == 1, f"transposed convolutions differ: {params}"
padding, stride_w, stride_h = params.pop()
# TfLitePadding: 1 = SAME, 2 = VALID.
assert padding == 1, f"padding {padding} (only SAME is handled)"
print(f"Convolution2DTransposeBias: SAME padding, stride {stride_h}x{stride_w}")


def transpose_conv_bias(ctx, node, name, args):
    """NHWC input, TFLite weights [O, kh, kw, I], bias [O] -> ONNX ConvTranspose."""
    inp, w_name, b_name = node.input[0], node.input[1], node.input[2]
    # The weights are fp16 constants behind a Cast: transpose them in the graph (constant
    # folding removes the node) from TFLite's [O, kh, kw, I] to ONNX's [I, O, kh, kw].
    _, kh, kw, _ = ctx.get_shape(w_name)
    # TF SAME for a transposed convolution: output = input * stride, the total padding
    # (kernel - stride) split with the smaller half first.
    ph, pw = max(kh - stride_h, 0), max(kw - stride_w, 0)
    pads = [ph // 2, pw // 2, ph - ph // 2, pw - pw // 2]
    w_t = ctx.make_node("Transpose", [w_name], attr={"perm": [3, 0, 1, 2]}, name=utils.make_name(name + "_w"))
    out_shape = ctx.get_shape(node.output[0])
    out_dtype = ctx.get_dtype(node.output[0])
    t_in = ctx.make_node("Transpose", [inp], attr={"perm": [0, 3, 1, 2]}, name=utils.make_name(name + "_nchw"))
    conv = ctx.make_node(
        "ConvTranspose",
        [t_in.output[0], w_t.output[0], b_name],
        attr={"strides": [stride_h, stride_w], "pads": pads, "kernel_shape": [kh, kw]},
        name=utils.make_name(name + "_convt"),
    )
    if out_shape is not None:
        n, h, wd, c = out_shape
        ctx.set_shape(conv.output[0], [n, c, h, wd])
    ctx.set_dtype(conv.output[0], out_dtype)
    # The op becomes the transpose back to NHWC, keeping its output name.
    node.type = "Transpose"
    ctx.replace_inputs(node, [conv.output[0]])
    node.attr.clear()
    node.set_attr("perm", [0, 2, 3, 1])
    return node


model_proto, _ = tf2onnx.convert.from_tflite(
    tfl_path,
    opset=14,
    custom_op_handlers={"TFL_Convolution2DTransposeBias": (transpose_conv_bias, [])},
    output_path=out_path,
)
ops = sorted({n.op_type for n in model_proto.graph.node})
print("ONNX ops:", " ".join(ops))
assert "TFL_Convolution2DTransposeBias" not in ops and not any(o.startswith("TFL_") for o in ops)

# Parity with TFLite.
it = tf.lite.Interpreter(model_path=tfl_path)
it.allocate_tensors()
inp = it.get_input_details()[0]
out = it.get_output_details()[0]
sess = ort.InferenceSession(out_path, providers=["CPUExecutionProvider"])
print("input", sess.get_inputs()[0].name, sess.get_inputs()[0].shape,
      "output", sess.get_outputs()[0].name, sess.get_outputs()[0].shape)
rng = np.random.default_rng(461)
yy, xx = np.mgrid[0:256, 0:256] / 255.0
inputs = []
for k in range(4):
    inputs.append(("random", rng.random((1, 256, 256, 3), dtype=np.float32)))
for k in range(4):
    # A smooth picture (a bright backdrop and a dark blob) drives the mask through its range.
    c = rng.random(3)
    blob = ((xx - c[0]) ** 2 + (yy - c[1]) ** 2) < 0.05 + 0.1 * c[2]
    x = np.where(blob[..., None], rng.random(3) * 0.5, 0.9).astype(np.float32)[None]
    inputs.append(("blob", x))
# Real portraits, letterboxed as the engine does, when the shared fixtures are at hand.
fixtures = os.environ.get("PHOTOCHECK_FIXTURES", os.path.join(os.path.dirname(__file__), "../../shared/fixtures"))
for name in ["pass__pass_064_0.jpg", "pass__pass_130_0.jpg", "background__bg_busy_034_0.jpg"]:
    path = os.path.join(fixtures, name)
    if not os.path.isfile(path):
        continue
    img = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
    side = int(max(img.shape[0], img.shape[1]))
    img = tf.image.pad_to_bounding_box(img, (side - img.shape[0]) // 2, (side - img.shape[1]) // 2, side, side)
    x = tf.image.resize(tf.cast(img, tf.float32) / 255.0, (256, 256), antialias=True).numpy()[None]
    inputs.append(("photo", x.astype(np.float32)))
worst = {}
for kind, x in inputs:
    it.set_tensor(inp["index"], x)
    it.invoke()
    ref = it.get_tensor(out["index"])
    got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    d = float(np.abs(ref.reshape(-1) - got.reshape(-1)).max())
    worst[kind] = max(worst.get(kind, 0.0), d)
for kind, d in worst.items():
    n = sum(1 for k, _ in inputs if k == kind)
    print(f"parity: max |tflite - onnx| over {n} {kind} inputs = {d:.2e} (person probability)")
sys.exit(0 if max(worst.values()) < 2e-3 else 1)
