//! Every change of a job's state, as pure methods on [`Job`]: no I/O, no clock of their own, so
//! each is tested here on its own. This is the only file that assigns `status` or `stage`.
//!
//! ```text
//! new ──checking──> Checking ──check_sent(trace)──> Checking ──check_answered(verdict)──> Checking
//!   ──check_passed──> Queued    (pass or review: the job's deadline starts again from here)
//!   ──check_retry──> Checking   (the push said WeChat could not check: another check is sent)
//!   ──failed──> Done (FAILED)   (risky; or the check's deadline passed)
//! new ──> Queued ──claim_submit──> Submitting ──submitted(task)──> Generating ──claim_transcode──>
//!   Transcoding ──succeeded(gif)──> Done (SUCCEEDED)
//! Queued ──describing──> Describing ──with_description──> Queued   (a character job, Qwen asked)
//! Submitting ──requeued──> Queued            (DashScope refused for now; no task was made)
//! Submitting ──create_unclear──> Submitting  (no clear answer: the task list is read after)
//! Submitting ──nothing_created──> Queued     (the task list shows no task of that window)
//! Submitting ──submitted(adopted task)──> Generating (the task list shows the window's task)
//! Generating ──next_poll──> Generating       (the task is still running)
//! Transcoding ──lease_released──> Transcoding (a passing failure; the next delivery resumes)
//! any state in progress ──failed(message)──> Done (FAILED)
//! ```
//!
//! A transition returns the next job and leaves `rev` and `updated_at` alone: writing it is
//! [`super::lifecycle::save`]'s job, which bumps `rev` so that only one writer of a revision wins.

use super::{CheckOutcome, ImageCheck, Job, JobId, JobRequest, JobStatus, Stage};

/// The GIF a finished job points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StickerFile {
    pub key: String,
    pub bytes: u64,
    pub width: u32,
    pub height: u32,
    /// Its thumbnail, when one was made.
    pub thumb_key: Option<String>,
}

impl Job {
    /// A new job, PENDING and queued, with its deadline `deadline_secs` after `now`.
    pub fn new(id: JobId, user_id: i64, request: JobRequest, now: u64, deadline_secs: u64) -> Self {
        Self {
            id,
            user_id,
            request,
            status: JobStatus::Pending,
            stage: Stage::Queued,
            rev: 0,
            created_at: now,
            created_micros: 0,
            updated_at: now,
            deadline_at: now + deadline_secs,
            lease_until: 0,
            submit_attempts: 0,
            submit_started_at: 0,
            described_prompt: None,
            seed: None,
            task_id: None,
            poll_seq: 0,
            gif_key: None,
            gif_bytes: None,
            gif_width: None,
            gif_height: None,
            thumb_key: None,
            error_message: None,
            openid: None,
            check: None,
            texts_checked: false,
            ready_sent: false,
            caption: None,
        }
    }

    /// An image-to-video job whose photo WeChat checks before anything else: it waits in
    /// Checking, and its deadline is the check's own, `check_deadline_secs` after its creation.
    pub fn checking(&self, check_deadline_secs: u64) -> Job {
        let mut next = self.clone();
        next.stage = Stage::Checking;
        next.check = Some(ImageCheck::default());
        next.deadline_at = next.created_at + check_deadline_secs;
        next
    }

    /// A `media_check_async` was sent at `now` and answered `trace_id`: the push is awaited until
    /// `due_at`, when the worker looks again.
    pub fn check_sent(&self, trace_id: String, now: u64, due_at: u64) -> Job {
        let mut next = self.clone();
        let check = next.check.get_or_insert_with(ImageCheck::default);
        check.trace_ids.push(trace_id);
        check.sent_at = now;
        check.due_at = due_at;
        check.outcome = None;
        next
    }

    /// No push came and no check is left to send: the job waits for a late push until
    /// `until` (its deadline).
    pub fn check_waits(&self, until: u64) -> Job {
        let mut next = self.clone();
        if let Some(check) = &mut next.check {
            check.due_at = until;
        }
        next
    }

    /// The push for one of the job's checks said `outcome`; the worker acts on it. Only the first
    /// verdict of a job in Checking counts: a later or duplicated push changes nothing.
    pub fn check_answered(&self, outcome: CheckOutcome) -> Job {
        let mut next = self.clone();
        if next.stage == Stage::Checking
            && let Some(check) = &mut next.check
            && check.outcome.is_none()
        {
            check.outcome = Some(outcome);
            check.due_at = 0;
        }
        next
    }

    /// WeChat could not check the photo: the outcome is dropped so that another check is sent.
    pub fn check_retry(&self) -> Job {
        let mut next = self.clone();
        if let Some(check) = &mut next.check {
            check.outcome = None;
            check.due_at = 0;
        }
        next
    }

    /// The photo passed (or is only to be reviewed): the job is queued for its task, with the
    /// whole job deadline (`deadline_secs`) from `now`, so the time spent checking costs the
    /// generation nothing.
    pub fn check_passed(&self, now: u64, deadline_secs: u64) -> Job {
        let mut next = self.clone();
        next.stage = Stage::Queued;
        next.deadline_at = now + deadline_secs;
        if let Some(check) = &mut next.check {
            check.due_at = 0;
        }
        next
    }

    /// The job's ready message is claimed: whoever writes this sends it, once.
    pub fn ready_claimed(&self) -> Job {
        let mut next = self.clone();
        next.ready_sent = true;
        next
    }

    /// From when the sweep should look at the job for a lost message (`None` once it ended): its
    /// last write, or, for a job awaiting a push, the time it is due to be looked at again.
    pub fn sweep_after(&self) -> Option<u64> {
        if self.status.is_terminal() {
            return None;
        }
        match &self.check {
            Some(c) if self.stage == Stage::Checking && c.outcome.is_none() && c.due_at > 0 => {
                Some(c.due_at)
            }
            _ => Some(self.updated_at),
        }
    }

    /// A character job's worker, holding the job's DashScope slot, asks Qwen to describe the
    /// character: the query shows `describing` meanwhile.
    pub fn describing(&self) -> Job {
        let mut next = self.clone();
        next.stage = Stage::Describing;
        next
    }

    /// A worker takes the submit step: it owns the job until `now + lease_secs`, and any task
    /// its create call makes is made in `[now, lease_until]`.
    pub fn claim_submit(&self, now: u64, lease_secs: u64) -> Job {
        let mut next = self.clone();
        next.stage = Stage::Submitting;
        next.lease_until = now + lease_secs;
        next.submit_started_at = now;
        next.submit_attempts += 1;
        next
    }

    /// The create call had no clear answer (a 5xx, a timeout, a broken connection): a task may
    /// exist. The job keeps Submitting with its window closing at `until`; after that the task
    /// list tells whether it was made. `described` is kept so Qwen is not asked twice.
    pub fn create_unclear(&self, until: u64, described: Option<String>) -> Job {
        let mut next = self.clone();
        next.lease_until = until;
        next.described_prompt = described;
        next
    }

    /// The task list shows that no task was made in the submit window: back in the queue for a
    /// fresh submit, the attempt still counted (so a job whose creates never answer ends).
    pub fn nothing_created(&self) -> Job {
        let mut next = self.clone();
        next.stage = Stage::Queued;
        next.lease_until = 0;
        next
    }

    /// Qwen described the character: the description is kept for every submit of the job, which
    /// waits for its submit as any queued job.
    pub fn with_description(&self, description: String) -> Job {
        let mut next = self.clone();
        next.described_prompt = Some(description);
        if next.stage == Stage::Describing {
            next.stage = Stage::Queued;
        }
        next
    }

    /// Nothing changes but the write itself (`updated_at`): a job waiting for a DashScope slot is
    /// shown to be looked after, so the sweep leaves it alone.
    pub fn touched(&self) -> Job {
        self.clone()
    }

    /// DashScope made task `task_id`: the job is RUNNING and waits for poll 1. `described` is the
    /// prompt Qwen wrote for a character job.
    pub fn submitted(&self, task_id: String, described: Option<String>) -> Job {
        let mut next = self.clone();
        next.status = JobStatus::Running;
        next.stage = Stage::Generating;
        next.task_id = Some(task_id);
        next.described_prompt = described;
        next.lease_until = 0;
        next.poll_seq = 1;
        next
    }

    /// DashScope refused for now and made no task: back in the queue, the lease given up and the
    /// attempt not counted, keeping Qwen's description so it is not asked for twice.
    pub fn requeued(&self, described: Option<String>) -> Job {
        let mut next = self.clone();
        next.stage = Stage::Queued;
        next.lease_until = 0;
        next.submit_attempts = next.submit_attempts.saturating_sub(1);
        next.described_prompt = described;
        next
    }

    /// Poll `seq` found the task still running; poll `seq + 1` is the live one now.
    pub fn next_poll(&self, seq: u32) -> Job {
        let mut next = self.clone();
        next.poll_seq = seq + 1;
        next
    }

    /// A worker takes the transcode step: it owns the job until `now + lease_secs`.
    pub fn claim_transcode(&self, now: u64, lease_secs: u64) -> Job {
        let mut next = self.clone();
        next.stage = Stage::Transcoding;
        next.lease_until = now + lease_secs;
        next
    }

    /// The step held under a lease failed for now: give the lease up so the next delivery redoes
    /// the step at once.
    pub fn lease_released(&self) -> Job {
        let mut next = self.clone();
        next.lease_until = 0;
        next
    }

    /// The GIF is stored: the job is SUCCEEDED.
    pub fn succeeded(&self, gif: StickerFile) -> Job {
        let mut next = self.clone();
        next.status = JobStatus::Succeeded;
        next.stage = Stage::Done;
        next.lease_until = 0;
        next.gif_key = Some(gif.key);
        next.gif_bytes = Some(gif.bytes);
        next.gif_width = Some(gif.width);
        next.gif_height = Some(gif.height);
        next.thumb_key = gif.thumb_key;
        next
    }

    /// Ends the job FAILED with `message` for the user.
    pub fn failed(&self, message: impl Into<String>) -> Job {
        let mut next = self.clone();
        next.status = JobStatus::Failed;
        next.stage = Stage::Done;
        next.error_message = Some(message.into());
        next.lease_until = 0;
        next
    }

    /// Whether a job still in progress is past its deadline by more than `grace_secs` at `now`.
    pub fn is_overdue(&self, now: u64, grace_secs: u64) -> bool {
        !self.status.is_terminal() && now > self.deadline_at + grace_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::VideoSize;

    fn queued() -> Job {
        let request = JobRequest::TextToVideo {
            prompt: "一只猫".into(),
            negative_prompt: None,
            size: VideoSize::parse(None).unwrap(),
        };
        Job::new(JobId::new(), 7, request, 1_000, 1_800)
    }

    #[test]
    fn a_new_job_is_pending_queued_and_due_at_its_deadline() {
        let job = queued();
        assert_eq!((job.status, job.stage), (JobStatus::Pending, Stage::Queued));
        assert_eq!(
            (job.rev, job.created_at, job.deadline_at),
            (0, 1_000, 2_800)
        );
        assert!(!job.is_overdue(2_800 + 120, 120));
        assert!(job.is_overdue(2_800 + 121, 120));
    }

    #[test]
    fn a_checked_photo_waits_for_its_push_then_is_queued_with_a_fresh_deadline() {
        let job = queued().checking(2_400);
        assert_eq!(
            (job.status, job.stage, job.deadline_at),
            (JobStatus::Pending, Stage::Checking, 3_400)
        );
        assert_eq!(
            job.sweep_after(),
            Some(1_000),
            "not sent yet: its last write"
        );
        let sent = job.check_sent("t-1".into(), 1_010, 1_610);
        assert_eq!(sent.sweep_after(), Some(1_610), "sent: looked at when due");
        let answered = sent.check_answered(CheckOutcome::Pass);
        assert_eq!(
            answered.check.as_ref().unwrap().outcome,
            Some(CheckOutcome::Pass)
        );
        assert_eq!(answered.sweep_after(), Some(answered.updated_at));
        // A second push changes nothing.
        let again = answered.check_answered(CheckOutcome::Risky);
        assert_eq!(again.check, answered.check);
        let passed = again.check_passed(1_500, 1_800);
        assert_eq!(
            (passed.status, passed.stage, passed.deadline_at),
            (JobStatus::Pending, Stage::Queued, 3_300)
        );
        // A push arriving once the job moved on is not recorded either.
        assert_eq!(
            passed.check_answered(CheckOutcome::Risky).check,
            passed.check
        );
    }

    #[test]
    fn a_check_wechat_could_not_make_is_sent_again_and_a_last_one_waits_for_the_deadline() {
        let job = queued()
            .checking(2_400)
            .check_sent("t-1".into(), 1_010, 1_610)
            .check_answered(CheckOutcome::Unchecked { errcode: 43104 })
            .check_retry();
        let check = job.check.clone().unwrap();
        assert_eq!((check.outcome, check.due_at), (None, 0));
        let resent = job
            .check_sent("t-2".into(), 1_020, 1_620)
            .check_waits(3_400);
        let check = resent.check.clone().unwrap();
        assert_eq!(check.trace_ids, ["t-1", "t-2"]);
        assert_eq!(resent.sweep_after(), Some(3_400));
        assert_eq!(resent.failed("x").sweep_after(), None);
    }

    #[test]
    fn the_ready_message_is_claimed_once() {
        let job = queued().failed("x");
        assert!(!job.ready_sent);
        assert!(job.ready_claimed().ready_sent);
    }

    #[test]
    fn a_submit_claims_a_lease_and_counts_the_attempt() {
        let claimed = queued().claim_submit(1_010, 180);
        assert_eq!(claimed.stage, Stage::Submitting);
        assert_eq!(claimed.lease_until, 1_190);
        assert_eq!(claimed.submit_attempts, 1);
        assert_eq!(claimed.status, JobStatus::Pending);
    }

    #[test]
    fn a_made_task_runs_with_poll_one_live_and_no_lease() {
        let job = queued()
            .claim_submit(1_010, 180)
            .submitted("task-1".into(), Some("孙悟空".into()));
        assert_eq!(
            (job.status, job.stage),
            (JobStatus::Running, Stage::Generating)
        );
        assert_eq!(job.task_id.as_deref(), Some("task-1"));
        assert_eq!(job.described_prompt.as_deref(), Some("孙悟空"));
        assert_eq!((job.lease_until, job.poll_seq), (0, 1));
    }

    #[test]
    fn a_refused_submit_goes_back_to_the_queue_without_counting() {
        let job = queued()
            .claim_submit(1_010, 180)
            .requeued(Some("描述".into()));
        assert_eq!((job.status, job.stage), (JobStatus::Pending, Stage::Queued));
        assert_eq!((job.lease_until, job.submit_attempts), (0, 0));
        assert_eq!(job.described_prompt.as_deref(), Some("描述"));
    }

    #[test]
    fn an_unclear_create_keeps_the_window_then_an_empty_list_requeues_it_counted() {
        let claimed = queued().claim_submit(1_010, 180);
        assert_eq!(claimed.submit_started_at, 1_010);
        let unclear = claimed.create_unclear(1_020, Some("描述".into()));
        assert_eq!(
            (
                unclear.stage,
                unclear.lease_until,
                unclear.submit_started_at
            ),
            (Stage::Submitting, 1_020, 1_010)
        );
        assert_eq!(unclear.described_prompt.as_deref(), Some("描述"));
        let again = unclear.nothing_created();
        assert_eq!((again.stage, again.lease_until), (Stage::Queued, 0));
        assert_eq!(again.submit_attempts, 1, "the attempt stays counted");
        assert_eq!(again.described_prompt.as_deref(), Some("描述"));
    }

    #[test]
    fn a_character_is_described_then_queued_again_for_its_submit() {
        let job = queued().describing();
        assert_eq!(
            (job.status, job.stage),
            (JobStatus::Pending, Stage::Describing)
        );
        let described = job.with_description("红衣少女".into());
        assert_eq!(described.stage, Stage::Queued);
        assert_eq!(described.described_prompt.as_deref(), Some("红衣少女"));
        let claimed = described.claim_submit(1_010, 180);
        assert_eq!(claimed.stage, Stage::Submitting);
    }

    #[test]
    fn polls_advance_the_live_number() {
        let job = queued()
            .submitted("t".into(), None)
            .next_poll(1)
            .next_poll(2);
        assert_eq!(job.poll_seq, 3);
        assert_eq!(job.stage, Stage::Generating);
    }

    #[test]
    fn a_transcode_claims_a_lease_that_a_passing_failure_gives_back() {
        let job = queued()
            .submitted("t".into(), None)
            .claim_transcode(1_100, 180);
        assert_eq!((job.stage, job.lease_until), (Stage::Transcoding, 1_280));
        let released = job.lease_released();
        assert_eq!(
            (released.stage, released.lease_until),
            (Stage::Transcoding, 0)
        );
    }

    #[test]
    fn a_stored_gif_ends_the_job_succeeded() {
        let gif = StickerFile {
            key: "gifs/x.gif".into(),
            bytes: 1234,
            width: 240,
            height: 160,
            thumb_key: Some("thumbs/x.png".into()),
        };
        let job = queued()
            .submitted("t".into(), None)
            .claim_transcode(1_100, 180)
            .succeeded(gif);
        assert_eq!((job.status, job.stage), (JobStatus::Succeeded, Stage::Done));
        assert_eq!(job.gif_key.as_deref(), Some("gifs/x.gif"));
        assert_eq!(job.thumb_key.as_deref(), Some("thumbs/x.png"));
        assert_eq!(
            (job.gif_bytes, job.gif_width, job.gif_height),
            (Some(1234), Some(240), Some(160))
        );
        assert_eq!(job.lease_until, 0);
        assert!(!job.is_overdue(u64::MAX - 200, 120));
    }

    #[test]
    fn a_failure_ends_the_job_with_its_message_from_any_stage() {
        for job in [
            queued(),
            queued().checking(2_400),
            queued().describing(),
            queued().claim_submit(1_010, 180),
            queued().submitted("t".into(), None),
            queued()
                .submitted("t".into(), None)
                .claim_transcode(1_100, 180),
        ] {
            let failed = job.failed("生成超时");
            assert_eq!(
                (failed.status, failed.stage),
                (JobStatus::Failed, Stage::Done)
            );
            assert_eq!(failed.error_message.as_deref(), Some("生成超时"));
            assert_eq!(failed.lease_until, 0);
            assert_eq!(failed.rev, job.rev, "writing bumps rev, not the transition");
        }
    }
}
