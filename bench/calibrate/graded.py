#!/usr/bin/env python3
"""Soft limits against graded defects on compliant photos (issue 16, point 1).

    pip install pillow numpy scipy
    python3 bench/calibrate/bias.py --out /tmp/calib_bias      # makes the compliant photos
    python3 bench/calibrate/graded.py --photos /tmp/calib_bias/photos/navy --out /tmp/calib_graded \
        [--photocheck ~/.cache/photocheck/target/debug/photocheck]

Each compliant photo gets one defect at a time, at graded strengths, and is saved as a quality-92
JPEG (4:2:0):

- noise: Gaussian noise of standard deviation sigma levels, independently per channel and
  pixel (a fixed seed per photo) -> `quality.noise`;
- blur: Gaussian blur of sigma pixels on the 358 x 441 canvas -> `quality.sharpness`;
- gain: every channel multiplied in linear light by 2^stops (under- and over-exposure) ->
  `quality.exposure`, `quality.dynamic_range`;
- cast: red raised and blue lowered by stops/2 each in linear light (a warm cast) ->
  `quality.color` (reported as the skin's chroma: a warm cast keeps the hue in the skin band);
- cool, green: the other casts, red lowered and blue raised by stops/2 each, or green raised
  by stops/2 and red and blue lowered by stops/4 -> `quality.color` (reported as the hue once
  it leaves the skin band);
- dim: the subject alone (every pixel that is not the white backdrop) darkened on its sRGB
  values by the share s (0.4: to 60 %), the backdrop left white, as a face lit badly and set on
  a white backdrop afterwards (the fixtures' under-exposure is made this way) ->
  `quality.exposure`;
- side: linear light scaled across the photo from -stops/2 at the left edge to +stops/2 at
  the right (light from one side) -> `quality.illumination`.

Runs `photocheck check --format jsonl` on them and prints, per defect and strength, the median
and range of the value each check reports and how many of the photos it fails (a strength 0
row is the photos as they are). Writes OUT/graded.csv. OUT must be outside the repository.
"""

from __future__ import annotations

import csv
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runcheck import check_folder, files_dir, photo_args  # noqa: E402

DEFECTS = {
    "noise": ([0, 1, 2, 3, 4, 6, 8, 12], ["quality.noise"]),
    "blur": ([0, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0], ["quality.sharpness"]),
    "gain": (
        [-3, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5],
        ["quality.exposure", "quality.dynamic_range"],
    ),
    "cast": ([0, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2], ["quality.color"]),
    "cool": ([0, 0.2, 0.5, 0.8, 1.2], ["quality.color"]),
    "green": ([0, 0.2, 0.5, 0.8, 1.2], ["quality.color"]),
    "side": ([0, 0.5, 1, 1.5, 2, 3], ["quality.illumination"]),
    "dim": ([0, 0.2, 0.3, 0.4, 0.5, 0.6], ["quality.exposure"]),
}


def to_lin(a: np.ndarray) -> np.ndarray:
    a = a / 255.0
    return np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)


def to_srgb(a: np.ndarray) -> np.ndarray:
    a = np.clip(a, 0, 1)
    return 255.0 * np.where(a <= 0.0031308, 12.92 * a, 1.055 * a ** (1 / 2.4) - 0.055)


def apply(kind: str, s: float, rgb: np.ndarray, seed: int) -> np.ndarray:
    if s == 0:
        return rgb
    if kind == "noise":
        rng = np.random.default_rng(seed)
        return rgb + rng.normal(0, s, rgb.shape)
    if kind == "blur":
        return np.stack([ndi.gaussian_filter(rgb[..., c], s) for c in range(3)], axis=-1)
    if kind == "cast":
        # A warm cast: red up and blue down by s/2 stops each, in linear light.
        return to_srgb(to_lin(rgb) * np.array([2.0 ** (s / 2), 1.0, 2.0 ** (-s / 2)]))
    if kind == "cool":
        return to_srgb(to_lin(rgb) * np.array([2.0 ** (-s / 2), 1.0, 2.0 ** (s / 2)]))
    if kind == "green":
        return to_srgb(to_lin(rgb) * np.array([2.0 ** (-s / 4), 2.0 ** (s / 2), 2.0 ** (-s / 4)]))
    if kind == "dim":
        subject = rgb.min(axis=-1, keepdims=True) < 250
        return np.where(subject, rgb * (1.0 - s), rgb)
    if kind == "side":
        # Light from one side: linear light scaled from -s/2 stops at the left edge to +s/2
        # at the right, a difference of s stops across the photo.
        w = rgb.shape[1]
        ramp = 2.0 ** (s * (np.arange(w) / (w - 1) - 0.5))
        return to_srgb(to_lin(rgb) * ramp[None, :, None])
    return to_srgb(to_lin(rgb) * 2.0**s)


def main() -> int:
    a = photo_args()
    files = files_dir(a.out)
    made = []
    for i, src in enumerate(sorted(a.photos.glob("*.jpg"))):
        rgb = np.asarray(Image.open(src).convert("RGB"), dtype=np.float64)
        for kind, (strengths, _) in DEFECTS.items():
            for s in strengths:
                out = np.clip(np.round(apply(kind, s, rgb, 1000 + i)), 0, 255).astype(np.uint8)
                name = f"{src.stem}_{kind}_{s:+g}.jpg"
                Image.fromarray(out).save(files / name, quality=92, subsampling=2, dpi=(350, 350))
                made.append((src.stem, kind, s, name))
    res = check_folder(a.photocheck, files)
    rows = []
    for photo, kind, s, name in made:
        for code in DEFECTS[kind][1]:
            c = res.get(name, {}).get(code, {})
            v = c.get("value")
            rows.append(
                dict(
                    photo=photo,
                    defect=kind,
                    strength=s,
                    code=code,
                    value=v if isinstance(v, (int, float)) else None,
                    unit=c.get("unit"),
                    status=c.get("status"),
                    uncertain=int(bool(c.get("uncertain"))),
                )
            )
    with open(a.out / "graded.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print("| defect | strength | check | value: median [min, max] | fail | review |")
    print("|---|---|---|---|---|---|")
    for kind, (strengths, codes) in DEFECTS.items():
        for s in strengths:
            for code in codes:
                sel = [r for r in rows if r["defect"] == kind and r["strength"] == s and r["code"] == code]
                vals = [r["value"] for r in sel if r["value"] is not None]
                fails = sum(r["status"] == "fail" for r in sel)
                rev = sum(r["uncertain"] and r["status"] != "fail" for r in sel)
                rng = (
                    f"{statistics.median(vals):.2f} [{min(vals):.2f}, {max(vals):.2f}]" if vals else "-"
                )
                print(f"| {kind} | {s:+g} | `{code}` | {rng} | {fails}/{len(sel)} | {rev} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
