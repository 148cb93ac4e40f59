"""What the calibration scripts share: the command line of those that grade photos, the
output-folder guard and one `photocheck check` run.

Imported by `jpeg.py`, `graded.py` and `pose.py` (same folder)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = Path.home() / ".cache/photocheck/target/debug/photocheck"


def photo_args() -> argparse.Namespace:
    """--photos (a folder of compliant photos), --out and --photocheck (the binary)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--photocheck", type=Path, default=DEFAULT_BIN)
    return ap.parse_args()


def files_dir(out: Path) -> Path:
    """OUT/files, created; exits when OUT is inside the repository (photos of people may not
    be committed)."""
    if REPO in out.resolve().parents or out.resolve() == REPO:
        sys.exit("--out must be outside the repository")
    files = out / "files"
    files.mkdir(parents=True, exist_ok=True)
    return files


def check_folder(binary: Path, folder: Path) -> dict[str, dict[str, dict]]:
    """`photocheck check --format jsonl FOLDER`: per file name, its checks by code."""
    proc = subprocess.run(
        [str(binary), "check", "--format", "jsonl", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    res = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            r = json.loads(line)
            res[Path(r["source"]).name] = {c["code"]: c for c in r["checks"]}
    return res
