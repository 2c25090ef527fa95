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
    /// `UNKNOWN`: the task does not exist for this key and region, or is older than 24 h.
    Unknown,
    /// A status this client does not know, such as `SUSPENDED` (in the Java SDK's enum,
    /// undocumented). Not an end state: nothing says the task will not still finish, and it may
    /// already be billed, so it is polled again (the job's deadline bounds how long).
    Unrecognized,
}

impl TaskStatus {
    /// Reads DashScope's upper-case status; anything else is [`TaskStatus::Unrecognized`].
    pub fn parse(raw: &str) -> Self {
        match raw.trim().to_ascii_uppercase().as_str() {
            "PENDING" => Self::Pending,
            "RUNNING" => Self::Running,
            "SUCCEEDED" => Self::Succeeded,
            "FAILED" => Self::Failed,
            "CANCELED" | "CANCELLED" => Self::Canceled,
            "UNKNOWN" => Self::Unknown,
            _ => Self::Unrecognized,
        }
    }

    /// Whether polling should stop: the task will not change any more.
    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Pending | Self::Running | Self::Unrecognized)
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
            Self::Unrecognized => "UNRECOGNIZED",
        }
    }
}

impl<'de> Deserialize<'de> for TaskStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}

/// A task as the task list describes it ([`crate::dashscope::DashScope::list_tasks`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedTask {
    pub task_id: String,
    /// `gmt_create`: when DashScope made the task, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    pub status: TaskStatus,
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
    /// Kept as written, so that a status this client does not know reaches the log.
    pub task_status: Option<String>,
    pub video_url: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// One page of `GET /tasks/`: `{"total", "data": [...], "total_page", "page_no", "page_size",
/// "request_id"}`. Numbers are read as JSON values: the reference types them, but a string
/// where a number was promised should not make the whole list unreadable.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TaskListAnswer {
    pub data: Option<Vec<ListItem>>,
    pub total: Option<serde_json::Value>,
    pub total_page: Option<serde_json::Value>,
    pub page_size: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ListItem {
    pub task_id: Option<String>,
    pub model_name: Option<String>,
    pub gmt_create: Option<serde_json::Value>,
    pub status: Option<String>,
}

/// A JSON number, or a string of digits, as `u64`.
pub(crate) fn as_u64(v: &serde_json::Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
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
        assert_eq!(TaskStatus::parse("UNKNOWN"), TaskStatus::Unknown);
        assert!(TaskStatus::Unknown.is_terminal());
        assert!(!TaskStatus::Running.is_terminal());
    }

    #[test]
    fn a_status_this_client_does_not_know_keeps_the_task_polled() {
        for raw in ["SUSPENDED", "SOMETHING_NEW", ""] {
            let status = TaskStatus::parse(raw);
            assert_eq!(status, TaskStatus::Unrecognized, "{raw:?}");
            assert!(!status.is_terminal(), "{raw:?} must not end the job");
        }
    }

    #[test]
    fn a_task_list_page_reads_the_documented_fields() {
        let raw = r#"{"total": 2, "data": [
            {"api_key_id": "15xxxx", "gmt_create": 1745568428109, "model_name": "wanx2.1-kf2v-plus",
             "region": "cn-beijing", "request_id": "r", "start_time": 1745568428138,
             "status": "RUNNING", "task_id": "50e2ccea"},
            {"gmt_create": "1745568293253", "model_name": "wanx2.1-t2i-turbo", "status": "SUCCEEDED",
             "task_id": "3c777dbc", "end_time": 1745568302481}],
            "total_page": 1, "page_no": 1, "request_id": "f6", "page_size": 10}"#;
        let page: TaskListAnswer = serde_json::from_str(raw).unwrap();
        let data = page.data.unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(
            data[0].gmt_create.as_ref().and_then(as_u64),
            Some(1745568428109)
        );
        assert_eq!(
            data[1].gmt_create.as_ref().and_then(as_u64),
            Some(1745568293253)
        );
        assert_eq!(page.total_page.as_ref().and_then(as_u64), Some(1));
    }

    #[test]
    fn a_query_answer_with_extra_and_missing_fields_still_parses() {
        let raw = r#"{"request_id":"r","output":{"task_id":"t","task_status":"RUNNING",
            "submit_time":"2025-09-25 11:07:28.590","task_metrics":{"TOTAL":1}},
            "usage":{"SR":480,"video_ratio":"standard"}}"#;
        let a: TaskAnswer = serde_json::from_str(raw).unwrap();
        let out = a.output.unwrap();
        assert_eq!(out.task_id.as_deref(), Some("t"));
        assert_eq!(out.task_status.as_deref(), Some("RUNNING"));
        assert!(out.video_url.is_none() && out.code.is_none());

        let failed = r#"{"output":{"task_id":"t","task_status":"FAILED"}}"#;
        let a: TaskAnswer = serde_json::from_str(failed).unwrap();
        assert_eq!(a.output.unwrap().task_status.as_deref(), Some("FAILED"));
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
