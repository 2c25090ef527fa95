//! What a sticker request names, validated: the job's id, the video's size or resolution, the
//! model family it runs under, and the bounded text fields with their limits (in characters).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Invalid;

/// `job_` and 24 lowercase hex digits (96 random bits): unguessable, and cheap to check before
/// touching the store.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// A fresh random id.
    pub fn new() -> Self {
        let bytes: [u8; 12] = rand::random();
        Self(format!("job_{}", hex::encode(bytes)))
    }

    /// `None` unless `s` has exactly the shape [`JobId::new`] makes.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix("job_")?;
        (hex.len() == 24
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A text-to-video `size` from appendix A of the spec, such as `624*624`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VideoSize(String);

impl VideoSize {
    /// Appendix A: the `size` values text-to-video accepts.
    pub const ALL: [&'static str; 8] = [
        "832*480", "480*832", "624*624", "1280*720", "720*1280", "960*960", "1088*832", "832*1088",
    ];
    /// The spec's note: stickers need no more, so this is the size when none is sent.
    pub const DEFAULT: &'static str = "624*624";

    /// A `size` from appendix A; absent means [`VideoSize::DEFAULT`].
    pub fn parse(raw: Option<&str>) -> Result<Self, Invalid> {
        let Some(raw) = raw else {
            return Ok(Self(Self::DEFAULT.to_owned()));
        };
        let s = raw.trim();
        if Self::ALL.contains(&s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Invalid(format!(
                "size 不支持：{}。可用值：{}",
                clip(s, 20),
                Self::ALL.join("、")
            )))
        }
    }

    /// As DashScope takes it (`W*H`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An image-to-video `resolution` from appendix B of the spec (`480P` or `720P`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Resolution(String);

impl Resolution {
    /// Appendix B: the `resolution` values image-to-video accepts.
    pub const ALL: [&'static str; 2] = ["480P", "720P"];
    pub const DEFAULT: &'static str = "480P";

    /// A `resolution` from appendix B (case-insensitive); absent means [`Resolution::DEFAULT`].
    pub fn parse(raw: Option<&str>) -> Result<Self, Invalid> {
        let Some(raw) = raw else {
            return Ok(Self(Self::DEFAULT.to_owned()));
        };
        let s = raw.trim().to_ascii_uppercase();
        if Self::ALL.contains(&s.as_str()) {
            Ok(Self(s))
        } else {
            Err(Invalid(format!(
                "resolution 不支持：{}。可用值：{}",
                clip(raw.trim(), 20),
                Self::ALL.join("、")
            )))
        }
    }

    /// As DashScope takes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The DashScope model family a job runs under: the account's task concurrency is counted per
/// family, and each family's model is a setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Text-to-video (also character jobs).
    T2v,
    /// Image-to-video.
    I2v,
}

impl ModelKind {
    /// The family's name in stores and logs (`t2v`, `i2v`).
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::T2v => "t2v",
            ModelKind::I2v => "i2v",
        }
    }
}

pub const MAX_PROMPT_CHARS: usize = 800;
pub const MAX_NEGATIVE_PROMPT_CHARS: usize = 500;
/// A character's name; also the longest one the client sends to Qwen.
pub const MAX_ROLE_CHARS: usize = 50;
pub const MAX_SOURCE_CHARS: usize = 50;
pub const MAX_ACTION_CHARS: usize = 200;

/// A text field of at most `max` characters, trimmed; `required` makes an absent or blank one an
/// error. The message names the field and both counts.
pub fn bounded_text(
    name: &str,
    raw: Option<&str>,
    max: usize,
    required: bool,
) -> Result<Option<String>, Invalid> {
    let value = raw.map(str::trim).filter(|s| !s.is_empty());
    match value {
        None if required => Err(Invalid(format!("{name} 不能为空"))),
        None => Ok(None),
        Some(v) => {
            let n = v.chars().count();
            if n > max {
                Err(Invalid(format!(
                    "{name} 不能超过 {max} 个字符（当前 {n} 个）"
                )))
            } else {
                Ok(Some(v.to_owned()))
            }
        }
    }
}

/// At most `max` characters of `s`, for echoing a bad value back without echoing a huge one.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_are_unique_and_recognised() {
        let a = JobId::new();
        assert_ne!(a, JobId::new());
        assert_eq!(JobId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(a.as_str().len(), 28);
        for bad in [
            "job_",
            "job_xyz",
            "JOB_0123456789abcdef01234567",
            "job_0123456789ABCDEF01234567",
            "job_0123456789abcdef012345678",
            "../etc/passwd",
        ] {
            assert!(JobId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn sizes_come_from_appendix_a_with_the_sticker_default() {
        assert_eq!(VideoSize::parse(None).unwrap().as_str(), "624*624");
        assert_eq!(
            VideoSize::parse(Some("960*960")).unwrap().as_str(),
            "960*960"
        );
        let e = VideoSize::parse(Some("1920*1080")).unwrap_err().0;
        assert!(e.contains("1920*1080") && e.contains("624*624"), "{e}");
        assert!(VideoSize::parse(Some("624x624")).is_err());
    }

    #[test]
    fn resolutions_come_from_appendix_b_with_the_sticker_default() {
        assert_eq!(Resolution::parse(None).unwrap().as_str(), "480P");
        assert_eq!(Resolution::parse(Some("720p")).unwrap().as_str(), "720P");
        assert!(Resolution::parse(Some("1080P")).is_err());
    }

    #[test]
    fn text_fields_are_bounded_in_characters() {
        assert_eq!(
            bounded_text("prompt", Some(&"猫".repeat(800)), 800, true)
                .unwrap()
                .unwrap()
                .chars()
                .count(),
            800
        );
        let e = bounded_text("prompt", Some(&"猫".repeat(801)), 800, true)
            .unwrap_err()
            .0;
        assert!(e.contains("800") && e.contains("801"), "{e}");
        assert!(bounded_text("prompt", Some("  "), 800, true).is_err());
        assert_eq!(bounded_text("source", None, 50, false).unwrap(), None);
    }

    #[test]
    fn stored_values_keep_their_plain_string_form() {
        let size = VideoSize::parse(Some("832*480")).unwrap();
        assert_eq!(serde_json::to_string(&size).unwrap(), r#""832*480""#);
        let back: VideoSize = serde_json::from_str(r#""832*480""#).unwrap();
        assert_eq!(back, size);
    }
}
