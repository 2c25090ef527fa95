#!/usr/bin/env bash
# Usage: infra/ffmpeg-layer.sh [arm64|x86_64] [--check]
#
# Builds a Lambda layer zip with a static ffmpeg at bin/ffmpeg (so /opt/bin/ffmpeg, on the
# function's PATH) for the transcoder: target/ffmpeg-layer-ARCH.zip (default arm64, as in
# template.yaml). The ffmpeg comes from the pinned PyPI wheel imageio-ffmpeg, which ships
# John Van Sickle's static build (GPLv3) per platform; the wheel's hash is pinned too, so the
# layer is the same bytes on every machine. Needs only PyPI (and Debian's packages for --check).
#
# --check also runs the binary: natively when the host has that architecture, otherwise under
# Debian's qemu-user-static (installed if missing). It prints `ffmpeg -version`, checks the H.264
# decoder and the filters the transcoder uses, and decodes a 5 s 30 fps H.264 clip like
# DashScope's with the transcoder's exact ffmpeg arguments (lib/src/gif/decode.rs), counting the
# bytes of the RGBA frames. If an emo-gif binary is built (target/{release,debug}/emo-gif), it also
# makes a sticker with the transcoder's own code through that ffmpeg.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"

IMAGEIO_FFMPEG_VERSION=0.7.0 # the last release with static binaries (0.8 ships dynamic ones)
FFMPEG_VERSION=7.0.2

arch=arm64
check=0
for a in "$@"; do
  case "$a" in
    arm64 | aarch64) arch=arm64 ;;
    x86_64 | amd64) arch=x86_64 ;;
    --check) check=1 ;;
    -h | --help)
      sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "usage: $0 [arm64|x86_64] [--check]" >&2
      exit 2
      ;;
  esac
done

case "$arch" in
  arm64)
    platform=manylinux2014_aarch64
    cpu=aarch64
    file_arch="ARM aarch64"
    sha256=588a23c6a1c55a7cb51febfe97d3ef8dd5e7fa0ef7e14c7da8828e2886bdd3a3
    ;;
  x86_64)
    platform=manylinux2014_x86_64
    cpu=x86_64
    file_arch="x86-64"
    sha256=4e1f36bef7bedd4bc5dc25f60a8345d88f57133fa1e754f09b411ac61b854408
    ;;
esac
member="imageio_ffmpeg/binaries/ffmpeg-linux-$cpu-v$FFMPEG_VERSION"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
apt_install() {
  echo "installing $* (Debian)..." >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >&2
}
command -v file >/dev/null 2>&1 || apt_install file

# 1. The wheel, checked against its pinned hash, cached.
cache="${XDG_CACHE_HOME:-$HOME/.cache}/emo/ffmpeg-layer"
wheels="$cache/wheels-$arch"
mkdir -p "$wheels"
wheel="$wheels/imageio_ffmpeg-$IMAGEIO_FFMPEG_VERSION-py3-none-$platform.whl"
if [ ! -f "$wheel" ]; then
  echo "downloading imageio-ffmpeg==$IMAGEIO_FFMPEG_VERSION ($platform) from PyPI..." >&2
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --platform "$platform" --dest "$wheels" --require-hashes \
    -r /dev/stdin <<<"imageio-ffmpeg==$IMAGEIO_FFMPEG_VERSION --hash=sha256:$sha256" >&2
fi
echo "$sha256  $wheel" | sha256sum --check --quiet

# 2. bin/ffmpeg out of the wheel, into a reproducible zip (fixed timestamps, mode 755).
stage="$root/target/ffmpeg-layer-$arch"
zip_path="$root/target/ffmpeg-layer-$arch.zip"
rm -rf "$stage"
mkdir -p "$stage/bin"
python3 - "$wheel" "$member" "$stage/bin/ffmpeg" "$zip_path" <<'PY'
import os, shutil, sys, zipfile
wheel, member, out, zip_path = sys.argv[1:]
with zipfile.ZipFile(wheel) as w, w.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
os.chmod(out, 0o755)
tmp = zip_path + ".tmp"
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for name, mode in (("bin/", 0o40755), ("bin/ffmpeg", 0o100755)):
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.create_system = 3  # Unix, so the mode below is kept: Lambda runs bin/ffmpeg as is
        info.external_attr = mode << 16
        if name.endswith("/"):
            z.writestr(info, b"")
        else:
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(out, "rb") as f:
                z.writestr(info, f.read())
os.replace(tmp, zip_path)
PY
ffmpeg_bin="$stage/bin/ffmpeg"

kind="$(file -b "$ffmpeg_bin")"
[[ "$kind" == *"$file_arch"* ]] || { echo "bin/ffmpeg is not $file_arch: $kind" >&2; exit 1; }
[[ "$kind" == *"statically linked"* ]] || { echo "bin/ffmpeg is not static: $kind" >&2; exit 1; }

zip_bytes=$(stat -c %s "$zip_path")
bin_bytes=$(stat -c %s "$ffmpeg_bin")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
echo "layer: ${zip_path#"$root"/} ($(mib "$zip_bytes") zipped; bin/ffmpeg $(mib "$bin_bytes"), static $file_arch)"
echo "ffmpeg $FFMPEG_VERSION-static (johnvansickle.com build, GPLv3) from imageio-ffmpeg==$IMAGEIO_FFMPEG_VERSION"

# 3. Optionally prove that it runs and does the transcoder's job.
if [ "$check" = 1 ]; then
  run=("$ffmpeg_bin")
  if [ "$(uname -m)" != "$cpu" ]; then
    qemu="qemu-$cpu-static"
    command -v "$qemu" >/dev/null 2>&1 || apt_install qemu-user-static
    run=("$qemu" "$ffmpeg_bin")
    echo "check: running bin/ffmpeg under $("$qemu" --version | head -1)"
  else
    echo "check: running bin/ffmpeg natively"
  fi
  "${run[@]}" -hide_banner -version | head -1
  decoders="$("${run[@]}" -hide_banner -decoders)"
  filters="$("${run[@]}" -hide_banner -filters)"
  grep -Eq '^ V[A-Z.]* h264 ' <<<"$decoders" || { echo "check: no h264 decoder" >&2; exit 1; }
  for f in fps scale; do
    grep -Eq "^ [A-Z.]+ $f " <<<"$filters" || { echo "check: no $f filter" >&2; exit 1; }
  done
  echo "check: h264 decoder, fps and scale filters present"

  # A clip like DashScope's, made by the host's ffmpeg (Debian's, libx264), so the layer's
  # binary only has to decode.
  bash "$here/ensure-ffmpeg.sh"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  for size in 624x624 832x480; do
    clip="$work/clip-$size.mp4"
    ffmpeg -nostdin -loglevel error -f lavfi -i "testsrc2=size=$size:rate=30" -t 5 \
      -c:v libx264 -preset veryfast -pix_fmt yuv420p "$clip"
    # The transcoder's arguments (lib/src/gif/decode.rs `decode`, defaults: 240 px, 10 fps, 10 s cap).
    start=$(date +%s%N)
    "${run[@]}" -nostdin -hide_banner -loglevel error -i "$clip" -map 0:v:0 -an -sn -dn \
      -filter "fps=10,scale=w='min(240,iw)':h='min(240,ih)':force_original_aspect_ratio=decrease:flags=lanczos" \
      -frames:v 100 -pix_fmt rgba -f rawvideo -y "$work/frames-$size.rgba"
    ms=$((($(date +%s%N) - start) / 1000000))
    w=${size%x*} h=${size#*x}
    if [ "$w" -ge "$h" ]; then ow=240 oh=$((h * 240 / w)); else oh=240 ow=$((w * 240 / h)); fi
    want=$((50 * ow * oh * 4))
    got=$(stat -c %s "$work/frames-$size.rgba")
    [ "$got" = "$want" ] || { echo "check: $size decoded to $got bytes, expected $want (50 frames ${ow}x${oh} rgba)" >&2; exit 1; }
    echo "check: decoded 5 s of $size H.264 to 50 rgba frames ${ow}x${oh} in ${ms} ms"
  done
  emo_gif=""
  for b in "$root/target/release/emo-gif" "$root/target/debug/emo-gif"; do
    [ -x "$b" ] && { emo_gif="$b"; break; }
  done
  if [ -n "$emo_gif" ]; then
    # The transcoder's own code (ffmpeg-sidecar parses this ffmpeg's log) through the layer's binary.
    printf '#!/bin/sh\nexec %s "$@"\n' "${run[*]}" >"$work/ffmpeg"
    chmod +x "$work/ffmpeg"
    echo "check: emo-gif through this ffmpeg: $("$emo_gif" "$work/clip-624x624.mp4" "$work/sticker.gif" \
      --ffmpeg "$work/ffmpeg" | grep -E '^(bytes|width|height|frames|passes):' | tr '\n' ' ')"
  else
    echo "check: no target/*/emo-gif built; skipped the sticker through the transcoder's code"
  fi
  echo "check: ok"
fi

cat <<EOF

Publish it (zip under 50 MB, so it can be uploaded directly) and pass its version ARN to the stack:

  aws lambda publish-layer-version --layer-name emo-ffmpeg \\
    --description "ffmpeg $FFMPEG_VERSION static (imageio-ffmpeg $IMAGEIO_FFMPEG_VERSION)" \\
    --license-info GPL-3.0-or-later --zip-file fileb://${zip_path#"$root"/} \\
    --compatible-architectures $arch --compatible-runtimes provided.al2023 \\
    --query LayerVersionArn --output text
  sam deploy --parameter-overrides FfmpegLayerArn=<the LayerVersionArn printed above>
EOF
