"""face-api.js's expression network (a TensorFlow.js weight map) as one ONNX file.

The weights come from npm `@vladmandic/face-api` 1.7.15 (`model/face_expression_model.bin` and
its weights manifest: 8-bit quantised tensors, each with a scale and an offset); the graph they
belong to is face-api.js 0.22.2's `FaceExpressionNet` (MIT), which this script writes out in ONNX
operators:

- input `image` [N, 112, 112, 3]: RGB 0-255, the face centred in a square crop;
- normalise: (x - mean RGB (122.782, 117.001, 104.298)) / 255;
- four dense blocks of four convolutions each (the first a 3 x 3 convolution, the rest
  depthwise-separable 3 x 3; the first of each block with stride 2, TensorFlow's `same` padding,
  which is ONNX's SAME_UPPER), each convolution's input the ReLU of the sum of the block's earlier
  outputs (face-api.js adds them in another order: the sums differ in the last bits only); 112 -> 56 -> 28 -> 14 -> 7 pixels, 32 -> 64 -> 128 -> 256 channels;
- 7 x 7 average pool, a fully connected layer to 7 logits, softmax;
- output `expression` [N, 7]: P(neutral, happy, sad, angry, fearful, disgusted, surprised).

    python3 convert_face_expression.py MANIFEST.json WEIGHTS.bin OUT.onnx

Prints the output's sha256. The parity check against face-api.js itself (run in Node) is
`parity_face_expression.py`; `convert.sh` runs both.
"""
import hashlib
import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

MEAN_RGB = (122.782, 117.001, 104.298)
LABELS = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")


def read_weights(manifest: str, weights: str) -> dict[str, np.ndarray]:
    """The weight map, dequantised as TensorFlow.js's `decodeWeights` does (q * scale + min)."""
    buf = open(weights, "rb").read()
    out, off = {}, 0
    for group in json.load(open(manifest)):
        for w in group["weights"]:
            n = int(np.prod(w["shape"]))
            q = w.get("quantization")
            if q:
                assert q["dtype"] == "uint8", q
                raw = np.frombuffer(buf, np.uint8, n, off).astype(np.float64)
                val = (raw * q["scale"] + q["min"]).astype(np.float32)
                off += n
            else:
                assert w["dtype"] == "float32", w
                val = np.frombuffer(buf, np.float32, n, off).copy()
                off += 4 * n
            out[w["name"]] = val.reshape(w["shape"])
    if off != len(buf):
        raise SystemExit(f"weights file holds {len(buf)} bytes, manifest describes {off}")
    return out


def build(w: dict[str, np.ndarray]) -> onnx.ModelProto:
    nodes, inits = [], []

    def const(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, np.float32), name))
        return name

    def node(op: str, ins: list[str], out: str, **attrs) -> str:
        nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    x = node("Transpose", ["image"], "nchw", perm=[0, 3, 1, 2])
    x = node("Sub", [x, const("mean_rgb", np.array(MEAN_RGB, np.float32).reshape(1, 3, 1, 1))], "centred")
    x = node("Mul", [x, const("inv_255", np.array([1 / 255], np.float32))], "normalised")

    def conv(inp: str, p: str, stride: int, first: bool) -> str:
        if first:
            k = w[f"{p}/filters"]  # HWIO
            return node("Conv", [inp, const(f"{p}/W", k.transpose(3, 2, 0, 1)), const(f"{p}/B", w[f"{p}/bias"])],
                        f"{p}/out", kernel_shape=[3, 3], strides=[stride, stride], auto_pad="SAME_UPPER")
        dw = w[f"{p}/depthwise_filter"]  # H, W, C, 1
        pw = w[f"{p}/pointwise_filter"]  # 1, 1, C, O
        c = dw.shape[2]
        d = node("Conv", [inp, const(f"{p}/DW", dw.transpose(2, 3, 0, 1))], f"{p}/depthwise",
                 kernel_shape=[3, 3], strides=[stride, stride], group=c, auto_pad="SAME_UPPER")
        return node("Conv", [d, const(f"{p}/PW", pw.transpose(3, 2, 0, 1)), const(f"{p}/B", w[f"{p}/bias"])],
                    f"{p}/out", kernel_shape=[1, 1])

    for b in range(4):
        p = f"dense{b}"
        out1 = node("Relu", [conv(x, f"{p}/conv0", 2, b == 0)], f"{p}/out1")
        # Each convolution's input is the ReLU of the sum of the block's earlier outputs; the
        # sum is kept running (one Add per convolution, which ONNX Runtime fuses into the
        # convolution) instead of summed afresh each time.
        total, inp = out1, out1
        for i in (1, 2, 3):
            total = node("Add", [total, conv(inp, f"{p}/conv{i}", 1, False)], f"{p}/sum{i + 1}")
            inp = node("Relu", [total], f"{p}/in{i + 1}" if i < 3 else f"{p}/block")
        x = inp

    x = node("AveragePool", [x], "pooled", kernel_shape=[7, 7], strides=[2, 2])
    x = node("Flatten", [x], "features", axis=1)
    x = node("Gemm", [x, const("fc/W", w["fc/weights"]), const("fc/B", w["fc/bias"])], "logits")
    node("Softmax", [x], "expression", axis=1)

    graph = helper.make_graph(
        nodes, "face_expression",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 112, 112, 3])],
        [helper.make_tensor_value_info("expression", TensorProto.FLOAT, ["N", 7])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="photocheck models/convert_face_expression.py")
    model.ir_version = 8
    model.doc_string = ("face-api.js 0.22.2 FaceExpressionNet, weights from npm @vladmandic/face-api 1.7.15; "
                        "outputs P(" + ", ".join(LABELS) + ")")
    onnx.checker.check_model(model)
    return model


def main() -> None:
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    manifest, weights, out = sys.argv[1:]
    model = build(read_weights(manifest, weights))
    data = model.SerializeToString()
    open(out, "wb").write(data)
    print(f"{hashlib.sha256(data).hexdigest()}  {out}")


if __name__ == "__main__":
    main()
