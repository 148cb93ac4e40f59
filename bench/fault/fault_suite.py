#!/usr/bin/env python3
"""photocheck's fault suite: real parts, real failures, counted from outside.

Starts a 3-node RabbitMQ cluster (scripts/rabbit-node.sh, beside the system node) and a 3-node
Garage cluster (scripts/s3-server.sh --nodes 3), one `photocheck serve` and two
`photocheck worker` processes with the *default* configuration (only addresses, credentials,
tokens and the shared secret are set), and an independent receiver written here that verifies
every signature itself. Then uploads N photos as window systems would (each with its own
Idempotency-Key, retrying on 503 / 429 / a refused or broken connection) while, on a fixed
timeline:

  - the broker node every service talks to first is stopped, then started again;
  - a worker is SIGKILLed (and started again);
  - the API is SIGKILLed while uploads are in flight (and started again);
  - the storage node every service talks to first is SIGKILLed, then started again;
  - the whole store is unreachable (all three nodes frozen with SIGSTOP) for 60 s;
  - the central system is down (connection refused) for 2 minutes, then answers 500 for 30 s.

Counts: accepted (distinct ids answered 202), delivered (distinct ids received with a valid
signature), lost (accepted, never delivered: must be 0), keys with more than one id (must be 0),
ids delivered with different bodies (must be 0), bad signatures (must be 0), repeats (the same
body delivered again: allowed, at-least-once), and per fault the time until the next accepted
upload and the next delivery. Writes fault-report.json and fault-report.md to --out and exits
1 if a must-be-0 count is not 0 or something accepted was never delivered.

    python3 bench/fault/fault_suite.py --photocheck "$CARGO_TARGET_DIR/release/photocheck"

Runs ~6-8 minutes on 2 cores. Root (or the rabbitmq user) is needed for the broker nodes.
No photo bytes or ids are printed; the report holds counts and durations.
"""

import argparse
import hashlib
import hmac
import http.server
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SECRET = "fault-suite-shared-secret-0123456789abcdef"
TOKEN = "fault-suite-window-token-0123456789"
WINDOW = "fw01"
T0 = time.monotonic()


def now():
    return time.monotonic() - T0


def log(msg):
    print(f"[{now():7.1f}s] {msg}", flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def sniff_jpeg_or_png(b):
    return b[:3] == b"\xff\xd8\xff" or b[:8] == b"\x89PNG\r\n\x1a\n"


# ── the central system's stand-in ───────────────────────────────────────────────────────────

class Central:
    """Receives results; verifies `X-Photocheck-Signature: t=..,v1=..` over `<t>.<key>.<body>`."""

    def __init__(self, port):
        self.port = port
        self.mode = "up"  # up | down | error
        self.lock = threading.Lock()
        self.bodies = {}  # id -> set of sha256(body)
        self.first_at = {}  # id -> seconds since start
        self.posts = 0
        self.bad_signatures = 0
        self.errors_answered = 0
        self.delivery_times = []
        self.server = None
        self.start()

    def start(self):
        central = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if central.mode == "error":
                    with central.lock:
                        central.errors_answered += 1
                    self.send_response(500)
                    self.end_headers()
                    return
                key = self.headers.get("idempotency-key", "")
                sig = self.headers.get("x-photocheck-signature", "")
                parts = dict(p.split("=", 1) for p in sig.split(",") if "=" in p)
                v1s = [p.split("=", 1)[1] for p in sig.split(",") if p.startswith("v1=")]
                t = parts.get("t", "")
                want = hmac.new(SECRET.encode(), f"{t}.{key}.".encode() + body,
                                hashlib.sha256).hexdigest()
                fresh = t.isdigit() and abs(time.time() - int(t)) <= 300
                ok = fresh and any(hmac.compare_digest(want, v) for v in v1s)
                try:
                    rid = json.loads(body).get("id")
                except ValueError:
                    rid = None
                with central.lock:
                    central.posts += 1
                    if not ok or rid != key:
                        central.bad_signatures += 1
                    else:
                        central.bodies.setdefault(rid, set()).add(hashlib.sha256(body).hexdigest())
                        central.first_at.setdefault(rid, now())
                        central.delivery_times.append(now())
                self.send_response(200 if ok else 401)
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self):
        self.mode = "down"
        self.server.shutdown()
        self.server.server_close()

    def up(self, mode="up"):
        self.mode = mode
        if self.server is None or self.server.socket.fileno() < 0:
            for _ in range(50):
                try:
                    self.start()
                    return
                except OSError:
                    time.sleep(0.1)
            raise RuntimeError("receiver could not listen again")


# ── processes ───────────────────────────────────────────────────────────────────────────────

class Proc:
    def __init__(self, name, argv, logdir):
        self.name, self.argv, self.logdir, self.p = name, argv, logdir, None

    def start(self):
        logf = open(self.logdir / f"{self.name}.log", "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOCHECK")}
        env.setdefault("RUST_LOG", "info")
        self.p = subprocess.Popen(self.argv, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                                  env=env)

    def kill9(self):
        if self.p:
            self.p.kill()
            self.p.wait()

    def term(self):
        if self.p and self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(30)
            except subprocess.TimeoutExpired:
                self.p.kill()


def sh(*argv, check=True):
    return subprocess.run(argv, check=check, capture_output=True, text=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/photocheck/target"))
    default_bin = next((p for p in (target / "release/photocheck", target / "debug/photocheck")
                        if p.exists()), target / "release/photocheck")
    ap.add_argument("--photocheck", type=Path, default=default_bin)
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--fixtures", type=Path, default=REPO.parent / "shared/fixtures")
    ap.add_argument("--out", type=Path, default=Path("."))
    ap.add_argument("--deadline-s", type=float, default=900)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="photocheck-fault."))
    os.chmod(work, 0o755)
    logdir = work / "logs"
    logdir.mkdir()
    log(f"work dir {work}; binary {args.photocheck}")

    photos = [p.read_bytes() for p in sorted(args.fixtures.glob("*.jpg"))]
    photos = [b for b in photos if sniff_jpeg_or_png(b)]
    assert photos, "no fixture photos"

    # Broker: three nodes, one cluster.
    rn = str(REPO / "scripts/rabbit-node.sh")
    tag = f"{random.randrange(16**4):04x}"
    nodes = [(f"pcf{tag}{c}", free_port(), free_port(), work / f"rabbit-{c}") for c in "abc"]
    for name, port, dist, d in nodes:
        sh("bash", rn, "start", name, str(port), str(dist), str(d))
    for name, *_ in nodes[1:]:
        sh("bash", rn, "join", name, nodes[0][0])
    log("RabbitMQ cluster of 3 up")
    # Store: three Garage nodes, replication 3.
    out = sh("bash", str(REPO / "scripts/s3-server.sh"), "--nodes", "3",
             "--data", str(work / "garage")).stdout
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line
               and not line.startswith("export"))
    s3 = env["S3_ENDPOINTS"].split(",")
    gpids = [int(p) for p in env["S3_PIDS"].split(",")]
    log("Garage cluster of 3 up")

    central = Central(free_port())
    api_port = free_port()
    amqp = [f"amqp://guest:guest@127.0.0.1:{port}/%2f" for _, port, _, _ in nodes]
    config = f"""
[api]
listen = "127.0.0.1:{api_port}"
[api.tokens]
{WINDOW} = "{TOKEN}"
[amqp]
url = "{amqp[0]}"
failover_urls = {json.dumps(amqp[1:])}
[s3]
endpoint = "{s3[0]}"
failover_endpoints = {json.dumps(s3[1:])}
[central]
url = "http://127.0.0.1:{central.port}/results"
secret = "{SECRET}"
"""
    cfg = work / "photocheck.toml"
    cfg.write_text(config)
    bin_ = str(args.photocheck)
    api = Proc("api", [bin_, "--config", str(cfg), "serve"], logdir)
    workers = [Proc(f"worker{i}", [bin_, "--config", str(cfg), "worker", "--metrics-listen", ""],
                    logdir) for i in (1, 2)]
    api.start()
    for w in workers:
        w.start()
    url = f"http://127.0.0.1:{api_port}"
    for _ in range(300):
        try:
            if urllib.request.urlopen(f"{url}/readyz", timeout=2).status == 200:
                break
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    # The timeline (faults, upload schedule, report times) starts with the first upload.
    global T0
    T0 = time.monotonic()
    log("API ready; uploading (timeline starts)")

    lock = threading.Lock()
    ids_by_key = {}
    accepted_at = []
    upload_attempts = [0]

    def upload(i):
        key = f"fault-{tag}-{i:04d}"
        body = photos[i % len(photos)]
        until = time.monotonic() + args.deadline_s
        while time.monotonic() < until:
            rq = urllib.request.Request(f"{url}/v1/photos", data=body, method="POST", headers={
                "authorization": f"Bearer {TOKEN}", "content-type": "image/jpeg",
                "idempotency-key": key})
            with lock:
                upload_attempts[0] += 1
            try:
                with urllib.request.urlopen(rq, timeout=30) as r:
                    rid = json.loads(r.read())["id"]
                    with lock:
                        ids_by_key.setdefault(key, set()).add(rid)
                        accepted_at.append(now())
                    return
            except urllib.error.HTTPError as e:
                if e.code not in (503, 429, 502, 504):
                    raise RuntimeError(f"upload refused with {e.code}")
                time.sleep(float(e.headers.get("retry-after", "1") or 1))
            except (urllib.error.URLError, OSError, ValueError):
                time.sleep(1)

    faults = []

    def fault(name, at, dur, begin, end):
        def run():
            time.sleep(max(0, at - now()))
            t = now()
            begin()
            log(f"fault: {name}")
            time.sleep(dur)
            end()
            faults.append({"fault": name, "start_s": round(t, 1), "end_s": round(now(), 1)})
            log(f"fault over: {name}")
        th = threading.Thread(target=run)
        th.start()
        return th

    a_name, a_port, a_dist, a_dir = nodes[0]
    threads = [
        fault("broker node (the services' first) stopped", 4, 20,
              lambda: sh("bash", rn, "stop", a_name),
              lambda: sh("bash", rn, "start", a_name, str(a_port), str(a_dist), str(a_dir))),
        fault("worker 1 SIGKILLed", 10, 3, workers[0].kill9, workers[0].start),
        fault("API SIGKILLed mid-upload", 16, 2, api.kill9, api.start),
        fault("storage node (the services' first) SIGKILLed", 30, 20,
              lambda: os.kill(gpids[0], signal.SIGKILL),
              lambda: gpids.__setitem__(0, int(dict(
                  line.split("=", 1) for line in sh(
                      "bash", str(REPO / "scripts/s3-server.sh"), "--data",
                      str(work / "garage"), "--restart", "1").stdout.splitlines())["S3_PID"]))),
        fault("storage unreachable (all nodes frozen)", 60, 60,
              lambda: [os.kill(p, signal.SIGSTOP) for p in gpids],
              lambda: [os.kill(p, signal.SIGCONT) for p in gpids]),
        fault("central system down", 40, 120, central.down, lambda: central.up("error")),
        fault("central system answers 500", 160, 30, lambda: None, lambda: central.up("up")),
    ]
    # Uploads spread over ~2 minutes, so every fault meets uploads in flight.
    spacing = 120.0 / args.photos
    with ThreadPoolExecutor(max_workers=8) as pool:
        futs = []
        for i in range(args.photos):
            time.sleep(max(0, i * spacing - now()))
            futs.append(pool.submit(upload, i))
        errors = [f.exception() for f in futs if f.exception()]
    for th in threads:
        th.join()
    accepted = {i for s in ids_by_key.values() for i in s}
    log(f"uploads done: {len(accepted)} accepted, {len(errors)} refused; waiting for deliveries")
    until = time.monotonic() + args.deadline_s
    while time.monotonic() < until:
        with central.lock:
            if accepted <= set(central.bodies):
                break
        time.sleep(1)
    time.sleep(5)  # late repeats, if any

    with central.lock:
        delivered = set(central.bodies)
        conflicting = sum(1 for b in central.bodies.values() if len(b) > 1)
        repeats = len(central.delivery_times) - len(delivered)
        report_faults = []
        for f in sorted(faults, key=lambda f: f["start_s"]):
            nxt_up = min((t for t in accepted_at if t >= f["end_s"]), default=None)
            nxt_dl = min((t for t in central.delivery_times if t >= f["end_s"]), default=None)
            f["next_accepted_after_s"] = None if nxt_up is None else round(nxt_up - f["end_s"], 1)
            f["next_delivery_after_s"] = None if nxt_dl is None else round(nxt_dl - f["end_s"], 1)
            report_faults.append(f)
        last_delivery = max(central.first_at.values(), default=0)
        report = {
            "photos": args.photos,
            "accepted": len(accepted),
            "refused": len(errors),
            "upload_attempts": upload_attempts[0],
            "delivered": len(accepted & delivered),
            "lost": len(accepted - delivered),
            "keys_with_several_ids": sum(1 for s in ids_by_key.values() if len(s) > 1),
            "conflicting_bodies": conflicting,
            "bad_signatures": central.bad_signatures,
            "repeats": repeats,
            "callback_posts": central.posts,
            "callbacks_answered_500": central.errors_answered,
            "all_delivered_at_s": round(last_delivery, 1),
            "faults": report_faults,
            "configuration": "defaults + addresses, credentials, window token, shared secret",
        }
    api.term()
    for w in workers:
        w.term()
    for p in gpids:
        try:
            os.kill(p, signal.SIGCONT)
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for name, *_ in reversed(nodes):
        sh("bash", rn, "stop", name, check=False)
    central.down()

    (args.out / "fault-report.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# photocheck fault suite", "",
             "| count | value |", "|---|---|"]
    lines += [f"| {k} | {report[k]} |" for k in (
        "photos", "accepted", "refused", "upload_attempts", "delivered", "lost",
        "keys_with_several_ids", "conflicting_bodies", "bad_signatures", "repeats",
        "callback_posts", "callbacks_answered_500", "all_delivered_at_s")]
    lines += ["", "| fault | start s | end s | next accepted upload after (s) |"
              " next delivery after (s) |", "|---|---|---|---|---|"]
    lines += [f"| {f['fault']} | {f['start_s']} | {f['end_s']} | {f['next_accepted_after_s']} |"
              f" {f['next_delivery_after_s']} |" for f in report_faults]
    (args.out / "fault-report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    bad = (report["lost"] or report["keys_with_several_ids"] or report["conflicting_bodies"]
           or report["bad_signatures"] or report["refused"])
    if bad:
        print(f"FAILED; logs in {logdir}", file=sys.stderr)
        return 1
    subprocess.run(["rm", "-rf", str(work)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
