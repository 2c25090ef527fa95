//! The sticker job: its record, its request, its status as the API reports it, and the message
//! that advances it through the worker.
//!
//! - [`transitions`]: every change of a job's state, as pure methods on [`Job`]; the only place
//!   that assigns `status` or `stage`.
//! - [`lifecycle`]: writing a job ([`lifecycle::save`], which bumps `rev`) and ending one FAILED
//!   with what that frees (its DashScope slot, its input image): shared by the worker and the
//!   query.
//! - [`create`]: the allowance check and the create saga (image, job, Start message), no HTTP.
//! - [`check`]: WeChat's content security for jobs: the texts of a create, the image check's
//!   push applied to its job, the ready message at a job's end, and their settings.
//! - [`sweep`]: finding jobs whose message was lost, and ending those past their deadline.
//! - [`library`]: a user's jobs page by page (the opaque cursor, the page size and status filter).
//! - [`delete`]: removing a job and what it left, cancelling what still runs; and the worker's
//!   clean-up when a job it works on was removed.
//! - [`regenerate`]: a new job from an ended one, with a new seed.
//! - [`eta`]: how long a job in progress still has, from recent jobs of its model.
//! - [`settings`]: how jobs are created and shown.

pub mod check;
pub mod create;
pub mod delete;
pub mod eta;
pub mod library;
pub mod lifecycle;
pub mod regenerate;
pub mod settings;
pub mod sweep;
pub mod transitions;

use serde::{Deserialize, Serialize};

pub use crate::domain::JobId;
use crate::domain::{Caption, ModelKind, Resolution, VideoSize};
pub use settings::JobSettings;

/// User-readable endings, shown as `error_message`.
pub const MSG_TIMEOUT: &str = "生成超时，请稍后重试";
pub const MSG_GAVE_UP: &str = "处理失败，请稍后重试";
pub const MSG_UNDECODABLE: &str = "生成的视频无法转换为表情包，请换个描述重试";
pub const MSG_TOO_BIG: &str = "生成的表情包超过 500 KB，请换个简单些的描述重试";
/// DashScope left a create unanswered and its task list cannot tell whether the task was made:
/// rather than risk paying twice, the job ends (and is not counted against the day).
pub const MSG_UNSURE: &str = "生成服务没有确认任务是否创建成功，本次不计入今日次数，请重试";
/// WeChat's image check found the photo risky: the job ends, its photo removed, no task made.
pub const MSG_IMAGE_REFUSED: &str = "图片未通过内容安全检测，请换一张图片重试";
/// A create whose text WeChat's check found risky (400; the word is not named).
pub const MSG_TEXT_REFUSED: &str = "内容未通过安全检测，请修改后重试";
/// WeChat's content check cannot be made now (503): nothing was stored or counted.
pub const MSG_CHECK_UNAVAILABLE: &str = "内容安全检测暂时不可用，请稍后重试";
/// With `EMO_CONTENT_CHECK=wechat`, an account without a WeChat openid cannot create (403).
pub const MSG_NEEDS_WECHAT: &str =
    "请先使用微信登录（或在注册、登录时传入 wx_code 绑定微信）后再创建表情包";

/// What the job asks DashScope for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobRequest {
    TextToVideo {
        prompt: String,
        negative_prompt: Option<String>,
        size: VideoSize,
    },
    ImageToVideo {
        prompt: String,
        negative_prompt: Option<String>,
        resolution: Resolution,
        /// Blob key of the validated input image (never the image itself: it can be 10 MB).
        image_key: String,
    },
    /// `create_with_prompt`: Qwen with web search describes the character, then text-to-video.
    Character {
        role: String,
        source: Option<String>,
        action: String,
        size: VideoSize,
    },
}

impl JobRequest {
    /// The DashScope model family this job is throttled under.
    pub fn model_kind(&self) -> ModelKind {
        match self {
            JobRequest::ImageToVideo { .. } => ModelKind::I2v,
            _ => ModelKind::T2v,
        }
    }

    /// The blob key of the job's input image, if it has one.
    pub fn input_key(&self) -> Option<&str> {
        match self {
            JobRequest::ImageToVideo { image_key, .. } => Some(image_key),
            _ => None,
        }
    }

    /// The texts the user wrote for this job, by form field, in the form's order (absent
    /// optional ones left out): what the list shows and what WeChat's check reads.
    pub fn texts(&self) -> Vec<(&'static str, &str)> {
        let mut texts = Vec::new();
        match self {
            JobRequest::TextToVideo {
                prompt,
                negative_prompt,
                ..
            }
            | JobRequest::ImageToVideo {
                prompt,
                negative_prompt,
                ..
            } => {
                texts.push(("prompt", prompt.as_str()));
                if let Some(n) = negative_prompt {
                    texts.push(("negative_prompt", n.as_str()));
                }
            }
            JobRequest::Character {
                role,
                source,
                action,
                ..
            } => {
                texts.push(("role", role.as_str()));
                if let Some(s) = source {
                    texts.push(("source", s.as_str()));
                }
                texts.push(("action", action.as_str()));
            }
        }
        texts
    }

    /// The job's `type` as the list shows it: the create's `type`, or `character` for
    /// `create_with_prompt`.
    pub fn type_name(&self) -> &'static str {
        match self {
            JobRequest::TextToVideo { .. } => "text_to_video",
            JobRequest::ImageToVideo { .. } => "image_to_video",
            JobRequest::Character { .. } => "character",
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
    /// An image-to-video job whose photo WeChat is checking (`media_check_async`): nothing goes
    /// to DashScope before the verdict. Then Queued, or FAILED for a risky photo.
    Checking,
    /// Created and queued; nothing sent to DashScope yet.
    Queued,
    /// A character job holding its DashScope slot while Qwen describes the character; then
    /// queued again for the submit.
    Describing,
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
    /// The microseconds within `created_at`'s second: with it, two jobs of one user made in the
    /// same second list in the order they were made (0 for jobs made before it was kept).
    #[serde(default)]
    pub created_micros: u32,
    pub updated_at: u64,
    /// After this, a job still in progress ends FAILED (timeout).
    pub deadline_at: u64,
    /// While `stage` is Submitting or Transcoding: until when the worker that entered it owns it.
    pub lease_until: u64,
    /// How many times a worker entered Submitting (a second entry means the first one crashed).
    pub submit_attempts: u32,
    /// When the worker that entered Submitting last took it: with `lease_until`, the window in
    /// which its create call may have made a DashScope task (0 before any submit).
    #[serde(default)]
    pub submit_started_at: u64,
    /// The text-to-video prompt Qwen wrote for a character job.
    pub described_prompt: Option<String>,
    /// The `parameters.seed` sent to DashScope (`None` for jobs made before seeds were sent:
    /// DashScope picked one).
    #[serde(default)]
    pub seed: Option<u32>,
    pub task_id: Option<String>,
    /// Sequence of the one live poll message; a message with another number is a stale duplicate.
    pub poll_seq: u32,
    pub gif_key: Option<String>,
    pub gif_bytes: Option<u64>,
    pub gif_width: Option<u32>,
    pub gif_height: Option<u32>,
    /// The 120 × 120 PNG thumbnail beside the GIF, when one was made.
    #[serde(default)]
    pub thumb_key: Option<String>,
    pub error_message: Option<String>,
    /// The creator's WeChat openid, copied at create so the worker needs no users table: the
    /// image check and the ready message are made for it.
    #[serde(default)]
    pub openid: Option<String>,
    /// The photo's content check, for a job created in [`Stage::Checking`].
    #[serde(default)]
    pub check: Option<ImageCheck>,
    /// WeChat's check accepted every text of the request (at its create).
    #[serde(default)]
    pub texts_checked: bool,
    /// The ready message was claimed (by the write that set this) and sent, or tried once.
    #[serde(default)]
    pub ready_sent: bool,
    /// The caption drawn on every frame of the sticker (kept by a regenerate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<Caption>,
}

/// A job's photo check at WeChat: every `media_check_async` sent and what the push said.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageCheck {
    /// The trace ids of the checks sent, oldest first (a push for any of them is the verdict).
    pub trace_ids: Vec<String>,
    /// When the last check was sent (0: none yet).
    pub sent_at: u64,
    /// When the worker looks at the job again if no push has come: the retry of a lost push,
    /// or, once no check is left to send, the job's deadline (0: no check outstanding).
    pub due_at: u64,
    /// What the push said; `None` while waiting.
    pub outcome: Option<CheckOutcome>,
}

/// A `wxa_media_check` push's outcome, as kept on the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum CheckOutcome {
    Pass,
    /// WeChat is unsure: passed (DashScope's own moderation still checks the photo).
    Review,
    Risky,
    /// WeChat could not check the photo (the push's `errcode`): the check is made again.
    Unchecked {
        errcode: i64,
    },
}

/// What a queue message asks the worker to do with a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum JobMessage {
    /// Describe (character jobs) and submit to DashScope.
    Start { job_id: JobId },
    /// Ask DashScope about the task; poll number `seq`.
    Poll { job_id: JobId, seq: u32 },
    /// Job `job_id` was deleted while its task `task_id` ran: cancel the task at DashScope if it
    /// is still pending (a running one is left to end, its result never fetched). The job itself
    /// is gone; the message carries all the worker needs.
    Cancel { job_id: JobId, task_id: String },
}

impl JobMessage {
    pub fn job_id(&self) -> &JobId {
        match self {
            JobMessage::Start { job_id }
            | JobMessage::Poll { job_id, .. }
            | JobMessage::Cancel { job_id, .. } => job_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_job_stored_before_seeds_thumbnails_microseconds_and_captions_still_reads() {
        let request = JobRequest::TextToVideo {
            prompt: "猫".into(),
            negative_prompt: None,
            size: crate::domain::VideoSize::parse(None).unwrap(),
        };
        let mut old = serde_json::to_value(Job::new(JobId::new(), 1, request, 5, 60)).unwrap();
        for field in [
            "seed",
            "thumb_key",
            "created_micros",
            "openid",
            "check",
            "ready_sent",
            "caption",
        ] {
            old.as_object_mut().unwrap().remove(field);
        }
        let job: Job = serde_json::from_value(old).unwrap();
        assert_eq!(
            (job.seed, job.thumb_key, job.created_micros, job.caption),
            (None, None, 0, None)
        );
        assert_eq!(job.request.type_name(), "text_to_video");
        assert_eq!((job.openid, job.check, job.ready_sent), (None, None, false));
    }
}
