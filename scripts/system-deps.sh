#!/usr/bin/env bash
# Installs the Debian packages photocheck builds against, when they are missing:
#   libturbojpeg0-dev  libjpeg-turbo (SIMD) for the scaled decoding of large JPEGs
#   pkg-config         how the build finds it
#   fonts-wqy-microhei the Chinese labels of the annotated pictures (`check --annotate`)
# and, with --tests, what the test suite runs besides the project's own binaries:
#   stunnel4           the TLS terminator in front of Garage in the TLS end-to-end test
#   chromium, chromium-driver, fonts-noto-cjk
#                      the console's browser test (WebDriver) and its screenshots in Chinese
# Idempotent and quiet when everything is there; uses sudo when not run as root.
#   usage: bash scripts/system-deps.sh [--tests] [--check]   (--check: report, install nothing)
set -euo pipefail

tests=0
check=0
for arg in "$@"; do
  case "$arg" in
    --tests) tests=1 ;;
    --check) check=1 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done

missing=()
command -v pkg-config >/dev/null || missing+=(pkg-config)
if ! command -v pkg-config >/dev/null || ! pkg-config --exists 'libturbojpeg >= 2.0'; then
  missing+=(libturbojpeg0-dev)
fi
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
if [ "$tests" = 1 ] && ! command -v stunnel4 >/dev/null && ! command -v stunnel >/dev/null; then
  missing+=(stunnel4)
fi
if [ "$tests" = 1 ]; then
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  [ -d /usr/share/fonts/opentype/noto ] || missing+=(fonts-noto-cjk)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$check" = 1 ]; then
  echo "missing Debian packages: ${missing[*]} (bash scripts/system-deps.sh installs them)" >&2
  exit 1
fi
command -v apt-get >/dev/null || {
  echo "photocheck needs ${missing[*]} (libjpeg-turbo ≥ 2.0 with its pkg-config file); install them with your system's package manager" >&2
  exit 1
}
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 || {
  "${sudo[@]}" apt-get update -q >&2
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}
