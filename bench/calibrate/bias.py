#!/usr/bin/env python3
"""Pass rates of compliant photos per group (issue 16, point 5): gender and ethnicity.

    pip install pillow numpy scipy onnxruntime
    python3 bench/calibrate/bias.py --out /tmp/calib_bias [--photocheck PATH]

Compliant GA 461 photos of the 39 calibration people, made by `clothing.py`'s compositing (the
person cut out of the grey studio backdrop onto white, the T-shirt recoloured with its shading
kept) in its ten dark tops (navy, black, dark red, teal, mid blue, greys at L* 20-60), placed
with the crown at the top of the hair as the person mask shows it (not the template's skull
outline, which leaves the hair above GA 461's crown band), moved up for a tall head until the
eyes are 212 px above the bottom edge (GA 461: the eye rule wins; the crown then warns): 390
photos, 10 per person. Runs
`photocheck check --format jsonl --profile ga461` on them (built-in defaults) and reports, for
all and per group of `people.csv` (face_gender, face_eth), the pass rate, the review rate, and
per check the share of photos it fails (a false reject: every photo is compliant) and sends to
review. A check whose false-reject rate differs by more than 2 points between two groups of one
attribute is listed. Groups are small (2-27 people) and a person's ten photos differ only in the
top's colour, so the people behind each failure are named.

Writes OUT/bias.md and OUT/bias.csv (one row per photo and check); the photos stay in
OUT/photos/ (OUT must be outside the repository).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import clothing as C  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--photocheck", type=Path, default=C.DEFAULT_BIN)
    a = ap.parse_args()
    out = a.out.resolve()
    repo = Path(__file__).resolve().parents[2]
    if out == repo or repo in out.parents:
        sys.exit("--out must be outside the repository (photos may not be committed)")
    out.mkdir(parents=True, exist_ok=True)
    people = C.read_people()
    ids = sorted(p.name[:3] for p in C.LONDON.glob("*_03.jpg"))
    seg = C.Segmenter()
    for pid in ids:
        C.render_person(pid, seg, out, False, crown_from_hair=True, only=set(C.DARK))
        print(pid, file=sys.stderr, end=" ", flush=True)
    print(file=sys.stderr)
    res = C.run_photocheck(a.photocheck, out)
    rows = []
    for (variant, pid), d in sorted(res.items()):
        p = people[pid]
        for c in d["checks"]:
            rows.append(
                dict(
                    person=pid,
                    gender=p["face_gender"],
                    ethnicity=p["face_eth"],
                    variant=variant,
                    verdict=d["verdict"],
                    code=c["code"],
                    status=c["status"],
                    uncertain=int(bool(c.get("uncertain"))),
                    value=c.get("value"),
                    min=c.get("min"),
                    max=c.get("max"),
                    unit=c.get("unit"),
                )
            )
    with open(out / "bias.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

    photos = {(r["variant"], r["person"]): r for r in rows}
    codes = sorted({r["code"] for r in rows})
    groups: dict[str, list[tuple[str, str]]] = {"all": list(photos)}
    for key, attr in (("gender", "gender"), ("eth", "ethnicity")):
        for k, r in photos.items():
            groups.setdefault(f"{key}={r[attr]}", []).append(k)

    def rate(keys, pred) -> float:
        return 100.0 * sum(1 for k in keys if pred(k)) / max(1, len(keys))

    by = {(r["variant"], r["person"], r["code"]): r for r in rows}
    lines = [
        "# Compliant photos per group: London set, dark tops, crown at the hair",
        "",
        f"{len(photos)} photos ({len(ids)} people x {len(C.DARK)} tops), `{a.photocheck}` "
        "`check --profile ga461` (built-in defaults).",
        "",
        "| group | people | photos | pass | review | fail |",
        "|---|---|---|---|---|---|",
    ]
    for g, keys in groups.items():
        n_people = len({k[1] for k in keys})
        verdict = lambda v: rate(keys, lambda k: photos[k]["verdict"] == v)  # noqa: E731
        lines.append(
            f"| {g} | {n_people} | {len(keys)} | {verdict('pass'):.1f} % | "
            f"{verdict('review'):.1f} % | {verdict('fail'):.1f} % |"
        )
    lines += ["", "Per check, the share of the group's photos it fails (false rejects) / sends to review:", ""]
    head = "| check | " + " | ".join(groups) + " |"
    lines += [head, "|" + "---|" * (len(groups) + 1)]
    flagged = []
    for code in codes:
        cells = []
        fails = {}
        for g, keys in groups.items():
            f = rate(keys, lambda k: by[(k[0], k[1], code)]["status"] == "fail")
            u = rate(
                keys,
                lambda k: by[(k[0], k[1], code)]["uncertain"] == 1
                and by[(k[0], k[1], code)]["status"] != "fail",
            )
            fails[g] = f
            cells.append(f"{f:.1f} / {u:.1f}")
        if any(v > 0 for v in fails.values()) or any(c != "0.0 / 0.0" for c in cells):
            lines.append(f"| `{code}` | " + " | ".join(cells) + " |")
        for attr in ("gender=", "eth="):
            vals = {g: v for g, v in fails.items() if g.startswith(attr)}
            if vals and max(vals.values()) - min(vals.values()) > 2.0:
                hi = max(vals, key=vals.get)
                lo = min(vals, key=vals.get)
                who = sorted(
                    {k[1] for k in groups[hi] if by[(k[0], k[1], code)]["status"] == "fail"}
                )
                flagged.append(
                    f"`{code}`: {hi} {vals[hi]:.1f} % vs {lo} {vals[lo]:.1f} % "
                    f"(failing people in {hi}: {', '.join(who)})"
                )
    lines += ["", "Checks whose false-reject rate differs by more than 2 points between groups:", ""]
    lines += [f"- {f}" for f in flagged] or ["- none"]
    failing = {}
    for (variant, pid), r in photos.items():
        if r["verdict"] == "fail":
            codes_failed = sorted(
                c for c in codes if by[(variant, pid, c)]["status"] == "fail"
            )
            failing.setdefault(pid, set()).update(codes_failed)
    lines += ["", "People with a failed photo, and the checks: " + (
        "; ".join(f"{p} ({people[p]['face_gender']}, {people[p]['face_eth']}): {', '.join(sorted(c))}"
                  for p, c in sorted(failing.items())) or "none") + "."]
    text = "\n".join(lines) + "\n"
    (out / "bias.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
