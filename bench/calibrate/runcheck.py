"""What the calibration scripts share: the output-folder guard and one `photocheck check` run.

Imported by `jpeg.py`, `graded.py` and `pose.py` (same folder)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = Path.home() / ".cache/photocheck/target/debug/photocheck"


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
