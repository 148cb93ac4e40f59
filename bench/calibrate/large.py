#!/usr/bin/env python3
"""Large captures (issue 21, point 2): noise, JPEG blocking and sharpness as the engine measures
them on a capture several times the canvas, against the same measures at the capture's full
resolution and on the reduced working copy the other checks use.

    pip install pillow numpy scipy onnxruntime
    cargo build -p photocheck-engine --example native_measures
    python3 bench/calibrate/large.py --out /tmp/calib_large \
        [--example ~/.cache/photocheck/target/debug/examples/native_measures]

Bases: the 39 calibration people as compliant photos (`clothing.py`'s compositing, navy top,
crown at the hair) at the original's own scale (face width 207 px x k with k = the template's
face width / 207, at least 2: 2.0-2.55 x the canvas, real studio detail, a 1/2 decode), and the
first 13 of them at 6 x the canvas (2148 x 2646, upsampled from the original: a 1/8 decode
reduced further). Each gets one defect at a time at the capture's own pixels, then is saved as
a quality-92 JPEG (4:2:0):

- noise: Gaussian noise of sigma levels per channel and pixel;
- blur: Gaussian blur of sigma canvas pixels (sigma x k at the capture's pixels);
- q: saved at that JPEG quality instead of 92;
- resave: saved at that quality, decoded and saved again at 95 (blocks under a fine table).

Runs the `native_measures` example on every file and writes OUT/large.csv and OUT/large.md:
per defect, strength and base, the median of each measure three ways (`full`: the whole photo
decoded at full size, the face's sharpness at full size; `engine`: what `photocheck check`
measures; `reduced`: the working copy) and how many photos each way fails the limit (noise > 3,
blocking > 2, sharpness < 1.7; for `engine`, how many fail the check itself: `quality.noise`,
`quality.compression` (its quality factor or its blocking), `quality.sharpness`). OUT must be
outside the repository.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
import clothing as C  # noqa: E402
from runcheck import files_dir  # noqa: E402

DEFAULT_EXAMPLE = Path.home() / ".cache/photocheck/target/debug/examples/native_measures"
DEFECTS = {
    "none": [0],
    "noise": [2, 4, 6, 8, 12],
    "blur": [1.0, 1.25, 1.5, 2.0],
    "q": [70, 50, 40, 30, 20],
    "resave": [20, 12],
}
LIMITS = {"noise": (None, 3.0), "blocking": (None, 2.0), "sharpness": (1.7, None)}


def variant(kind: str, s: float, rgb: np.ndarray, k: float, seed: int) -> bytes:
    img = rgb.astype(np.float64)
    quality = 92
    if kind == "noise":
        img = img + np.random.default_rng(seed).normal(0, s, img.shape)
    elif kind == "blur":
        img = np.stack([ndi.gaussian_filter(img[..., c], s * k) for c in range(3)], axis=-1)
    elif kind == "q":
        quality = int(s)
    elif kind == "resave":
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, "JPEG", quality=int(s))
        img = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.float64)
        quality = 95
    out = Image.fromarray(np.clip(np.round(img), 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=quality, subsampling=2)
    return buf.getvalue()


def fails(measure: str, v) -> bool:
    lo, hi = LIMITS[measure]
    if v is None:
        return False
    return (lo is not None and v < lo) or (hi is not None and v > hi)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--example", type=Path, default=DEFAULT_EXAMPLE)
    ap.add_argument("--people", type=int, default=39)
    a = ap.parse_args()
    files = files_dir(a.out)
    seg = C.Segmenter()
    ids = sorted(p.name[:3] for p in C.LONDON.glob("*_03.jpg"))[: a.people]
    made = []
    for n, pid in enumerate(ids):
        for base, k in (("native", "native"), ("6x", 6.0)):
            if base == "6x" and n >= 13:
                continue
            work = a.out / "bases" / base
            src = work / "photos" / "navy" / f"{pid}.jpg"
            if not src.exists():
                C.render_person(pid, seg, work, False, crown_from_hair=True, only={"navy"}, size_k=k)
            rgb = np.asarray(Image.open(src).convert("RGB"))
            kk = rgb.shape[1] / C.CANVAS_W
            for kind, strengths in DEFECTS.items():
                for s in strengths:
                    name = f"{pid}_{base}_{kind}_{s:g}.jpg"
                    if not (files / name).exists():
                        (files / name).write_bytes(variant(kind, s, rgb, kk, 1000 + n))
                    made.append(dict(person=pid, base=base, k=round(kk, 2), defect=kind, strength=s, file=name))
        print(pid, file=sys.stderr, end=" ", flush=True)
    print(file=sys.stderr)
    res = {}
    names = [m["file"] for m in made]
    for i in range(0, len(names), 50):
        proc = subprocess.run(
            [str(a.example), *[str(files / f) for f in names[i : i + 50]]],
            capture_output=True, text=True, check=True,
        )
        for line in proc.stdout.splitlines():
            r = json.loads(line)
            res[Path(r["file"]).name] = r
    rows = []
    for m in made:
        r = res.get(m["file"], {})
        row = dict(m)
        for way in ("full", "engine", "reduced"):
            for meas in LIMITS:
                row[f"{way}_{meas}"] = (r.get(way) or {}).get(meas)
        for check in ("noise", "compression", "sharpness"):
            row[f"engine_fails_{check}"] = (r.get("fails") or {}).get(check)
        rows.append(row)
    with open(a.out / "large.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    lines = [
        "| base | defect | strength | measure | full: median, fail | engine: median, fail | reduced: median, fail |",
        "|---|---|---|---|---|---|---|",
    ]
    for base in ("native", "6x"):
        for kind, strengths in DEFECTS.items():
            for s in strengths:
                sel = [r for r in rows if r["base"] == base and r["defect"] == kind and r["strength"] == s]
                for meas in LIMITS:
                    cells = []
                    for way in ("full", "engine", "reduced"):
                        vals = [r[f"{way}_{meas}"] for r in sel if r[f"{way}_{meas}"] is not None]
                        nf = sum(fails(meas, v) for v in vals)
                        if way == "engine":
                            check = "compression" if meas == "blocking" else meas
                            nf = sum(bool(r[f"engine_fails_{check}"]) for r in sel)
                        med = f"{statistics.median(vals):.2f}" if vals else "-"
                        cells.append(f"{med}, {nf}/{len(sel)}")
                    lines.append(f"| {base} | {kind} | {s:g} | {meas} | " + " | ".join(cells) + " |")
    (a.out / "large.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
