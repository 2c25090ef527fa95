//! The worker's side of the photo check (a job in `checking`, [`crate::job::check`]): acting on a
//! verdict the push recorded, and sending `media_check_async` (first, again after a lost push, or
//! after WeChat said it could not check), within the job's check deadline.
//!
//! | the job's check                 | the Start does                                             |
//! |---------------------------------|------------------------------------------------------------|
//! | pass / review                   | queues the job (its deadline starts again) and goes on     |
//! | risky                           | FAILED ([`MSG_IMAGE_REFUSED`], kept counted), photo removed |
//! | WeChat could not check          | sends the check again                                      |
//! | sent, not due yet               | nothing (a delayed Start comes when it is due)             |
//! | none sent, or due, checks left  | sends one; a Start delayed by `EMO_MEDIA_CHECK_RETRY_SECS` |
//! | due, no check left              | waits for a late push until the deadline ends the job      |
//!
//! WeChat unreachable, or refusing the call, is a passing failure: the message is delivered
//! again (backing off) until the deadline or its last try; the photo is never let through
//! unchecked, and no DashScope task is made before a verdict.

use crate::AppState;
use crate::job::check::{MAX_MEDIA_CHECKS, MEDIA_CHECK_WINDOW_SECS, MEDIA_URL_TTL, SCENE};
use crate::job::lifecycle::{self, Blame, save};
use crate::job::{CheckOutcome, Job, JobMessage, MSG_GAVE_UP, MSG_IMAGE_REFUSED};
use crate::store::enqueue;

use super::steps::{StepTime, bounded};
use super::{Later, Worker, fail};

/// Advances a job in `checking`. `Some(job)`: the photo passed and the job, queued now, goes on
/// to its submit in this delivery.
pub(super) async fn media_check(
    state: &AppState,
    _worker: &Worker,
    job: Job,
    time: StepTime,
) -> Result<Option<Job>, Later> {
    let now = state.clock.now();
    let check = job.check.clone().unwrap_or_default();
    let job = match check.outcome {
        Some(CheckOutcome::Pass | CheckOutcome::Review) => {
            let deadline = state.job_settings.deadline.as_secs();
            let Some(job) = save(state, job.check_passed(now, deadline)).await? else {
                return Err(Later("the job changed while queueing it".into()));
            };
            tracing::info!("the photo passed WeChat's check");
            return Ok(Some(job));
        }
        Some(CheckOutcome::Risky) => {
            tracing::info!("WeChat found the photo risky; the job ends");
            // The photo goes before the job ends, so a FAILED job never still holds a refused
            // photo (and a retry of this step, after a failed write, finds nothing to remove).
            lifecycle::remove_input(state, &job).await;
            if let Err(e) = state.blobs.delete(&check_copy_key(&job)).await {
                tracing::warn!(error = %anyhow::Error::from(e), "could not remove the photo's check copy");
            }
            fail(state, job, MSG_IMAGE_REFUSED, Blame::User).await?;
            return Ok(None);
        }
        Some(CheckOutcome::Unchecked { errcode }) => {
            tracing::warn!(errcode, "WeChat could not check the photo; checking again");
            match save(state, job.check_retry()).await? {
                Some(job) => job,
                None => return Err(Later("the job changed while checking again".into())),
            }
        }
        None if check.sent_at > 0 && now < check.due_at => return Ok(None),
        None => job,
    };
    let sent = job.check.as_ref().map_or(0, |c| c.trace_ids.len());
    if sent >= MAX_MEDIA_CHECKS {
        if job
            .check
            .as_ref()
            .is_some_and(|c| c.due_at < job.deadline_at)
        {
            tracing::warn!(
                checks = sent,
                "no push for any check sent; waiting for a late one until the deadline"
            );
            save(state, job.check_waits(job.deadline_at)).await?;
        }
        return Ok(None);
    }
    send_check(state, job, sent, time).await?;
    Ok(None)
}

/// Sends one `media_check_async` for the job's photo and records its trace id.
async fn send_check(state: &AppState, job: Job, sent: usize, time: StepTime) -> Result<(), Later> {
    let (Some(wechat), Some(openid)) = (&state.wechat, job.openid.clone()) else {
        // A job is created in `checking` only for a WeChat user with the check on.
        tracing::error!("a job awaits a photo check but there is no WeChat client or openid");
        return fail(state, job, MSG_GAVE_UP, Blame::Emo).await;
    };
    let Some(key) = job.request.input_key().map(str::to_owned) else {
        return fail(state, job, MSG_GAVE_UP, Blame::Emo).await;
    };
    let url_key = match check_copy(state, &job, &key).await? {
        Some(copy) => copy,
        None => return fail(state, job, MSG_GAVE_UP, Blame::Emo).await,
    };
    let url = state.blobs.url(&url_key, MEDIA_URL_TTL).await?;
    let trace_id = match bounded(time.deadline, wechat.check_image(&openid, SCENE, &url)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err(Later(format!("media_check_async: {e}"))),
        Err(_) => return Err(Later("no time left for media_check_async".into())),
    };
    let now = state.clock.now();
    // The marker first: a push that comes before the job's write below still finds the job.
    state
        .jobs
        .link_trace(&trace_id, &job.id, now + MEDIA_CHECK_WINDOW_SECS)
        .await?;
    let retry = state.check.media_retry;
    let last = sent + 1 >= MAX_MEDIA_CHECKS;
    let due = if last {
        job.deadline_at
    } else {
        now + retry.as_secs()
    };
    tracing::info!(%trace_id, check = sent + 1, "photo sent to WeChat's check");
    if save(state, job.check_sent(trace_id, now, due))
        .await?
        .is_none()
    {
        // The push came first (or another worker sent a check too): the job is looked after.
        return Ok(());
    }
    if !last {
        let msg = JobMessage::Start { job_id: job.id };
        // Lost, it is the sweep's to repair once the check is due.
        enqueue(state.queue.as_ref(), &msg, retry).await?;
    }
    Ok(())
}

/// The blob WeChat is shown: the input itself, or for a WebP (which WeChat does not take) a JPEG
/// copy beside it. `None` when the input is gone or does not decode.
async fn check_copy(state: &AppState, job: &Job, key: &str) -> Result<Option<String>, Later> {
    let Some(bytes) = state.blobs.get(key).await? else {
        tracing::error!(key, "the photo to check is gone");
        return Ok(None);
    };
    let converted = tokio::task::spawn_blocking(move || crate::photo::for_media_check(&bytes))
        .await
        .map_err(|e| Later(format!("conversion panicked: {e}")))?;
    match converted {
        Ok(None) => Ok(Some(key.to_owned())),
        Ok(Some(jpeg)) => {
            let copy = check_copy_key(job);
            state.blobs.put(&copy, jpeg, "image/jpeg").await?;
            Ok(Some(copy))
        }
        Err(e) => {
            tracing::error!(error = %e, "the photo to check does not decode");
            Ok(None)
        }
    }
}

/// Where a WebP photo's JPEG copy for WeChat is kept (beside the input: it expires with it).
fn check_copy_key(job: &Job) -> String {
    crate::store::input_key(&job.id, "check.jpg")
}
