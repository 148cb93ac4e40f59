"""Parity of models/converted/face_expression.onnx with face-api.js itself.

Runs face-api.js 0.22.2's `faceExpressionNet.predictExpressions` (its own TensorFlow.js 1.7 CPU
backend, in Node) and the ONNX file (ONNX Runtime) on the same inputs: 8 random 112 x 112 RGB
images and, when `--faces DIR` is given, a centred crop of every JPEG in DIR; prints the largest
difference of any probability and exits 1 above 1e-4.

    python3 parity_face_expression.py WORK MODEL.onnx [--faces DIR]

WORK must hold `node_modules/face-api.js` (npm install face-api.js@0.22.2) and
`package/model/face_expression_model*` (from npm pack @vladmandic/face-api@1.7.15); convert.sh
prepares both. Needs numpy, onnxruntime, node (and pillow for --faces).
"""
import argparse
import json
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort

RUN_JS = """
const faceapi = require('face-api.js'); const tf = faceapi.tf; const fs = require('fs');
(async () => {
  await tf.setBackend('cpu'); await tf.ready();
  const m = JSON.parse(fs.readFileSync('package/model/face_expression_model-weights_manifest.json'));
  const b = fs.readFileSync('package/model/face_expression_model.bin');
  await faceapi.nets.faceExpressionNet.loadFromWeightMap(tf.io.decodeWeights(
    b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength), m.flatMap(g => g.weights)));
  const x = new Float32Array(fs.readFileSync('parity.f32').buffer.slice(0));
  const out = [];
  for (let i = 0; i < x.length / 37632; i++) {
    const t = tf.tensor3d(x.subarray(i * 37632, (i + 1) * 37632), [112, 112, 3]);
    const p = await faceapi.nets.faceExpressionNet.predictExpressions(t);
    out.push(faceapi.FACE_EXPRESSION_LABELS.map(k => p[k]));
    t.dispose();
  }
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(1); });
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("work", type=Path)
    ap.add_argument("model", type=Path)
    ap.add_argument("--faces", type=Path)
    args = ap.parse_args()
    rng = np.random.default_rng(461)
    inputs = [rng.random((112, 112, 3), dtype=np.float32) * 255 for _ in range(8)]
    for f in sorted(args.faces.glob("*.jpg")) if args.faces else []:
        from PIL import Image

        im = Image.open(f).convert("RGB")
        s = min(im.size)
        box = ((im.width - s) // 2, (im.height - s) // 2, (im.width + s) // 2, (im.height + s) // 2)
        inputs.append(np.asarray(im.crop(box).resize((112, 112), Image.BILINEAR), np.float32))
    x = np.stack(inputs)
    x.tofile(args.work / "parity.f32")
    (args.work / "parity.js").write_text(RUN_JS)
    out = subprocess.run(["node", "parity.js"], cwd=args.work, check=True, capture_output=True, text=True).stdout
    ref = np.array(json.loads(out.strip().splitlines()[-1]), np.float32)
    sess = ort.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"image": x})[0]
    worst = float(np.abs(ref - got).max())
    print(f"parity: max |face-api.js - onnx| over {len(x)} inputs = {worst:.1e}")
    raise SystemExit(0 if worst <= 1e-4 else 1)


if __name__ == "__main__":
    main()
