"""Closed-mouth smiles from the engine's own face mesh (issue 18, issue 16 face.expression).

Runs `cargo run --release -p photocheck-engine --example subject_mesh` on the 78 calibration
originals (neutral _03, smiling _08), computes mouth-shape measures on the mesh it returns, and
asks, person held out (leave-one-person-out logistic regression on 1-3 measures), how many of
the 39 smiles score above every neutral face: the most a mesh-geometry limit could catch with no
neutral face rejected on this set. Also prints each measure's range on both sets.

    python3 expression_mesh.py [--example PATH_TO_subject_mesh]
"""
import argparse, itertools, json, subprocess
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
CALIB = ROOT.parent / "shared/calibration/london"


def measures(mesh) -> dict:
    m = np.asarray(mesh)
    xy = m[:, :2]
    le, re = (xy[33] + xy[133]) / 2, (xy[263] + xy[362]) / 2
    ex = (re - le) / np.linalg.norm(re - le)
    down = np.array([-ex[1], ex[0]])
    up = lambda p: -float(np.dot(p, down))  # noqa: E731
    iod, fw = np.linalg.norm(re - le), np.linalg.norm(xy[234] - xy[454])
    mw = np.linalg.norm(xy[61] - xy[291])
    centre = np.mean([up(xy[i]) for i in (0, 13, 14, 17)])
    corners = (up(xy[61]) + up(xy[291])) / 2
    eyes, chin, nose = (up(le) + up(re)) / 2, up(xy[152]), up(xy[2])
    return {
        "smile": (corners - centre) / mw,  # what face.expression reports
        "inner_smile": ((up(xy[78]) + up(xy[308])) / 2 - (up(xy[13]) + up(xy[14])) / 2) / mw,
        "mouth_face": mw / fw,
        "mouth_eyes": mw / iod,
        "lip_height": np.linalg.norm(xy[0] - xy[17]) / mw,
        "corners_below_eyes": (eyes - corners) / iod,
        "corners_below_nose": (nose - corners) / iod,
        "upper_lip_curve": (np.mean([up(xy[i]) for i in (40, 270)]) - up(xy[0])) / mw,
        "corner_depth": ((m[61, 2] + m[291, 2]) / 2 - m[0, 2]) / fw,
        "cheek_depth": ((m[205, 2] + m[425, 2]) / 2 - m[4, 2]) / iod,
        "corners_over_chin": (corners - chin) / (eyes - chin),
    }


def fit(x, y, l2=1e-2, steps=3000):
    mu, sd = x.mean(0), x.std(0)
    z = (x - mu) / sd
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        w -= 0.5 * (z.T @ (p - y) / len(y) + l2 * w)
        b -= 0.5 * (p - y).mean()
    return lambda q: ((q - mu) / sd) @ w + b


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--example", default=str(Path.home() / ".cache/photocheck/target/release/examples/subject_mesh"))
    args = ap.parse_args()
    files = sorted(str(p) for p in CALIB.glob("*.jpg"))
    out = subprocess.run([args.example, *files], check=True, capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        r = json.loads(line)
        if not r.get("mesh"):
            continue
        name = Path(r["file"]).stem
        rows.append({**measures(r["mesh"]), "person": name[:3], "smile_photo": name.endswith("_08"),
                     "fails_now": r["expression"] == "fail"})
    keys = [k for k in rows[0] if k not in ("person", "smile_photo", "fails_now")]
    y = np.array([r["smile_photo"] for r in rows], float)
    now = np.array([r["fails_now"] for r in rows])
    print(f"{len(rows)} photos; face.expression fails now on {int(now[y == 1].sum())} of "
          f"{int(y.sum())} smiles, {int(now[y == 0].sum())} neutral")
    for k in keys:
        v = np.array([r[k] for r in rows])
        print(f"  {k:20s} neutral {v[y == 0].min():7.3f} .. {v[y == 0].max():7.3f}   "
              f"smiling {v[y == 1].min():7.3f} .. {v[y == 1].max():7.3f}")
    people = [r["person"] for r in rows]
    best = []
    for n in (1, 2, 3):
        for combo in itertools.combinations(keys, n):
            x = np.array([[r[k] for k in combo] for r in rows])
            score = np.zeros(len(rows))
            for p in set(people):
                held = np.array([q == p for q in people])
                score[held] = fit(x[~held], y[~held])(x[held])
            limit = score[y == 0].max()
            caught = score[y == 1] > limit
            best.append((int((caught | now[y == 1]).sum()), int(caught.sum()), combo))
    best.sort(key=lambda t: (-t[0], -t[1]))
    print("held-out score above every neutral face (with today's fails, alone):")
    for t in best[:8]:
        print(f"  {t[0]:2d} / {t[1]:2d}  {' + '.join(t[2])}")


if __name__ == "__main__":
    main()
