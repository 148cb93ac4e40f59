#!/usr/bin/env python3
"""Plots of the calibration distributions, one per check and defect (issue 16, point 1).

    pip install matplotlib
    python3 bench/calibrate/plots.py --graded /tmp/calib_graded/graded.csv \
        [--large /tmp/calib_large/large.csv] --out docs/plots

With `--bias`, also draws what `bias.py` measured on the 390 compliant photos: a panel per
check with a numeric value, one dot per photo, the limits dashed.

Reads what `graded.py` (canvas-size photos of the 39 calibration people, one defect at a time
at graded strengths: noise, blur, exposure, colour cast, side light) and `large.py` (large captures) wrote, and draws for each check the value
it reported against the defect's strength: one dot per photo (grey: passed, red: failed,
amber: passed but uncertain), the limit as a dashed line. Writes PNG files of 25-40 KB that
`docs/checks.md` shows. The plots hold measured values only, no photo, so they may be
committed.
"""

from __future__ import annotations

import argparse
import csv
import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams["font.size"] = 9

# (defect, check): x label, y label, limits (drawn), y scale.
GRADED = {
    ("noise", "quality.noise"): ("Gaussian noise added, σ levels per channel", "noise σ (luma)", [3.0], "linear"),
    ("blur", "quality.sharpness"): ("Gaussian blur, σ canvas px", "sharpness ratio", [1.7], "linear"),
    ("gain", "quality.exposure"): ("exposure change, stops", "value reported (luma or %)", [35.0, 215.0], "linear"),
    ("gain", "quality.dynamic_range"): ("exposure change, stops", "face luma p95 − p5", [30.0], "linear"),
    ("cast", "quality.color"): ("warm cast, stops between red and blue", "skin chroma (CIELAB C*)", [33.0], "linear"),
    ("dim", "quality.exposure"): ("subject alone darkened (share of its sRGB values), backdrop white", "luma (mean; red: eyes' whites)", [95.0], "linear"),
    ("side", "quality.illumination"): ("light across the photo, stops left to right", "cheeks, |stops|", [1.0], "linear"),
}
COLOURS = {"fail": "#c0392b", "uncertain": "#e69f00", "pass": "#7f7f7f"}


def jitter(i: int) -> float:
    """A small fixed offset per photo, so that equal values stay visible."""
    return ((i * 0.61803) % 1.0 - 0.5) * 0.35


def save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def dots(ax, points: list[tuple[float, float, str]], marker: str = "o") -> None:
    """(x, y, status) points, one scatter per colour."""
    for status, colour in COLOURS.items():
        sel = [(x, y) for x, y, s in points if s == status]
        if sel:
            ax.scatter(*zip(*sel), s=8, marker=marker, color=colour, alpha=0.8, linewidths=0.8)


def strip(ax, xs: list[float], groups: dict[float, list[tuple[float, str]]]) -> None:
    dots(ax, [(k + jitter(i), v, st) for k, x in enumerate(xs) for i, (v, st) in enumerate(groups[x])])
    ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])


def graded(path: Path, out: Path) -> list[Path]:
    rows = list(csv.DictReader(open(path)))
    made = []
    for (defect, code), (xl, yl, limits, scale) in GRADED.items():
        groups: dict[float, list[tuple[float, str]]] = defaultdict(list)
        for r in rows:
            if r["defect"] != defect or r["code"] != code or not r["value"]:
                continue
            if code == "quality.color" and r.get("unit") != "chroma":
                continue  # the hue, reported once a cast has moved it out of the skin band
            status = "fail" if r["status"] == "fail" else ("uncertain" if r["uncertain"] == "1" else "pass")
            groups[float(r["strength"])].append((float(r["value"]), status))
        if not groups:
            continue
        xs = sorted(groups)
        fig, ax = plt.subplots(figsize=(5.2, 2.8))
        strip(ax, xs, groups)
        for lim in limits:
            ax.axhline(lim, ls="--", lw=1, color="#333333")
        ax.set_yscale(scale)
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        n = max(len(v) for v in groups.values())
        ax.set_title(f"{code}: {n} calibration people per strength (red: fail)", fontsize=9)
        made.append(save(fig, out / f"{code.replace('.', '_')}__{defect}.png"))
    return made


def large(path: Path, out: Path) -> list[Path]:
    rows = list(csv.DictReader(open(path)))
    made = []
    for defect, meas, check, limit, xl in (
        ("noise", "noise", "noise", 3.0, "Gaussian noise added at the capture's pixels, σ per channel"),
        ("q", "blocking", "compression", 2.0, "JPEG quality of the capture"),
    ):
        fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.8), sharey=True)
        for ax, base in zip(axes, ("native", "6x")):
            sel = [r for r in rows if r["base"] == base and r["defect"] in (defect, "none")]
            xs = sorted({float(r["strength"]) for r in sel})
            for way, marker, dx in (("engine", "o", -0.15), ("reduced", "x", 0.15)):
                points = []
                for k, x in enumerate(xs):
                    for i, r in enumerate(s for s in sel if float(s["strength"]) == x):
                        v = r[f"{way}_{meas}"]
                        if not v:
                            continue
                        failed = r[f"engine_fails_{check}"] == "True" if way == "engine" else float(v) > limit
                        points.append((k + dx + jitter(i) * 0.4, float(v), "fail" if failed else "pass"))
                dots(ax, points, marker)
            ax.axhline(limit, ls="--", lw=1, color="#333333")
            ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
            ax.set_xlabel(xl, fontsize=8)
            label = "2–2.55 × the canvas" if base == "native" else "6 × the canvas"
            ax.set_title(f"{label}: o full resolution, x reduced copy", fontsize=8)
        axes[0].set_ylabel(meas)
        made.append(save(fig, out / f"large__{meas}.png"))
    return made


# Checks on the compliant photos, grouped a figure each: (figure, title, codes).
COMPLIANT = (
    ("geometry", "Geometry and pose", ["geometry.face_width", "geometry.crown", "geometry.eye_line", "geometry.centered", "pose.roll", "pose.yaw", "pose.pitch"]),
    ("face", "Eyes, mouth, expression", ["face.eyes_open", "face.mouth_closed", "face.expression"]),
    ("cover", "Covers", ["face.occlusion", "face.head_covering", "face.glasses", "clothing.color"]),
    ("background", "Backdrop and light", ["background.color", "background.uniformity", "quality.exposure", "quality.dynamic_range", "quality.illumination", "quality.color", "quality.sharpness", "quality.noise"]),
)


def compliant(path: Path, out: Path) -> list[Path]:
    """One panel per check: the value each compliant calibration photo measured (one dot per
    photo, coloured by its status), the limits dashed."""
    rows = [r for r in csv.DictReader(open(path)) if r["value"] not in ("", None)]
    made = []
    for name, title, codes in COMPLIANT:
        panels = []
        for code in codes:
            sel = []
            for r in rows:
                if r["code"] != code:
                    continue
                try:
                    v = float(r["value"])
                except ValueError:
                    continue  # a list (e.g. the dimensions): not plotted
                status = "fail" if r["status"] == "fail" else ("uncertain" if r["uncertain"] == "1" else "pass")
                sel.append((v, status, r.get("min"), r.get("max"), r.get("unit") or ""))
            if sel:
                panels.append((code, sel))
        if not panels:
            continue
        fig, axes = plt.subplots(len(panels), 1, figsize=(6.0, 0.95 * len(panels) + 0.4), squeeze=False)
        for ax, (code, sel) in zip(axes[:, 0], panels):
            dots(ax, [(v, jitter(i), st) for i, (v, st, _, _, _) in enumerate(sel)])
            units = {u for *_, u in sel}
            lows = {lo for _, _, lo, _, _ in sel if lo not in ("", None)}
            highs = {hi for _, _, _, hi, _ in sel if hi not in ("", None)}
            vals = [v for v, *_ in sel]
            # Limits within one spread of the values are drawn (at least 15 % of their size,
            # so that a constant value still shows its limit); far ones would flatten the dots.
            span = max(max(vals) - min(vals), 0.15 * max(abs(v) for v in vals), 0.1)
            for lim in sorted({float(x) for x in lows | highs}):
                if min(vals) - span <= lim <= max(vals) + span:
                    ax.axvline(lim, ls="--", lw=1, color="#333333")
            fails = sum(st == "fail" for _, st, *_ in sel)
            unsure = sum(st == "uncertain" for _, st, *_ in sel)
            ax.set_yticks([])
            ax.set_ylim(-0.4, 0.4)
            ax.set_title(f"{code} ({'/'.join(sorted(units))}): {len(sel)} photos, {fails} fail, {unsure} uncertain", fontsize=8, loc="left")
        fig.suptitle(f"{title}: compliant calibration photos (red fail, amber uncertain)", fontsize=9)
        made.append(save(fig, out / f"compliant__{name}.png"))
    return made


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--graded", type=Path, required=True)
    ap.add_argument("--large", type=Path)
    ap.add_argument("--bias", type=Path, help="bias.py's bias.csv: the compliant photos, a panel per check")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    made = graded(a.graded, a.out)
    if a.large:
        made += large(a.large, a.out)
    if a.bias:
        made += compliant(a.bias, a.out)
    for f in made:
        print(f, f"{math.ceil(f.stat().st_size / 1024)} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
