#!/usr/bin/env bash
# Lints template.yaml with the pinned cfn-lint.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(bash infra/pytool.sh cfn-lint 'cfn-lint==1.58.0')"
"$bin/cfn-lint" template.yaml
echo "cfn-lint: template.yaml is clean"
