#!/usr/bin/env bash
# Makes sure the caption font exists and prints its path (stdout, one line): Noto Sans CJK SC
# Bold from Debian's fonts-noto-cjk (SIL Open Font License 1.1), subset with fontTools'
# pyftsubset to exactly the characters a caption may hold, which emo itself lists
# (`emo-gif --caption-charset`, from emo::domain::caption), so the API accepts only what the font
# draws. Idempotent: the font is rebuilt only when the charset, fontTools or the package changed.
#
#   export EMO_CAPTION_FONT="$(bash infra/ensure-font.sh)"
#
# Output: ${EMO_FONT_DIR:-~/.cache/emo/fonts}/emo-caption.otf (never committed). Installs
# fonts-noto-cjk (about 56 MB download) and fontTools (a venv under ~/.cache/emo) if missing,
# and builds emo-gif (debug) to ask it for the charset, or runs the one in EMO_BIN_DIR if set.
set -euo pipefail
cd "$(dirname "$0")/.."
. infra/scripts/lib.sh

source_ttc=/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc
out_dir="${EMO_FONT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/emo/fonts}"
out="$out_dir/emo-caption.otf"

apt_install fonts-noto-cjk
installed="$(dpkg-query -W -f='${Version}' fonts-noto-cjk)"
if [ "$installed" != "$FONTS_NOTO_CJK_VERSION" ]; then
  echo "ensure-font: fonts-noto-cjk is $installed, pinned $FONTS_NOTO_CJK_VERSION (infra/scripts/pins.sh)" >&2
  exit 1
fi
[ -f "$source_ttc" ] || { echo "ensure-font: $source_ttc is missing" >&2; exit 1; }

# The charset from emo: the one definition of what a caption may hold.
mkdir -p "$out_dir"
if [ -n "${EMO_BIN_DIR:-}" ]; then
  charset="$("$EMO_BIN_DIR/emo-gif" --caption-charset)"
else
  charset="$(cargo run --quiet --locked -p emo-infra --bin emo-gif -- --caption-charset)"
fi
want="fonttools=$FONTTOOLS_VERSION noto=$installed charset=$(printf '%s' "$charset" | sha256sum | cut -c1-16)"
if [ -f "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$want" ]; then
  echo "$out"
  exit 0
fi

bin="$(pytool fonttools)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
printf '%s' "$charset" >"$tmp/charset.txt"
# The collection holds one face per region (JP, KR, SC, TC, HK): take the SC one by its name.
number="$("$bin/python" - "$source_ttc" <<'PY'
import sys
from fontTools.ttLib import TTCollection
for i, font in enumerate(TTCollection(sys.argv[1]).fonts):
    if font["name"].getDebugName(1) == "Noto Sans CJK SC":
        print(i)
        break
else:
    sys.exit("no Noto Sans CJK SC face in " + sys.argv[1])
PY
)"
echo "ensure-font: subsetting Noto Sans CJK SC Bold (face $number) to $(printf '%s' "$charset" | wc -m) characters..." >&2
# Keep the copyright, licence and licence URL names (0, 13, 14): the OFL travels with the font.
# Hinting is dropped (the renderer does not use it); the layout tables are kept as they are.
"$bin/pyftsubset" "$source_ttc" --font-number="$number" --text-file="$tmp/charset.txt" \
  --output-file="$tmp/emo-caption.otf" --no-hinting --name-IDs=0,1,2,3,4,5,6,13,14 \
  --name-languages='*'
mv "$tmp/emo-caption.otf" "$out"
printf '%s' "$want" >"$out.stamp"
echo "ensure-font: $out, $(stat -c %s "$out") bytes" >&2
echo "$out"
