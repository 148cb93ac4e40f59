"""Which quantile of the eye opening's luma measures the whites of the eyes best (issue 16).

    python3 eyes_white.py          # from this folder, with the bench venv (see README.md)

For the 39 calibration people (neutral originals placed on the GA 461 canvas by `../pose.py`,
shrunk to 358 x 441, saved at JPEG quality 70) and the 20 compliant fixtures, reads quantiles
85 ... 100 of luma inside each eye contour of the mesh (the brighter eye), as they are and with
the whole photo scaled by 0.7, 0.6 and 0.5 on its sRGB values (then saved at quality 90).
Prints each photo's row, the range per quantile and gain, and the spread (brightest ÷ darkest)
of each quantile in good light: the quantile with the smallest spread leaves a floor the most
room between a dark-skinned face in good light and a light-skinned face in dim light.
Writes /tmp/eyes_white.json.
"""
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from pose import placed, run_mesh  # noqa: E402
from sclera import EYES, sess  # noqa: E402

SHARED = HERE.parents[3] / "shared"
QS = (85, 90, 93, 95, 96, 97, 98, 99, 100)
GAINS = (1.0, 0.7, 0.6, 0.5)


def luma(a):
    return a @ [0.299, 0.587, 0.114]


def polygon_mask(shape, poly):
    mk = Image.new("L", (shape[1], shape[0]), 0)
    ImageDraw.Draw(mk).polygon([tuple(p) for p in poly], fill=1)
    return np.asarray(mk) > 0


def jpeg(img, q):
    b = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(b, "JPEG", quality=q)
    return np.asarray(Image.open(b).convert("RGB")).astype(float)


def quantiles(img):
    u8 = img.astype(np.uint8)
    m = run_mesh(sess, u8, (179, 260), 330)
    m = run_mesh(sess, u8, tuple(m[:, :2].mean(0)), 1.7 * np.linalg.norm(m[234, :2] - m[454, :2]))
    y = luma(img)
    per_eye = [np.percentile(y[polygon_mask(img.shape, m[e][:, :2])], QS) for e in EYES]
    return np.max(per_eye, axis=0)


def main():
    sources = [("cal", p) for p in sorted((SHARED / "calibration/london").glob("*_03.jpg"))]
    sources += [("fix", p) for p in sorted((SHARED / "fixtures").glob("pass__*.jpg"))]
    rows = []
    for kind, p in sources:
        if kind == "cal":
            canvas, _, _ = placed(p)
            img = jpeg(np.asarray(canvas.resize((358, 441), Image.LANCZOS)).astype(float), 70)
        else:
            img = np.asarray(Image.open(p).convert("RGB")).astype(float)
        row = [p.stem] + [
            [round(float(v)) for v in quantiles(jpeg(img * g, 90) if g < 1 else img)] for g in GAINS
        ]
        print(row, flush=True)
        rows.append(row)
    json.dump(rows, open("/tmp/eyes_white.json", "w"))
    for gi, g in enumerate(GAINS):
        a = np.array([r[gi + 1] for r in rows])
        print(g, " ".join(f"p{q}:{a[:, k].min()}-{a[:, k].max()}" for k, q in enumerate(QS)))
    a = np.array([r[1] for r in rows])
    print("spread", " ".join(f"p{q}:{a[:, k].max() / a[:, k].min():.2f}" for k, q in enumerate(QS)))


if __name__ == "__main__":
    main()
