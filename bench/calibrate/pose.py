#!/usr/bin/env python3
"""Head pose against known angles (issue 16, point 2): the calibration faces turned in 3-D.

    pip install pillow numpy scipy onnxruntime
    python3 bench/calibrate/pose.py --out /tmp/calib_pose \
        [--photocheck ~/.cache/photocheck/target/debug/photocheck] [--people 39]

For each person (`../shared/calibration/london/NNN_03.jpg` with its `.tem` template):

1. GA 461 placement as in `clothing.py` (scale so the template's face width, points 110-113, is
   207 px; eye midpoint at x = 179; crown, the top of template line 29, at y = 14), drawn at
   twice the canvas (716 x 882) from the 1350 x 1350 original, padded with white.
2. The face's surface: the MediaPipe face mesh (`face_mesh_refined.onnx` as `photocheck models
   fetch` installs it) run once on a square crop placed from the template (centre between the
   pupils and the chin, side 2.3 x pupil-to-chin), giving 468 points with depth; the
   triangles are MediaPipe's canonical mesh topology (the same `face_geometry_landmarks.binarypb`).
3. Each pose: the mesh rotated about its centroid by R = Ry(yaw) Rx(-pitch) Rz(-roll) (the
   contract's signs: yaw + = nose toward the image's right, pitch + = chin up, roll + = the
   image-right eye lower), drawn with a z-buffer, each triangle textured from the unrotated
   photo (orthographic: an ID photo is taken from 1.5-2 m); outside the face the photo stays
   as it is. Pose 0/0/0 is drawn the same way, so the rendering's own artefacts cancel.
   Downscaled to 358 x 441 (Lanczos), JPEG quality 92.
4. `photocheck check --format jsonl` on all of them; per pose the measured yaw, pitch and roll
   minus the same person's measured 0/0/0 render, against the applied angle.

Prints, per axis and applied angle, the mean and the largest absolute error over the people,
and writes OUT/pose.csv. OUT must be outside the repository (the renders are photos of people).
The angles: each axis alone at +-5, 10, 15, 20, 30 degrees, and four combined poses.
"""

from __future__ import annotations

import argparse
import csv
import struct
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
from clothing import read_tem  # noqa: E402
from runcheck import DEFAULT_BIN, check_folder, files_dir  # noqa: E402

HERE = Path(__file__).resolve()
LONDON = HERE.parents[3] / "shared" / "calibration" / "london"
if not LONDON.is_dir():
    LONDON = Path("/work/shared/calibration/london")
DATA = Path.home() / ".local/share/photocheck/models"
K = 2  # render scale over the canvas
W, H = 358 * K, 441 * K

POSES = [(0.0, 0.0, 0.0)]
for a in (5, 10, 15, 20, 30):
    for s in (-1, 1):
        POSES += [(s * a, 0.0, 0.0), (0.0, s * a, 0.0), (0.0, 0.0, s * a)]
POSES += [(15.0, 10.0, 0.0), (-15.0, -10.0, 0.0), (20.0, -5.0, 5.0), (-10.0, 15.0, -8.0)]


def triangles() -> np.ndarray:
    """The canonical mesh's triangles (index buffer, field 4 of Mesh3d)."""
    data = (DATA / "face_geometry_landmarks.binarypb").read_bytes()

    def varint(b: bytes, i: int) -> tuple[int, int]:
        r = s = 0
        while True:
            c = b[i]
            i += 1
            r |= (c & 0x7F) << s
            s += 7
            if c < 0x80:
                return r, i

    def fields(b: bytes):
        i = 0
        while i < len(b):
            key, i = varint(b, i)
            f, t = key >> 3, key & 7
            if t == 0:
                v, i = varint(b, i)
            elif t == 2:
                n, i = varint(b, i)
                v, i = b[i : i + n], i + n
            elif t == 5:
                v, i = struct.unpack("<f", b[i : i + 4])[0], i + 4
            else:
                v, i = None, i + 8
            yield f, t, v

    mesh = next(v for f, t, v in fields(data) if f == 1)
    idx: list[int] = []
    for f, t, v in fields(mesh):
        if f == 4 and t == 0:
            idx.append(v)
        elif f == 4 and t == 2:
            j = 0
            while j < len(v):
                x, j = varint(v, j)
                idx.append(x)
    return np.array(idx).reshape(-1, 3)


def placed(src: Path) -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """The photo on the 2x canvas, the map original -> canvas (scale, dx, dy), the template."""
    pts, lines = read_tem(src.with_suffix(".tem"))
    s = K * 207.0 / np.linalg.norm(pts[110] - pts[113])
    eye = (pts[0] + pts[1]) / 2
    crown = pts[lines[29]][:, 1].min()
    dx, dy = K * 179 - s * eye[0], K * 14 - s * crown
    with Image.open(src) as im:
        im = im.convert("RGB")
        big = im.resize((round(im.width * s), round(im.height * s)), Image.LANCZOS)
    canvas = Image.new("RGB", (W, H), (255, 255, 255))
    canvas.paste(big, (round(dx), round(dy)))
    return canvas, np.array([s, round(dx), round(dy)]), pts


def run_mesh(sess: ort.InferenceSession, img: np.ndarray, centre, side) -> np.ndarray:
    x0, y0 = centre[0] - side / 2, centre[1] - side / 2
    crop = Image.fromarray(img).transform(
        (192, 192),
        Image.EXTENT,
        (x0, y0, x0 + side, y0 + side),
        Image.BILINEAR,
        fillcolor=(0, 0, 0),
    )
    x = np.asarray(crop, dtype=np.float32)[None] / 255.0
    out = sess.run(None, {sess.get_inputs()[0].name: x})
    flat = next(o for o in out if o.size == 1404).reshape(468, 3)
    k = side / 192.0
    return np.stack([x0 + flat[:, 0] * k, y0 + flat[:, 1] * k, flat[:, 2] * k], axis=1)


def person_mask(sess: ort.InferenceSession, img: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """MediaPipe selfie segmentation on the canvas padded to a square (white), probability
    >= 0.5, holes filled, the part holding the eyes."""
    h, w = img.shape[:2]
    side = max(h, w)
    sq = Image.new("RGB", (side, side), (255, 255, 255))
    ox, oy = (side - w) // 2, (side - h) // 2
    sq.paste(Image.fromarray(img), (ox, oy))
    x = np.asarray(sq.resize((256, 256), Image.BILINEAR), dtype=np.float32)[None] / 255.0
    prob = sess.run(None, {sess.get_inputs()[0].name: x})[0][0, :, :, 0]
    big = Image.fromarray(prob.astype(np.float32), mode="F").resize((side, side), Image.BILINEAR)
    fg = np.asarray(big)[oy : oy + h, ox : ox + w] >= 0.5
    fg = ndi.binary_fill_holes(fg)
    labels, _ = ndi.label(fg)
    keep = labels[int(eye[1]), int(eye[0])]
    return labels == keep if keep else fg


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    a, b, c = np.radians([yaw, -pitch, -roll])
    ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return ry @ rx @ rz


class Head:
    """One person's head as a surface that can be turned: the face from the mesh (its
    triangles filled with interpolated depth), hair and ears on an ellipsoid fitted around it
    (the person mask's width at the eyes, crown to chin in height, depth 1.2 x the width,
    placed so its surface meets the mesh along the face outline). The neck, the shoulders and
    the backdrop stay where they are; where the head was, the backdrop's median colour shows
    until the turned head covers it."""

    def __init__(self, img: np.ndarray, mesh: np.ndarray, tris: np.ndarray, person: np.ndarray):
        h, w = img.shape[:2]
        self.img = img
        # Pose frame: x right, y up, z toward the camera.
        p = mesh * np.array([1.0, -1.0, -1.0])
        zface = np.full((h, w), np.nan)
        for t in tris:
            fill_triangle(zface, p[t])
        eye_row = int(round((mesh[33, 1] + mesh[263, 1]) / 2))
        cols = np.nonzero(person[eye_row])[0]
        crown = np.nonzero(person.any(axis=1))[0].min()
        chin = mesh[152, 1]
        cx = (cols.min() + cols.max()) / 2 if len(cols) else p[:, 0].mean()
        ax = (cols.max() - cols.min()) / 2 if len(cols) else 0.6 * (p[454, 0] - p[234, 0])
        cy = -(crown + chin) / 2
        ay = 1.05 * (chin - crown) / 2
        az = 1.2 * ax
        oval = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
                400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
                54, 103, 67, 109]

        def front(x, y):
            u = 1 - ((x - cx) / ax) ** 2 - ((y - cy) / ay) ** 2
            return az * np.sqrt(np.clip(u, 0, None)), u > 0

        fo, _ = front(p[oval, 0], p[oval, 1])
        cz = float(np.median(p[oval, 2] - fo))
        gy, gx = np.mgrid[0:h, 0:w]
        fz, on = front(gx + 0.5, -(gy + 0.5))
        head = (on & person) | ~np.isnan(zface)
        self.z = np.where(np.isnan(zface), cz + fz, zface)
        self.ys, self.xs = np.nonzero(head)
        self.centre = np.array([cx, cy, cz])
        # What the turned head may uncover: below the chin, the neck continued upward (each
        # column's nearest person pixel below the head); above it, the backdrop's median colour.
        bg = img[~person]
        base = img.copy()
        base[head] = np.median(bg, axis=0) if len(bg) else 255
        below = person & ~head & (gy > chin)
        for x in range(w):
            rows = np.nonzero(below[:, x])[0]
            if len(rows):
                top = rows.min()
                col = head[:top, x] & (gy[:top, x] > chin - 0.35 * (chin - crown))
                base[:top, x][col] = img[top, x]
        self.base = base
        self.head = head

    def turned(self, r: np.ndarray) -> np.ndarray:
        h, w = self.img.shape[:2]
        xs, ys = self.xs, self.ys
        pts = np.stack([xs + 0.5, -(ys + 0.5), self.z[ys, xs]], axis=1)
        q = (pts - self.centre) @ r.T + self.centre
        out = self.base.copy()
        hit = np.zeros((h, w), bool)
        # Nearest last: each source pixel splats onto the 2 x 2 pixels around its target.
        order = np.argsort(q[:, 2])
        q, colour = q[order], self.img[ys[order], xs[order]]
        tx, ty = q[:, 0] - 0.5, -q[:, 1] - 0.5
        for ox in (0, 1):
            for oy in (0, 1):
                px = np.floor(tx).astype(int) + ox
                py = np.floor(ty).astype(int) + oy
                ok = (px >= 0) & (px < w) & (py >= 0) & (py < h)
                out[py[ok], px[ok]] = colour[ok]
                hit[py[ok], px[ok]] = True
        # Pixels the splats missed inside the turned head (where the surface stretches) take
        # the nearest splatted colour.
        holes = ndi.binary_closing(hit, iterations=3) & ~hit
        if holes.any():
            _, (iy, ix) = ndi.distance_transform_edt(~hit, return_indices=True)
            out[holes] = out[iy[holes], ix[holes]]
        return out


def fill_triangle(zbuf: np.ndarray, d: np.ndarray) -> None:
    """Writes the depth (pose frame, larger = nearer) of one triangle given in the pose frame
    (x right, y up) into zbuf (image rows), keeping the nearest."""
    h, w = zbuf.shape
    xy = np.stack([d[:, 0], -d[:, 1]], axis=1)
    x0, y0 = np.floor(xy.min(axis=0)).astype(int)
    x1, y1 = np.ceil(xy.max(axis=0)).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
    if x1 < x0 or y1 < y0:
        return
    m = np.array([[xy[0, 0] - xy[2, 0], xy[1, 0] - xy[2, 0]], [xy[0, 1] - xy[2, 1], xy[1, 1] - xy[2, 1]]])
    if abs(np.linalg.det(m)) < 1e-9:
        return
    gy, gx = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
    inv = np.linalg.inv(m)
    px, py = gx + 0.5 - xy[2, 0], gy + 0.5 - xy[2, 1]
    l0 = inv[0, 0] * px + inv[0, 1] * py
    l1 = inv[1, 0] * px + inv[1, 1] * py
    l2 = 1 - l0 - l1
    inside = (l0 >= -1e-6) & (l1 >= -1e-6) & (l2 >= -1e-6)
    z = l0 * d[0, 2] + l1 * d[1, 2] + l2 * d[2, 2]
    cur = zbuf[gy[inside], gx[inside]]
    zz = z[inside]
    zbuf[gy[inside], gx[inside]] = np.where(np.isnan(cur) | (zz > cur), zz, cur)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--photocheck",
        type=Path,
        default=DEFAULT_BIN,
    )
    ap.add_argument("--people", type=int, default=39)
    a = ap.parse_args()
    files = files_dir(a.out)
    sess = ort.InferenceSession(str(DATA / "face_mesh_refined.onnx"), providers=["CPUExecutionProvider"])
    seg = ort.InferenceSession(
        str(DATA / "selfie_segmentation.onnx"), providers=["CPUExecutionProvider"]
    )
    tris = triangles()
    people = sorted(LONDON.glob("*_03.jpg"))[: a.people]
    for src in people:
        canvas, (s, dx, dy), pts = placed(src)
        img = np.asarray(canvas)
        eye = (pts[0] + pts[1]) / 2 * s + [dx, dy]
        chin = pts[129] * s + [dx, dy]
        reach = np.linalg.norm(chin - eye)
        mesh = run_mesh(sess, img, (eye + chin) / 2, 2.3 * reach)
        head = Head(img, mesh, tris, person_mask(seg, img, eye))
        for yaw, pitch, roll in POSES:
            out = head.turned(rotation(yaw, pitch, roll))
            name = f"{src.stem}_y{yaw:+.0f}_p{pitch:+.0f}_r{roll:+.0f}.jpg"
            Image.fromarray(out).resize((358, 441), Image.LANCZOS).save(
                files / name, quality=92, dpi=(350, 350)
            )
    measured: dict[str, dict[str, float]] = {
        Path(name).stem: {axis: checks.get(f"pose.{axis}", {}).get("value") for axis in ("yaw", "pitch", "roll")}
        for name, checks in check_folder(a.photocheck, files).items()
    }
    rows = []
    for src in people:
        base = measured.get(f"{src.stem}_y+0_p+0_r+0")
        for yaw, pitch, roll in POSES:
            got = measured.get(f"{src.stem}_y{yaw:+.0f}_p{pitch:+.0f}_r{roll:+.0f}")
            row = {"person": src.stem, "yaw": yaw, "pitch": pitch, "roll": roll}
            for axis in ("yaw", "pitch", "roll"):
                m = None if got is None else got[axis]
                b = None if base is None else base[axis]
                row[f"measured_{axis}"] = m
                row[f"change_{axis}"] = None if m is None or b is None else m - b
            rows.append(row)
    with open(a.out / "pose.csv", "w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(rows[0]))
        wr.writeheader()
        wr.writerows(rows)
    print(f"{len(measured)} renders measured ({len(people)} people x {len(POSES)} poses)")
    print("frontal renders (0/0/0), measured: ", end="")
    for axis in ("yaw", "pitch", "roll"):
        vals = [r[f"measured_{axis}"] for r in rows if (r["yaw"], r["pitch"], r["roll"]) == (0, 0, 0)]
        vals = np.array([v for v in vals if v is not None])
        print(f"{axis} mean {vals.mean():+.1f} sd {vals.std():.1f} [{vals.min():+.1f}, {vals.max():+.1f}]  ", end="")
    print()
    print("pose (yaw/pitch/roll applied) | error of the measured change, per axis: mean, max |.|, missing")
    worst = 0.0
    for pose in POSES[1:]:
        sel = [r for r in rows if (r["yaw"], r["pitch"], r["roll"]) == pose]
        parts = []
        for axis, applied in zip(("yaw", "pitch", "roll"), pose):
            errs = np.array([r[f"change_{axis}"] - applied for r in sel if r[f"change_{axis}"] is not None])
            missing = sum(r[f"change_{axis}"] is None for r in sel)
            if len(errs):
                parts.append(f"{axis} {errs.mean():+.1f} {np.abs(errs).max():.1f}" + (f" ({missing} none)" if missing else ""))
                if max(abs(v) for v in pose) <= 30:
                    worst = max(worst, float(np.abs(errs).max()))
            else:
                parts.append(f"{axis} - ({missing} none)")
        print(f"{pose[0]:+5.0f} {pose[1]:+5.0f} {pose[2]:+5.0f} | " + " | ".join(parts))
    print(f"largest absolute error within +-30 degrees: {worst:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
