//! The transcoder: each queue message advances one job by one step of a small state machine.
//!
//! ```text
//! Start:  Queued ──claim (lease)──> Submitting ──[Qwen describes a character]── DashScope create
//!                                        └──> Generating (task_id, RUNNING) + Poll 1 (delayed)
//! Poll n: Generating ── task PENDING/RUNNING ──> Poll n+1 (delayed)
//!                    ── task SUCCEEDED ──claim (lease)──> Transcoding: download, ffmpeg, gifski,
//!                                                        GIF to the blob store ──> SUCCEEDED
//!                    ── task FAILED/UNKNOWN ──> FAILED with a user-readable message
//! ```
//!
//! Every step is a conditional write on the job's revision, so a message delivered twice, or two
//! workers on one job, apply each step once: a second DashScope task is never created, a stale
//! poll (its number is not the job's current one) is dropped. A step that fails for a passing
//! reason is left for redelivery; a job past its deadline, or whose message keeps failing, ends
//! FAILED. The Lambda ([`handle_sqs_event`]) and the local server ([`run_local`]) share
//! [`handle`].

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use tracing::Instrument;

use crate::AppState;
use crate::dashscope::{DashScopeError, TaskStatus, failure_message};
use crate::gif::GifError;
use crate::job::{Job, JobMessage, JobRequest, JobStatus, Stage};
use crate::store::{StoreError, enqueue, gif_key};

/// User-readable endings, shown as `error_message`.
pub const MSG_TIMEOUT: &str = "生成超时，请稍后重试";
pub const MSG_GAVE_UP: &str = "处理失败，请稍后重试";
pub const MSG_UNDECODABLE: &str = "生成的视频无法转换为表情包，请换个描述重试";
pub const MSG_TOO_BIG: &str = "生成的表情包超过 500 KB，请换个简单些的描述重试";

/// How big a DashScope MP4 may be (a 5-second 720P clip is a few MB).
const MAX_VIDEO_BYTES: usize = 200 * 1024 * 1024;

/// Why a message was not finished; it stays in the queue and comes back.
#[derive(Debug, thiserror::Error)]
pub enum Retry {
    /// The message is not a job message at all; retrying cannot help, so it ends in the DLQ.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Something passing (a store, DashScope, another worker holding the job): try again later.
    #[error("{0}")]
    Later(String),
    /// The message's last delivery failed too: its job has been ended FAILED, and the message
    /// goes on to the dead-letter queue as the record of a job given up (the DLQ alarm fires).
    #[error("job given up after its last delivery: {0}")]
    GaveUp(String),
}

impl From<StoreError> for Retry {
    fn from(e: StoreError) -> Self {
        Retry::Later(format!("{:#}", anyhow::Error::from(e)))
    }
}

/// Handles one delivery of `body`, its `receive_count`-th. `Ok` means: delete the message.
pub async fn handle(state: &AppState, body: &str, receive_count: u32) -> Result<(), Retry> {
    let message: JobMessage =
        serde_json::from_str(body).map_err(|e| Retry::Malformed(e.to_string()))?;
    let job_id = message.job_id().clone();
    state.refresh_secrets(state.settings.secret_refresh).await;
    let Some(job) = state.jobs.get(&job_id).await? else {
        tracing::warn!(job_id = %job_id, "message for a job that does not exist; dropped");
        return Ok(());
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
    let last = state.settings.jobs.max_receives;
    async move {
        if job.status.is_terminal() {
            return Ok(());
        }
        let now = state.clock.now();
        if now >= job.deadline_at {
            tracing::warn!("job passed its deadline");
            return finish_failed(state, job, MSG_TIMEOUT).await;
        }
        if receive_count > last {
            tracing::error!("message delivered past its last try; giving the job up");
            finish_failed(state, job, MSG_GAVE_UP).await?;
            return Err(Retry::GaveUp("delivered past the receive limit".into()));
        }
        let job_for_failing = (receive_count == last).then(|| job.clone());
        let outcome = match message {
            JobMessage::Start { .. } => start(state, job).await,
            JobMessage::Poll { seq, .. } => poll(state, job, seq).await,
        };
        match (outcome, job_for_failing) {
            (Err(Retry::Later(why)), Some(job)) => {
                tracing::error!(error = %why, "the last try failed too; giving the job up");
                // The step may have written the job meanwhile; `finish_failed` reads it again then.
                finish_failed(state, job, MSG_GAVE_UP).await?;
                Err(Retry::GaveUp(why))
            }
            (Err(e), _) => {
                tracing::warn!(error = %e, "message not done; it will be delivered again");
                Err(e)
            }
            (outcome, _) => outcome,
        }
    }
    .instrument(span)
    .await
}

/// The longest a failed job message waits before its next delivery.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(300);

/// How long a message that failed for now on its `receive_count`-th delivery waits before the
/// next: `base`, doubling with every delivery, at most [`MAX_RETRY_DELAY`].
pub fn retry_delay(base: Duration, receive_count: u32) -> Duration {
    let doublings = receive_count.saturating_sub(1).min(16);
    base.saturating_mul(1 << doublings).min(MAX_RETRY_DELAY)
}

/// Sets when the queue delivers a message again after `handle` failed on it: a passing failure
/// backs off; a given-up or malformed message comes back at once, to be dead-lettered (on AWS)
/// or dropped (locally). Failing to set it only leaves the queue's own visibility timeout.
async fn reschedule(state: &AppState, receipt: &str, failure: &Retry, receive_count: u32) {
    let delay = match failure {
        Retry::Later(_) => retry_delay(state.settings.jobs.retry_base, receive_count),
        Retry::GaveUp(_) | Retry::Malformed(_) => Duration::ZERO,
    };
    if let Err(e) = state.queue.retry_after(receipt, delay).await {
        tracing::warn!(error = %anyhow::Error::from(e), "could not set when the message comes back");
    }
}

/// The DashScope client, or a retry if this process has no key (the transcoder checks at start).
fn dashscope(state: &AppState) -> Result<&crate::dashscope::DashScope, Retry> {
    state
        .dashscope
        .as_ref()
        .ok_or_else(|| Retry::Later("DASHSCOPE_API_KEY is not configured".into()))
}

/// Writes `next` (one revision after what was read). `Ok(false)`: someone else wrote first.
async fn write(state: &AppState, mut next: Job) -> Result<(bool, Job), Retry> {
    next.rev += 1;
    next.updated_at = state.clock.now();
    let written = state.jobs.update(&next).await?;
    Ok((written, next))
}

/// Ends `job` FAILED (re-reading it if it changed meanwhile) and removes its input image.
async fn finish_failed(state: &AppState, mut job: Job, message: &str) -> Result<(), Retry> {
    for _ in 0..5 {
        if job.status.is_terminal() {
            return Ok(());
        }
        let mut next = job.clone();
        next.fail(message, state.clock.now());
        let (written, _) = write(state, next).await?;
        if written {
            tracing::info!(error_message = message, "job FAILED");
            release_slot(state, &job).await;
            remove_input(state, &job).await;
            return Ok(());
        }
        match state.jobs.get(&job.id).await? {
            Some(fresh) => job = fresh,
            None => return Ok(()),
        }
    }
    Err(Retry::Later("job kept changing while failing it".into()))
}

/// Gives back the job's DashScope slot; a slot that cannot be given back frees itself at the
/// job's deadline.
async fn release_slot(state: &AppState, job: &Job) {
    let model = job.request.model_kind();
    let max = state.settings.jobs.max_in_flight;
    if let Err(e) = state.jobs.release_task_slot(model, &job.id, max).await {
        tracing::warn!(error = %anyhow::Error::from(e), "could not release the DashScope slot");
    }
}

async fn remove_input(state: &AppState, job: &Job) {
    if let JobRequest::ImageToVideo { image_key, .. } = &job.request
        && let Err(e) = state.blobs.delete(image_key).await
    {
        tracing::warn!(error = %anyhow::Error::from(e), "could not remove the input image");
    }
}

async fn start(state: &AppState, job: Job) -> Result<(), Retry> {
    let now = state.clock.now();
    match job.stage {
        Stage::Queued => {}
        Stage::Submitting if job.lease_until > now => {
            return Err(Retry::Later("another worker is submitting this job".into()));
        }
        Stage::Submitting if job.submit_attempts >= 2 => {
            // Two workers died mid-submit: something is wrong with this job, stop spending.
            return finish_failed(state, job, MSG_GAVE_UP).await;
        }
        Stage::Submitting => tracing::warn!("taking over a submit whose worker stopped"),
        Stage::Generating => {
            // The first poll may have been lost between the write and the send: send it again
            // (a duplicate is dropped by its number).
            let msg = JobMessage::Poll {
                job_id: job.id.clone(),
                seq: job.poll_seq,
            };
            enqueue(
                state.queue.as_ref(),
                &msg,
                state.settings.jobs.poll_interval,
            )
            .await?;
            return Ok(());
        }
        Stage::Transcoding | Stage::Done => return Ok(()),
    }
    // The account runs only so many tasks per model at once: wait for a slot, do not fail.
    let model = job.request.model_kind();
    let max = state.settings.jobs.max_in_flight;
    if !state
        .jobs
        .acquire_task_slot(model, &job.id, now, job.deadline_at, max)
        .await?
    {
        tracing::info!(model, "every DashScope slot is busy; the job waits");
        let msg = JobMessage::Start {
            job_id: job.id.clone(),
        };
        enqueue(
            state.queue.as_ref(),
            &msg,
            state.settings.jobs.poll_interval,
        )
        .await?;
        return Ok(());
    }
    let mut claim = job.clone();
    claim.stage = Stage::Submitting;
    claim.lease_until = now + state.settings.jobs.lease.as_secs();
    claim.submit_attempts += 1;
    let (won, claimed) = write(state, claim).await?;
    if !won {
        return Err(Retry::Later("the job changed while claiming it".into()));
    }
    submit(state, claimed).await
}

/// Asks DashScope for the video, holding the submit lease.
async fn submit(state: &AppState, job: Job) -> Result<(), Retry> {
    let dashscope = dashscope(state)?;
    let mut described = job.described_prompt.clone();
    let created = match &job.request {
        JobRequest::TextToVideo {
            prompt,
            negative_prompt,
            size,
        } => {
            dashscope
                .create_text_to_video(prompt, negative_prompt.as_deref(), size)
                .await
        }
        JobRequest::ImageToVideo {
            prompt,
            negative_prompt,
            resolution,
            image_key,
        } => {
            let Some(bytes) = state.blobs.get(image_key).await? else {
                return finish_failed(state, job, MSG_GAVE_UP).await;
            };
            let Some(uri) = crate::photo::data_uri(&bytes) else {
                return finish_failed(state, job, MSG_GAVE_UP).await;
            };
            dashscope
                .create_image_to_video(prompt, negative_prompt.as_deref(), &uri, resolution)
                .await
        }
        JobRequest::Character {
            role,
            source,
            action,
            size,
        } => {
            let description = match &described {
                Some(d) => Ok(d.clone()),
                None => dashscope.describe_character(role, source.as_deref()).await,
            };
            match description {
                Ok(d) => {
                    let prompt = character_prompt(&d, action);
                    described = Some(d);
                    dashscope.create_text_to_video(&prompt, None, size).await
                }
                Err(e) => Err(e),
            }
        }
    };
    match created {
        Ok(task_id) => {
            tracing::Span::current().record("task_id", task_id.as_str());
            tracing::info!("DashScope task created");
            let mut next = job.clone();
            next.stage = Stage::Generating;
            next.status = JobStatus::Running;
            next.task_id = Some(task_id.clone());
            next.described_prompt = described;
            next.lease_until = 0;
            next.poll_seq = 1;
            let (written, _) = write(state, next).await?;
            if !written {
                // Only possible if our lease ran out and another worker took the job over.
                tracing::error!("lost the job after creating its task");
                return Ok(());
            }
            let msg = JobMessage::Poll {
                job_id: job.id.clone(),
                seq: 1,
            };
            // If this send fails the Start message comes back and re-sends the poll.
            enqueue(
                state.queue.as_ref(),
                &msg,
                state.settings.jobs.poll_interval,
            )
            .await?;
            Ok(())
        }
        Err(e) if e.is_retryable() => {
            tracing::warn!(error = %e, code = e.code().unwrap_or(""), "DashScope refused for now; will retry");
            // No task was made: give the slot and the lease back so the retry starts afresh.
            release_slot(state, &job).await;
            let mut next = job.clone();
            next.stage = Stage::Queued;
            next.lease_until = 0;
            next.submit_attempts = next.submit_attempts.saturating_sub(1);
            next.described_prompt = described;
            write(state, next).await?;
            Err(Retry::Later(format!("DashScope: {e}")))
        }
        Err(e) => {
            tracing::warn!(error = %e, code = e.code().unwrap_or(""), "DashScope refused the job");
            finish_failed(state, job, &e.user_message()).await
        }
    }
}

/// The text-to-video prompt of a character job: Qwen's description, then the action.
pub fn character_prompt(description: &str, action: &str) -> String {
    let prompt = format!("{description}。动作：{action}。表情包风格，动作夸张生动，背景简洁。");
    prompt.chars().take(crate::job::MAX_PROMPT_CHARS).collect()
}

async fn poll(state: &AppState, job: Job, seq: u32) -> Result<(), Retry> {
    if seq != job.poll_seq {
        return Ok(()); // a stale or duplicated poll: the live one carries the job's number
    }
    let now = state.clock.now();
    match job.stage {
        Stage::Generating => {}
        Stage::Transcoding if job.lease_until > now => {
            return Err(Retry::Later(
                "another worker is transcoding this job".into(),
            ));
        }
        Stage::Transcoding => return transcode(state, job, None).await,
        Stage::Queued | Stage::Submitting | Stage::Done => return Ok(()),
    }
    let dashscope = dashscope(state)?;
    let task_id = job.task_id.clone().unwrap_or_default();
    let task = match dashscope.query_task(&task_id).await {
        Ok(t) => t,
        // Asking again is free: a passing failure, or an answer that could not be read, is
        // followed by the next poll (the deadline bounds how long).
        Err(e) if e.is_retryable() || matches!(e, DashScopeError::Protocol { .. }) => {
            tracing::warn!(error = %e, "task query failed for now");
            return next_poll(state, job, seq).await;
        }
        Err(e) => return finish_failed(state, job, &e.user_message()).await,
    };
    match task.status {
        TaskStatus::Pending | TaskStatus::Running => next_poll(state, job, seq).await,
        TaskStatus::Succeeded => {
            // The task is done at DashScope: its slot is free for the next job.
            release_slot(state, &job).await;
            let mut claim = job.clone();
            claim.stage = Stage::Transcoding;
            claim.lease_until = now + state.settings.jobs.lease.as_secs();
            let (won, claimed) = write(state, claim).await?;
            if !won {
                return Err(Retry::Later("the job changed while claiming it".into()));
            }
            transcode(state, claimed, Some(task)).await
        }
        TaskStatus::Failed | TaskStatus::Canceled | TaskStatus::Unknown => {
            tracing::warn!(
                status = task.status.as_str(),
                code = task.code.as_deref().unwrap_or(""),
                "DashScope task did not succeed"
            );
            let message = failure_message(task.code.as_deref(), task.message.as_deref());
            finish_failed(state, job, &message).await
        }
    }
}

/// Schedules poll `seq + 1`: sent first, then recorded, so a crash in between leaves at worst a
/// duplicate (dropped by its number), never no poll at all.
async fn next_poll(state: &AppState, job: Job, seq: u32) -> Result<(), Retry> {
    let msg = JobMessage::Poll {
        job_id: job.id.clone(),
        seq: seq + 1,
    };
    enqueue(
        state.queue.as_ref(),
        &msg,
        state.settings.jobs.poll_interval,
    )
    .await?;
    let mut next = job;
    next.poll_seq = seq + 1;
    write(state, next).await?;
    Ok(())
}

/// Downloads the finished video, makes the GIF and stores it, holding the transcode lease.
/// `task` is the answer the poll just had; a worker resuming an abandoned transcode has none.
async fn transcode(
    state: &AppState,
    job: Job,
    task: Option<crate::dashscope::TaskState>,
) -> Result<(), Retry> {
    let dashscope = dashscope(state)?;
    let task = match task {
        Some(t) => t,
        // The video URL is only in the task's answer, and it expires: ask for it now.
        None => match dashscope
            .query_task(job.task_id.as_deref().unwrap_or_default())
            .await
        {
            Ok(t) => t,
            Err(e) => return release(state, job, format!("task query: {e}")).await,
        },
    };
    let Some(url) = task
        .video_url
        .filter(|_| task.status == TaskStatus::Succeeded)
    else {
        let message = failure_message(task.code.as_deref(), task.message.as_deref());
        return finish_failed(state, job, &message).await;
    };
    let video = match dashscope.download_video(&url, MAX_VIDEO_BYTES).await {
        Ok(v) => v,
        Err(e) if e.is_retryable() => return release(state, job, format!("download: {e}")).await,
        Err(e) => return finish_failed(state, job, &e.user_message()).await,
    };
    let ffmpeg = state.settings.ffmpeg.clone();
    let settings = state.settings.gif.clone();
    let encoded = tokio::task::spawn_blocking(move || -> Result<_, GifError> {
        let mut file = tempfile::Builder::new()
            .suffix(".mp4")
            .tempfile()
            .map_err(|e| GifError::Internal(format!("temp file: {e}")))?;
        std::io::Write::write_all(&mut file, &video)
            .map_err(|e| GifError::Internal(format!("temp file: {e}")))?;
        crate::gif::mp4_to_gif(&ffmpeg, file.path(), &settings)
    })
    .await
    .map_err(|e| Retry::Later(format!("GIF task panicked: {e}")))?;
    let sticker = match encoded {
        Ok(s) => s,
        Err(GifError::Undecodable(why)) => {
            tracing::warn!(why, "the video does not decode");
            return finish_failed(state, job, MSG_UNDECODABLE).await;
        }
        Err(GifError::OverBudget { smallest, .. }) => {
            tracing::warn!(smallest, "no encoding fits the byte budget");
            return finish_failed(state, job, MSG_TOO_BIG).await;
        }
        Err(e) => return release(state, job, format!("GIF: {e}")).await,
    };
    let key = gif_key(&job.id);
    state
        .blobs
        .put(&key, sticker.gif.clone(), "image/gif")
        .await?;
    let mut next = job.clone();
    next.status = JobStatus::Succeeded;
    next.stage = Stage::Done;
    next.lease_until = 0;
    next.gif_key = Some(key);
    next.gif_bytes = Some(sticker.gif.len() as u64);
    next.gif_width = Some(sticker.width);
    next.gif_height = Some(sticker.height);
    let (written, _) = write(state, next).await?;
    if written {
        tracing::info!(
            bytes = sticker.gif.len(),
            frames = sticker.frames,
            quality = sticker.quality,
            fps = sticker.fps,
            passes = sticker.passes,
            "job SUCCEEDED"
        );
        remove_input(state, &job).await;
        Ok(())
    } else {
        Err(Retry::Later("the job changed while transcoding".into()))
    }
}

/// Gives up the transcode lease after a passing failure so the redelivered message can redo it.
async fn release(state: &AppState, job: Job, why: String) -> Result<(), Retry> {
    tracing::warn!(why, "transcode failed for now; will retry");
    let mut next = job;
    next.lease_until = 0;
    write(state, next).await?;
    Err(Retry::Later(why))
}

/// Fails, saying what is missing, unless this process can run jobs: a DashScope key and a working
/// ffmpeg. The transcoder calls it at cold start so a broken deployment fails loudly at once.
pub fn check_ready(state: &AppState) -> anyhow::Result<()> {
    anyhow::ensure!(
        state.dashscope.is_some(),
        "setting DASHSCOPE_API_KEY: is required to run jobs"
    );
    let version = crate::gif::ffmpeg_version(&state.settings.ffmpeg).map_err(|e| {
        anyhow::anyhow!(
            "setting EMO_FFMPEG: {} is not a working ffmpeg ({e})",
            state.settings.ffmpeg.display()
        )
    })?;
    tracing::info!(ffmpeg = %version, "worker ready");
    Ok(())
}

/// The transcoder Lambda's handler: every record on its own; the ones that failed are reported
/// back so that only they are redelivered (`ReportBatchItemFailures`).
pub async fn handle_sqs_event(state: &AppState, event: SqsEvent) -> SqsBatchResponse {
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
            let failure = match handle(state, &body, receive_count).await {
                Ok(()) => return None,
                Err(e) => e,
            };
            if let Retry::Malformed(why) = &failure {
                tracing::error!(message_id = %id, error = %why, "malformed job message");
            }
            // Reported as failed, it comes back when its visibility says: sooner than the
            // queue's timeout (six times the function's) for a passing failure.
            if let Some(receipt) = &record.receipt_handle {
                reschedule(state, receipt, &failure, receive_count).await;
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

/// The local worker loop: receives from the queue and handles up to `concurrency` messages at a
/// time until `shutdown` completes. A message whose last try failed is dropped (there is no
/// dead-letter queue locally), after its job was failed; so is a malformed one.
pub async fn run_local(
    state: Arc<AppState>,
    concurrency: usize,
    shutdown: impl Future<Output = ()> + Send,
) {
    let limit = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    tokio::pin!(shutdown);
    loop {
        let permits = tokio::select! {
            p = limit.clone().acquire_many_owned(1) => p.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        drop(permits);
        let free = limit.available_permits().max(1);
        let deliveries = tokio::select! {
            r = state.queue.receive(free, Duration::from_secs(1)) => r,
            _ = &mut shutdown => break,
        };
        let deliveries = match deliveries {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %anyhow::Error::from(e), "queue receive failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for d in deliveries {
            let permit = limit
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let state = state.clone();
            tokio::spawn(async move {
                let result = handle(&state, &d.body, d.receive_count).await;
                match result {
                    Ok(()) => {}
                    Err(e @ (Retry::GaveUp(_) | Retry::Malformed(_))) => {
                        tracing::error!(error = %e, "message dropped")
                    }
                    Err(e) => {
                        reschedule(&state, &d.receipt, &e, d.receive_count).await;
                        drop(permit);
                        return;
                    }
                }
                if let Err(e) = state.queue.delete(&d.receipt).await {
                    tracing::error!(error = %anyhow::Error::from(e), "queue delete failed");
                }
                drop(permit);
            });
        }
    }
    // Let the handlers in flight finish.
    let _ = limit.acquire_many(concurrency.max(1) as u32).await;
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
