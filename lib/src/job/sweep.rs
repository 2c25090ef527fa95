//! The sweep: finds the jobs in progress whose message was lost and sends it again, and ends the
//! ones past their deadline. A job is created by writing it, then sending its Start message; a
//! process that stops between the two, a send that fails after the write, or a message the queue
//! drops would otherwise leave a job that nothing advances, its allowance spent. The sweeper
//! Lambda runs it every minute; `emo-local`'s worker loop every few seconds.
//!
//! It reads the index of jobs in progress by their last write
//! ([`crate::store::JobStore::list_unattended`]), never the whole table. Every step that keeps a
//! job alive writes it (a poll, a job waiting for a DashScope slot), so a job unwritten for longer
//! than [`SweepSettings::quiet`] has no live message, or one in a retry's backoff; sending
//! another then costs nothing, since a duplicate is dropped by the job's revision and poll number.

use std::time::Duration;

use crate::AppState;
use crate::settings::{Env, SettingsError};
use crate::store::{StoreError, enqueue};

use super::lifecycle::{self, Blame, FailError, save};
use super::{Job, JobMessage, MSG_TIMEOUT, Stage};

/// How many jobs one sweep looks at; the next sweep takes the rest.
const BATCH: usize = 100;

/// The least time a job may go unwritten before the sweep looks at it.
const MIN_QUIET_SECS: u64 = 20;

#[derive(Debug, Clone)]
pub struct SweepSettings {
    /// How long a job in progress may go unwritten before its message counts as lost: three
    /// poll intervals (`EMO_POLL_INTERVAL_SECS`), at least 20 seconds.
    pub quiet: Duration,
}

impl SweepSettings {
    pub fn from_env(env: &Env<'_>) -> Result<Self, SettingsError> {
        let poll = super::settings::poll_interval(env)?;
        Ok(Self {
            quiet: (poll * 3).max(Duration::from_secs(MIN_QUIET_SECS)),
        })
    }
}

impl Default for SweepSettings {
    fn default() -> Self {
        Self {
            quiet: Duration::from_secs(30),
        }
    }
}

/// What one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Jobs whose message was sent again.
    pub restarted: usize,
    /// Jobs past their deadline, ended FAILED.
    pub ended: usize,
}

/// The message that advances `job` from where it is, if it needs one at `now`.
fn lost_message(job: &Job, now: u64, quiet: u64) -> Option<JobMessage> {
    let unwritten = job.updated_at + quiet <= now;
    let id = job.id.clone();
    match job.stage {
        // Awaiting WeChat's push: looked at once it is due (the delayed Start that re-sends the
        // check was lost), or when its last write is old (the check was never sent).
        Stage::Checking if job.sweep_after().is_some_and(|t| t + quiet <= now) => {
            Some(JobMessage::Start { job_id: id })
        }
        // A character job whose describing worker stopped is described again.
        Stage::Queued | Stage::Describing if unwritten => Some(JobMessage::Start { job_id: id }),
        // A step under a lease is looked after until the lease ends.
        Stage::Submitting if unwritten && job.lease_until < now => {
            Some(JobMessage::Start { job_id: id })
        }
        Stage::Generating if unwritten => Some(JobMessage::Poll {
            job_id: id,
            seq: job.poll_seq,
        }),
        Stage::Transcoding if unwritten && job.lease_until < now => Some(JobMessage::Poll {
            job_id: id,
            seq: job.poll_seq,
        }),
        _ => None,
    }
}

/// Sends the lost messages of jobs in progress and ends those past their deadline.
pub async fn sweep(state: &AppState, settings: &SweepSettings) -> Result<Swept, StoreError> {
    let now = state.clock.now();
    let quiet = settings.quiet.as_secs();
    let mut swept = Swept::default();
    for job in state
        .jobs
        .list_unattended(now - quiet.min(now), BATCH)
        .await?
    {
        if job.status.is_terminal() {
            continue;
        }
        if now >= job.deadline_at {
            match lifecycle::fail(state, job, MSG_TIMEOUT, Blame::Emo).await {
                Ok(_) => swept.ended += 1,
                Err(FailError::Store(e)) => return Err(e),
                Err(FailError::Contended) => {}
            }
            continue;
        }
        let Some(message) = lost_message(&job, now, quiet) else {
            continue;
        };
        // Written first: if another writer moved the job meanwhile, it is looked after.
        if save(state, job.touched()).await?.is_none() {
            continue;
        }
        tracing::warn!(job_id = %job.id, stage = ?job.stage, "job had no live message; sent again");
        enqueue(state.queue.as_ref(), &message, Duration::ZERO).await?;
        swept.restarted += 1;
    }
    Ok(swept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::VideoSize;
    use crate::job::{JobId, JobRequest};

    fn job() -> Job {
        let request = JobRequest::TextToVideo {
            prompt: "一只猫".into(),
            negative_prompt: None,
            size: VideoSize::parse(None).unwrap(),
        };
        Job::new(JobId::new(), 7, request, 1_000, 1_800)
    }

    #[test]
    fn a_queued_job_unwritten_for_the_quiet_time_is_started_again() {
        for j in [job(), job().describing()] {
            assert_eq!(lost_message(&j, 1_029, 30), None);
            assert!(matches!(
                lost_message(&j, 1_030, 30),
                Some(JobMessage::Start { .. })
            ));
        }
    }

    #[test]
    fn a_job_awaiting_its_push_is_started_again_only_once_its_check_is_due() {
        let sent = job().checking(2_400).check_sent("t".into(), 1_000, 1_600);
        assert_eq!(lost_message(&sent, 1_100, 30), None);
        assert_eq!(lost_message(&sent, 1_629, 30), None);
        assert!(matches!(
            lost_message(&sent, 1_630, 30),
            Some(JobMessage::Start { .. })
        ));
        let unsent = job().checking(2_400);
        assert!(matches!(
            lost_message(&unsent, 1_030, 30),
            Some(JobMessage::Start { .. })
        ));
    }

    #[test]
    fn a_step_under_a_live_lease_is_left_alone() {
        let submitting = job().claim_submit(1_000, 180);
        assert_eq!(lost_message(&submitting, 1_100, 30), None);
        assert!(matches!(
            lost_message(&submitting, 1_181, 30),
            Some(JobMessage::Start { .. })
        ));
        let transcoding = job()
            .submitted("t".into(), None)
            .claim_transcode(1_000, 180);
        assert_eq!(lost_message(&transcoding, 1_100, 30), None);
        assert_eq!(
            lost_message(&transcoding, 1_181, 30),
            Some(JobMessage::Poll {
                job_id: transcoding.id.clone(),
                seq: 1
            })
        );
    }

    #[test]
    fn a_generating_job_gets_its_live_poll_again() {
        let j = job().submitted("t".into(), None).next_poll(1);
        assert_eq!(
            lost_message(&j, 1_030, 30),
            Some(JobMessage::Poll {
                job_id: j.id.clone(),
                seq: 2
            })
        );
        assert_eq!(lost_message(&j.failed("x"), 5_000, 30), None);
    }
}
