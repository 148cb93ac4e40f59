#!/usr/bin/env python3
"""Where the ears are, seen from the engine's face mesh, and how much skin each ear region shows.

Issue 16 (`face.occlusion`'s ears rule). Two parts, both from the engine's own mesh
(`subject_mesh` example, one JSON line per photo):

  1. placement: the 39 calibration templates' ear outlines (points 109-111/185/186 where the ear
     meets the face, 115-119 its outer edge; 112-114/187/188 and 120-124 on the other side) in the
     cover checks' face frame, relative to the cheek contour points 234 / 454, in face widths
     (234-454): where the ear lies, how much of it a candidate region holds, and how much of a
     region a fully visible ear fills. The originals are shrunk to 540 px first so that the
     engine measures them at a known scale.
  2. skin shares: on photos (e.g. bias.py's 390 compliant composites, or the fixtures), the share
     of each candidate region that is skin-coloured (stops from the same side's cheek,
     chromaticity distance), the more visible side, per person.

    target=~/.cache/photocheck/target/debug
    python3 ears.py shrink /tmp/ears_small            # the originals at 540 px
    $target/examples/subject_mesh /tmp/ears_small/*.jpg > /tmp/small.jsonl
    python3 ears.py placement /tmp/small.jsonl
    $target/examples/subject_mesh /tmp/calib_bias/photos/*/*.jpg > /tmp/comp.jsonl
    python3 ears.py skin /tmp/comp.jsonl

Needs the bench venv (clothing.py's imports: numpy, pillow, scipy, onnxruntime) and
matplotlib (for its polygon test). Figures of 2026-12-07 in
docs/checks.md (*Ears*).
"""
import collections
import json
import os
import sys
from pathlib import Path

import numpy as np
from matplotlib.path import Path as Polygon
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import clothing as C  # noqa: E402  (LONDON, read_tem, srgb_to_lin, lum)

SMALL = 540
LEFT_EYE = [33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7]
RIGHT_EYE = [263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249]
CHEEKS = [234, 454]
# Template ear outline per image side: junction with the face (top to bottom), outer edge.
EAR = [([109, 185, 110, 186, 111], [115, 116, 117, 118, 119]),
       ([112, 187, 113, 188, 114], [120, 121, 122, 123, 124])]
# Candidate regions: outward u0..u1, then v0..v1 (down), face widths from the cheek point.
REGIONS = {
    "before (lower ear)": (0.01, 0.08, 0.0, 0.15),
    "whole ear": (0.0, 0.12, -0.15, 0.18),
    "upper ear (taken)": (0.0, 0.12, -0.25, 0.10),
}
# Skin windows: stops below / above the cheek, chromaticity distance.
WINDOWS = [(-2.0, 1.0, 0.08), (-2.5, 1.0, 0.08), (-3.0, 1.0, 0.12)]
LIN = C.srgb_to_lin(np.arange(256) / 255)  # linear light of each 8-bit value


def frame(mesh):
    m = np.asarray(mesh)[:, :2]
    left, right = m[LEFT_EYE].mean(0), m[RIGHT_EYE].mean(0)
    iod = np.linalg.norm(right - left)
    ex = (right - left) / iod
    return dict(m=m, left=left, right=right, iod=iod, ex=ex, ey=np.array([-ex[1], ex[0]]),
                fw=np.linalg.norm(m[CHEEKS[0]] - m[CHEEKS[1]]))


def pixels(img, f, at, u, v):
    """Pixels of the frame rectangle u × v (px) from `at`, nearest sample, inside the photo."""
    h, w, _ = img.shape
    uu, vv = np.meshgrid(np.arange(u[0], u[1]) + 0.5, np.arange(v[0], v[1]) + 0.5)
    p = at + uu[..., None] * f["ex"] + vv[..., None] * f["ey"]
    x, y = p[..., 0].astype(int), p[..., 1].astype(int)
    ok = (p[..., 0] >= 0) & (p[..., 1] >= 0) & (x < w) & (y < h)
    return img[y[ok], x[ok]]


def chromaticity(lin):
    return (lin / lin.sum(-1, keepdims=True).clip(1e-6))[..., :2]


def shrink(out):
    os.makedirs(out, exist_ok=True)
    for f in sorted(C.LONDON.glob("*_03.jpg")):
        img = Image.open(f).convert("RGB")
        img.resize((SMALL, SMALL), Image.LANCZOS).save(os.path.join(out, f.name), quality=95)


def placement(jsonl):
    polys = []
    for line in open(jsonl):
        d = json.loads(line)
        if not d.get("mesh"):
            continue
        photo = C.LONDON / os.path.basename(d["file"])
        t = C.read_tem(photo.with_suffix(".tem"))[0] * (SMALL / Image.open(photo).width)
        f = frame(d["mesh"])
        for k, (junction, outer) in enumerate(EAR):
            c, s = f["m"][CHEEKS[k]], (-1 if k == 0 else 1)
            to = lambda p: np.array([s * (p - c) @ f["ex"], (p - c) @ f["ey"]]) / f["fw"]
            polys.append(np.array([to(t[i]) for i in junction] + [to(t[i]) for i in outer[::-1]]))
    q = lambda v: " / ".join("%.2f" % x for x in np.percentile(v, [0, 10, 50, 90, 100]))
    print("%d ears, face widths from the cheek point (min / p10 / median / p90 / max)" % len(polys))
    print("  top of the ear (outer edge), v:", q([p[9, 1] for p in polys]))
    print("  bottom of the lobe, v:         ", q([p[5, 1] for p in polys]))
    print("  outer edge, u:                 ", q(np.concatenate([p[5:, 0] for p in polys])))
    grid = np.stack(np.meshgrid(np.linspace(-0.1, 0.3, 80), np.linspace(-0.4, 0.4, 160)), -1).reshape(-1, 2)
    for name, (u0, u1, v0, v1) in REGIONS.items():
        inside = (grid[:, 0] >= u0) & (grid[:, 0] <= u1) & (grid[:, 1] >= v0) & (grid[:, 1] <= v1)
        held, filled = [], []
        for p in polys:
            ear = Polygon(p).contains_points(grid)
            held.append((ear & inside).sum() / max(ear.sum(), 1))
            filled.append((ear & inside).sum() / max(inside.sum(), 1))
        print("  %-20s holds %.0f %% of an ear (median; min %.0f %%); an ear fills %.0f %% of it"
              % (name, 100 * np.median(held), 100 * min(held), 100 * np.median(filled)))


def skin(jsonl):
    shares = collections.defaultdict(lambda: collections.defaultdict(list))
    for line in open(jsonl):
        d = json.loads(line)
        if not d.get("mesh"):
            continue
        who = os.path.basename(d["file"])[:3]
        img = np.asarray(Image.open(d["file"]).convert("RGB"))
        f = frame(d["mesh"])
        fw, iod = f["fw"], f["iod"]
        cheeks = []
        for e in (f["left"], f["right"]):
            lin = LIN[pixels(img, f, e + 0.7 * iod * f["ey"], (-0.1 * iod, 0.1 * iod), (-0.1 * iod, 0.1 * iod))].mean(0)
            cheeks.append((C.lum(lin), chromaticity(lin)))
        for name, (u0, u1, v0, v1) in REGIONS.items():
            for w, (lo, hi, dc) in enumerate(WINDOWS):
                best = 0.0
                for k in range(2):
                    u = (u0 * fw, u1 * fw) if k else (-u1 * fw, -u0 * fw)
                    p = pixels(img, f, f["m"][CHEEKS[k]], u, (v0 * fw, v1 * fw))
                    lin = LIN[p]
                    stops = np.log2(C.lum(lin).clip(1e-5) / cheeks[k][0])
                    dist = np.linalg.norm(chromaticity(lin) - cheeks[k][1], axis=-1)
                    person = (p < 235).any(-1)  # composites on white: not the backdrop
                    ok = person & (stops >= lo) & (stops <= hi) & (dist <= dc)
                    best = max(best, ok.mean() if len(p) else 0.0)
                shares[(name, w)][who].append(best)
    for (name, w), per in shares.items():
        med = sorted((np.median(v), who) for who, v in per.items())
        print("%-20s window %s: lowest people (median of their photos): %s" % (
            name, WINDOWS[w], ", ".join("%s %.2f" % (who, v) for v, who in med[:7])))


if __name__ == "__main__":
    {"shrink": shrink, "placement": placement, "skin": skin}[sys.argv[1]](sys.argv[2])
