#!/usr/bin/env bash
# Builds the photocheck image on a machine without an image registry (Debian 12, buildah) and
# smoke-tests it; deploy/README.md explains the choices and records the figures.
#
#   scripts/build-image.sh [--no-smoke]
#
#   1. installs buildah, podman and debootstrap with apt-get if missing;
#   2. makes the base image localhost/debian-minbase:bookworm with debootstrap, once (the root
#      file system is cached in ~/.cache/photocheck/image);
#   3. builds the binaries on the host: cargo build --release -p photocheck --bins, in its own
#      target folder (~/.cache/photocheck/target-release), log in ~/.cache/photocheck/logs;
#   4. buildah bud --isolation chroot with BUILDER_IMAGE=the debootstrap base and
#      PREBUILT=prebuilt (a build context holding only the two binaries), tag
#      localhost/photocheck:VERSION; `--format docker` because buildah ignores SHELL (the
#      Dockerfile's bash with pipefail) in the OCI format;
#   5. smoke test (unless --no-smoke): `photocheck check` on the fixtures inside the image (buildah
#      run, uid 10001) and again in the image's root file system mounted read-only, compared
#      per photo (verdict and failed codes) with the host build's output; checks that the image
#      has no shell.
#
# Environment: PHOTOCHECK_FIXTURES (default /work/shared/fixtures, mounted read-only at run time,
# never copied into the image), REGISTRY_CA (PEM bundle trusted for pip/npm in the build stage;
# default the host's own bundle, which holds any proxy CA this machine needs),
# PHOTOCHECK_IMAGE_TAG (default the binary's version).
# Photos never go into the image or a log: outputs are compared by file name in a temp folder.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
smoke=1
[ "${1:-}" = --no-smoke ] && smoke=0
cache="$HOME/.cache/photocheck"
target="$cache/target-release"
logs="$cache/logs"
base=localhost/debian-minbase:bookworm
fixtures="${PHOTOCHECK_FIXTURES:-/work/shared/fixtures}"
registry_ca="${REGISTRY_CA:-/etc/ssl/certs/ca-certificates.crt}"
mkdir -p "$cache/image" "$logs"
say() { echo "build-image: $*"; }
t0=$SECONDS

# 1. tools
missing=()
for tool in buildah podman debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >"$logs/apt-image-tools.log"
fi

# 2. base image (no registry: debootstrap from the machine's Debian mirror)
if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  mirror=$(apt-get indextargets --format '$(REPO_URI)' | grep -m1 -E '/debian/$' || true)
  mirror=${mirror:-http://deb.debian.org/debian/}
  rootfs="$cache/image/rootfs-bookworm"
  if ! [ -f "$rootfs/.complete" ]; then
    say "debootstrap bookworm from $mirror (~1 min)"
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$logs/debootstrap.log" 2>&1
    m=${mirror%/}
    printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb %s-security bookworm-security main\n' \
      "$m" "$m" "$m" >"$rootfs/etc/apt/sources.list"
    touch "$rootfs/.complete"
  fi
  tar -C "$rootfs" --exclude=./.complete -c . | podman import --quiet --change 'CMD ["bash"]' - "$base" >/dev/null
  say "base image $base imported"
fi

# 3. host release build (a separate target folder: never the one the tests use)
say "cargo build --release (log: $logs/release-build.log)"
b0=$SECONDS
if ! CARGO_TARGET_DIR="$target" nice -n 10 cargo build --release -p photocheck --bins \
    >"$logs/release-build.log" 2>&1; then
  tail -n 30 "$logs/release-build.log" >&2
  say "cargo build failed" >&2
  exit 1
fi
say "binaries built in $((SECONDS - b0)) s"
version=$("$target/release/photocheck" --version | awk '{print $2}')
tag="localhost/photocheck:${PHOTOCHECK_IMAGE_TAG:-$version}"

# 4. image
ctx="$cache/image/context"
rm -rf "$ctx"
mkdir -p "$ctx/prebuilt"
cp "$target/release/photocheck" "$target/release/photocheck-receiver" "$ctx/prebuilt/"
say "buildah bud -> $tag (log: $logs/image-build.log)"
i0=$SECONDS
if ! buildah bud --isolation chroot --layers --format docker -f "$repo/deploy/Dockerfile" \
    --build-arg BUILDER_IMAGE="$base" --build-arg PREBUILT=prebuilt \
    --secret id=registry_ca,src="$registry_ca" \
    -t "$tag" "$ctx" >"$logs/image-build.log" 2>&1; then
  tail -n 30 "$logs/image-build.log" >&2
  say "buildah bud failed" >&2
  exit 1
fi
say "image built in $((SECONDS - i0)) s: $(buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$tag")"
[ "$smoke" = 1 ] || { say "done in $((SECONDS - t0)) s (no smoke test)"; exit 0; }

# 5. smoke test
[ -d "$fixtures" ] || { say "no fixtures at $fixtures" >&2; exit 1; }
work=$(mktemp -d)
c=$(buildah from --pull=never --quiet "$tag")
mnt=""
cleanup() {
  if [ -n "$mnt" ]; then buildah umount "$c" >/dev/null 2>&1 || true; fi
  buildah rm "$c" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# The host build, from a folder without a photocheck.toml (the image has none either).
(cd / && env -u PHOTOCHECK_CONFIG "$target/release/photocheck" check "$fixtures" --format jsonl \
  >"$work/host.jsonl" 2>"$work/host.err") || true
# Inside the image: buildah run keeps the image's USER (10001) and environment.
buildah run --isolation chroot -v "$fixtures:/fixtures:ro" "$c" -- \
  /usr/local/bin/photocheck check /fixtures --format jsonl >"$work/image.jsonl" 2>"$work/image.err" || true
uid=$(buildah inspect --format '{{.OCIv1.Config.User}}' "$c")
# The image's root file system mounted read-only, run as uid 10001 with a tmpfs on /tmp, as the
# Kubernetes manifests run it.
mnt=$(buildah mount "$c")
mkdir -p "$mnt/proc" "$mnt/dev" "$mnt/fixtures"
unshare --mount --propagation private -- bash -c '
  set -e; m=$1; f=$2
  mount --bind "$m" "$m"; mount -o remount,bind,ro "$m"
  mount --bind "$f" "$m/fixtures"; mount -o remount,bind,ro "$m/fixtures"
  mount -t tmpfs -o size=64m tmpfs "$m/tmp"; mount -t proc proc "$m/proc"
  if touch "$m/usr/local/bin/x" 2>/dev/null; then echo "root file system is writable" >&2; exit 1; fi
  env -i PATH=/usr/local/bin XDG_DATA_HOME=/opt/photocheck-data \
    "$(command -v chroot)" --userspec=10001:10001 "$m" /usr/local/bin/photocheck check /fixtures --format jsonl
' _ "$mnt" "$fixtures" >"$work/readonly.jsonl" 2>"$work/readonly.err" || true
shell=absent
for sh in /bin/sh /bin/bash /usr/bin/sh /bin/busybox; do [ -e "$mnt$sh" ] && shell="present ($sh)"; done

status=0
python3 - "$work" "$uid" "$shell" <<'EOF' || status=$?
import json, sys
work, uid, shell = sys.argv[1:4]
def load(name):
    out = {}
    for line in open(f"{work}/{name}.jsonl", encoding="utf-8"):
        r = json.loads(line)
        failed = sorted(c["code"] for c in r.get("checks", []) if c.get("status") == "fail")
        out[r["source"].rsplit("/", 1)[-1]] = (r.get("verdict"), failed, r)
    return out
host = load("host")
ok = True
for name in ("image", "readonly"):
    other = load(name)
    same = sum(1 for k, v in host.items() if k in other and other[k][:2] == v[:2])
    exact = sum(1 for k, v in host.items() if k in other and other[k][2].get("checks") == v[2].get("checks"))
    differ = sorted(k for k in host.keys() | other.keys()
                    if k not in host or k not in other or host[k][:2] != other[k][:2])
    print(f"build-image: {name}: {same}/{len(host)} photos with the host's verdict and failed codes "
          f"({exact}/{len(host)} with identical checks and values)")
    for k in differ[:10]:
        print(f"build-image:   differs: {k}", file=sys.stderr)
    ok = ok and not differ and len(host) > 0
print(f"build-image: user {uid}, shell in image: {shell}")
sys.exit(0 if ok and shell == "absent" and uid.startswith("10001") else 1)
EOF
if [ "$status" != 0 ]; then
  for f in host image readonly; do
    echo "--- $f.err (last lines)" >&2; tail -n 5 "$work/$f.err" >&2
  done
fi
say "done in $((SECONDS - t0)) s"
exit "$status"
