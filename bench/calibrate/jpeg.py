#!/usr/bin/env python3
"""`quality.compression` against graded JPEG quality (issue 16, point 1: the limit against the
spec's quality factor 70).

    pip install pillow numpy
    python3 bench/calibrate/bias.py --out /tmp/calib_bias      # makes the compliant photos
    python3 bench/calibrate/jpeg.py --photos /tmp/calib_bias/photos/navy --out /tmp/calib_jpeg \
        [--photocheck ~/.cache/photocheck/target/debug/photocheck]

Each compliant photo (decoded once, as the reference) is saved again by Pillow (libjpeg, 4:2:0,
baseline) at quality 10, 20, 25, 30, 40, 50, 60, 70, 80 and 90 (not 85: the photos are
quality-85 JPEGs, and the same tables would give them back unchanged). Per quality: the file size, the
PSNR of the luminance against the reference over the face (the middle third of the width, rows
20-60 % of the height: where a clerk looks, and where blocking shows first on smooth skin), the
8 x 8 blocking ratio and quality factor photocheck reports, and how many photos fail
`quality.compression`. Prints a table (medians over the photos) and writes OUT/jpeg.csv. OUT must
be outside the repository.
"""

from __future__ import annotations

import csv
import io
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image

QUALITIES = [10, 20, 25, 30, 40, 50, 60, 70, 80, 90]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from runcheck import check_folder, files_dir, photo_args  # noqa: E402



def luma(img: Image.Image) -> np.ndarray:
    a = np.asarray(img.convert("RGB"), dtype=np.float64)
    return 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]


def face_psnr(ref: np.ndarray, img: np.ndarray) -> float:
    h, w = ref.shape
    sl = (slice(int(0.2 * h), int(0.6 * h)), slice(w // 3, 2 * w // 3))
    mse = float(np.mean((ref[sl] - img[sl]) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main() -> int:
    a = photo_args()
    files = files_dir(a.out)
    rows = []
    for src in sorted(a.photos.glob("*.jpg")):
        ref_img = Image.open(src).convert("RGB")
        ref = luma(ref_img)
        for q in QUALITIES:
            buf = io.BytesIO()
            ref_img.save(buf, "JPEG", quality=q, subsampling=2, dpi=(350, 350))
            name = f"{src.stem}_q{q:02d}.jpg"
            (files / name).write_bytes(buf.getvalue())
            back = luma(Image.open(io.BytesIO(buf.getvalue())))
            rows.append(
                dict(photo=src.stem, quality=q, kb=len(buf.getvalue()) / 1000, psnr=face_psnr(ref, back), name=name)
            )
    res = check_folder(a.photocheck, files)
    for r in rows:
        c = res.get(r["name"], {}).get("quality.compression", {})
        r["status"] = c.get("status")
        r["value"] = c.get("value")
        r["message"] = c.get("message", "")
    with open(a.out / "jpeg.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print("| quality | photos | KB (median) | face PSNR dB (median, min) | fail quality.compression |")
    print("|---|---|---|---|---|")
    for q in QUALITIES:
        sel = [r for r in rows if r["quality"] == q]
        kb = statistics.median(r["kb"] for r in sel)
        ps = [r["psnr"] for r in sel]
        fails = sum(r["status"] == "fail" for r in sel)
        print(f"| {q} | {len(sel)} | {kb:.1f} | {statistics.median(ps):.1f}, {min(ps):.1f} | {fails} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
