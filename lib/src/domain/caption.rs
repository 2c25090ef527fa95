//! The sticker's caption (`caption`, `caption_position`): the line of text drawn on every frame.
//!
//! This file is the one source of truth for which characters a caption may hold
//! ([`char_allowed`], listed by [`charset`]): the API refuses every other one, naming it, and the
//! caption font is subset to exactly this list (`infra/ensure-font.sh` asks `emo-gif
//! --caption-charset` for it), so whatever the API accepts the font can draw. The set: printable
//! ASCII; GB2312's two levels of hanzi (6763, the characters of everyday Simplified Chinese); and
//! GB2312's rows of symbols and full-width forms (CJK punctuation such as `，。！？、…—“”《》【】`,
//! full-width letters and digits). GB2312 is read through `encoding_rs`'s GBK tables, a superset
//! that encodes GB2312's characters with GB2312's own two bytes.

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use super::Invalid;

/// The longest caption, in grapheme clusters (what a user counts as characters).
pub const MAX_CAPTION_GRAPHEMES: usize = 20;

/// Where the caption sits on the sticker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptionPosition {
    #[default]
    Bottom,
    Top,
}

impl CaptionPosition {
    /// `bottom` or `top` (case-insensitive); absent or blank means [`CaptionPosition::Bottom`].
    pub fn parse(raw: Option<&str>) -> Result<Self, Invalid> {
        match raw.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(Self::Bottom),
            Some(s) if s.eq_ignore_ascii_case("bottom") => Ok(Self::Bottom),
            Some(s) if s.eq_ignore_ascii_case("top") => Ok(Self::Top),
            Some(s) => Err(Invalid(format!(
                "caption_position 必须为 top 或 bottom（收到 {}）",
                s.chars().take(20).collect::<String>()
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bottom => "bottom",
            Self::Top => "top",
        }
    }
}

/// A validated caption: at most [`MAX_CAPTION_GRAPHEMES`] drawable characters, trimmed, each run
/// of inner spaces made one ASCII space.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caption {
    pub text: String,
    #[serde(default)]
    pub position: CaptionPosition,
}

impl Caption {
    /// The request's `caption` and `caption_position`: `None` when no caption is given (a
    /// position alone is still checked). Fails naming the problem: too long, control characters,
    /// characters the font cannot draw (each named, at most ten), a bad position.
    pub fn parse(text: Option<&str>, position: Option<&str>) -> Result<Option<Self>, Invalid> {
        let position = CaptionPosition::parse(position)?;
        let Some(raw) = text else {
            return Ok(None);
        };
        let raw = raw.trim();
        let controls: Vec<String> = raw
            .chars()
            .filter(|c| c.is_control())
            .map(|c| format!("U+{:04X}", u32::from(c)))
            .collect();
        if !controls.is_empty() {
            return Err(Invalid(format!(
                "caption 不能包含控制字符（如换行、制表符）：{}",
                dedup(controls).join("、")
            )));
        }
        let mut text = String::with_capacity(raw.len());
        for word in raw.split(is_space).filter(|w| !w.is_empty()) {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(word);
        }
        if text.is_empty() {
            return Ok(None);
        }
        let undrawable: Vec<String> = text
            .graphemes(true)
            .filter(|g| !g.chars().all(char_allowed))
            .map(str::to_owned)
            .collect();
        if !undrawable.is_empty() {
            let mut shown = dedup(undrawable);
            let more = shown.len().saturating_sub(10);
            shown.truncate(10);
            return Err(Invalid(format!(
                "caption 含有无法显示的字符：{}{}。字幕只支持中文（GB2312 常用汉字）、英文字母、数字和常用标点（不支持表情符号）",
                shown.join(" "),
                if more > 0 {
                    format!(" 等 {} 个", shown.len() + more)
                } else {
                    String::new()
                }
            )));
        }
        let n = text.graphemes(true).count();
        if n > MAX_CAPTION_GRAPHEMES {
            return Err(Invalid(format!(
                "caption 不能超过 {MAX_CAPTION_GRAPHEMES} 个字（当前 {n} 个）"
            )));
        }
        Ok(Some(Self { text, position }))
    }
}

/// A space inside a caption: the ASCII one and the ideographic one (U+3000) that Chinese input
/// methods type; runs of them become one ASCII space.
fn is_space(c: char) -> bool {
    c == ' ' || c == '\u{3000}'
}

fn dedup(mut items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items.retain(|i| seen.insert(i.clone()));
    items
}

/// Whether a caption may hold `c` (and so whether the caption font has it): printable ASCII, or
/// a GB2312 character of the rows of symbols (A1), full-width forms (A3) or hanzi (B0-F7).
pub fn char_allowed(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    let mut buf = [0u8; 4];
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(c.encode_utf8(&mut buf));
    !unmappable
        && matches!(*bytes, [lead, trail] if in_gb2312_rows(lead, trail) && (0xA1..=0xFE).contains(&trail))
}

fn in_gb2312_rows(lead: u8, trail: u8) -> bool {
    match lead {
        0xA1 | 0xA3 => true,
        // Level 2 ends at F7FE; level 1 ends at D7F9, D7FA-D7FE are unassigned.
        0xB0..=0xF7 => !(lead == 0xD7 && trail > 0xF9),
        _ => false,
    }
}

/// Every character [`char_allowed`] accepts, in code point order: what the caption font is
/// subset to.
pub fn charset() -> Vec<char> {
    let mut chars: Vec<char> = (' '..='~').collect();
    let mut decoder_input = Vec::with_capacity(2);
    for lead in [0xA1u8, 0xA3].into_iter().chain(0xB0..=0xF7) {
        for trail in 0xA1u8..=0xFE {
            if !in_gb2312_rows(lead, trail) {
                continue;
            }
            decoder_input.clear();
            decoder_input.extend([lead, trail]);
            let (text, malformed) = encoding_rs::GBK.decode_without_bom_handling(&decoder_input);
            let mut decoded = text.chars();
            if let (false, Some(c), None) = (malformed, decoded.next(), decoded.next())
                && char_allowed(c)
            {
                chars.push(c);
            }
        }
    }
    chars.sort_unstable();
    chars.dedup();
    chars
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<Caption>, Invalid> {
        Caption::parse(Some(text), None)
    }

    #[test]
    fn chinese_latin_digits_and_punctuation_of_both_widths_are_accepted() {
        for ok in [
            "好的",
            "我太难了！",
            "OK 收到",
            "打工人，打工魂。",
            "【震惊】…“真的吗？”",
            "ＡＢＣ１２３～",
            "1+1=2?",
            "《西游记》、孙悟空",
        ] {
            let caption = parse(ok).unwrap().unwrap();
            assert_eq!(caption.text, ok);
            assert_eq!(caption.position, CaptionPosition::Bottom);
        }
    }

    #[test]
    fn ends_are_trimmed_and_inner_space_runs_become_one_space() {
        let c = Caption::parse(Some("\n  早上好 \u{3000}  打工人\u{3000}\r\n"), Some("TOP"))
            .unwrap()
            .unwrap();
        assert_eq!(c.text, "早上好 打工人");
        assert_eq!(c.position, CaptionPosition::Top);
        assert_eq!(Caption::parse(Some("   "), None).unwrap(), None);
        assert_eq!(Caption::parse(None, Some("bottom")).unwrap(), None);
    }

    #[test]
    fn twenty_characters_pass_and_twenty_one_do_not() {
        assert!(parse(&"好".repeat(20)).unwrap().is_some());
        let e = parse(&"好".repeat(21)).unwrap_err().0;
        assert!(e.contains("20") && e.contains("21"), "{e}");
        // Counted in grapheme clusters, spaces included.
        assert!(parse("a b c d e f g h i j k").is_err());
    }

    #[test]
    fn control_characters_emoji_and_characters_outside_the_font_are_named() {
        let e = parse("第一行\n第二行").unwrap_err().0;
        assert!(e.contains("控制字符") && e.contains("U+000A"), "{e}");
        let e = parse("开心😀👍🏽").unwrap_err().0;
        assert!(e.contains("😀") && e.contains("👍🏽"), "{e}");
        // 𠀀 (CJK extension B) and 鎔 (traditional, outside GB2312) have no glyph in the font.
        let e = parse("𠀀鎔好").unwrap_err().0;
        assert!(
            e.contains('𠀀') && e.contains('鎔') && !e.contains('好'),
            "{e}"
        );
        let e = Caption::parse(Some("好"), Some("middle")).unwrap_err().0;
        assert!(
            e.contains("caption_position") && e.contains("middle"),
            "{e}"
        );
    }

    #[test]
    fn the_charset_is_exactly_what_is_allowed() {
        let set = charset();
        // 95 printable ASCII, 6763 hanzi, and the symbol and full-width rows.
        let hanzi = set
            .iter()
            .filter(|c| ('\u{4E00}'..='\u{9FFF}').contains(*c))
            .count();
        assert_eq!(hanzi, 6763);
        assert!(set.len() > 95 + 6763 + 150, "{}", set.len());
        assert!(set.iter().all(|&c| char_allowed(c)));
        for c in [
            '，', '。', '！', '？', '、', '…', '—', '“', '”', '《', '【', '～', '￥', '·',
        ] {
            assert!(set.binary_search(&c).is_ok(), "{c} missing");
        }
        for c in ['\n', '\u{7F}', '😀', '鎔', 'é'] {
            assert!(!char_allowed(c), "{c:?} allowed");
        }
    }

    #[test]
    fn a_stored_caption_keeps_its_plain_form() {
        let c = parse("好的").unwrap().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"text":"好的","position":"bottom"}"#);
        assert_eq!(serde_json::from_str::<Caption>(&json).unwrap(), c);
    }
}
