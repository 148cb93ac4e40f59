"""Converts MediaPipe's face_landmark_with_attention.tflite, custom operators included, to ONNX.

    python3 convert_face_refined.py MODEL.tflite OUT.onnx [PHOTO ...]

`face_landmark_with_attention.tflite` is the model of FaceMesh with `refine_landmarks`: a trunk
gives the 468-point mesh and the face flag; three small networks then refine the lips, each eye
with its iris. Each of those reads a 16 x 16 patch of the trunk's 48 x 48 x 32 feature map,
placed by the trunk's own landmarks, and maps its points back. MediaPipe does the placing with
three custom operators that neither TFLite's interpreter nor tf2onnx know:

- `Landmarks2TransformMatrix` (v2): from a subset of mesh points, a rotation that levels two of
  them and the subset's bounding box, scaled; out comes a 4 x 4 matrix from patch pixels to
  feature-map pixels.
- `TransformTensorBilinear` (v2): samples the feature map through that matrix (pixel centres,
  bilinear; a sample whose position falls outside the map is zero in every channel).
- `TransformLandmarks` (v2): applies a matrix to the networks' patch-space points.

This script (1) cuts the three operators out of the TFLite graph, their outputs becoming graph
inputs and their inputs graph outputs ("the open model"), which both TFLite and tf2onnx load;
(2) converts the open model with tf2onnx and rewrites its PRelu (rewrite_prelu.py); (3) closes
the graph again in ONNX, each custom operator written out of standard ones (Gather, MatMul,
ReduceMin/Max, the bilinear sample as four gathers of feature-map rows with an out-of-bounds
mask, ...), so that the result is one model with the original's seven outputs; and (4) checks it: the open ONNX model against the open
TFLite model on random inputs, and the closed ONNX model against the open TFLite model with the
three operators computed in NumPy as MediaPipe's C++ defines them, on the photos given (each
cropped and scaled to 192 x 192) and on random inputs. The largest differences are printed; the
script exits non-zero if a check fails.

Needs tensorflow (the TFLite schema and interpreter), tf2onnx, onnx, onnxruntime, flatbuffers.
"""
import os
import subprocess
import sys
import tempfile

import flatbuffers
import numpy as np
import onnx
import onnxruntime as ort
import tensorflow as tf
import tf2onnx
from flatbuffers import flexbuffers
from onnx import TensorProto, helper, numpy_helper
from tensorflow.lite.python import schema_py_generated as fb

CUSTOM = ("Landmarks2TransformMatrix", "TransformTensorBilinear", "TransformLandmarks")
HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------------------------------------
# 1. The open TFLite model.


def open_model(src: bytes):
    """The model without its custom operators, and the list of those operators."""
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(src, 0))
    g = model.subgraphs[0]
    names = [t.name.decode() for t in g.tensors]
    codes = [(c.customCode or b"").decode() for c in model.operatorCodes]
    custom, kept = [], []
    for op in g.operators:
        kind = codes[op.opcodeIndex]
        if kind not in CUSTOM:
            kept.append(op)
            continue
        raw = bytes(op.customOptions) if op.customOptions is not None else b""
        custom.append(
            {
                "kind": kind,
                "options": flexbuffers.Loads(raw) if raw else {},
                "inputs": [names[i] for i in op.inputs],
                "outputs": [names[i] for i in op.outputs],
                "input_ids": list(op.inputs),
                "output_ids": list(op.outputs),
            }
        )
    assert {c["kind"] for c in custom} == set(CUSTOM), {c["kind"] for c in custom}
    g.operators = kept
    inputs = list(g.inputs)
    outputs = list(g.outputs)
    for c in custom:
        inputs += [t for t in c["output_ids"] if t not in inputs]
        outputs += [t for t in c["input_ids"] if t not in outputs]
    g.inputs, g.outputs = inputs, outputs
    b = flatbuffers.Builder(len(src))
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output()), custom


# ---------------------------------------------------------------------------------------------
# 2. The three operators in NumPy, as MediaPipe's C++ (mediapipe/util/tflite/operations) defines
#    them: the reference the closed ONNX graph is checked against.


def np_landmarks_to_matrix(points, opt):
    p = points.reshape(-1, 3).astype(np.float32)
    left, right = p[opt["left_rotation_idx"]], p[opt["right_rotation_idx"]]
    rot = np.float32(opt["target_rotation_radians"]) - np.arctan2(right[1] - left[1], right[0] - left[0])
    c, s = np.cos(rot), np.sin(rot)
    sub = p[np.asarray(opt["subset_idxs"])][:, :2]
    rx = c * sub[:, 0] - s * sub[:, 1]
    ry = s * sub[:, 0] + c * sub[:, 1]
    w, h = rx.max() - rx.min(), ry.max() - ry.min()
    mx, my = (rx.max() + rx.min()) / 2, (ry.max() + ry.min()) / 2
    # Back through the inverse rotation (cos(-r), sin(-r)).
    cx, cy = c * mx + s * my, -s * mx + c * my
    ow, oh = opt["output_width"], opt["output_height"]
    sx, sy = opt["scale_x"] * w / ow, opt["scale_y"] * h / oh
    # shift(cx, cy) . rotate(-rot) . scale(sx, sy) . shift(-ow / 2, -oh / 2)
    a = np.array([[c * sx, s * sy], [-s * sx, c * sy]], np.float32)
    t = np.array([cx, cy], np.float32) + a @ np.array([-ow / 2, -oh / 2], np.float32)
    m = np.eye(4, dtype=np.float32)
    m[:2, :2], m[:2, 3] = a, t
    return m[None]


def np_transform_tensor(fmap, m, opt):
    _, hi, wi, ch = fmap.shape
    ho, wo = opt["output_height"], opt["output_width"]
    xt, yt = m[0, 0].copy(), m[0, 1].copy()
    xt[3] += xt[0] * 0.5 + xt[1] * 0.5 - 0.5
    yt[3] += yt[0] * 0.5 + yt[1] * 0.5 - 0.5
    out = np.zeros((1, ho, wo, ch), np.float32)
    for oy in range(ho):
        for ox in range(wo):
            tx = xt[0] * ox + xt[1] * oy + xt[3]
            ty = yt[0] * ox + yt[1] * oy + yt[3]
            if tx < 0 or tx > wi - 1 or ty < 0 or ty > hi - 1:
                continue
            x0, y0 = int(np.floor(tx)), int(np.floor(ty))
            fx, fy = tx - x0, ty - y0

            def at(y, x):
                return fmap[0, y, x] if y < hi and x < wi else np.zeros(ch, np.float32)

            upper = (1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)
            lower = (1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1)
            out[0, oy, ox] = fy * lower + (1 - fy) * upper
    return out


def np_transform_landmarks(points, m):
    p = points.reshape(-1, 2)
    a, t = m[0, :2, :2], m[0, :2, 3]
    return (p @ a.T + t).reshape(points.shape).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# 3. The three operators in standard ONNX operators.


class Builder:
    """Adds nodes and constants to an ONNX graph under a common name prefix."""

    def __init__(self, graph, prefix):
        self.graph, self.prefix, self.n = graph, prefix, 0
        self.nodes = []

    def name(self, what):
        self.n += 1
        return f"{self.prefix}/{what}_{self.n}"

    def const(self, value, dtype=np.float32):
        name = self.name("const")
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def op(self, kind, inputs, out=None, **attrs):
        out = out or self.name(kind.lower())
        self.nodes.append(helper.make_node(kind, inputs, [out], name=self.name(kind), **attrs))
        return out


def onnx_patches(b: Builder, l2tm, ttb, shapes):
    """Every `Landmarks2TransformMatrix` and the `TransformTensorBilinear` reading its matrix, all
    regions at once (one chain of small operators for the three, not three chains: each ONNX
    node costs a few microseconds however small its tensors).

    The matrix, per region r: the points of subset r (padded to a common length by repeating
    its first index, which changes no minimum or maximum) turned by the rotation that levels
    the two rotation points, their bounding box's centre turned back, and
    M = shift(centre) . rotate(-rotation) . scale(scale * box / out) . shift(-out / 2).
    The patch: each output pixel's centre through M, sampled bilinearly from the NHWC feature
    map with four Gathers of its rows; a position outside the map gives zeros (a mask)."""
    n = len(l2tm)
    opts = [c["options"] for c in l2tm]
    assert all(c["inputs"][0] == ttb[0]["inputs"][0] for c in ttb), "patches from different maps"
    assert [c["inputs"][1] for c in ttb] == [c["outputs"][0] for c in l2tm], "matrix order"
    ho, wo = ttb[0]["options"]["output_height"], ttb[0]["options"]["output_width"]
    assert all((c["options"]["output_height"], c["options"]["output_width"]) == (ho, wo) for c in ttb)
    npts = [shapes[c["inputs"][0]][-2] for c in l2tm]
    # All regions' points in one [sum(npts), 3] table; indices are offset into it.
    table = b.op("Concat", [b.op("Reshape", [c["inputs"][0], b.const([-1, 3], np.int64)]) for c in l2tm], axis=0)
    base = np.cumsum([0] + npts[:-1])
    ends = [[o["left_rotation_idx"] + base[r], o["right_rotation_idx"] + base[r]] for r, o in enumerate(opts)]
    k = max(len(o["subset_idxs"]) for o in opts)
    subset = [list(o["subset_idxs"]) + [o["subset_idxs"][0]] * (k - len(o["subset_idxs"])) for o in opts]
    subset = [[i + base[r] for i in row] for r, row in enumerate(subset)]
    col = lambda t, j, axis: b.op("Slice", [t, b.const([j], np.int64), b.const([j + 1], np.int64), b.const([axis], np.int64)])
    e = b.op("Gather", [table, b.const(ends, np.int64)], axis=0)  # [n, 2, 3]: left, right
    d = b.op("Reshape", [b.op("Sub", [col(e, 1, 1), col(e, 0, 1)]), b.const([n, 3], np.int64)])
    d = b.op("Slice", [d, b.const([0], np.int64), b.const([2], np.int64), b.const([1], np.int64)])  # [n, 2]
    dn = b.op("Div", [d, b.op("Sqrt", [b.op("ReduceSum", [b.op("Mul", [d, d]), b.const([1], np.int64)], keepdims=1)])])
    cth, sth = col(dn, 0, 1), col(dn, 1, 1)  # cos, sin of atan2(dy, dx): [n, 1]
    tr = np.array([[o["target_rotation_radians"]] for o in opts], np.float32)
    # rotation = target - atan2(dy, dx)
    c = b.op("Add", [b.op("Mul", [cth, b.const(np.cos(tr))]), b.op("Mul", [sth, b.const(np.sin(tr))])])
    s = b.op("Sub", [b.op("Mul", [cth, b.const(np.sin(tr))]), b.op("Mul", [sth, b.const(np.cos(tr))])])
    sub = b.op("Gather", [table, b.const(subset, np.int64)], axis=0)  # [n, k, 3]
    x = b.op("Reshape", [col(sub, 0, 2), b.const([n, k], np.int64)])
    y = b.op("Reshape", [col(sub, 1, 2), b.const([n, k], np.int64)])
    rx = b.op("Sub", [b.op("Mul", [x, c]), b.op("Mul", [y, s])])
    ry = b.op("Add", [b.op("Mul", [x, s]), b.op("Mul", [y, c])])
    mxx, mnx = b.op("ReduceMax", [rx], axes=[1], keepdims=1), b.op("ReduceMin", [rx], axes=[1], keepdims=1)
    mxy, mny = b.op("ReduceMax", [ry], axes=[1], keepdims=1), b.op("ReduceMin", [ry], axes=[1], keepdims=1)
    half = b.const(0.5)
    mx, my = b.op("Mul", [b.op("Add", [mxx, mnx]), half]), b.op("Mul", [b.op("Add", [mxy, mny]), half])
    cx = b.op("Add", [b.op("Mul", [c, mx]), b.op("Mul", [s, my])])
    cy = b.op("Sub", [b.op("Mul", [c, my]), b.op("Mul", [s, mx])])
    ow = np.array([[o["output_width"]] for o in opts], np.float32)
    oh = np.array([[o["output_height"]] for o in opts], np.float32)
    sx = b.op("Mul", [b.op("Sub", [mxx, mnx]), b.const(np.array([[o["scale_x"]] for o in opts], np.float32) / ow)])
    sy = b.op("Mul", [b.op("Sub", [mxy, mny]), b.const(np.array([[o["scale_y"]] for o in opts], np.float32) / oh)])
    a00, a01 = b.op("Mul", [c, sx]), b.op("Mul", [s, sy])
    a10, a11 = b.op("Neg", [b.op("Mul", [s, sx])]), b.op("Mul", [c, sy])
    tx = b.op("Sub", [cx, b.op("Add", [b.op("Mul", [a00, b.const(ow / 2)]), b.op("Mul", [a01, b.const(oh / 2)])])])
    ty = b.op("Sub", [cy, b.op("Add", [b.op("Mul", [a10, b.const(ow / 2)]), b.op("Mul", [a11, b.const(oh / 2)])])])
    zero, one = b.const(np.zeros((n, 1))), b.const(np.ones((n, 1)))
    m = b.op("Concat", [a00, a01, zero, tx, a10, a11, zero, ty, zero, zero, one, zero, zero, zero, zero, one], axis=1)
    for r, cst in enumerate(l2tm):
        one_m = b.op("Slice", [m, b.const([r], np.int64), b.const([r + 1], np.int64), b.const([0], np.int64)])
        b.op("Reshape", [one_m, b.const([1, 4, 4], np.int64)], out=cst["outputs"][0])

    # The patches. Rows 0 and 1 of each matrix with the pixel-centre correction:
    # column 3 += 0.5 * (column 0 + column 1) - 0.5.
    rows = b.op("Concat", [a00, a01, tx, a10, a11, ty], axis=1)  # [n, 6]: x row, y row (no z)
    corr = np.zeros((6, 6), np.float32)
    for i in range(6):
        corr[i, i] = 1.0
    corr[0, 2] = corr[1, 2] = corr[3, 5] = corr[4, 5] = 0.5
    rows = b.op("Add", [b.op("MatMul", [rows, b.const(corr)]), b.const([[0, 0, -0.5, 0, 0, -0.5]])])
    rows = b.op("Reshape", [rows, b.const([n, 2, 3], np.int64)])
    oy, ox = np.mgrid[0:ho, 0:wo]
    coords = np.stack([ox.ravel(), oy.ravel(), np.ones(ho * wo)])  # [3, ho*wo]
    tc = b.op("MatMul", [rows, b.const(coords)])  # [n, 2, ho*wo]
    fmap = ttb[0]["inputs"][0]
    _, hi, wi, ch = shapes[fmap]
    lim = b.const([[[wi - 1.0], [hi - 1.0]]])
    inside = b.op("And", [b.op("GreaterOrEqual", [tc, b.const(0.0)]), b.op("LessOrEqual", [tc, lim])])
    mask = b.op("ReduceMin", [b.op("Cast", [inside], to=TensorProto.FLOAT)], axes=[1], keepdims=0)  # [n, P]
    # Outside (or NaN): sample at 0 with weight 0, so every index stays valid.
    tc = b.op("Where", [inside, tc, b.const(0.0)])
    fl = b.op("Floor", [tc])
    frac = b.op("Sub", [tc, fl])
    fx = b.op("Reshape", [col(frac, 0, 1), b.const([n, ho * wo], np.int64)])
    fy = b.op("Reshape", [col(frac, 1, 1), b.const([n, ho * wo], np.int64)])
    i0 = b.op("Cast", [fl], to=TensorProto.INT64)
    i1 = b.op("Min", [b.op("Add", [i0, b.const(1, np.int64)]), b.const([[[wi - 1], [hi - 1]]], np.int64)])
    flat = lambda xi, yi: b.op("Add", [b.op("Mul", [yi, b.const(wi, np.int64)]), xi])
    x0 = b.op("Reshape", [col(i0, 0, 1), b.const([n, ho * wo], np.int64)])
    y0 = b.op("Reshape", [col(i0, 1, 1), b.const([n, ho * wo], np.int64)])
    x1 = b.op("Reshape", [col(i1, 0, 1), b.const([n, ho * wo], np.int64)])
    y1 = b.op("Reshape", [col(i1, 1, 1), b.const([n, ho * wo], np.int64)])
    rows_map = b.op("Reshape", [fmap, b.const([hi * wi, ch], np.int64)])
    onef = b.const(1.0)
    gx, gy = b.op("Sub", [onef, fx]), b.op("Sub", [onef, fy])
    acc = None
    for xi, yi, w in ((x0, y0, b.op("Mul", [gx, gy])), (x1, y0, b.op("Mul", [fx, gy])),
                      (x0, y1, b.op("Mul", [gx, fy])), (x1, y1, b.op("Mul", [fx, fy]))):
        w = b.op("Unsqueeze", [b.op("Mul", [w, mask]), b.const([2], np.int64)])  # [n, P, 1]
        term = b.op("Mul", [b.op("Gather", [rows_map, flat(xi, yi)], axis=0), w])  # [n, P, C]
        acc = term if acc is None else b.op("Add", [acc, term])
    for r, cst in enumerate(ttb):
        one_p = b.op("Slice", [acc, b.const([r], np.int64), b.const([r + 1], np.int64), b.const([0], np.int64)])
        b.op("Reshape", [one_p, b.const([1, ho, wo, ch], np.int64)], out=cst["outputs"][0])


def onnx_transform_landmarks(b: Builder, points, matrix, out, shape):
    """`TransformLandmarks` (v2): each (x, y) through the matrix's first two rows, (x, y, 0, 1)."""
    m = b.op("Reshape", [matrix, b.const([4, 4], np.int64)])
    a = b.op("Slice", [m, b.const([0, 0], np.int64), b.const([2, 2], np.int64), b.const([0, 1], np.int64)])  # [2, 2]
    t = b.op("Slice", [m, b.const([0, 3], np.int64), b.const([2, 4], np.int64), b.const([0, 1], np.int64)])  # [2, 1]
    p = b.op("Reshape", [points, b.const([-1, 2], np.int64)])
    moved = b.op("Add", [b.op("MatMul", [p, b.op("Transpose", [a], perm=[1, 0])]), b.op("Transpose", [t], perm=[1, 0])])
    b.op("Reshape", [moved, b.const(shape, np.int64)], out=out)


def close(model, custom, shapes, original_outputs):
    """Adds the custom operators back to the open ONNX model, as standard operators."""
    g = model.graph
    b = Builder(g, "mediapipe_custom")
    l2tm = [c for c in custom if c["kind"] == "Landmarks2TransformMatrix"]
    ttb = [c for c in custom if c["kind"] == "TransformTensorBilinear"]
    b.prefix = "mediapipe_custom/patches"
    onnx_patches(b, l2tm, ttb, shapes)
    for k, c in enumerate(c for c in custom if c["kind"] == "TransformLandmarks"):
        b.prefix = f"mediapipe_custom/TransformLandmarks_{k}"
        onnx_transform_landmarks(b, c["inputs"][0], c["inputs"][1], c["outputs"][0], shapes[c["outputs"][0]])
    produced = {o for c in custom for o in c["outputs"]}
    consumed = {i for c in custom for i in c["inputs"]}
    keep_in = [i for i in g.input if i.name not in produced]
    keep_out = [o for o in g.output if o.name not in consumed or o.name in original_outputs]
    del g.input[:]
    g.input.extend(keep_in)
    del g.output[:]
    g.output.extend(keep_out)
    # Topological order: the custom nodes sit between the trunk and the refinement networks.
    nodes = list(g.node) + b.nodes
    ready = {i.name for i in g.input} | {i.name for i in g.initializer} | {""}
    ordered = []
    while nodes:
        rest = []
        for n in nodes:
            if all(i in ready for i in n.input):
                ordered.append(n)
                ready.update(n.output)
            else:
                rest.append(n)
        assert len(rest) < len(nodes), "cycle while ordering the closed graph"
        nodes = rest
    del g.node[:]
    g.node.extend(ordered)
    return model


# ---------------------------------------------------------------------------------------------
# 4. Conversion and checks.


def tflite_run(path, feeds):
    it = tf.lite.Interpreter(model_path=path)
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], feeds[d["name"]])
    it.invoke()
    return {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}


def reference(open_path, custom, x):
    """The original model's outputs: the open TFLite model, the custom operators in NumPy."""
    it = tf.lite.Interpreter(model_path=open_path)
    it.allocate_tensors()
    ins = {d["name"]: d for d in it.get_input_details()}
    values = {"input_1": x}
    # The operators sit between the trunk and the refinement networks, and the networks between
    # them and the last one: three passes, each recomputing everything from the last one's values.
    for _ in range(3):
        for name, d in ins.items():
            it.set_tensor(d["index"], values.get(name, np.zeros(d["shape"], np.float32)))
        it.invoke()
        for d in it.get_output_details():
            values[d["name"]] = it.get_tensor(d["index"])
        for c in custom:
            if not all(i in values for i in c["inputs"]):
                continue
            if c["kind"] == "Landmarks2TransformMatrix":
                values[c["outputs"][0]] = np_landmarks_to_matrix(values[c["inputs"][0]], c["options"])
            elif c["kind"] == "TransformTensorBilinear":
                values[c["outputs"][0]] = np_transform_tensor(values[c["inputs"][0]], values[c["inputs"][1]], c["options"])
            else:
                values[c["outputs"][0]] = np_transform_landmarks(values[c["inputs"][0]], values[c["inputs"][1]])
    return values


def photo_input(path):
    """A face photo's central square scaled to 192 x 192, RGB in [0, 1]."""
    img = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    h, w = int(img.shape[0]), int(img.shape[1])
    side = min(h, w)
    top = max(0, int(h * 0.42) - side // 2)
    img = img[top : top + side, (w - side) // 2 : (w - side) // 2 + side]
    return tf.image.resize(tf.cast(img, tf.float32) / 255.0, (192, 192), antialias=True).numpy()[None].astype(np.float32)


def main():
    src_path, out_path, *photos = sys.argv[1:]
    with open(src_path, "rb") as f:
        src = f.read()
    original = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(src, 0))
    og = original.subgraphs[0]
    original_outputs = {og.tensors[i].name.decode() for i in og.outputs}
    shapes = {t.name.decode(): list(t.shape) for t in og.tensors}
    opened, custom = open_model(src)
    work = tempfile.mkdtemp(prefix="face_refined_")
    open_tfl = os.path.join(work, "open.tflite")
    with open(open_tfl, "wb") as f:
        f.write(opened)
    for c in custom:
        print(f"{c['kind']}: {c['inputs']} -> {c['outputs']}")

    open_onnx = os.path.join(work, "open.onnx")
    tf2onnx.convert.from_tflite(open_tfl, opset=16, output_path=open_onnx)
    rewritten = os.path.join(work, "open.prelu.onnx")
    subprocess.run([sys.executable, os.path.join(HERE, "rewrite_prelu.py"), open_onnx, rewritten], check=True)

    # Check 1: the open ONNX model against the open TFLite model.
    sess = ort.InferenceSession(rewritten, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(461)
    worst_open = 0.0
    for _ in range(4):
        feeds = {i.name: rng.random([d if isinstance(d, int) else 1 for d in i.shape], dtype=np.float32) for i in sess.get_inputs()}
        ref = tflite_run(open_tfl, feeds)
        got = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
        for name, value in ref.items():
            worst_open = max(worst_open, float(np.abs(value.reshape(-1) - got[name].reshape(-1)).max()))
    print(f"parity (open model): max |tflite - onnx| over 4 random inputs = {worst_open:.2e}")

    model = close(onnx.load(rewritten), custom, shapes, original_outputs)
    onnx.checker.check_model(model)
    onnx.save(model, out_path)
    ops = sorted({n.op_type for n in model.graph.node})
    print("ONNX ops:", " ".join(ops))

    # Check 2: the closed model against the open TFLite model + the NumPy operators.
    sess = ort.InferenceSession(out_path, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    assert sorted(names) == sorted(original_outputs), (names, original_outputs)
    inputs = [("photo", photo_input(p)) for p in photos]
    inputs += [("random", rng.random((1, 192, 192, 3), dtype=np.float32)) for _ in range(2)]
    worst = {}
    for kind, x in inputs:
        ref = reference(open_tfl, custom, x)
        got = dict(zip(names, sess.run(None, {"input_1": x})))
        for name in names:
            d = float(np.abs(ref[name].reshape(-1) - got[name].reshape(-1)).max())
            key = (kind, "refined" if name.startswith("output_") and name != "output_mesh_identity" else "trunk")
            worst[key] = max(worst.get(key, 0.0), d)
    ok = worst_open < 1e-2
    for (kind, part), d in sorted(worst.items()):
        n = sum(1 for k, _ in inputs if k == kind)
        print(f"parity (closed model, {part} outputs): max |reference - onnx| over {n} {kind} inputs = {d:.2e} px")
        # Photos are the check that matters; random inputs place patches at random.
        ok &= d < (1e-2 if kind == "photo" else 5e-2)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
