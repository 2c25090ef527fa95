//! The worker's steps: start (claim, describe, submit), poll, and transcode. Each reads the job,
//! calls DashScope or ffmpeg, and writes the job's next state through its transition
//! ([`crate::job::transitions`]) and [`lifecycle::save`].

use crate::AppState;
use crate::dashscope::{DashScopeError, TaskState, TaskStatus, character_prompt, failure_message};
use crate::gif::GifError;
use crate::job::lifecycle::{self, save};
use crate::job::transitions::StickerFile;
use crate::job::{Job, JobMessage, JobRequest, Stage};
use crate::store::{enqueue, gif_key};

use super::{Later, MSG_GAVE_UP, MSG_TOO_BIG, MSG_UNDECODABLE, Worker, fail};

/// How big a DashScope MP4 may be (a 5-second 720P clip is a few MB).
const MAX_VIDEO_BYTES: usize = 200 * 1024 * 1024;

pub(super) async fn start(state: &AppState, worker: &Worker, job: Job) -> Result<(), Later> {
    let now = state.clock.now();
    let poll_interval = worker.settings.poll_interval;
    match job.stage {
        Stage::Queued => {}
        Stage::Submitting if job.lease_until > now => {
            let msg = JobMessage::Start {
                job_id: job.id.clone(),
            };
            return look_again_after_lease(state, &job, &msg, now).await;
        }
        Stage::Submitting if job.submit_attempts >= 2 => {
            // Two workers died mid-submit: something is wrong with this job, stop spending.
            return fail(state, job, MSG_GAVE_UP).await;
        }
        Stage::Submitting => tracing::warn!("taking over a submit whose worker stopped"),
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
    // The account runs only so many tasks per model at once: wait for a slot, do not fail.
    let model = job.request.model_kind();
    if !state
        .slots
        .acquire_task_slot(
            model,
            &job.id,
            now,
            job.deadline_at,
            state.store.max_in_flight,
        )
        .await?
    {
        tracing::info!(
            model = model.as_str(),
            "every DashScope slot is busy; the job waits"
        );
        let msg = JobMessage::Start {
            job_id: job.id.clone(),
        };
        enqueue(state.queue.as_ref(), &msg, poll_interval).await?;
        return Ok(());
    }
    let claim = job.claim_submit(now, worker.settings.lease.as_secs());
    let Some(claimed) = save(state, claim).await? else {
        return Err(Later("the job changed while claiming it".into()));
    };
    submit(state, worker, claimed).await
}

/// Another worker holds the job's step (a redelivery while the first delivery still runs, or two
/// workers on one job). That is no failure of this delivery: it must not count towards the
/// message's last try, which would fail a job that is doing well. Instead `msg` is sent again as
/// a fresh message for when the lease ends, and this delivery is done: if the holder finishes,
/// the copy finds nothing to do; if it died, the copy takes the step over.
async fn look_again_after_lease(
    state: &AppState,
    job: &Job,
    msg: &JobMessage,
    now: u64,
) -> Result<(), Later> {
    let wait = std::time::Duration::from_secs(job.lease_until.saturating_sub(now) + 1);
    tracing::info!(
        wait_secs = wait.as_secs(),
        "another worker holds this job's step; looking again when its lease ends"
    );
    enqueue(state.queue.as_ref(), msg, wait).await?;
    Ok(())
}

/// Asks DashScope for the video, holding the submit lease.
async fn submit(state: &AppState, worker: &Worker, job: Job) -> Result<(), Later> {
    let dashscope = &worker.dashscope;
    let mut described = job.described_prompt.clone();
    let created = match &job.request {
        JobRequest::TextToVideo {
            prompt,
            negative_prompt,
            size,
        } => {
            dashscope
                .create_text_to_video(prompt, negative_prompt.as_deref(), size.as_str())
                .await
        }
        JobRequest::ImageToVideo {
            prompt,
            negative_prompt,
            resolution,
            image_key,
        } => {
            let Some(bytes) = state.blobs.get(image_key).await? else {
                return fail(state, job, MSG_GAVE_UP).await;
            };
            let Some(uri) = crate::photo::data_uri(&bytes) else {
                return fail(state, job, MSG_GAVE_UP).await;
            };
            dashscope
                .create_image_to_video(
                    prompt,
                    negative_prompt.as_deref(),
                    &uri,
                    resolution.as_str(),
                )
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
                    dashscope
                        .create_text_to_video(&prompt, None, size.as_str())
                        .await
                }
                Err(e) => Err(e),
            }
        }
    };
    match created {
        Ok(task_id) => {
            tracing::Span::current().record("task_id", task_id.as_str());
            tracing::info!("DashScope task created");
            if save(state, job.submitted(task_id, described))
                .await?
                .is_none()
            {
                // Only possible if our lease ran out and another worker took the job over.
                tracing::error!("lost the job after creating its task");
                return Ok(());
            }
            let msg = JobMessage::Poll {
                job_id: job.id.clone(),
                seq: 1,
            };
            // If this send fails the Start message comes back and re-sends the poll.
            enqueue(state.queue.as_ref(), &msg, worker.settings.poll_interval).await?;
            Ok(())
        }
        Err(e) if e.is_retryable() => {
            tracing::warn!(error = %e, code = e.code().unwrap_or(""), "DashScope refused for now; will retry");
            // No task was made: give the slot and the lease back so the retry starts afresh.
            lifecycle::release_slot(state, &job).await;
            save(state, job.requeued(described)).await?;
            Err(Later(format!("DashScope: {e}")))
        }
        Err(e) => {
            tracing::warn!(error = %e, code = e.code().unwrap_or(""), "DashScope refused the job");
            fail(state, job, &e.user_message()).await
        }
    }
}

pub(super) async fn poll(
    state: &AppState,
    worker: &Worker,
    job: Job,
    seq: u32,
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
        Stage::Transcoding => return transcode(state, worker, job, None).await,
        Stage::Queued | Stage::Submitting | Stage::Done => return Ok(()),
    }
    let task_id = job.task_id.clone().unwrap_or_default();
    let task = match worker.dashscope.query_task(&task_id).await {
        Ok(t) => t,
        // Asking again is free: a passing failure, or an answer that could not be read, is
        // followed by the next poll (the deadline bounds how long).
        Err(e) if e.is_retryable() || matches!(e, DashScopeError::Protocol { .. }) => {
            tracing::warn!(error = %e, "task query failed for now");
            return next_poll(state, worker, job, seq).await;
        }
        Err(e) => return fail(state, job, &e.user_message()).await,
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
            transcode(state, worker, claimed, Some(task)).await
        }
        TaskStatus::Failed | TaskStatus::Canceled | TaskStatus::Unknown => {
            tracing::warn!(
                status = task.status.as_str(),
                code = task.code.as_deref().unwrap_or(""),
                "DashScope task did not succeed"
            );
            let message = failure_message(task.code.as_deref(), task.message.as_deref());
            fail(state, job, &message).await
        }
    }
}

/// Schedules poll `seq + 1`: sent first, then recorded, so a crash in between leaves at worst a
/// duplicate (dropped by its number), never no poll at all.
async fn next_poll(state: &AppState, worker: &Worker, job: Job, seq: u32) -> Result<(), Later> {
    let msg = JobMessage::Poll {
        job_id: job.id.clone(),
        seq: seq + 1,
    };
    enqueue(state.queue.as_ref(), &msg, worker.settings.poll_interval).await?;
    save(state, job.next_poll(seq)).await?;
    Ok(())
}

/// Downloads the finished video, makes the GIF and stores it, holding the transcode lease.
/// `task` is the answer the poll just had; a worker resuming an abandoned transcode has none.
async fn transcode(
    state: &AppState,
    worker: &Worker,
    job: Job,
    task: Option<TaskState>,
) -> Result<(), Later> {
    let dashscope = &worker.dashscope;
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
        return fail(state, job, &message).await;
    };
    let video = match dashscope.download_video(&url, MAX_VIDEO_BYTES).await {
        Ok(v) => v,
        Err(e) if e.is_retryable() => return release(state, job, format!("download: {e}")).await,
        Err(e) => return fail(state, job, &e.user_message()).await,
    };
    let ffmpeg = worker.settings.ffmpeg.clone();
    let settings = worker.settings.gif.clone();
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
    .map_err(|e| Later(format!("GIF task panicked: {e}")))?;
    let sticker = match encoded {
        Ok(s) => s,
        Err(GifError::Undecodable(why)) => {
            tracing::warn!(why, "the video does not decode");
            return fail(state, job, MSG_UNDECODABLE).await;
        }
        Err(GifError::OverBudget { smallest, .. }) => {
            tracing::warn!(smallest, "no encoding fits the byte budget");
            return fail(state, job, MSG_TOO_BIG).await;
        }
        Err(e) => return release(state, job, format!("GIF: {e}")).await,
    };
    let key = gif_key(&job.id);
    state
        .blobs
        .put(&key, sticker.gif.clone(), "image/gif")
        .await?;
    let done = job.succeeded(StickerFile {
        key,
        bytes: sticker.gif.len() as u64,
        width: sticker.width,
        height: sticker.height,
    });
    if save(state, done).await?.is_none() {
        return Err(Later("the job changed while transcoding".into()));
    }
    tracing::info!(
        bytes = sticker.gif.len(),
        frames = sticker.frames,
        quality = sticker.quality,
        fps = sticker.fps,
        passes = sticker.passes,
        "job SUCCEEDED"
    );
    lifecycle::remove_input(state, &job).await;
    Ok(())
}

/// Gives up the transcode lease after a passing failure so the redelivered message can redo it.
async fn release(state: &AppState, job: Job, why: String) -> Result<(), Later> {
    tracing::warn!(why, "transcode failed for now; will retry");
    save(state, job.lease_released()).await?;
    Err(Later(why))
}
