#!/usr/bin/env bash
# Lints template.yaml with the pinned cfn-lint, then with `sam validate --lint` (the SAM transform
# applied, then cfn-lint again on its output). Neither needs AWS credentials or the network.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(bash infra/pytool.sh cfn-lint 'cfn-lint==1.58.0')"
"$bin/cfn-lint" template.yaml
echo "cfn-lint: template.yaml is clean"
sam="$(bash infra/pytool.sh sam 'aws-sam-cli==1.170.0')"
SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" \
  "$sam/sam" validate --lint --template template.yaml
