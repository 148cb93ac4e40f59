#!/usr/bin/env python3
"""Intact photos the damage steps must leave alone (issue 20): crops of the 39 calibration people.

    pip install pillow
    python3 bench/damage/intact.py --out /tmp/intact \
        [--photocheck ~/.cache/photocheck/target/debug/photocheck]

For each `../shared/calibration/london/NNN_03.jpg` (neutral) and `NNN_08.jpg` (smiling), a
358 x 441 crop (1150 px tall, 60 px from the top, centred; Lanczos) saved by Pillow three ways:
quality 75 and 85 with 4:2:0 subsampling, quality 92 with 4:4:4 (234 files, in OUT/files; OUT must
be outside the repository: the photos may not be committed). Runs `photocheck check --format
jsonl` on them and prints how many `file.decodable` fails, with the files and messages: every
one is a false positive of the damage steps, as none of these files is damaged.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from PIL import Image

HERE = Path(__file__).resolve()
LONDON = HERE.parents[3] / "shared" / "calibration" / "london"
if not LONDON.is_dir():
    LONDON = Path("/work/shared/calibration/london")
ENCODINGS = [(75, 2), (85, 2), (92, 0)]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--photocheck",
        type=Path,
        default=Path.home() / ".cache/photocheck/target/debug/photocheck",
    )
    a = ap.parse_args()
    if HERE.parents[2] in a.out.resolve().parents:
        sys.exit("--out must be outside the repository")
    files = a.out / "files"
    files.mkdir(parents=True, exist_ok=True)
    for src in sorted(LONDON.glob("*_0[38].jpg")):
        with Image.open(src) as im:
            im = im.convert("RGB")
            h = 1150
            w = round(h * 358 / 441)
            x0 = (im.width - w) // 2
            crop = im.crop((x0, 60, x0 + w, 60 + h)).resize((358, 441), Image.LANCZOS)
        for q, sub in ENCODINGS:
            crop.save(files / f"{src.stem}_q{q}_{sub}.jpg", quality=q, subsampling=sub)
    out = subprocess.run(
        [str(a.photocheck), "check", "--format", "jsonl", str(files)],
        capture_output=True,
        text=True,
        check=False,
    )
    results = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    bad = []
    for r in results:
        for c in r["checks"]:
            if c["code"] == "file.decodable" and c["status"] != "pass":
                bad.append((Path(r["source"]).name, c["message"]))
    print(f"{len(results)} intact crops checked, {len(bad)} refused as damaged")
    for name, msg in bad:
        print(f"  {name}: {msg}")
    return 1 if bad or not results else 0


if __name__ == "__main__":
    sys.exit(main())
