//! DashScope's JSON, as sent and as read. Requests are typed exactly; answers are read tolerantly
//! (every field optional, unknown fields and statuses accepted) because their shape varies by
//! model and over time, and a strict parser would turn a harmless new field into a failed job.

use serde::{Deserialize, Deserializer, Serialize};

/// Where a video task is. DashScope answers HTTP 200 for all of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskStatus {
    Pending,
    Running,
    Succeeded,
    Failed,
    /// Only after an explicit cancel of a pending task.
    Canceled,
    /// The task does not exist for this key and region, or is older than 24 h; also any status
    /// string this client does not know.
    Unknown,
}

impl TaskStatus {
    /// Reads DashScope's upper-case status. `SUSPENDED` (in the Java SDK's enum, undocumented)
    /// counts as pending: it is not an end state.
    pub fn parse(raw: &str) -> Self {
        match raw.trim().to_ascii_uppercase().as_str() {
            "PENDING" | "SUSPENDED" => Self::Pending,
            "RUNNING" => Self::Running,
            "SUCCEEDED" => Self::Succeeded,
            "FAILED" => Self::Failed,
            "CANCELED" | "CANCELLED" => Self::Canceled,
            _ => Self::Unknown,
        }
    }

    /// Whether polling should stop: the task will not change any more.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Pending | Self::Running)
    }

    /// DashScope's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Canceled => "CANCELED",
            Self::Unknown => "UNKNOWN",
        }
    }
}

impl<'de> Deserialize<'de> for TaskStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// A task as the query endpoint describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    pub task_id: String,
    pub status: TaskStatus,
    /// Signed OSS URL of the MP4, present once `Succeeded`; it expires after 24 h.
    pub video_url: Option<String>,
    /// Failure code of a `Failed` task, when DashScope gives one.
    pub code: Option<String>,
    /// Failure message of a `Failed` task, bounded in length; for logs. Show
    /// [`crate::dashscope::failure_message`] to users instead.
    pub message: Option<String>,
}

// ---- requests ----

#[derive(Debug, Serialize)]
pub(crate) struct VideoRequest<'a> {
    pub model: &'a str,
    pub input: VideoInput<'a>,
    pub parameters: VideoParameters<'a>,
}

#[derive(Debug, Serialize)]
pub(crate) struct VideoInput<'a> {
    pub prompt: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub img_url: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct VideoParameters<'a> {
    /// Text-to-video only: `"W*H"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<&'a str>,
    /// Image-to-video only: `"480P"`, `"720P"`, `"1080P"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<&'a str>,
    pub duration: u32,
    pub prompt_extend: bool,
    pub watermark: bool,
    /// `[0, 2147483647]`; DashScope picks one when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u32>,
}

#[derive(Debug, Serialize)]
pub(crate) struct GenerationRequest<'a> {
    pub model: &'a str,
    pub input: GenerationInput<'a>,
    pub parameters: GenerationParameters,
}

#[derive(Debug, Serialize)]
pub(crate) struct GenerationInput<'a> {
    pub messages: Vec<Message<'a>>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Message<'a> {
    pub role: &'static str,
    pub content: &'a str,
}

#[derive(Debug, Serialize)]
pub(crate) struct GenerationParameters {
    pub result_format: &'static str,
    pub enable_search: bool,
    pub search_options: SearchOptions,
    pub max_tokens: u32,
}

#[derive(Debug, Serialize)]
pub(crate) struct SearchOptions {
    pub forced_search: bool,
    pub search_strategy: &'static str,
}

// ---- answers ----

/// `{"code","message","request_id"}` of a refused call.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ErrorBody {
    pub code: Option<String>,
    pub message: Option<String>,
    pub request_id: Option<String>,
}

/// Create and query answers share this shape; create fills only `task_id` and `task_status`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TaskAnswer {
    pub request_id: Option<String>,
    pub output: Option<TaskOutput>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TaskOutput {
    pub task_id: Option<String>,
    pub task_status: Option<TaskStatus>,
    pub video_url: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct GenerationAnswer {
    pub request_id: Option<String>,
    pub output: Option<GenerationOutput>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct GenerationOutput {
    pub choices: Vec<Choice>,
    /// `result_format: "text"` puts the answer here instead; read it in case a proxy ignores
    /// the requested format.
    pub text: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Choice {
    pub message: Option<ChoiceMessage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ChoiceMessage {
    /// A string for text models; multimodal models send a list of parts, which is not used here.
    pub content: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_odd_statuses_are_tolerated() {
        assert_eq!(TaskStatus::parse("SUCCEEDED"), TaskStatus::Succeeded);
        assert_eq!(TaskStatus::parse("succeeded"), TaskStatus::Succeeded);
        assert_eq!(TaskStatus::parse("SUSPENDED"), TaskStatus::Pending);
        assert_eq!(TaskStatus::parse("SOMETHING_NEW"), TaskStatus::Unknown);
        assert!(TaskStatus::Unknown.is_terminal());
        assert!(!TaskStatus::Running.is_terminal());
    }

    #[test]
    fn a_query_answer_with_extra_and_missing_fields_still_parses() {
        let raw = r#"{"request_id":"r","output":{"task_id":"t","task_status":"RUNNING",
            "submit_time":"2025-09-25 11:07:28.590","task_metrics":{"TOTAL":1}},
            "usage":{"SR":480,"video_ratio":"standard"}}"#;
        let a: TaskAnswer = serde_json::from_str(raw).unwrap();
        let out = a.output.unwrap();
        assert_eq!(out.task_id.as_deref(), Some("t"));
        assert_eq!(out.task_status, Some(TaskStatus::Running));
        assert!(out.video_url.is_none() && out.code.is_none());

        let failed = r#"{"output":{"task_id":"t","task_status":"FAILED"}}"#;
        let a: TaskAnswer = serde_json::from_str(failed).unwrap();
        assert_eq!(a.output.unwrap().task_status, Some(TaskStatus::Failed));
    }

    #[test]
    fn a_text_to_video_request_has_the_documented_shape() {
        let body = VideoRequest {
            model: "wanx2.1-t2v-turbo",
            input: VideoInput {
                prompt: "猫",
                negative_prompt: None,
                img_url: None,
            },
            parameters: VideoParameters {
                size: Some("832*480"),
                resolution: None,
                duration: 5,
                prompt_extend: true,
                watermark: false,
                seed: None,
            },
        };
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "model": "wanx2.1-t2v-turbo",
                "input": {"prompt": "猫"},
                "parameters": {"size": "832*480", "duration": 5, "prompt_extend": true, "watermark": false}
            })
        );
    }

    #[test]
    fn a_seed_is_sent_as_an_integer_parameter() {
        let params = VideoParameters {
            size: None,
            resolution: Some("480P"),
            duration: 5,
            prompt_extend: true,
            watermark: false,
            seed: Some(2_147_483_647),
        };
        let v = serde_json::to_value(&params).unwrap();
        assert_eq!(v["seed"], serde_json::json!(2_147_483_647));
        assert_eq!(v["resolution"], "480P");
    }
}
