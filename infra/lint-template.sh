#!/usr/bin/env bash
# Lints template.yaml with the pinned cfn-lint, then with `sam validate --lint` (the SAM transform
# applied, then cfn-lint again on its output). Neither needs AWS credentials or the network.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh"
cd "$EMO_ROOT"
bin="$(pytool cfn-lint)"
"$bin/cfn-lint" template.yaml
echo "cfn-lint: template.yaml is clean"
sam="$(pytool sam)"
SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" \
  "$sam/sam" validate --lint --template template.yaml
