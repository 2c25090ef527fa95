//! A video task along its timeline: created (after the key, the markers and the request's rules),
//! `PENDING` for `pending_for`, `RUNNING` for `running_for` and until its video is rendered, then
//! `SUCCEEDED` with a video URL or `FAILED`; forgotten after a day; timestamps in Beijing time.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::HeaderMap;
use serde_json::{Value, json};

use crate::files::{signature, video_url};
use crate::images::i2v_size;
use crate::markers::{marker_refusal, prompt_failure};
use crate::routes::{ApiError, error, gate, json_response, read_json, uuid_like};
use crate::state::{Failure, Shared};
use crate::validate::{Shape, validate_video};
use crate::video::Render;

/// How long a task can be queried.
const TASK_LIFETIME: Duration = Duration::from_secs(24 * 3600);

pub(crate) struct Task {
    pub(crate) model: String,
    pub(crate) prompt: String,
    pub(crate) created: Instant,
    pub(crate) submitted_at: SystemTime,
    pub(crate) pending_for: Duration,
    pub(crate) running_for: Duration,
    pub(crate) outcome: Outcome,
    /// `W*H` for text-to-video, the tier for image-to-video; reported in `usage`.
    pub(crate) usage: Value,
    pub(crate) signature: String,
    /// The `parameters.seed` it was created with.
    pub(crate) seed: Option<u64>,
    /// When a cancel ended it (`crate::cancel`); it answers `CANCELED` from then on.
    pub(crate) canceled_at: Option<SystemTime>,
}

pub(crate) enum Outcome {
    Succeed(Arc<Render>),
    Fail(Failure),
    Lost,
}

impl Task {
    pub(crate) fn ends_at(&self) -> Instant {
        self.created + self.pending_for + self.running_for
    }

    /// Whether it still waits for a worker: the only time a cancel is accepted.
    pub(crate) fn is_pending(&self) -> bool {
        self.canceled_at.is_none()
            && !matches!(self.outcome, Outcome::Lost)
            && self.created.elapsed() < self.pending_for
    }
}

pub(crate) async fn create_video(
    State(shared): State<Arc<Shared>>,
    req: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    gate(&shared, &parts.headers)?;
    let async_enabled = parts
        .headers
        .get("x-dashscope-async")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("enable"));
    if !async_enabled {
        return Err(error(
            403,
            "AccessDenied",
            "current user api does not support synchronous calls.",
        ));
    }
    let body = read_json(body).await?;
    let request = validate_video(&body)?;
    if let Some(refusal) = marker_refusal(&request.prompt) {
        return Err(refusal);
    }
    let (size, image_problem) = match &request.shape {
        Shape::Size(w, h) => ((*w, *h), None),
        Shape::Image { resolution, image } => i2v_size(resolution, image),
    };
    let task_id = uuid_like();
    let now = Instant::now();
    let slow = if request.prompt.contains("[standin:slow]") {
        10
    } else {
        1
    };
    let mut state = shared.lock();
    // DashScope forgets tasks after 24 h; so does the stand-in, which may run for days.
    state
        .tasks
        .retain(|_, t| t.created.elapsed() < TASK_LIFETIME);
    let outcome = if let Some(f) = state.next_failures.pop_front() {
        Outcome::Fail(f)
    } else if let Some(f) = prompt_failure(&request.prompt) {
        Outcome::Fail(f)
    } else if request.prompt.contains("[standin:lost]") {
        Outcome::Lost
    } else if let Some(problem) = image_problem {
        Outcome::Fail(Failure {
            code: Some("InvalidParameter".into()),
            message: Some(problem.into()),
        })
    } else {
        Outcome::Succeed(shared.render(size.0, size.1))
    };
    let usage = match &request.shape {
        Shape::Size(w, h) => {
            json!({"video_duration": 5, "video_count": 1, "video_ratio": format!("{w}*{h}")})
        }
        Shape::Image { resolution, .. } => json!({
            "duration": 5,
            "video_count": 1,
            "SR": resolution.trim_end_matches('P').parse::<u32>().unwrap_or(720),
        }),
    };
    let task = Task {
        model: request.model,
        prompt: request.prompt,
        created: now,
        submitted_at: SystemTime::now(),
        pending_for: shared.config.pending_for * slow,
        running_for: shared.config.running_for * slow,
        outcome,
        usage,
        signature: signature(),
        seed: request.seed,
        canceled_at: None,
    };
    state.tasks_created += 1;
    let in_flight = 1 + state
        .tasks
        .values()
        .filter(|t| {
            !matches!(t.outcome, Outcome::Lost) && t.canceled_at.is_none() && t.ends_at() > now
        })
        .count();
    state.max_in_flight = state.max_in_flight.max(in_flight);
    tracing::info!(
        target: "emo_standin",
        %task_id,
        model = %task.model,
        width = size.0,
        height = size.1,
        "stand-in task created"
    );
    state.tasks.insert(task_id.clone(), task);
    drop(state);
    Ok(json_response(
        200,
        json!({
            "request_id": uuid_like(),
            "output": {"task_id": task_id, "task_status": "PENDING"},
        }),
    ))
}

pub(crate) async fn query_task(
    State(shared): State<Arc<Shared>>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    gate(&shared, &headers)?;
    let state = shared.lock();
    let Some(task) = state.tasks.get(&task_id) else {
        return Ok(json_response(
            200,
            json!({"request_id": uuid_like(), "output": {"task_id": task_id, "task_status": "UNKNOWN"}}),
        ));
    };
    let elapsed = task.created.elapsed();
    let submit_time = beijing_time(task.submitted_at);
    let scheduled_time = beijing_time(task.submitted_at + task.pending_for);
    let mut output = json!({"task_id": task_id, "submit_time": submit_time});
    let mut usage = None;
    let status = if matches!(task.outcome, Outcome::Lost) {
        output = json!({"task_id": task_id});
        "UNKNOWN"
    } else if let Some(at) = task.canceled_at {
        output["end_time"] = json!(beijing_time(at));
        "CANCELED"
    } else if elapsed < task.pending_for {
        "PENDING"
    } else if elapsed < task.pending_for + task.running_for {
        output["scheduled_time"] = json!(scheduled_time);
        "RUNNING"
    } else {
        output["scheduled_time"] = json!(scheduled_time);
        let end_time = beijing_time(task.submitted_at + task.pending_for + task.running_for);
        let failed = |output: &mut Value, f: &Failure| {
            output["end_time"] = json!(end_time);
            if let Some(code) = &f.code {
                output["code"] = json!(code);
            }
            if let Some(message) = &f.message {
                output["message"] = json!(message);
            }
            "FAILED"
        };
        match &task.outcome {
            Outcome::Fail(f) => failed(&mut output, f),
            Outcome::Succeed(render) => match render.get() {
                None => "RUNNING",
                Some(Ok(_)) => {
                    output["end_time"] = json!(end_time);
                    output["video_url"] = json!(video_url(&shared, &task_id, task));
                    output["orig_prompt"] = json!(task.prompt);
                    usage = Some(task.usage.clone());
                    "SUCCEEDED"
                }
                Some(Err(_)) => failed(
                    &mut output,
                    &Failure {
                        code: Some("InternalError".into()),
                        message: Some(
                            "The stand-in could not render the video (see its log).".into(),
                        ),
                    },
                ),
            },
            Outcome::Lost => unreachable!("handled above"),
        }
    };
    output["task_status"] = json!(status);
    let mut answer = json!({"request_id": uuid_like(), "output": output});
    if let Some(usage) = usage {
        answer["usage"] = usage;
    }
    Ok(json_response(200, answer))
}

/// `2025-07-27 21:05:15.212`, Beijing time, as DashScope writes timestamps.
pub(crate) fn beijing_time(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let millis = since.subsec_millis();
    let secs = since.as_secs() + 8 * 3600;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{millis:03}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_beijing_time() {
        let t = UNIX_EPOCH + Duration::from_millis(1_753_621_515_212); // 2025-07-27 13:05:15.212 UTC
        assert_eq!(beijing_time(t), "2025-07-27 21:05:15.212");
    }
}
