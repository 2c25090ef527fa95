//! The worker's steps: start (slot, describe, create lock, claim, submit), settling a submit that
//! had no clear answer, poll, and transcode. Each reads the job, calls DashScope or ffmpeg within
//! the step's time ([`StepTime`]), and writes the job's next state through its transition
//! ([`crate::job::transitions`]) and [`lifecycle::save`].
//!
//! **At most one DashScope task per job.** A create is sent only while the job holds its
//! model's create lock ([`crate::store::TaskSlots::acquire_create_lock`]) and its submit lease,
//! and never after either runs out: so every task of that model created between the job's
//! `submit_started_at` and its `lease_until` is the job's own. A create with no clear answer (a
//! 5xx, a timeout, a broken connection, the invocation's deadline) is never sent again blindly:
//! its window is closed a few seconds later ([`CREATE_SETTLE_SECS`]), and then DashScope's task
//! list is read for that window ([`settle_submit`]), as it is when a worker died mid-submit:
//!
//! | the list shows            | the job                                                  |
//! |---------------------------|----------------------------------------------------------|
//! | one task                  | adopts it and polls it                                   |
//! | no task                   | is submitted again (at most [`MAX_SUBMITS`] times)       |
//! | two or more, or no answer | ends FAILED ([`MSG_UNSURE`]), its allowance given back   |

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::AppState;
use crate::dashscope::{
    DashScopeError, ErrorKind, TaskState, TaskStatus, character_prompt, failure_message,
};
use crate::domain::ModelKind;
use crate::gif::GifError;
use crate::job::lifecycle::{self, Blame, save};
use crate::job::transitions::StickerFile;
use crate::job::{Job, JobMessage, JobRequest, MSG_UNSURE, Stage};
use crate::store::{CREATE_GAP_SECS, enqueue, gif_key};

use super::{Later, MSG_GAVE_UP, MSG_TOO_BIG, MSG_UNDECODABLE, Worker, fail};

/// How big a DashScope MP4 may be (a 5-second 720P clip is a few MB).
const MAX_VIDEO_BYTES: usize = 200 * 1024 * 1024;

/// How long a create with no clear answer keeps its window open (and its model's create lock
/// held) before the task list is read, so a task DashScope was still making shows in it.
pub const CREATE_SETTLE_SECS: u64 = 5;

/// Margin around a submit window when matching DashScope's creation times (milliseconds): less
/// than the [`CREATE_GAP_SECS`] between two windows, more than the clocks' difference.
const WINDOW_MARGIN_MS: u64 = 500;

/// How many times a job enters Submitting before it ends FAILED: creates that DashScope keeps
/// leaving unanswered, or workers that keep dying, stop costing after this.
pub const MAX_SUBMITS: u32 = 3;

/// How long before a step's end its calls are cut, so the step can still write what it learned.
const STEP_MARGIN: Duration = Duration::from_secs(2);

/// When the step in hand must be done: the invocation's deadline (the Lambda runtime's, or the
/// local loop's), less a margin; a lease held shortens it further ([`StepTime::within_lease`]).
#[derive(Debug, Clone, Copy)]
pub struct StepTime {
    pub deadline: Instant,
}

/// A call cut at its step's end.
pub(super) struct Cut;

impl StepTime {
    /// The end of a step that holds a lease until `lease_until` (Unix seconds, as the clock
    /// `now` reads): whichever comes first.
    fn within_lease(self, now: u64, lease_until: u64) -> Instant {
        let lease_left = Duration::from_secs(lease_until.saturating_sub(now));
        self.deadline.min(Instant::now() + lease_left)
    }
}

/// Runs `call` until `end` less [`STEP_MARGIN`].
pub(super) async fn bounded<T>(end: Instant, call: impl Future<Output = T>) -> Result<T, Cut> {
    let end = end.checked_sub(STEP_MARGIN).unwrap_or_else(Instant::now);
    tokio::time::timeout_at(end, call).await.map_err(|_| Cut)
}

/// Whether a refusal is about what the user asked for (the job stays counted against the day).
fn blame_of(kind: ErrorKind) -> Blame {
    match kind {
        ErrorKind::Moderation
        | ErrorKind::Copyright
        | ErrorKind::BadRequest
        | ErrorKind::BadMedia => Blame::User,
        _ => Blame::Emo,
    }
}

/// The DashScope model name a job's task is created with.
fn model_name(worker: &Worker, kind: ModelKind) -> &str {
    let config = worker.dashscope.config();
    match kind {
        ModelKind::T2v => &config.t2v_model,
        ModelKind::I2v => &config.i2v_model,
    }
}

pub(super) async fn start(
    state: &AppState,
    worker: &Worker,
    job: Job,
    time: StepTime,
) -> Result<(), Later> {
    let now = state.clock.now();
    let poll_interval = worker.settings.poll_interval;
    let again = JobMessage::Start {
        job_id: job.id.clone(),
    };
    let job = match job.stage {
        // The photo's check at WeChat comes first; it hands back the job once it is queued.
        Stage::Checking => match super::check::media_check(state, worker, job, time).await? {
            Some(job) => job,
            None => return Ok(()),
        },
        _ => job,
    };
    match job.stage {
        Stage::Queued | Stage::Describing => {}
        Stage::Checking => return Ok(()),
        // The window of the submit in hand closes at `lease_until`: wait it out.
        Stage::Submitting if job.lease_until >= now => {
            return look_again_after_lease(state, &job, &again, now).await;
        }
        Stage::Submitting => return settle_submit(state, worker, job, time).await,
        Stage::Generating => {
            // The first poll may have been lost between the write and the send: send it again
            // (a duplicate is dropped by its number).
            let msg = JobMessage::Poll {
                job_id: job.id.clone(),
                seq: job.poll_seq,
            };
            enqueue(state.queue.as_ref(), &msg, poll_interval).await?;
            return Ok(());
        }
        Stage::Transcoding | Stage::Done => return Ok(()),
    }
    if job.submit_attempts >= MAX_SUBMITS {
        tracing::error!(
            attempts = job.submit_attempts,
            "the job was submitted too often; giving it up"
        );
        return fail(state, job, MSG_GAVE_UP, Blame::Emo).await;
    }
    // The account runs only so many tasks per model at once, shared fairly among users: wait
    // for a slot, do not fail.
    let model = job.request.model_kind();
    if !state
        .slots
        .acquire_task_slot(
            model,
            &job.id,
            job.user_id,
            now,
            job.deadline_at,
            state.store.max_in_flight,
        )
        .await?
    {
        tracing::info!(
            model = model.as_str(),
            "no DashScope slot for this job now; it waits"
        );
        // Written so the sweep sees the job is looked after, then sent (a lost send is the
        // sweep's to repair).
        if save(state, job.touched()).await?.is_some() {
            enqueue(state.queue.as_ref(), &again, poll_interval).await?;
        }
        return Ok(());
    }
    let job = match describe(state, worker, job, time).await? {
        Some(job) => job,
        None => return Ok(()),
    };
    let lease = worker.settings.lease.as_secs();
    if !state
        .slots
        .acquire_create_lock(model, &job.id, now, now + lease)
        .await?
    {
        // Another job of the model is creating its task: a moment's wait.
        enqueue(
            state.queue.as_ref(),
            &again,
            Duration::from_secs(CREATE_GAP_SECS),
        )
        .await?;
        return Ok(());
    }
    let claim = job.claim_submit(now, lease);
    let Some(claimed) = save(state, claim).await? else {
        release_create_lock(state, &job, false).await;
        return Err(Later("the job changed while claiming it".into()));
    };
    submit(state, worker, claimed, time).await
}

/// A character job's description, asked of Qwen once and kept on the job before its task is
/// created (outside the create lock: it takes seconds). `None`: the job changed meanwhile.
async fn describe(
    state: &AppState,
    worker: &Worker,
    job: Job,
    time: StepTime,
) -> Result<Option<Job>, Later> {
    let JobRequest::Character { role, source, .. } = &job.request else {
        return Ok(Some(job));
    };
    if job.described_prompt.is_some() {
        return Ok(Some(job));
    }
    // Shown as `describing` while Qwen is asked.
    let Some(job) = save(state, job.describing()).await? else {
        return Err(Later("the job changed while describing it".into()));
    };
    let described = bounded(
        time.deadline,
        worker.dashscope.describe_character(role, source.as_deref()),
    )
    .await;
    match described {
        Err(Cut) => Err(Later("no time left to describe the character".into())),
        Ok(Ok(d)) => match save(state, job.with_description(d)).await? {
            Some(job) => Ok(Some(job)),
            None => Err(Later("the job changed while describing it".into())),
        },
        Ok(Err(e)) if e.is_retryable() => {
            tracing::warn!(error = %e, "Qwen could not describe the character for now");
            Err(Later(format!("DashScope: {e}")))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, code = e.code().unwrap_or(""), "Qwen refused the character");
            fail(state, job, &e.user_message(), blame_of(e.kind())).await?;
            Ok(None)
        }
    }
}

/// Another worker holds the job's step (a redelivery while the first delivery still runs, or two
/// workers on one job), or a submit window is still open. That is no failure of this delivery:
/// it must not count towards the message's last try, which would fail a job that is doing well.
/// Instead `msg` is sent again as a fresh message for when the lease ends, and this delivery is
/// done: if the holder finishes, the copy finds nothing to do; if it died, the copy takes over.
async fn look_again_after_lease(
    state: &AppState,
    job: &Job,
    msg: &JobMessage,
    now: u64,
) -> Result<(), Later> {
    let wait = Duration::from_secs(job.lease_until.saturating_sub(now) + 1);
    tracing::info!(
        wait_secs = wait.as_secs(),
        "the job's step is held; looking again when its lease ends"
    );
    enqueue(state.queue.as_ref(), msg, wait).await?;
    Ok(())
}

/// Lets go of the job's create lock; `made` says whether its create made a task (the next holder
/// then waits out the gap).
async fn release_create_lock(state: &AppState, job: &Job, made: bool) {
    let model = job.request.model_kind();
    let now = state.clock.now();
    let free_at = if made { now + CREATE_GAP_SECS } else { now };
    if let Err(e) = state
        .slots
        .release_create_lock(model, &job.id, free_at)
        .await
    {
        // It frees itself when its hold runs out.
        tracing::warn!(error = %anyhow::Error::from(e), "could not let go of the create lock");
    }
}

/// Asks DashScope for the video, holding the submit lease and the model's create lock.
async fn submit(state: &AppState, worker: &Worker, job: Job, time: StepTime) -> Result<(), Later> {
    let dashscope = &worker.dashscope;
    // The create must be over before the window closes: by the lease, and by the deadline.
    let end = time.within_lease(state.clock.now(), job.lease_until);
    let created = match &job.request {
        JobRequest::TextToVideo {
            prompt,
            negative_prompt,
            size,
        } => {
            bounded(
                end,
                dashscope.create_text_to_video_seeded(
                    prompt,
                    negative_prompt.as_deref(),
                    size.as_str(),
                    job.seed,
                ),
            )
            .await
        }
        JobRequest::ImageToVideo {
            prompt,
            negative_prompt,
            resolution,
            image_key,
        } => {
            let Some(bytes) = state.blobs.get(image_key).await? else {
                release_create_lock(state, &job, false).await;
                return fail(state, job, MSG_GAVE_UP, Blame::Emo).await;
            };
            let Some(uri) = crate::photo::data_uri(&bytes) else {
                release_create_lock(state, &job, false).await;
                return fail(state, job, MSG_GAVE_UP, Blame::Emo).await;
            };
            bounded(
                end,
                dashscope.create_image_to_video_seeded(
                    prompt,
                    negative_prompt.as_deref(),
                    &uri,
                    resolution.as_str(),
                    job.seed,
                ),
            )
            .await
        }
        JobRequest::Character { action, size, .. } => {
            let description = job.described_prompt.clone().unwrap_or_default();
            let prompt = character_prompt(&description, action);
            bounded(
                end,
                dashscope.create_text_to_video_seeded(&prompt, None, size.as_str(), job.seed),
            )
            .await
        }
    };
    match created {
        Ok(Ok(task_id)) => {
            tracing::Span::current().record("task_id", task_id.as_str());
            tracing::info!("DashScope task created");
            let described = job.described_prompt.clone();
            let saved = save(state, job.submitted(task_id.clone(), described)).await;
            release_create_lock(state, &job, true).await;
            if saved?.is_none() {
                // Another writer ended the job meanwhile (its deadline), or its owner deleted it.
                tracing::error!("lost the job after creating its task");
                super::cancel::abandon_if_orphaned(state, worker, &job, &task_id).await;
                return Ok(());
            }
            let msg = JobMessage::Poll {
                job_id: job.id.clone(),
                seq: 1,
            };
            // A lost send is the sweep's to repair.
            enqueue(state.queue.as_ref(), &msg, worker.settings.poll_interval).await?;
            Ok(())
        }
        Err(Cut) => {
            tracing::warn!("the create was cut at the step's end; it may have made a task");
            create_unclear(state, job).await
        }
        // Interrupted: no answer, or a 5xx after sending; Protocol: an answer (so a task) whose
        // id could not be read.
        Ok(Err(e @ (DashScopeError::Interrupted { .. } | DashScopeError::Protocol { .. }))) => {
            tracing::warn!(error = %e, "the create had no clear answer; it may have made a task");
            create_unclear(state, job).await
        }
        Ok(Err(e)) if e.kind() == ErrorKind::Throttled => {
            tracing::warn!(error = %e, code = e.code().unwrap_or(""), "DashScope is throttling; the job waits");
            // No task was made. Throttling is DashScope asking to wait, not this message failing:
            // a fresh Start comes back later, and the deadline bounds how long.
            release_create_lock(state, &job, false).await;
            lifecycle::release_slot(state, &job).await;
            let described = job.described_prompt.clone();
            if let Some(job) = save(state, job.requeued(described)).await? {
                let msg = JobMessage::Start { job_id: job.id };
                let wait = worker
                    .settings
                    .retry_base
                    .max(worker.settings.poll_interval);
                enqueue(state.queue.as_ref(), &msg, wait).await?;
            }
            Ok(())
        }
        Ok(Err(e)) if e.is_retryable() => {
            tracing::warn!(error = %e, code = e.code().unwrap_or(""), "DashScope refused for now; will retry");
            // No task was made: give the slot, the lock and the lease back so the retry starts
            // afresh.
            release_create_lock(state, &job, false).await;
            lifecycle::release_slot(state, &job).await;
            let described = job.described_prompt.clone();
            save(state, job.requeued(described)).await?;
            Err(Later(format!("DashScope: {e}")))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, code = e.code().unwrap_or(""), "DashScope refused the job");
            release_create_lock(state, &job, false).await;
            fail(state, job, &e.user_message(), blame_of(e.kind())).await
        }
    }
}

/// A create without a clear answer: the window stays open (the job Submitting, the create lock
/// held) for [`CREATE_SETTLE_SECS`], then a Start message settles it from the task list.
async fn create_unclear(state: &AppState, job: Job) -> Result<(), Later> {
    let now = state.clock.now();
    let until = now + CREATE_SETTLE_SECS;
    let model = job.request.model_kind();
    // Shortens the lock's hold to the settle (it is this job's; if it was lost, the window may
    // show another's task and the job ends unsure rather than adopting the wrong one).
    state
        .slots
        .acquire_create_lock(model, &job.id, now, until)
        .await?;
    let described = job.described_prompt.clone();
    let Some(job) = save(state, job.create_unclear(until, described)).await? else {
        return Err(Later("the job changed after an unclear create".into()));
    };
    let msg = JobMessage::Start {
        job_id: job.id.clone(),
    };
    enqueue(
        state.queue.as_ref(),
        &msg,
        Duration::from_secs(CREATE_SETTLE_SECS + 1),
    )
    .await?;
    Ok(())
}

/// A submit whose window has closed without a recorded task (its create had no clear answer, or
/// its worker stopped): DashScope's task list for the window says what became of it.
async fn settle_submit(
    state: &AppState,
    worker: &Worker,
    job: Job,
    time: StepTime,
) -> Result<(), Later> {
    let from_ms = (job.submit_started_at * 1000).saturating_sub(WINDOW_MARGIN_MS);
    let to_ms = (job.lease_until + 1) * 1000 + WINDOW_MARGIN_MS;
    let model = model_name(worker, job.request.model_kind()).to_owned();
    let listed = bounded(
        time.deadline,
        worker.dashscope.list_tasks(&model, from_ms, to_ms),
    )
    .await;
    let tasks = match listed {
        Err(Cut) => return Err(Later("no time left to read the task list".into())),
        Ok(Ok(tasks)) => tasks,
        Ok(Err(e)) if e.is_retryable() => {
            tracing::warn!(error = %e, "the task list could not be read for now");
            return Err(Later(format!("DashScope task list: {e}")));
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "the task list cannot tell whether the job's task was made");
            return fail(state, job, MSG_UNSURE, Blame::Emo).await;
        }
    };
    match tasks.as_slice() {
        [] => {
            tracing::warn!(
                attempts = job.submit_attempts,
                "no task was made in the submit window; submitting again"
            );
            let Some(job) = save(state, job.nothing_created()).await? else {
                return Err(Later("the job changed while settling its submit".into()));
            };
            let msg = JobMessage::Start {
                job_id: job.id.clone(),
            };
            enqueue(state.queue.as_ref(), &msg, Duration::ZERO).await?;
            Ok(())
        }
        [task] => {
            tracing::Span::current().record("task_id", task.task_id.as_str());
            tracing::warn!(
                status = task.status.as_str(),
                "the submit window holds one task: adopting it"
            );
            let described = job.described_prompt.clone();
            let Some(job) = save(state, job.submitted(task.task_id.clone(), described)).await?
            else {
                return Err(Later("the job changed while adopting its task".into()));
            };
            let msg = JobMessage::Poll {
                job_id: job.id.clone(),
                seq: 1,
            };
            enqueue(state.queue.as_ref(), &msg, Duration::ZERO).await?;
            Ok(())
        }
        many => {
            let ids: Vec<&str> = many.iter().map(|t| t.task_id.as_str()).collect();
            tracing::error!(
                ?ids,
                "the submit window holds several tasks; none is adopted"
            );
            fail(state, job, MSG_UNSURE, Blame::Emo).await
        }
    }
}

pub(super) async fn poll(
    state: &AppState,
    worker: &Worker,
    job: Job,
    seq: u32,
    time: StepTime,
) -> Result<(), Later> {
    if seq != job.poll_seq {
        return Ok(()); // a stale or duplicated poll: the live one carries the job's number
    }
    let now = state.clock.now();
    match job.stage {
        Stage::Generating => {}
        Stage::Transcoding if job.lease_until > now => {
            let msg = JobMessage::Poll {
                job_id: job.id.clone(),
                seq,
            };
            return look_again_after_lease(state, &job, &msg, now).await;
        }
        Stage::Transcoding => {
            // The worker that held it stopped or gave it up: take the step over, under a lease
            // of this worker's own.
            let claim = job.claim_transcode(now, worker.settings.lease.as_secs());
            let Some(claimed) = save(state, claim).await? else {
                return Err(Later("the job changed while claiming it".into()));
            };
            return transcode(state, worker, claimed, None, time).await;
        }
        Stage::Checking | Stage::Queued | Stage::Describing | Stage::Submitting | Stage::Done => {
            return Ok(());
        }
    }
    let task_id = job.task_id.clone().unwrap_or_default();
    let task = match bounded(time.deadline, worker.dashscope.query_task(&task_id)).await {
        Ok(Ok(t)) => t,
        Err(Cut) => {
            tracing::warn!("no time left for the task query; polling again");
            return next_poll(state, worker, job, seq).await;
        }
        // Asking again is free: a passing failure, or an answer that could not be read, is
        // followed by the next poll (the deadline bounds how long).
        Ok(Err(e)) if e.is_retryable() || matches!(e, DashScopeError::Protocol { .. }) => {
            tracing::warn!(error = %e, "task query failed for now");
            return next_poll(state, worker, job, seq).await;
        }
        Ok(Err(e)) => return fail(state, job, &e.user_message(), blame_of(e.kind())).await,
    };
    match task.status {
        TaskStatus::Pending | TaskStatus::Running | TaskStatus::Unrecognized => {
            next_poll(state, worker, job, seq).await
        }
        TaskStatus::Succeeded => {
            // The task is done at DashScope: its slot is free for the next job.
            lifecycle::release_slot(state, &job).await;
            let claim = job.claim_transcode(now, worker.settings.lease.as_secs());
            let Some(claimed) = save(state, claim).await? else {
                return Err(Later("the job changed while claiming it".into()));
            };
            transcode(state, worker, claimed, Some(task), time).await
        }
        TaskStatus::Failed | TaskStatus::Canceled | TaskStatus::Unknown => {
            tracing::warn!(
                status = task.status.as_str(),
                code = task.code.as_deref().unwrap_or(""),
                "DashScope task did not succeed"
            );
            let message = failure_message(task.code.as_deref(), task.message.as_deref());
            let kind = ErrorKind::classify(None, task.code.as_deref(), task.message.as_deref());
            fail(state, job, &message, blame_of(kind)).await
        }
    }
}

/// Records poll `seq + 1` as the live one, then sends it. A duplicate delivery of poll `seq`
/// loses the write and sends nothing, so copies do not multiply; a crash between the write and
/// the send is the sweep's to repair.
async fn next_poll(state: &AppState, worker: &Worker, job: Job, seq: u32) -> Result<(), Later> {
    if save(state, job.next_poll(seq)).await?.is_none() {
        return Ok(());
    }
    let msg = JobMessage::Poll {
        job_id: job.id.clone(),
        seq: seq + 1,
    };
    let delay = super::poll_plan::delay(state, worker, &job).await;
    enqueue(state.queue.as_ref(), &msg, delay).await?;
    Ok(())
}

/// Downloads the finished video, makes the GIF and stores it, holding the transcode lease.
/// `task` is the answer the poll just had; a worker resuming an abandoned transcode has none.
async fn transcode(
    state: &AppState,
    worker: &Worker,
    job: Job,
    task: Option<TaskState>,
    time: StepTime,
) -> Result<(), Later> {
    let dashscope = &worker.dashscope;
    let end = time.within_lease(state.clock.now(), job.lease_until);
    let task = match task {
        Some(t) => t,
        // The video URL is only in the task's answer, and it expires: ask for it now.
        None => match bounded(
            end,
            dashscope.query_task(job.task_id.as_deref().unwrap_or_default()),
        )
        .await
        {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => return release(state, job, format!("task query: {e}")).await,
            Err(Cut) => return release(state, job, "no time left for the task query".into()).await,
        },
    };
    let Some(url) = task
        .video_url
        .filter(|_| task.status == TaskStatus::Succeeded)
    else {
        let message = failure_message(task.code.as_deref(), task.message.as_deref());
        return fail(state, job, &message, Blame::Emo).await;
    };
    let video = match bounded(end, dashscope.download_video(&url, MAX_VIDEO_BYTES)).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) if e.is_retryable() => {
            return release(state, job, format!("download: {e}")).await;
        }
        Ok(Err(e)) => return fail(state, job, &e.user_message(), Blame::Emo).await,
        Err(Cut) => return release(state, job, "no time left for the download".into()).await,
    };
    let ffmpeg = worker.settings.ffmpeg.clone();
    let settings = worker.settings.gif.clone();
    let caption = match &job.caption {
        Some(c) => match worker.caption_font() {
            Ok(font) => Some((c.clone(), font)),
            Err(e) => return release(state, job, format!("GIF: {e}")).await,
        },
        None => None,
    };
    // The encode runs on the blocking pool; past the step's end its result is not waited for
    // (the lease lets the next delivery redo it).
    let encoding = tokio::task::spawn_blocking(move || -> Result<_, GifError> {
        let mut file = tempfile::Builder::new()
            .suffix(".mp4")
            .tempfile()
            .map_err(|e| GifError::Internal(format!("temp file: {e}")))?;
        std::io::Write::write_all(&mut file, &video)
            .map_err(|e| GifError::Internal(format!("temp file: {e}")))?;
        let captioning = caption
            .as_ref()
            .map(|(caption, font)| crate::gif::caption::Captioning { caption, font });
        crate::gif::mp4_to_gif(&ffmpeg, file.path(), &settings, captioning)
    });
    let encoded = match bounded(end, encoding).await {
        Ok(joined) => joined.map_err(|e| Later(format!("GIF task panicked: {e}")))?,
        Err(Cut) => return release(state, job, "no time left for the GIF".into()).await,
    };
    let sticker = match encoded {
        Ok(s) => s,
        Err(GifError::Undecodable(why)) => {
            tracing::warn!(why, "the video does not decode");
            return fail(state, job, MSG_UNDECODABLE, Blame::Emo).await;
        }
        Err(GifError::OverBudget { smallest, .. }) => {
            tracing::warn!(smallest, "no encoding fits the byte budget");
            return fail(state, job, MSG_TOO_BIG, Blame::Emo).await;
        }
        Err(e) => return release(state, job, format!("GIF: {e}")).await,
    };
    let key = gif_key(&job.id);
    state
        .blobs
        .put(&key, sticker.gif.clone(), "image/gif")
        .await?;
    let thumb_key = crate::gif::thumbnail::store(state.blobs.as_ref(), &job.id, &sticker.gif).await;
    let done = job.succeeded(StickerFile {
        key,
        bytes: sticker.gif.len() as u64,
        width: sticker.width,
        height: sticker.height,
        thumb_key,
    });
    let Some(done) = save(state, done).await? else {
        return Err(Later("the job changed while transcoding".into()));
    };
    tracing::info!(
        bytes = sticker.gif.len(),
        frames = sticker.frames,
        quality = sticker.quality,
        fps = sticker.fps,
        passes = sticker.passes,
        "job SUCCEEDED"
    );
    crate::job::eta::record(state, &done).await;
    crate::job::check::notify_ready(state, &done).await;
    Ok(())
}

/// Gives up the transcode lease after a passing failure so the redelivered message can redo it.
async fn release(state: &AppState, job: Job, why: String) -> Result<(), Later> {
    tracing::warn!(why, "transcode failed for now; will retry");
    save(state, job.lease_released()).await?;
    Err(Later(why))
}
