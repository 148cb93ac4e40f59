#!/usr/bin/env python3
"""Damaged JPEGs the way transmission and storage damage them, labelled by what they look like,
and how `photocheck check` answers them (issue 20).

    pip install pillow numpy
    python3 bench/damage/damage.py --out /tmp/damage [--per-base 15] [--seed 1] \
        [--photocheck ~/.cache/photocheck/target/debug/photocheck] [--extra DIR ...]

Bases: the compliant photos (the fixtures whose expected verdict is `pass`, plus `--extra`
folders of compliant GA 461 photos), each also re-encoded by Pillow four ways (baseline 4:2:0 at
q 88, baseline 4:4:4 at q 92, progressive at q 85, baseline with a restart marker every MCU
row) so that the damage meets the encodings counters produce. Each base gets `--per-base`
damaged copies, one kind each, at random places in the entropy-coded data (after the first
SOS header, before the final EOI):

  bitflip   1-4 bits flipped            byterun  1-32 bytes overwritten at random
  zerorun   16-256 bytes zeroed         drop     8-512 bytes removed (a spliced gap)
  dup       8-512 bytes of the scan inserted again elsewhere (spliced extra data)
  truncate  the file cut inside the scan, with or without an EOI marker appended

Label: Pillow (libjpeg-turbo) decodes the original and the copy (truncated data allowed); the
copy is *visibly damaged* when its pixels differ from the original's in 16x16 blocks by a mean
of >= 25 levels over >= 0.5 % of the blocks, or when it does not decode at all.

Writes OUT/files/*.jpg, OUT/manifest.jsonl (file, base, encoding, kind, visible, block share)
and, with --photocheck, OUT/results.jsonl and OUT/summary.json, and prints the summary: how
many visibly damaged files pass (the target is 0), and how many undamaged-looking ones fail.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

ImageFile.LOAD_TRUNCATED_IMAGES = True

KINDS = ["bitflip", "byterun", "zerorun", "drop", "dup", "truncate"]
BLOCK = 16
LEVELS = 25.0
SHARE = 0.005


def decode(data: bytes) -> np.ndarray | None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return np.asarray(im.convert("RGB"), dtype=np.float32)
    except Exception:
        return None


def damaged_share(original: np.ndarray, copy: np.ndarray | None) -> float:
    """Share of 16x16 blocks whose mean absolute difference is >= LEVELS (1.0 if undecodable)."""
    if copy is None or copy.shape != original.shape:
        return 1.0
    h, w, _ = original.shape
    hb, wb = h // BLOCK, w // BLOCK
    diff = np.abs(original - copy)[: hb * BLOCK, : wb * BLOCK].mean(axis=2)
    blocks = diff.reshape(hb, BLOCK, wb, BLOCK).mean(axis=(1, 3))
    return float((blocks >= LEVELS).mean())


def scan_span(data: bytes) -> tuple[int, int]:
    """Start of the first scan's entropy-coded data and the position of the final EOI."""
    sos = data.find(b"\xff\xda")
    if sos < 0:
        raise ValueError("no SOS marker")
    length = int.from_bytes(data[sos + 2 : sos + 4], "big")
    start = sos + 2 + length
    end = data.rfind(b"\xff\xd9")
    if end <= start:
        end = len(data)
    return start, end


def damage(data: bytes, kind: str, rng: random.Random) -> bytes:
    start, end = scan_span(data)
    b = bytearray(data)
    at = rng.randrange(start, end - 1)
    if kind == "bitflip":
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(start, end)
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "byterun":
        n = min(rng.randint(1, 32), end - at)
        b[at : at + n] = bytes(rng.randrange(256) for _ in range(n))
    elif kind == "zerorun":
        n = min(rng.randint(16, 256), end - at)
        b[at : at + n] = bytes(n)
    elif kind == "drop":
        n = min(rng.randint(8, 512), end - at)
        del b[at : at + n]
    elif kind == "dup":
        n = rng.randint(8, 512)
        src = rng.randrange(start, max(start + 1, end - n))
        chunk = bytes(b[src : src + n])
        b[at:at] = chunk
    elif kind == "truncate":
        del b[at:]
        if rng.random() < 0.5:
            b += b"\xff\xd9"
    else:
        raise ValueError(kind)
    return bytes(b)


def encodings(path: Path) -> list[tuple[str, bytes]]:
    raw = path.read_bytes()
    out = [("original", raw)]
    with Image.open(path) as im:
        im = im.convert("RGB")
        dpi = (350, 350)
        for name, kw in [
            ("q88_420", dict(quality=88, subsampling=2)),
            ("q92_444", dict(quality=92, subsampling=0)),
            ("progressive", dict(quality=85, progressive=True)),
            ("restart_rows", dict(quality=85, restart_marker_rows=1)),
        ]:
            buf = io.BytesIO()
            try:
                im.save(buf, "JPEG", dpi=dpi, **kw)
            except TypeError:
                continue  # an older Pillow without restart markers
            out.append((name, buf.getvalue()))
    return out


def bases(fixtures: Path, extra: list[Path]) -> list[Path]:
    found = []
    for line in (fixtures / "expected.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row.get("expect_verdict") == "pass":
            found.append(fixtures / row["file"])
    for folder in extra:
        found += sorted(p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    return found


def main() -> int:
    here = Path(__file__).resolve()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--fixtures", type=Path, default=here.parents[3] / "shared" / "fixtures")
    ap.add_argument("--extra", type=Path, action="append", default=[])
    ap.add_argument("--per-base", type=int, default=15)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--photocheck", type=Path)
    args = ap.parse_args()

    rng = random.Random(args.seed)
    files = args.out / "files"
    files.mkdir(parents=True, exist_ok=True)
    manifest = []
    for base in bases(args.fixtures, args.extra):
        for enc, data in encodings(base):
            original = decode(data)
            if original is None:
                continue
            name = f"{base.stem}__{enc}"
            (files / f"{name}__intact.jpg").write_bytes(data)
            manifest.append(dict(file=f"{name}__intact.jpg", base=base.name, encoding=enc,
                                 kind="intact", visible=False, share=0.0))
            for i in range(args.per_base):
                kind = KINDS[i % len(KINDS)]
                copy = damage(data, kind, rng)
                share = damaged_share(original, decode(copy))
                file = f"{name}__{kind}_{i:02d}.jpg"
                (files / file).write_bytes(copy)
                manifest.append(dict(file=file, base=base.name, encoding=enc, kind=kind,
                                     visible=share >= SHARE, share=round(share, 4)))
    with open(args.out / "manifest.jsonl", "w") as f:
        for row in manifest:
            f.write(json.dumps(row) + "\n")
    damaged = [m for m in manifest if m["kind"] != "intact"]
    print(f"{len(manifest)} files: {len(manifest) - len(damaged)} intact, {len(damaged)} damaged, "
          f"{sum(m['visible'] for m in damaged)} visibly damaged", file=sys.stderr)
    if not args.photocheck:
        return 0

    run = subprocess.run([str(args.photocheck), "check", str(files), "--format", "jsonl"],
                         capture_output=True, text=True)
    (args.out / "results.jsonl").write_text(run.stdout)
    verdicts = {}
    for line in run.stdout.splitlines():
        r = json.loads(line)
        checks = r.get("checks", [])
        failed = [c["code"] for c in checks if c["status"] == "fail"]
        verdicts[Path(r["source"]).name] = (r["verdict"], failed)
    summary = dict(files=len(manifest), answered=len(verdicts), by_kind={})
    visible_pass, intact_fail, decodable_fail = [], [], 0
    for m in manifest:
        verdict, failed = verdicts.get(m["file"], ("missing", []))
        if m["visible"] and verdict == "pass":
            visible_pass.append(m["file"])
        if m["kind"] == "intact" and verdict != "pass":
            intact_fail.append((m["file"], failed))
        if m["visible"] and "file.decodable" in failed:
            decodable_fail += 1
        k = summary["by_kind"].setdefault(m["kind"], dict(files=0, visible=0, visible_pass=0))
        k["files"] += 1
        k["visible"] += int(m["visible"])
        k["visible_pass"] += int(m["visible"] and verdict == "pass")
    summary.update(
        visible=sum(m["visible"] for m in manifest),
        visible_pass=len(visible_pass),
        visible_failing_decodable=decodable_fail,
        intact=sum(m["kind"] == "intact" for m in manifest),
        intact_not_pass=len(intact_fail),
        intact_not_pass_files=intact_fail,
        visible_pass_files=visible_pass,
    )
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if not k.endswith("_files")}, indent=1))
    print("visibly damaged and passing:", *visible_pass[:40], sep="\n  ")
    print("intact and not passing:", *intact_fail[:40], sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
