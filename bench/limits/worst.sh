#!/usr/bin/env bash
# The costliest JPEGs one photo may be, and what checking them costs (issue 20, point 4).
#
#   bash bench/limits/worst.sh [PHOTOCHECK] [OUT]    (needs cjpeg: apt-get install libjpeg-turbo-progs)
#
# Makes, from a 5000 x 5000 frame of noise (25 MP, the profiles' pixel limit; noise fills every
# Huffman table and defeats run-length coding):
#   q100_baseline_opt   baseline, quality 100, optimised Huffman tables
#   q100_progressive    libjpeg's default progressive script (10 scans)
#   scans_64            a script of 64 scans (DC, then every luma AC coefficient alone): the most
#                       photocheck accepts
#   scans_65            one scan more: refused before decoding
#   portrait_25mp       a smooth 25 MP progressive frame (what a real camera sends)
# then runs `photocheck check --jobs $(nproc) --format jsonl` on them under /usr/bin/time and
# prints, per file, the verdict, file.decodable and the decode time, and the run's peak RSS.
set -euo pipefail
bin="${1:-$HOME/.cache/photocheck/target/debug/photocheck}"
out="${2:-/tmp/photocheck-worst}"
command -v cjpeg >/dev/null || { echo "cjpeg missing: apt-get install libjpeg-turbo-progs" >&2; exit 1; }
rm -rf "$out"; mkdir -p "$out/in"
python3 - "$out" <<'PY'
import os, random, sys
out = sys.argv[1]
w = h = 5000
rnd = random.Random(7)
with open(f"{out}/noise.ppm", "wb") as f:
    f.write(b"P6\n%d %d\n255\n" % (w, h))
    f.write(rnd.randbytes(w * h * 3))
with open(f"{out}/smooth.ppm", "wb") as f:
    f.write(b"P6\n%d %d\n255\n" % (w, h))
    row = bytearray()
    for y in range(h):
        row.clear()
        for x in range(w):
            row += bytes(((x * 255) // w, (y * 255) // h, ((x + y) * 127) // (w + h)))
        f.write(row)
def script(n_ac):
    lines = ["0,1,2: 0-0, 0, 0;"]
    lines += [f"0: {k}-{k}, 0, 0;" for k in range(1, n_ac + 1)]
    return "\n".join(lines) + "\n"
open(f"{out}/scans64.txt", "w").write(script(63))
extra = script(63) + "1: 1-63, 0, 0;\n"
open(f"{out}/scans65.txt", "w").write(extra)
PY
cjpeg -quality 100 -optimize "$out/noise.ppm" > "$out/in/q100_baseline_opt.jpg"
cjpeg -quality 100 -progressive "$out/noise.ppm" > "$out/in/q100_progressive.jpg"
cjpeg -quality 100 -scans "$out/scans64.txt" "$out/noise.ppm" > "$out/in/scans_64.jpg"
cjpeg -quality 100 -scans "$out/scans65.txt" "$out/noise.ppm" > "$out/in/scans_65.jpg"
cjpeg -quality 92 -progressive "$out/smooth.ppm" > "$out/in/portrait_25mp.jpg"
rm -f "$out"/*.ppm
ls -l "$out/in" >&2
/usr/bin/time -v "$bin" check --jobs "$(nproc)" --format jsonl "$out/in" > "$out/results.jsonl" 2> "$out/time.txt" || true
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
for line in open(f"{out}/results.jsonl"):
    r = json.loads(line)
    dec = next(c for c in r["checks"] if c["code"] == "file.decodable")
    t = r.get("timings_ms", {})
    print(f'{r["source"].rsplit("/", 1)[-1]:24} {r["verdict"]:5} decodable={dec["status"]:5} '
          f'decode={t.get("decode", 0):8.1f} ms total={t.get("total", 0):8.1f} ms  {dec.get("value", "")}')
for line in open(f"{out}/time.txt"):
    if "Maximum resident" in line or "Elapsed (wall" in line:
        print(line.strip())
PY
