"""Face width from MediaPipe's two face-mesh models against the two references (issue 16).

    pip install mediapipe==0.10.14 pillow numpy scipy onnxruntime
    python3 mesh_models.py        # from this folder

MediaPipe FaceMesh runs `face_landmark.tflite`, or with `refine_landmarks=True`
`face_landmark_with_attention.tflite` (the fixtures' README: their geometry was measured "with
iris refinement"). Both are run here through MediaPipe's own pipeline (static image mode) on
(1) the fixtures of London participants, against `params.face_width` (points 234-454 on the
original, carried through the placement), and (2) the 39 calibration people placed by
`../pose.py` at a template face width (points 110-113) of 207 px, shrunk to 358 x 441. Prints
the mean, spread and largest error of each model against each reference.
"""
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import mediapipe as mp  # noqa: E402
from pose import placed  # noqa: E402

SHARED = HERE.parents[3] / "shared"


def width(mesh, img):
    res = mesh.process(img)
    if not res.multi_face_landmarks:
        return None
    lm = res.multi_face_landmarks[0].landmark
    h, w = img.shape[:2]
    return float(np.hypot((lm[234].x - lm[454].x) * w, (lm[234].y - lm[454].y) * h))


def report(name, rows):
    for k, model in ((1, "attention"), (2, "plain")):
        d = np.array([r[k] - r[0] for r in rows if r[k] is not None])
        print(f"{name:34s} {model:9s} n {len(d):3d}  mean {d.mean():+.2f}  sd {d.std():.2f}  "
              f"max |e| {np.abs(d).max():.1f}  within ±3 px of the truth {(np.abs(d) <= 3).sum()}")


def main():
    fm = mp.solutions.face_mesh
    meshes = [fm.FaceMesh(static_image_mode=True, refine_landmarks=r, max_num_faces=1) for r in (True, False)]
    compliant, london = [], []
    for line in open(SHARED / "fixtures/expected.jsonl"):
        e = json.loads(line)
        if "face_width" not in e["params"] or not e["person"].startswith("london"):
            continue
        try:
            img = np.asarray(Image.open(SHARED / "fixtures" / e["file"]).convert("RGB"))
        except OSError:
            continue
        row = [e["params"]["face_width"]] + [width(m, img) for m in meshes]
        london.append(row)
        if e["file"].startswith("pass__"):
            compliant.append(row)
    report("fixtures, compliant", compliant)
    report("fixtures, every London photo", london)
    cal = []
    for p in sorted((SHARED / "calibration/london").glob("*_03.jpg")):
        canvas, _, _ = placed(p)
        img = np.asarray(canvas.resize((358, 441), Image.LANCZOS))
        cal.append([207.0] + [width(m, img) for m in meshes])
    report("calibration, template width 207", cal)


if __name__ == "__main__":
    main()
