//! The transcoder: each queue message advances one job by one step of its state machine (the
//! states and their transitions are [`crate::job::transitions`]; the steps that take them are
//! [`steps`]).
//!
//! ```text
//! Start:  Checking ── media_check_async, then WeChat's push ──> Queued, or FAILED (risky photo)
//!         (see [`check`])
//! Start:  Queued ──slot──[Qwen describes a character]──create lock──claim (lease)──> Submitting
//!             ── DashScope create ──> Generating (task_id, RUNNING) + Poll 1 (delayed)
//!             ── no clear answer ──> Submitting until the window closes, then the task list:
//!                one task → adopted (Generating); none → Queued again; several → FAILED
//! Cancel: a deleted job's task ── DashScope cancel (PENDING only) ──> done (see [`cancel`])
//! Poll n: Generating ── task PENDING/RUNNING ──> Poll n+1 (delayed: dense near the model's usual
//!                    finish, sparse before and after, see [`poll_plan`])
//!                    ── task SUCCEEDED ──claim (lease)──> Transcoding: download, ffmpeg, gifski,
//!                                                        GIF to the blob store ──> SUCCEEDED
//!                    ── task FAILED/UNKNOWN ──> FAILED with a user-readable message
//! ```
//!
//! Every step is a conditional write on the job's revision, so a message delivered twice, or two
//! workers on one job, apply each step once: a second DashScope task is never created, a stale
//! poll (its number is not the job's current one) is dropped. A step that fails for a passing
//! reason is left for redelivery ([`Disposition::Later`]); a job past its deadline, or whose
//! message keeps failing, ends FAILED. Every call a step makes is bounded by the step's time
//! ([`StepTime`]: the invocation's deadline, and the lease it holds), so no step outlives its
//! Lambda. The Lambda ([`handle_sqs_event`]) and `emo-local`'s worker loop share [`handle`] and
//! [`reschedule`]; lost messages are found again by the sweep ([`crate::job::sweep`]).

mod cancel;
mod check;
pub mod poll_plan;
pub mod settings;
mod steps;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use tracing::Instrument;

use crate::AppState;
use crate::dashscope::DashScope;
use crate::gif::caption::CaptionFont;
use crate::job::JobMessage;
use crate::job::lifecycle::{self, Blame, FailError};
use crate::store::StoreError;
pub use settings::WorkerSettings;
pub use steps::{CREATE_SETTLE_SECS, MAX_SUBMITS, StepTime};

pub use crate::job::{MSG_GAVE_UP, MSG_TIMEOUT, MSG_TOO_BIG, MSG_UNDECODABLE, MSG_UNSURE};

/// What a process needs to run jobs: the worker's settings and the DashScope client.
pub struct Worker {
    pub settings: WorkerSettings,
    pub dashscope: DashScope,
    /// The caption font, loaded at its first use ([`check_ready`] at cold start) and kept.
    caption_font: OnceLock<Arc<CaptionFont>>,
}

impl Worker {
    /// `None` without a DashScope key: such a process cannot run jobs ([`check_ready`] says so).
    pub fn new(settings: WorkerSettings) -> anyhow::Result<Option<Self>> {
        let Some(key) = settings.dashscope.api_key.clone() else {
            return Ok(None);
        };
        let dashscope = DashScope::new(settings.dashscope.client_config(key))
            .map_err(|e| anyhow::anyhow!("setting DASHSCOPE_BASE_URL: {e}"))?;
        Ok(Some(Self {
            settings,
            dashscope,
            caption_font: OnceLock::new(),
        }))
    }

    /// The caption font of `EMO_CAPTION_FONT`, loaded and checked once.
    ///
    /// Fails with [`crate::gif::GifError::Font`] when it cannot be read or lacks a caption
    /// character.
    pub fn caption_font(&self) -> Result<Arc<CaptionFont>, crate::gif::GifError> {
        if let Some(font) = self.caption_font.get() {
            return Ok(font.clone());
        }
        let font = Arc::new(CaptionFont::load(&self.settings.caption_font)?);
        Ok(self.caption_font.get_or_init(|| font).clone())
    }
}

/// What becomes of a delivery once [`handle`] is done with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Finished (or nothing to do): delete the message.
    Done,
    /// Something passing (a store, DashScope, another worker holding the job): deliver it again
    /// after a backoff.
    Later(String),
    /// Retrying cannot help: the message is not a job message, or its last delivery failed too
    /// (its job has been ended FAILED). On AWS it goes on to the dead-letter queue as the record
    /// of it (the DLQ alarm fires); locally it is dropped.
    Dead(String),
}

/// A step that could not finish for now.
#[derive(Debug)]
struct Later(String);

impl From<StoreError> for Later {
    fn from(e: StoreError) -> Self {
        Later(format!("{:#}", anyhow::Error::from(e)))
    }
}

impl From<FailError> for Later {
    fn from(e: FailError) -> Self {
        match e {
            FailError::Store(s) => s.into(),
            FailError::Contended => Later(e.to_string()),
        }
    }
}

/// Ends `job` FAILED with `message`: the step is done.
async fn fail(
    state: &AppState,
    job: crate::job::Job,
    message: &str,
    blame: Blame,
) -> Result<(), Later> {
    lifecycle::fail(state, job, message, blame).await?;
    Ok(())
}

/// Handles one delivery of `body`, its `receive_count`-th, within `time`.
pub async fn handle(
    state: &AppState,
    body: &str,
    receive_count: u32,
    time: StepTime,
) -> Disposition {
    let message: JobMessage = match serde_json::from_str(body) {
        Ok(m) => m,
        Err(e) => return Disposition::Dead(format!("malformed message: {e}")),
    };
    let Some(worker) = &state.worker else {
        return Disposition::Later("DASHSCOPE_API_KEY is not configured".into());
    };
    let job_id = message.job_id().clone();
    state.refresh_secrets_if_due().await;
    if let JobMessage::Cancel { task_id, .. } = &message {
        // The job is gone already: the message carries what is needed.
        let span = tracing::info_span!("job", job_id = %job_id, task_id = %task_id, receive_count);
        return cancel::cancel(worker, task_id, receive_count, time)
            .instrument(span)
            .await;
    }
    let job = match state.jobs.get(&job_id).await {
        Ok(Some(job)) => job,
        Ok(None) => {
            tracing::warn!(job_id = %job_id, "message for a job that does not exist; dropped");
            return Disposition::Done;
        }
        Err(e) => return Disposition::Later(Later::from(e).0),
    };
    // Every line logged while handling this message carries the job and, once there is one, its
    // DashScope task (recorded on the span as soon as the task is created).
    let span = tracing::info_span!(
        "job",
        job_id = %job.id,
        task_id = tracing::field::Empty,
        receive_count
    );
    if let Some(task_id) = &job.task_id {
        span.record("task_id", task_id.as_str());
    }
    let last = worker.settings.max_receives;
    async move {
        if job.status.is_terminal() {
            return Disposition::Done;
        }
        let now = state.clock.now();
        if now >= job.deadline_at {
            tracing::warn!("job passed its deadline");
            return settle(fail(state, job, MSG_TIMEOUT, Blame::Emo).await);
        }
        if receive_count > last {
            tracing::error!("message delivered past its last try; giving the job up");
            return match fail(state, job, MSG_GAVE_UP, Blame::Emo).await {
                Ok(()) => Disposition::Dead("delivered past the receive limit".into()),
                Err(Later(why)) => Disposition::Later(why),
            };
        }
        let as_read = job.clone();
        let job_for_failing = (receive_count == last).then(|| job.clone());
        let outcome = match message {
            JobMessage::Start { .. } => steps::start(state, worker, job, time).await,
            JobMessage::Poll { seq, .. } => steps::poll(state, worker, job, seq, time).await,
            JobMessage::Cancel { .. } => unreachable!("handled before the job is read"),
        };
        match (outcome, job_for_failing) {
            (Ok(()), _) => Disposition::Done,
            // The step could not write because its job was deleted meanwhile: nothing to retry.
            (Err(_), _) if crate::job::delete::clean_up_if_gone(state, &as_read).await => {
                Disposition::Done
            }
            (Err(Later(why)), Some(job)) => {
                tracing::error!(error = %why, "the last try failed too; giving the job up");
                // The step may have written the job meanwhile; `fail` reads it again then.
                match fail(state, job, MSG_GAVE_UP, Blame::Emo).await {
                    Ok(()) => {
                        Disposition::Dead(format!("job given up after its last delivery: {why}"))
                    }
                    Err(Later(again)) => Disposition::Later(again),
                }
            }
            (Err(Later(why)), None) => {
                tracing::warn!(error = %why, "message not done; it will be delivered again");
                Disposition::Later(why)
            }
        }
    }
    .instrument(span)
    .await
}

fn settle(outcome: Result<(), Later>) -> Disposition {
    match outcome {
        Ok(()) => Disposition::Done,
        Err(Later(why)) => Disposition::Later(why),
    }
}

/// The longest a failed job message waits before its next delivery.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

/// How long a message that failed for now on its `receive_count`-th delivery waits before the
/// next: `base`, doubling with every delivery, at most [`MAX_RETRY_DELAY`].
pub fn retry_delay(base: Duration, receive_count: u32) -> Duration {
    let doublings = receive_count.saturating_sub(1).min(16);
    base.saturating_mul(1 << doublings).min(MAX_RETRY_DELAY)
}

/// Sets when the queue delivers a message again after [`handle`] did not finish it: a passing
/// failure backs off; a dead message comes back at once, to be dead-lettered (on AWS) or dropped
/// (locally). Failing to set it only leaves the queue's own visibility timeout.
pub async fn reschedule(
    state: &AppState,
    receipt: &str,
    disposition: &Disposition,
    receive_count: u32,
) {
    let delay = match (disposition, &state.worker) {
        (Disposition::Later(_), Some(w)) => retry_delay(w.settings.retry_base, receive_count),
        _ => Duration::ZERO,
    };
    if let Err(e) = state.queue.retry_after(receipt, delay).await {
        tracing::warn!(error = %anyhow::Error::from(e), "could not set when the message comes back");
    }
}

/// Fails, saying what is missing, unless this process can run jobs: a DashScope key, a working
/// ffmpeg and a caption font that draws every caption character. The transcoder calls it at cold
/// start so a broken deployment fails loudly at once.
pub fn check_ready(state: &AppState) -> anyhow::Result<()> {
    let Some(worker) = &state.worker else {
        anyhow::bail!("setting DASHSCOPE_API_KEY: is required to run jobs");
    };
    let ffmpeg = &worker.settings.ffmpeg;
    let version = crate::gif::ffmpeg_version(ffmpeg).map_err(|e| {
        anyhow::anyhow!(
            "setting EMO_FFMPEG: {} is not a working ffmpeg ({e})",
            ffmpeg.display()
        )
    })?;
    worker.caption_font().map_err(|e| {
        anyhow::anyhow!(
            "setting EMO_CAPTION_FONT: {} is not a usable caption font ({e})",
            worker.settings.caption_font.display()
        )
    })?;
    tracing::info!(ffmpeg = %version, caption_font = %worker.settings.caption_font.display(), "worker ready");
    Ok(())
}

/// The step time of a Lambda invocation whose runtime deadline is `deadline_ms` (Unix
/// milliseconds, `lambda_runtime::Context::deadline`).
pub fn lambda_step_time(deadline_ms: u64) -> StepTime {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    StepTime {
        deadline: tokio::time::Instant::now()
            + Duration::from_millis(deadline_ms.saturating_sub(now_ms)),
    }
}

/// The step time of a process with no invocation deadline (`emo-local`'s worker loop): the lease,
/// which a step may not outlive either.
pub fn lease_step_time(state: &AppState) -> StepTime {
    let lease = state
        .worker
        .as_ref()
        .map_or(Duration::from_secs(60), |w| w.settings.lease);
    StepTime {
        deadline: tokio::time::Instant::now() + lease,
    }
}

/// The transcoder Lambda's handler: every record on its own, all within `time` (the
/// invocation's); the ones not done are reported back so that only they are redelivered
/// (`ReportBatchItemFailures`).
pub async fn handle_sqs_event(
    state: &AppState,
    event: SqsEvent,
    time: StepTime,
) -> SqsBatchResponse {
    // The records of a batch are independent jobs: handled side by side, so one slow transcode
    // does not push the others past the function's timeout.
    let outcomes =
        futures_util::future::join_all(event.records.into_iter().map(|record| async move {
            let id = record.message_id.clone().unwrap_or_default();
            let receive_count = record
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1);
            let body = record.body.unwrap_or_default();
            // `handle` logs why inside the job's span; a malformed body has no job to name.
            let disposition = handle(state, &body, receive_count, time).await;
            if disposition == Disposition::Done {
                return None;
            }
            if let Disposition::Dead(why) = &disposition {
                tracing::error!(message_id = %id, error = %why, "job message goes to the dead-letter queue");
            }
            // Reported as failed, it comes back when its visibility says: sooner than the
            // queue's timeout (six times the function's) for a passing failure.
            if let Some(receipt) = &record.receipt_handle {
                reschedule(state, receipt, &disposition, receive_count).await;
            }
            Some(id)
        }))
        .await;
    let mut response = SqsBatchResponse::default();
    for id in outcomes.into_iter().flatten() {
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_message_backs_off_doubling_up_to_five_minutes() {
        let base = Duration::from_secs(30);
        let delays: Vec<u64> = (1..=7).map(|n| retry_delay(base, n).as_secs()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 300, 300, 300]);
        assert_eq!(retry_delay(base, 0), base);
        assert_eq!(retry_delay(base, u32::MAX), MAX_RETRY_DELAY);
    }
}
