#!/usr/bin/env bash
# Usage: infra/ffmpeg-layer.sh [arm64|x86_64] [--check]
#
# Builds a Lambda layer zip with a static ffmpeg at bin/ffmpeg (so /opt/bin/ffmpeg, on the
# function's PATH) for the transcoder: target/ffmpeg-layer-ARCH.zip (default arm64, as in
# template.yaml). The ffmpeg comes from the pinned PyPI wheel imageio-ffmpeg, which ships
# John Van Sickle's static build (GPLv3) per platform; the wheel's hash is pinned too, so the
# layer is the same bytes on every machine (pins: infra/scripts/pins.sh). The layer also carries
# the caption font at share/emo/caption.otf (so /opt/share/emo/caption.otf, the transcoder's
# EMO_CAPTION_FONT) with its licence beside it (share/emo/caption-font-LICENSE: Debian's copyright
# file of fonts-noto-cjk, the OFL-1.1), made by infra/ensure-font.sh. Needs PyPI, Debian's packages
# and cargo (the font's charset comes from emo).
#
# --check also runs the binary: natively when the host has that architecture, otherwise under
# Debian's qemu-user-static (installed if missing). It prints `ffmpeg -version`, then builds
# emo-gif (cargo build -p emo-infra --bin emo-gif, debug) and turns a 5 s 30 fps H.264 clip like
# DashScope's, at 624x624 and 832x480, into a sticker with it through the layer's ffmpeg
# (EMO_FFMPEG): the transcoder's own code, ffmpeg arguments and default settings, checking the
# sticker's size and frame count.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/scripts/lib.sh" # pins: IMAGEIO_FFMPEG_*, FFMPEG_VERSION
here="$EMO_ROOT/infra"
root="$EMO_ROOT"

arch=arm64
check=0
for a in "$@"; do
  case "$a" in
    arm64 | aarch64) arch=arm64 ;;
    x86_64 | amd64) arch=x86_64 ;;
    --check) check=1 ;;
    -h | --help)
      awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'
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
    sha256=$IMAGEIO_FFMPEG_SHA256_AARCH64
    ;;
  x86_64)
    platform=manylinux2014_x86_64
    cpu=x86_64
    file_arch="x86-64"
    sha256=$IMAGEIO_FFMPEG_SHA256_X86_64
    ;;
esac
member="imageio_ffmpeg/binaries/ffmpeg-linux-$cpu-v$FFMPEG_VERSION"

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

# 2. bin/ffmpeg out of the wheel and the caption font, into a reproducible zip (fixed
# timestamps, modes 755 and 644).
stage="$root/target/ffmpeg-layer-$arch"
zip_path="$root/target/ffmpeg-layer-$arch.zip"
rm -rf "$stage"
mkdir -p "$stage/bin" "$stage/share/emo"
cp "$(bash "$here/ensure-font.sh")" "$stage/share/emo/caption.otf"
cp /usr/share/doc/fonts-noto-cjk/copyright "$stage/share/emo/caption-font-LICENSE"
python3 - "$wheel" "$member" "$stage" "$zip_path" <<'PY'
import os, shutil, sys, zipfile
wheel, member, stage, zip_path = sys.argv[1:]
out = os.path.join(stage, "bin/ffmpeg")
with zipfile.ZipFile(wheel) as w, w.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
os.chmod(out, 0o755)
tmp = zip_path + ".tmp"
with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for name, mode in (("bin/", 0o40755), ("bin/ffmpeg", 0o100755), ("share/", 0o40755),
                       ("share/emo/", 0o40755), ("share/emo/caption.otf", 0o100644),
                       ("share/emo/caption-font-LICENSE", 0o100644)):
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.create_system = 3  # Unix, so the mode below is kept: Lambda runs bin/ffmpeg as is
        info.external_attr = mode << 16
        if name.endswith("/"):
            z.writestr(info, b"")
        else:
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(os.path.join(stage, name), "rb") as f:
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
font_bytes=$(stat -c %s "$stage/share/emo/caption.otf")
echo "layer: ${zip_path#"$root"/} ($(mib "$zip_bytes") zipped; bin/ffmpeg $(mib "$bin_bytes"), static $file_arch; share/emo/caption.otf $(mib "$font_bytes"))"
echo "ffmpeg $FFMPEG_VERSION-static (johnvansickle.com build, GPLv3) from imageio-ffmpeg==$IMAGEIO_FFMPEG_VERSION"

# 3. Optionally prove that it runs and does the transcoder's job, with the transcoder's code.
if [ "$check" = 1 ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  # EMO_FFMPEG for emo-gif: the layer's binary itself, or a wrapper that runs it under qemu-user.
  layer_ffmpeg="$ffmpeg_bin"
  if [ "$(uname -m)" != "$cpu" ]; then
    qemu="qemu-$cpu-static"
    command -v "$qemu" >/dev/null 2>&1 || apt_install qemu-user-static
    layer_ffmpeg="$work/ffmpeg"
    printf '#!/usr/bin/env bash\nexec %q %q "$@"\n' "$(command -v "$qemu")" "$ffmpeg_bin" >"$layer_ffmpeg"
    chmod +x "$layer_ffmpeg"
    echo "check: running bin/ffmpeg under $("$qemu" --version | head -1)"
  else
    echo "check: running bin/ffmpeg natively"
  fi
  "$layer_ffmpeg" -hide_banner -version | head -1

  echo "check: building emo-gif (the transcoder's code, lib/src/gif.rs)..." >&2
  (cd "$root" && cargo build --locked --quiet -p emo-infra --bin emo-gif) >&2
  emo_gif="${CARGO_TARGET_DIR:-$root/target}/debug/emo-gif"

  # Clips like DashScope's, made by the host's ffmpeg (Debian's, libx264), so the layer's binary
  # only has to decode.
  bash "$here/ensure-ffmpeg.sh"
  fact() { sed -n "s/^$1: //p" <<<"$out"; } # one `name: value` line of emo-gif's report
  for size in 624x624 832x480; do
    clip="$work/clip-$size.mp4"
    ffmpeg -nostdin -loglevel error -f lavfi -i "testsrc2=size=$size:rate=30" -t 5 \
      -c:v libx264 -preset veryfast -pix_fmt yuv420p "$clip"
    # The transcoder's settings are its defaults (template.yaml sets no EMO_GIF_*), so none leak
    # in from this shell.
    # The 624x624 clip gets a caption, drawn in the layer's font.
    caption=()
    [ "$size" = 624x624 ] && caption=(--caption "层里的字体")
    if ! out="$(env -u EMO_GIF_MAX_SIDE -u EMO_GIF_FPS -u EMO_GIF_MAX_BYTES -u EMO_GIF_QUALITY \
      -u EMO_GIF_MIN_QUALITY -u EMO_GIF_MIN_FPS EMO_FFMPEG="$layer_ffmpeg" \
      EMO_CAPTION_FONT="$stage/share/emo/caption.otf" \
      "$emo_gif" "$clip" "$work/sticker-$size.gif" "${caption[@]}")"; then
      echo "check: emo-gif failed on the $size clip through this ffmpeg" >&2
      exit 1
    fi
    ow=$(fact width) oh=$(fact height) frames=$(fact frames) fps=$(fact fps)
    for v in "$ow" "$oh" "$frames" "$fps"; do
      [[ "$v" =~ ^[0-9]+$ ]] || { printf 'check: unexpected emo-gif report:\n%s\n' "$out" >&2; exit 1; }
    done
    # Scaled down into the transcoder's square with the clip's aspect ratio (rounded as ffmpeg's
    # av_rescale does), and every frame of the 5 s decoded: 5 * fps at the sticker's rate.
    w=${size%x*} h=${size#*x}
    if [ "$w" -ge "$h" ]; then want_w=$ow want_h=$(((2 * h * ow + w) / (2 * w)))
    else want_h=$oh want_w=$(((2 * w * oh + h) / (2 * h))); fi
    if [ "$ow" -ge "$w" ] || [ "$oh" -ge "$h" ] || [ "$ow" != "$want_w" ] || [ "$oh" != "$want_h" ] ||
      [ "$frames" != $((5 * fps)) ]; then
      echo "check: the $size clip became ${ow}x${oh}, $frames frames at $fps fps;" \
        "expected ${want_w}x${want_h} and $((5 * fps)) frames" >&2
      exit 1
    fi
    echo "check: emo-gif, 5 s of $size H.264: ${ow}x${oh}, $frames frames at $fps fps," \
      "$(fact bytes) bytes, $(fact passes) pass(es), $(fact wall_s) s"
  done
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
