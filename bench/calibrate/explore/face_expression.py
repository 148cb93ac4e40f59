"""face-api.js's expression network on the calibration originals (issue 18's closed-mouth smiles).

npm `@vladmandic/face-api` 1.7.15 ships `model/face_expression_model.bin` and its weights
manifest (a face-api.js weight map: 112 x 112 RGB, 7 expressions); `face-api.js` 0.22.2 ships
the code (with @tensorflow/tfjs-core 1.7, pure-JS CPU backend) but no weights. This script crops
each original around the template's face (sides 1.0 / 1.2 / 1.4 face widths, centre between
the eyes and the chin, 0.1 face widths up), runs the network in Node and prints, per crop, the
largest P(happy) of the 39 neutral faces and how many smiles lie above it, alone and together
with today's face.expression failures (--subject-mesh: subject_mesh's JSON lines for the same
files, optional).

    python3 face_expression.py [--work /tmp/face-expression] [--subject-mesh FILE]

Needs numpy, pillow; node and npm (two packages, ~14 MB).
"""
import argparse, json, subprocess, sys, tarfile
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from clothing import read_tem  # noqa: E402

# The same Node runner as the converted model's parity check (all 7 probabilities per crop).
sys.path.insert(0, str(HERE.parents[2] / "models"))
from parity_face_expression import RUN_JS  # noqa: E402

CALIB = HERE.parents[3] / "shared/calibration/london"
SCALES = (1.0, 1.2, 1.4)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/face-expression"))
    ap.add_argument("--subject-mesh", type=Path)
    args = ap.parse_args()
    w = args.work
    w.mkdir(parents=True, exist_ok=True)
    if not (w / "node_modules/face-api.js").exists():
        (w / "package.json").write_text('{"name": "fx", "version": "0.0.0"}')
        subprocess.run(["npm", "install", "--silent", "face-api.js@0.22.2"], cwd=w, check=True)
    if not (w / "package/model/face_expression_model.bin").exists():
        subprocess.run(["npm", "pack", "@vladmandic/face-api@1.7.15"], cwd=w, check=True, stdout=subprocess.DEVNULL)
        with tarfile.open(w / "vladmandic-face-api-1.7.15.tgz") as t:
            for name in ("face_expression_model.bin", "face_expression_model-weights_manifest.json"):
                t.extract(f"package/model/{name}", w)
    names, crops = [], []
    for scale in SCALES:
        for src in sorted(CALIB.glob("*.jpg")):
            pid = src.stem[:3]
            t = read_tem(src.parent / f"{pid}_03.tem")
            p = np.asarray(t[0] if isinstance(t, tuple) else t)
            fw = np.linalg.norm(p[110] - p[113])
            c = ((p[0] + p[1]) / 2 + p[129]) / 2 - [0, 0.1 * fw]
            side = scale * fw
            im = Image.open(src).convert("RGB").crop((c[0] - side / 2, c[1] - side / 2, c[0] + side / 2, c[1] + side / 2))
            crops.append(np.asarray(im.resize((112, 112), Image.BILINEAR), np.float32))
            names.append((scale, src.stem))
    np.stack(crops).tofile(w / "parity.f32")
    (w / "run.js").write_text(RUN_JS)
    out = subprocess.run(["node", "run.js"], cwd=w, check=True, capture_output=True, text=True).stdout
    happy = [p[1] for p in json.loads(out.strip().splitlines()[-1])]
    fails = set()
    if args.subject_mesh:
        for line in args.subject_mesh.read_text().splitlines():
            r = json.loads(line)
            if r.get("expression") == "fail":
                fails.add(Path(r["file"]).stem)
    for scale in SCALES:
        h = {n: v for (s, n), v in zip(names, happy) if s == scale}
        top = max(v for n, v in h.items() if n.endswith("_03"))
        smiles = {n: v for n, v in h.items() if n.endswith("_08")}
        above = {n for n, v in smiles.items() if v > top}
        missed = sorted(n[:3] for n in smiles if n not in above | fails)
        print(f"crop {scale}: neutral max P(happy) {top:.3f}; smiles above it {len(above)} of {len(smiles)}, "
              f"with today's fails {len(above | fails)}; missed {' '.join(missed)}")


if __name__ == "__main__":
    main()
