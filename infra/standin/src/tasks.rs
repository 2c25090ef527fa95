//! A video task along its timeline: created (after the key, the markers and the request's rules),
//! `PENDING` for `pending_for`, `RUNNING` for `running_for` plus its share of `running_spread`
//! ([`spread_share`]) and until its video is rendered, then
//! `SUCCEEDED` with a video URL or `FAILED`; forgotten after a day; timestamps in Beijing time.
//! Also the faults that concern one task's create or queries: a create refused before any task
//! (`[standin:429-storm]`), a create that made its task and then fails or hangs
//! (`[standin:500-after-create]`, `[standin:hang-create]`), queries that fail or answer an
//! undocumented status for a while (`[standin:query-5xx]`, `[standin:odd-status]`).

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
/// `[standin:429-storm]`: creates with the same prompt refused before one is let through.
pub(crate) const STORM_REFUSALS: u32 = 3;
/// `[standin:query-5xx]` and `[standin:odd-status]`: queries of the task so answered first.
pub(crate) const ODD_QUERIES: u32 = 3;
/// `[standin:hang-create]`: how long the create's answer is held at most.
const HANG_CREATE_FOR: Duration = Duration::from_secs(600);

/// The share of `running_spread` that the `n`th task made (from 0) runs beyond `running_for`:
/// `frac(n × φ)`, in `[0, 1)`, evenly spread over any run of consecutive tasks.
pub(crate) fn spread_share(n: usize) -> f64 {
    const PHI: f64 = 0.618_033_988_749_894_9;
    (n as f64 * PHI).fract()
}

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
    /// The create's `request_id`, which the task list reports.
    pub(crate) request_id: String,
    /// Queries still to answer HTTP 500 (`[standin:query-5xx]`).
    pub(crate) failing_queries: u32,
    /// Queries still to answer `SUSPENDED` (`[standin:odd-status]`).
    pub(crate) odd_queries: u32,
    /// The `parameters.seed` it was created with.
    pub(crate) seed: Option<u64>,
    /// When a cancel ended it (`crate::cancel`); it answers `CANCELED` from then on.
    pub(crate) canceled_at: Option<SystemTime>,
}

/// Where a task is on its timeline, as DashScope would report it.
pub(crate) enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed(Failure),
    /// Cancelled while pending (`crate::cancel`).
    Canceled,
    Unknown,
}

impl Phase {
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed(_) => "FAILED",
            Self::Canceled => "CANCELED",
            Self::Unknown => "UNKNOWN",
        }
    }
}

pub(crate) enum Outcome {
    Succeed(Arc<Render>),
    Fail(Failure),
    Lost,
}

impl Task {
    fn ends_at(&self) -> Instant {
        self.created + self.pending_for + self.running_for
    }

    pub(crate) fn phase(&self) -> Phase {
        let elapsed = self.created.elapsed();
        match &self.outcome {
            Outcome::Lost => Phase::Unknown,
            _ if self.canceled_at.is_some() => Phase::Canceled,
            _ if elapsed < self.pending_for => Phase::Pending,
            _ if elapsed < self.pending_for + self.running_for => Phase::Running,
            Outcome::Fail(f) => Phase::Failed(f.clone()),
            Outcome::Succeed(render) => match render.get() {
                None => Phase::Running,
                Some(Ok(_)) => Phase::Succeeded,
                Some(Err(_)) => Phase::Failed(Failure {
                    code: Some("InternalError".into()),
                    message: Some("The stand-in could not render the video (see its log).".into()),
                }),
            },
        }
    }

    /// When it left `PENDING`, and when it ended.
    pub(crate) fn scheduled_at(&self) -> SystemTime {
        self.submitted_at + self.pending_for
    }

    pub(crate) fn ended_at(&self) -> SystemTime {
        self.canceled_at
            .unwrap_or(self.submitted_at + self.pending_for + self.running_for)
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
    if request.prompt.contains("[standin:429-storm]") {
        let mut state = shared.lock();
        let refused = state.storms.entry(request.prompt.clone()).or_insert(0);
        if *refused < STORM_REFUSALS {
            *refused += 1;
            return Err(error(
                429,
                "Throttling.RateQuota",
                "Requests rate limit exceeded, please try again later.",
            ));
        }
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
    let marked = |marker: &str| request.prompt.contains(marker);
    let (failing_queries, odd_queries) = (
        if marked("[standin:query-5xx]") {
            ODD_QUERIES
        } else {
            0
        },
        if marked("[standin:odd-status]") {
            ODD_QUERIES
        } else {
            0
        },
    );
    let after = if marked("[standin:500-after-create]") {
        AfterCreate::Fail
    } else if marked("[standin:hang-create]") {
        AfterCreate::Hang
    } else {
        AfterCreate::Answer
    };
    let request_id = uuid_like();
    {
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
        let task = Task {
            model: request.model,
            prompt: request.prompt,
            created: now,
            submitted_at: SystemTime::now(),
            pending_for: shared.config.pending_for * slow,
            running_for: (shared.config.running_for
                + shared
                    .config
                    .running_spread
                    .mul_f64(spread_share(state.tasks_created)))
                * slow,
            outcome,
            usage,
            signature: signature(),
            request_id: request_id.clone(),
            failing_queries,
            odd_queries,
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
    }
    match after {
        AfterCreate::Answer => {}
        // The task exists and counts; only its answer is lost, as after a crash behind the API.
        AfterCreate::Fail => {
            return Err(error(
                500,
                "InternalError",
                "An internal error has occurred, please try again later or contact service support.",
            ));
        }
        AfterCreate::Hang => shared.hold(HANG_CREATE_FOR).await,
    }
    Ok(json_response(
        200,
        json!({
            "request_id": request_id,
            "output": {"task_id": task_id, "task_status": "PENDING"},
        }),
    ))
}

/// What a create answers once its task is made.
enum AfterCreate {
    Answer,
    Fail,
    Hang,
}

pub(crate) async fn query_task(
    State(shared): State<Arc<Shared>>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    gate(&shared, &headers)?;
    let mut state = shared.lock();
    let Some(task) = state.tasks.get_mut(&task_id) else {
        return Ok(json_response(
            200,
            json!({"request_id": uuid_like(), "output": {"task_id": task_id, "task_status": "UNKNOWN"}}),
        ));
    };
    if task.failing_queries > 0 {
        task.failing_queries -= 1;
        return Err(error(
            500,
            "InternalError",
            "An internal error has occurred, please try again later or contact service support.",
        ));
    }
    let odd = task.odd_queries > 0;
    task.odd_queries = task.odd_queries.saturating_sub(1);
    let task = &*task;
    let submit_time = beijing_time(task.submitted_at);
    if odd {
        // Undocumented, but in the Java SDK's enum: a client must not take it for an end.
        return Ok(json_response(
            200,
            json!({"request_id": uuid_like(), "output": {
                "task_id": task_id, "task_status": "SUSPENDED", "submit_time": submit_time,
            }}),
        ));
    }
    let phase = task.phase();
    let mut output = json!({"task_id": task_id, "submit_time": submit_time});
    let mut usage = None;
    match &phase {
        Phase::Unknown => output = json!({"task_id": task_id}),
        Phase::Pending => {}
        Phase::Running => output["scheduled_time"] = json!(beijing_time(task.scheduled_at())),
        Phase::Succeeded => {
            output["scheduled_time"] = json!(beijing_time(task.scheduled_at()));
            output["end_time"] = json!(beijing_time(task.ended_at()));
            output["video_url"] = json!(video_url(&shared, &task_id, task));
            output["orig_prompt"] = json!(task.prompt);
            usage = Some(task.usage.clone());
        }
        Phase::Canceled => output["end_time"] = json!(beijing_time(task.ended_at())),
        Phase::Failed(f) => {
            output["scheduled_time"] = json!(beijing_time(task.scheduled_at()));
            output["end_time"] = json!(beijing_time(task.ended_at()));
            if let Some(code) = &f.code {
                output["code"] = json!(code);
            }
            if let Some(message) = &f.message {
                output["message"] = json!(message);
            }
        }
    }
    output["task_status"] = json!(phase.as_str());
    let mut answer = json!({"request_id": uuid_like(), "output": output});
    if let Some(usage) = usage {
        answer["usage"] = usage;
    }
    Ok(json_response(200, answer))
}

/// `2025-07-27 21:05:15.212`, Beijing time, as DashScope writes timestamps.
fn beijing_time(t: SystemTime) -> String {
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
    fn spread_shares_differ_stay_in_range_and_cover_it_evenly() {
        let shares: Vec<f64> = (0..20).map(spread_share).collect();
        assert!(shares.iter().all(|s| (0.0..1.0).contains(s)), "{shares:?}");
        // Every tenth of the range holds one to three of 20 consecutive tasks (two on average).
        for decile in 0..10 {
            let lo = f64::from(decile) / 10.0;
            let n = shares
                .iter()
                .filter(|s| (lo..lo + 0.1).contains(*s))
                .count();
            assert!((1..=3).contains(&n), "decile {decile}: {n} of {shares:?}");
        }
        let mut sorted = shares.clone();
        sorted.sort_by(f64::total_cmp);
        assert!(sorted.windows(2).all(|w| w[1] - w[0] > 0.01), "{sorted:?}");
        // The same for every stand-in.
        assert_eq!(spread_share(7), (7.0 * 0.618_033_988_749_894_9f64).fract());
    }

    #[test]
    fn timestamps_are_beijing_time() {
        let t = UNIX_EPOCH + Duration::from_millis(1_753_621_515_212); // 2025-07-27 13:05:15.212 UTC
        assert_eq!(beijing_time(t), "2025-07-27 21:05:15.212");
    }
}
