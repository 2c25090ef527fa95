//! The sticker job: its validated request fields, its record, its status as the API reports it,
//! and the message that advances it through the worker.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::domain::Invalid;

/// `job_` and 24 lowercase hex digits (96 random bits): unguessable, and cheap to check before
/// touching the store.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
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

/// Appendix A: the `size` values text-to-video accepts.
pub const VIDEO_SIZES: [&str; 8] = [
    "832*480", "480*832", "624*624", "1280*720", "720*1280", "960*960", "1088*832", "832*1088",
];
/// The spec's note: stickers need no more, so this is the size when none is sent.
pub const DEFAULT_SIZE: &str = "624*624";
/// Appendix B: the `resolution` values image-to-video accepts.
pub const RESOLUTIONS: [&str; 2] = ["480P", "720P"];
pub const DEFAULT_RESOLUTION: &str = "480P";

pub const MAX_PROMPT_CHARS: usize = 800;
pub const MAX_NEGATIVE_PROMPT_CHARS: usize = 500;
pub const MAX_ROLE_CHARS: usize = 50;
pub const MAX_SOURCE_CHARS: usize = 50;
pub const MAX_ACTION_CHARS: usize = 200;

/// A `size` from appendix A; absent means [`DEFAULT_SIZE`].
pub fn parse_size(raw: Option<&str>) -> Result<String, Invalid> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_SIZE.to_owned());
    };
    let s = raw.trim();
    if VIDEO_SIZES.contains(&s) {
        Ok(s.to_owned())
    } else {
        Err(Invalid(format!(
            "size 不支持：{}。可用值：{}",
            clip(s, 20),
            VIDEO_SIZES.join("、")
        )))
    }
}

/// A `resolution` from appendix B (case-insensitive); absent means [`DEFAULT_RESOLUTION`].
pub fn parse_resolution(raw: Option<&str>) -> Result<String, Invalid> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_RESOLUTION.to_owned());
    };
    let s = raw.trim().to_ascii_uppercase();
    if RESOLUTIONS.contains(&s.as_str()) {
        Ok(s)
    } else {
        Err(Invalid(format!(
            "resolution 不支持：{}。可用值：{}",
            clip(raw.trim(), 20),
            RESOLUTIONS.join("、")
        )))
    }
}

/// A text field of at most `max` characters; `required` makes an absent one an error.
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

/// What the job asks DashScope for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobRequest {
    TextToVideo {
        prompt: String,
        negative_prompt: Option<String>,
        size: String,
    },
    ImageToVideo {
        prompt: String,
        negative_prompt: Option<String>,
        resolution: String,
        /// Blob key of the validated input image (never the image itself: it can be 10 MB).
        image_key: String,
    },
    /// `create_with_prompt`: Qwen with web search describes the character, then text-to-video.
    Character {
        role: String,
        source: Option<String>,
        action: String,
        size: String,
    },
}

impl JobRequest {
    /// The DashScope model family this job is throttled under.
    pub fn model_kind(&self) -> &'static str {
        match self {
            JobRequest::ImageToVideo { .. } => "i2v",
            _ => "t2v",
        }
    }
}

/// The status the API reports (section 3 of the spec; `UNKNOWN` is never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "PENDING",
            JobStatus::Running => "RUNNING",
            JobStatus::Succeeded => "SUCCEEDED",
            JobStatus::Failed => "FAILED",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }
}

/// Where the worker is with a job; finer than [`JobStatus`], reported as the additive `stage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Created and queued; nothing sent to DashScope yet.
    Queued,
    /// A worker holds the lease to ask Qwen and/or create the DashScope task.
    Submitting,
    /// The DashScope task exists (`task_id`); polls come by delayed messages.
    Generating,
    /// A worker holds the lease to download the MP4 and encode the GIF.
    Transcoding,
    Done,
}

/// A job as stored. Every change is a conditional write on `rev`, so concurrent or repeated
/// deliveries of a message can never both apply a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub user_id: i64,
    pub request: JobRequest,
    pub status: JobStatus,
    pub stage: Stage,
    /// Bumped by every write; a write applies only over the revision it read.
    pub rev: u64,
    pub created_at: u64,
    pub updated_at: u64,
    /// After this, a job still in progress ends FAILED (timeout).
    pub deadline_at: u64,
    /// While `stage` is Submitting or Transcoding: until when the worker that entered it owns it.
    pub lease_until: u64,
    /// How many times a worker entered Submitting (a second entry means the first one crashed).
    pub submit_attempts: u32,
    /// The text-to-video prompt Qwen wrote for a character job.
    pub described_prompt: Option<String>,
    pub task_id: Option<String>,
    /// Sequence of the one live poll message; a message with another number is a stale duplicate.
    pub poll_seq: u32,
    pub gif_key: Option<String>,
    pub gif_bytes: Option<u64>,
    pub gif_width: Option<u32>,
    pub gif_height: Option<u32>,
    pub error_message: Option<String>,
}

impl Job {
    /// A new PENDING job for `user_id`.
    pub fn new(user_id: i64, request: JobRequest, now: u64, deadline_secs: u64) -> Self {
        Self {
            id: JobId::new(),
            user_id,
            request,
            status: JobStatus::Pending,
            stage: Stage::Queued,
            rev: 0,
            created_at: now,
            updated_at: now,
            deadline_at: now + deadline_secs,
            lease_until: 0,
            submit_attempts: 0,
            described_prompt: None,
            task_id: None,
            poll_seq: 0,
            gif_key: None,
            gif_bytes: None,
            gif_width: None,
            gif_height: None,
            error_message: None,
        }
    }

    /// Ends the job FAILED with a message for the user.
    pub fn fail(&mut self, message: impl Into<String>, now: u64) {
        self.status = JobStatus::Failed;
        self.stage = Stage::Done;
        self.error_message = Some(message.into());
        self.lease_until = 0;
        self.updated_at = now;
    }
}

/// What a queue message asks the worker to do with a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum JobMessage {
    /// Describe (character jobs) and submit to DashScope.
    Start { job_id: JobId },
    /// Ask DashScope about the task; poll number `seq`.
    Poll { job_id: JobId, seq: u32 },
}

impl JobMessage {
    pub fn job_id(&self) -> &JobId {
        match self {
            JobMessage::Start { job_id } | JobMessage::Poll { job_id, .. } => job_id,
        }
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
        assert_eq!(parse_size(None).unwrap(), "624*624");
        assert_eq!(parse_size(Some("960*960")).unwrap(), "960*960");
        let e = parse_size(Some("1920*1080")).unwrap_err().0;
        assert!(e.contains("1920*1080") && e.contains("624*624"), "{e}");
        assert!(parse_size(Some("624x624")).is_err());
    }

    #[test]
    fn resolutions_come_from_appendix_b_with_the_sticker_default() {
        assert_eq!(parse_resolution(None).unwrap(), "480P");
        assert_eq!(parse_resolution(Some("720p")).unwrap(), "720P");
        assert!(parse_resolution(Some("1080P")).is_err());
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
    fn messages_round_trip_as_json() {
        let m = JobMessage::Poll {
            job_id: JobId::new(),
            seq: 3,
        };
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains(r#""step":"poll""#), "{json}");
        assert_eq!(serde_json::from_str::<JobMessage>(&json).unwrap(), m);
    }
}
