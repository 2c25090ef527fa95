//! Storage ports and their adapters.
//!
//! Each port is a narrow trait: [`UserStore`], [`DailyQuota`], [`ClientBounds`], [`AccessTokens`], [`JobStore`],
//! [`TaskSlots`], [`JobDurations`], [`BlobStore`], [`JobQueue`]. `local` implements them on an embedded SQLite file and a folder
//! (behind the `local` feature, so the Lambdas do not link SQLite), `aws` on the official SDK;
//! [`unconfigured`] stands in for a port a function has no use for. Domain code sees only the
//! traits; item mapping stays inside each adapter. The same contract tests (`lib/tests/it/*_store.rs`,
//! `job_queue.rs`) run against every adapter. [`settings`] names the tables, bucket and queue.

pub mod aws;
#[cfg(feature = "local")]
pub mod local;
pub mod settings;
pub mod unconfigured;

pub use settings::{Backend, StoreSettings};

use std::time::Duration;

use async_trait::async_trait;

use crate::auth::LockoutPolicy;
use crate::domain::{ModelKind, Phone};
use crate::job::{Job, JobId, JobMessage, JobStatus};

/// A registered user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Numeric id, the JWT's `id` claim; assigned by the store, never reused.
    pub id: i64,
    pub phone: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Bumped by every password change; tokens carrying an older version are refused.
    pub token_version: u32,
    pub created_at: u64,
    /// The WeChat openid bound to the account (one openid, one account).
    pub openid: Option<String>,
    /// The WeChat unionid WeChat gave with it, if any.
    pub unionid: Option<String>,
}

/// The `phone` key of an account made by a WeChat login, which has no phone: `wx:` and random
/// hex, which no phone number parses as, so nobody can log in to it with a password.
pub fn wechat_account_key() -> String {
    format!("wx:{}", hex::encode(rand::random::<[u8; 12]>()))
}

impl User {
    /// Whether the account was made by a WeChat login (no phone, no password login).
    pub fn is_wechat_only(&self) -> bool {
        self.phone.starts_with("wx:")
    }
}

/// One phone's login record, known phone or not (so a lockout reveals nothing): its failed
/// logins in a row, the lock they caused, and the password checks in progress.
///
/// A login reserves its check ([`LoginAttempts::begin_check`]) before the password is verified,
/// and failures plus checks in progress never exceed the policy's maximum, so a burst of parallel
/// guesses gets no more checks than the same guesses one after another would. The rules are these
/// pure methods; each adapter applies them inside one atomic section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginAttempts {
    /// Failures since the last success or the last lockout.
    pub failures: u32,
    /// Unix seconds until which every login for this phone is refused; 0 when never locked.
    pub locked_until: u64,
    /// Password checks reserved and not yet ended.
    pub checking: u32,
    /// Until when those checks hold their places: past it, they are presumed lost (the process
    /// checking them died) and count no more.
    pub checking_until: u64,
}

/// How long a reserved password check holds its place: far longer than any check takes (the
/// login function times out after 10 s), short enough that checks lost in a crash free the phone
/// again within a minute.
pub const LOGIN_CHECK_LEASE_SECS: u64 = 60;

/// Whether a login may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginCheck {
    Granted,
    /// Refused: locked, or as many checks as the policy allows are already failed or under way.
    /// `until` is when trying again can help.
    Refused {
        until: u64,
    },
}

impl LoginAttempts {
    pub fn is_locked(&self, now: u64) -> bool {
        self.locked_until > now
    }

    /// The checks in progress that still hold their places.
    fn live_checks(&self, now: u64) -> u32 {
        if self.checking_until > now {
            self.checking
        } else {
            0
        }
    }

    /// Reserves one password check, or refuses (the record is unchanged then): while locked, and
    /// while failures and checks in progress add up to `policy.max_failures`.
    pub fn begin_check(self, now: u64, policy: LockoutPolicy) -> (Self, LoginCheck) {
        if self.is_locked(now) {
            let until = self.locked_until;
            return (self, LoginCheck::Refused { until });
        }
        let live = self.live_checks(now);
        if self.failures.saturating_add(live) >= policy.max_failures {
            // Should the checks under way all fail, the lock they set lasts about this long.
            let until = now + policy.lockout.as_secs();
            return (self, LoginCheck::Refused { until });
        }
        let next = Self {
            checking: live + 1,
            checking_until: now + LOGIN_CHECK_LEASE_SECS,
            ..self
        };
        (next, LoginCheck::Granted)
    }

    /// A check ended with a wrong password (or a phone nobody registered): its place becomes one
    /// more failure. Reaching `policy.max_failures` locks the phone until `now + policy.lockout`
    /// and starts the count again; while locked no failure is counted.
    pub fn check_failed(self, now: u64, policy: LockoutPolicy) -> Self {
        let mut next = Self {
            checking: self.live_checks(now).saturating_sub(1),
            ..self
        };
        if next.checking == 0 {
            next.checking_until = 0;
        }
        if self.is_locked(now) {
            return next;
        }
        next.failures += 1;
        if next.failures >= policy.max_failures {
            next.failures = 0;
            next.locked_until = now + policy.lockout.as_secs();
        }
        next
    }

    /// A check ended with the right password: the record is cleared, as every success clears the
    /// failures, unless the phone was locked meanwhile; then only this check's place is given back
    /// and the login is refused.
    pub fn check_succeeded(self, now: u64) -> (Self, LoginCheck) {
        if self.is_locked(now) {
            let mut next = Self {
                checking: self.live_checks(now).saturating_sub(1),
                ..self
            };
            if next.checking == 0 {
                next.checking_until = 0;
            }
            let until = self.locked_until;
            return (next, LoginCheck::Refused { until });
        }
        (Self::default(), LoginCheck::Granted)
    }
}

#[cfg(test)]
mod lockout_tests {
    use super::*;
    use std::time::Duration;

    const POLICY: LockoutPolicy = LockoutPolicy {
        max_failures: 3,
        lockout: Duration::from_secs(900),
    };

    /// Reserves checks until refused; returns the record and how many were granted.
    fn reserve_all(mut a: LoginAttempts, now: u64) -> (LoginAttempts, u32) {
        let mut granted = 0;
        loop {
            match a.begin_check(now, POLICY) {
                (next, LoginCheck::Granted) => {
                    a = next;
                    granted += 1;
                }
                (same, LoginCheck::Refused { .. }) => {
                    assert_eq!(same, a, "a refusal changes nothing");
                    return (a, granted);
                }
            }
        }
    }

    #[test]
    fn no_more_checks_run_at_once_than_failures_are_allowed() {
        let (a, granted) = reserve_all(LoginAttempts::default(), 100);
        assert_eq!((granted, a.checking), (3, 3));
        let (_, refusal) = a.begin_check(100, POLICY);
        assert_eq!(refusal, LoginCheck::Refused { until: 1000 });
        // They all fail: the phone is locked, and nothing more is checked until the lock ends.
        let locked = (0..3).fold(a, |a, _| a.check_failed(101, POLICY));
        assert_eq!(
            (locked.locked_until, locked.failures, locked.checking),
            (1001, 0, 0)
        );
        assert_eq!(reserve_all(locked, 1000).1, 0);
        assert_eq!(reserve_all(locked, 1001).1, 3);
    }

    #[test]
    fn failures_and_checks_in_progress_share_the_allowance() {
        let one_failed = LoginAttempts::default()
            .begin_check(10, POLICY)
            .0
            .check_failed(11, POLICY);
        assert_eq!((one_failed.failures, one_failed.checking), (1, 0));
        assert_eq!(reserve_all(one_failed, 12).1, 2);
    }

    #[test]
    fn a_success_clears_the_record_unless_the_phone_was_locked_meanwhile() {
        let (a, _) = reserve_all(LoginAttempts::default(), 10);
        let (cleared, verdict) = a.check_succeeded(11);
        assert_eq!(
            (cleared, verdict),
            (LoginAttempts::default(), LoginCheck::Granted)
        );

        let mut b = LoginAttempts::default().begin_check(10, POLICY).0;
        for _ in 0..3 {
            b = b.check_failed(11, POLICY);
        }
        assert!(b.is_locked(12));
        let (after, verdict) = b.check_succeeded(12);
        assert_eq!(verdict, LoginCheck::Refused { until: 911 });
        assert_eq!((after.locked_until, after.checking), (911, 0));
    }

    #[test]
    fn checks_lost_in_a_crash_free_their_places_after_the_lease() {
        let (a, _) = reserve_all(LoginAttempts::default(), 10);
        assert_eq!(reserve_all(a, 10 + LOGIN_CHECK_LEASE_SECS - 1).1, 0);
        assert_eq!(reserve_all(a, 10 + LOGIN_CHECK_LEASE_SECS).1, 3);
        // A lost check that ends late counts as a failure still, and never goes below zero.
        let late = a.check_failed(10 + LOGIN_CHECK_LEASE_SECS, POLICY);
        assert_eq!((late.checking, late.failures), (0, 1));
    }

    #[test]
    fn failures_while_locked_do_not_extend_the_lock() {
        let locked = LoginAttempts {
            locked_until: 500,
            ..LoginAttempts::default()
        };
        assert_eq!(locked.check_failed(400, POLICY), locked);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A user with this phone exists already (also when two registrations race).
    #[error("user with this phone number already exists")]
    PhoneTaken,
    /// The user this change was for does not exist.
    #[error("no such user")]
    NoSuchUser,
    /// The user's token version is no longer the one the change was made with: another password
    /// change came first, so the token this one was authenticated with is revoked.
    #[error("the token version changed")]
    TokenVersionChanged,
    /// A job with this id exists already.
    #[error("job exists already")]
    JobExists,
    /// The WeChat openid is bound to another account.
    #[error("该微信已绑定其他账号")]
    OpenidTaken,
    /// The account is bound to another WeChat openid.
    #[error("该账号已绑定其他微信")]
    OtherOpenidBound,
    /// The store could not be reached or answered unexpectedly; the cause is kept for the logs.
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

/// Users and their login records.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates a user with a fresh id and token version 0.
    ///
    /// Fails with [`StoreError::PhoneTaken`] when the phone is registered, atomically.
    async fn create(
        &self,
        phone: &Phone,
        password_hash: &str,
        now: u64,
    ) -> Result<User, StoreError>;

    async fn find_by_phone(&self, phone: &str) -> Result<Option<User>, StoreError>;

    /// The account `openid` is bound to.
    async fn find_by_openid(&self, openid: &str) -> Result<Option<User>, StoreError>;

    /// Creates a user bound to `openid`, both or neither, atomically: `key` is a phone (a
    /// registration with `wx_code`) or [`wechat_account_key`] with an empty hash (a WeChat
    /// login's new account).
    ///
    /// Fails with [`StoreError::PhoneTaken`] or [`StoreError::OpenidTaken`], writing nothing.
    async fn create_bound(
        &self,
        key: &str,
        password_hash: &str,
        openid: &str,
        unionid: Option<&str>,
        now: u64,
    ) -> Result<User, StoreError>;

    /// Binds `openid` to the account `phone`, atomically; binding the openid it has already
    /// changes nothing. Returns the user as bound.
    ///
    /// Fails, changing nothing, with [`StoreError::OpenidTaken`] when another account has
    /// `openid`, [`StoreError::OtherOpenidBound`] when this one has another openid, and
    /// [`StoreError::NoSuchUser`].
    async fn bind_openid(
        &self,
        phone: &str,
        openid: &str,
        unionid: Option<&str>,
    ) -> Result<User, StoreError>;

    /// Replaces the password hash and bumps the token version, only if the version is still
    /// `token_version` (the one the request was authenticated with); returns the new version.
    /// Nothing is written otherwise.
    ///
    /// Fails with [`StoreError::NoSuchUser`] when the phone is not registered, and with
    /// [`StoreError::TokenVersionChanged`] when its version moved on, atomically.
    async fn change_password(
        &self,
        phone: &str,
        password_hash: &str,
        token_version: u32,
    ) -> Result<u32, StoreError>;

    async fn login_attempts(&self, phone: &Phone) -> Result<LoginAttempts, StoreError>;

    /// Reserves one password check for `phone` before it is made, atomically
    /// ([`LoginAttempts::begin_check`]); a refusal changes nothing.
    async fn begin_login_check(
        &self,
        phone: &Phone,
        now: u64,
        policy: LockoutPolicy,
    ) -> Result<LoginCheck, StoreError>;

    /// Ends a reserved check as a failed login, atomically ([`LoginAttempts::check_failed`]);
    /// returns the record after it.
    async fn record_login_failure(
        &self,
        phone: &Phone,
        now: u64,
        policy: LockoutPolicy,
    ) -> Result<LoginAttempts, StoreError>;

    /// Ends a reserved check as a successful login, atomically
    /// ([`LoginAttempts::check_succeeded`]): the record is cleared and the login
    /// [`LoginCheck::Granted`], unless the phone was locked meanwhile.
    async fn record_login_success(&self, phone: &Phone, now: u64)
    -> Result<LoginCheck, StoreError>;
}

/// WeChat's access token as cached for every process (`stable_token` hands out one token per
/// appid, so they must share it): on the users table (aws) or the SQLite file (local).
#[async_trait]
pub trait AccessTokens: Send + Sync {
    /// The cached token and when it expires (Unix seconds), if one was ever put.
    async fn get_access_token(&self) -> Result<Option<(String, u64)>, StoreError>;

    /// Replaces the cached token. Two processes refreshing at once both write a token WeChat
    /// accepts (`stable_token` in normal mode answers the same token until it expires), so the
    /// last write wins.
    async fn put_access_token(&self, token: &str, expires_at: u64) -> Result<(), StoreError>;
}

/// Whether a job may be counted against the day's allowances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Counted against both the user's and the service's allowance.
    Taken,
    /// The user has made `max` jobs today already; nothing was counted.
    UserSpent,
    /// The service as a whole has made its `max_total` jobs today; nothing was counted.
    ServiceSpent,
}

/// The daily job allowances: per user (`EMO_MAX_DAILY_JOBS`) and across all users
/// (`EMO_MAX_DAILY_JOBS_TOTAL`), counted together in one atomic step.
#[async_trait]
pub trait DailyQuota: Send + Sync {
    /// Counts one job against `user_id`'s allowance and the service's for `day`, atomically and
    /// both or neither, unless `max` (the user's) or `max_total` (everyone's) are counted already.
    async fn take_daily_job(
        &self,
        user_id: i64,
        day: u64,
        max: u32,
        max_total: u32,
    ) -> Result<Allowance, StoreError>;

    /// Gives one job of `day` back to `user_id` and to the service: the job was undone, or it
    /// failed through no fault of the user. Never below zero.
    async fn give_back_daily_job(&self, user_id: i64, day: u64) -> Result<(), StoreError>;
}

/// China's day number (UTC+8): the day the daily allowances count in.
pub fn china_day(now: u64) -> u64 {
    (now + 8 * 3600) / 86_400
}

// ---- Per-client bounds -------------------------------------------------------------------

/// What a client address is counted for, in fixed windows of its own length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientBound {
    /// Registrations, per hour (`EMO_REGISTER_PER_IP_PER_HOUR`).
    Register,
    /// Logins, per minute (`EMO_LOGIN_PER_IP_PER_MINUTE`).
    Login,
}

impl ClientBound {
    /// The length of one window in seconds; windows start at multiples of it.
    pub fn window_secs(self) -> u64 {
        match self {
            ClientBound::Register => 3600,
            ClientBound::Login => 60,
        }
    }

    /// The bound's name in stored keys.
    pub fn name(self) -> &'static str {
        match self {
            ClientBound::Register => "register",
            ClientBound::Login => "login",
        }
    }

    /// The number of the window `now` falls in.
    pub fn window(self, now: u64) -> u64 {
        now / self.window_secs()
    }

    /// When the window `now` falls in ends.
    pub fn window_end(self, now: u64) -> u64 {
        (self.window(now) + 1) * self.window_secs()
    }
}

/// Requests per client address, counted in fixed windows.
#[async_trait]
pub trait ClientBounds: Send + Sync {
    /// Counts one request of `client` (an address, as [`crate::web::client::client_key`] writes
    /// it) in `bound`'s window containing `now`, atomically, unless `max` are counted there
    /// already; returns whether it was counted. A refused request changes nothing.
    async fn take_client_request(
        &self,
        bound: ClientBound,
        client: &str,
        now: u64,
        max: u32,
    ) -> Result<bool, StoreError>;
}

/// Where a job stands in its user's list, which runs newest first: by `created_at`, then
/// `created_micros`, then id (descending). A page ends at a position; the next begins after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobPosition {
    pub created_at: u64,
    pub created_micros: u32,
    pub id: JobId,
}

impl JobPosition {
    pub fn of(job: &Job) -> Self {
        Self {
            created_at: job.created_at,
            created_micros: job.created_micros,
            id: job.id.clone(),
        }
    }
}

/// One page of a user's jobs ([`JobStore::list_page`]).
#[derive(Debug, Clone, Default)]
pub struct JobPage {
    pub jobs: Vec<Job>,
    /// Where the following page starts; `None` when this one is the last.
    pub next: Option<JobPosition>,
}

/// Jobs, keyed by id, with a per-user index.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Stores a new job. Fails with [`StoreError::JobExists`] when the id is taken.
    async fn create(&self, job: &Job) -> Result<(), StoreError>;

    /// Reads a job, strongly consistent.
    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError>;

    /// Replaces the stored job with `job` only if the stored revision is `job.rev - 1`, so of two
    /// workers that read the same revision only one can write. Returns whether it was written.
    async fn update(&self, job: &Job) -> Result<bool, StoreError>;

    /// Removes a job: its owner deleted it, or a creation whose message could not be queued is
    /// undone. Removing a missing job is not an error.
    async fn delete(&self, id: &JobId) -> Result<(), StoreError>;

    /// One page of `user_id`'s jobs, newest first ([`JobPosition`]'s order): at most `limit`,
    /// those after `after` (from the newest without it), only those in `status` if given. The
    /// page's `next` is where the following page starts, `None` once there is none, so the pages
    /// hold every job exactly once. Read from the per-user index, never a scan of the table.
    /// With `status`, a page may hold fewer than `limit` jobs and still have a `next` (the
    /// adapter bounds what one page reads).
    async fn list_page(
        &self,
        user_id: i64,
        status: Option<JobStatus>,
        after: Option<&JobPosition>,
        limit: usize,
    ) -> Result<JobPage, StoreError>;

    /// A user's jobs created at or after `since`, newest first, at most `limit`.
    async fn list_for_user(
        &self,
        user_id: i64,
        since: u64,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError>;

    /// Jobs still in progress that nothing has written since `before` (their
    /// [`Job::sweep_after`] is earlier: the last write, or when a job awaiting WeChat's push is
    /// due to be looked at), oldest first, at most `limit`: what the sweep looks at for a lost message. An
    /// index of in-progress jobs only, never a scan of the table.
    async fn list_unattended(&self, before: u64, limit: usize) -> Result<Vec<Job>, StoreError>;

    /// Records that WeChat's media check `trace_id` was sent for job `job`, so that its push
    /// finds the job; kept at least until `until` (Unix seconds). Recording it twice is harmless.
    async fn link_trace(&self, trace_id: &str, job: &JobId, until: u64) -> Result<(), StoreError>;

    /// The job a media check's `trace_id` was recorded for (strongly consistent: the push may
    /// come within a second of the check).
    async fn find_by_trace(&self, trace_id: &str) -> Result<Option<JobId>, StoreError>;
}

/// The account's DashScope task concurrency, as `max` slots per model family: a job holds one
/// from just before its task is created until the task ends. Slots are shared fairly: while a
/// model has two slots or more, one user holds at most one of them, so one user's queue of jobs
/// cannot keep everyone else's waiting.
///
/// Also the per-model *create lock*: at most one DashScope create call per model at a time,
/// with a pause of [`CREATE_GAP_SECS`] between two holders. A task of that model whose creation
/// time falls in a holder's window was therefore made by that holder's call, which is how a job
/// whose create had no clear answer finds out, from DashScope's task list, whether it made one
/// (see `worker::steps`).
#[async_trait]
pub trait TaskSlots: Send + Sync {
    /// Takes one of the `max` DashScope task slots of `model` for `job` (of `user_id`) until
    /// `until`, unless all are held by other jobs, or (with `max` ≥ 2) another job of the same
    /// user holds one (a slot whose `until` has passed is free again). Taking a slot the job
    /// already holds succeeds and extends it. Returns whether the job holds a slot.
    async fn acquire_task_slot(
        &self,
        model: ModelKind,
        job: &JobId,
        user_id: i64,
        now: u64,
        until: u64,
        max: u32,
    ) -> Result<bool, StoreError>;

    /// Gives back the slot `job` (of `user_id`) holds among the `max` of `model`, if any.
    async fn release_task_slot(
        &self,
        model: ModelKind,
        job: &JobId,
        user_id: i64,
        max: u32,
    ) -> Result<(), StoreError>;

    /// Takes `model`'s create lock for `job` until `until`: it is free when nobody holds it and
    /// [`CREATE_GAP_SECS`] have passed since its last holder let go (or its hold ran out). Taking
    /// it again as its holder extends it to `until`. Returns whether `job` holds it.
    async fn acquire_create_lock(
        &self,
        model: ModelKind,
        job: &JobId,
        now: u64,
        until: u64,
    ) -> Result<bool, StoreError>;

    /// Lets go of `model`'s create lock if `job` holds it; the next holder may take it from
    /// `free_at`: [`CREATE_GAP_SECS`] from now after a create that made a task, at once after one
    /// DashScope refused (no task of this window can fall in the next).
    async fn release_create_lock(
        &self,
        model: ModelKind,
        job: &JobId,
        free_at: u64,
    ) -> Result<(), StoreError>;
}

/// The pause between two holders of a model's create lock, so that no two holders' windows
/// touch, even with a second of clock difference between Emo and DashScope.
pub const CREATE_GAP_SECS: u64 = 2;

/// At most how many slots of a model one user may hold: one, once there are two or more.
pub fn slots_per_user(max: u32) -> u32 {
    if max >= 2 { 1 } else { max }
}

/// How many recent durations of each model [`JobDurations`] keeps.
pub const RECENT_DURATIONS: usize = 20;

/// How long the recent jobs of each model took, from creation to their sticker: what a job in
/// progress is told it still has (`eta_seconds`, [`crate::job::eta`]). One small record per model
/// family, shared by every user.
#[async_trait]
pub trait JobDurations: Send + Sync {
    /// Records that a job of `model` took `secs`; only the last [`RECENT_DURATIONS`] of the
    /// model are kept. Concurrent records each keep their own place.
    async fn record_duration(&self, model: ModelKind, secs: u64) -> Result<(), StoreError>;

    /// The recent durations of each of `models` (in no particular order; none for a model
    /// with no history), read together.
    async fn recent_durations(
        &self,
        models: &[ModelKind],
    ) -> Result<Vec<(ModelKind, Vec<u64>)>, StoreError>;
}

/// Input images, GIFs and their thumbnails.
#[async_trait]
pub trait BlobStore: Send + Sync {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StoreError>;

    /// Copies blob `from` to `to` inside the store (its bytes do not pass through this process
    /// where the store can copy itself). `Ok(false)`, and nothing written, when there is no blob
    /// `from`.
    async fn copy(&self, from: &str, to: &str) -> Result<bool, StoreError>;

    /// The blob's bytes, or `None` when there is no such blob.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Removes a blob; removing a missing one is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// A URL that fetches the blob for `ttl` from now, minted afresh at each call and never
    /// stored.
    async fn url(&self, key: &str, ttl: Duration) -> Result<String, StoreError>;

    /// The adapter itself, so `emo-local` can find its folder store and serve its links.
    fn as_any(&self) -> &dyn std::any::Any;
}

/// One received queue message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub body: String,
    /// What acknowledges (deletes) this delivery.
    pub receipt: String,
    /// 1 on first delivery; grows each time the message comes back unacknowledged.
    pub receive_count: u32,
}

/// The work queue that drives the worker. A received message is hidden for the visibility
/// timeout and comes back unless deleted.
#[async_trait]
pub trait JobQueue: Send + Sync {
    /// Sends a message that becomes visible after `delay` (at most 15 minutes).
    async fn send(&self, body: &str, delay: Duration) -> Result<(), StoreError>;

    /// Up to `max` visible messages, waiting up to `wait` for the first.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, StoreError>;

    /// Acknowledges a delivery so it is not delivered again.
    async fn delete(&self, receipt: &str) -> Result<(), StoreError>;

    /// Makes an unfinished delivery visible again after `delay` instead of after the queue's
    /// visibility timeout (at most 12 hours).
    async fn retry_after(&self, receipt: &str, delay: Duration) -> Result<(), StoreError>;
}

/// The longest delay a queue message can have (SQS's limit).
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(900);

/// Sends a job message.
pub async fn enqueue(
    queue: &dyn JobQueue,
    message: &JobMessage,
    delay: Duration,
) -> Result<(), StoreError> {
    let body = serde_json::to_string(message).map_err(anyhow::Error::from)?;
    queue.send(&body, delay.min(MAX_QUEUE_DELAY)).await
}

/// Blob key of a job's input image.
pub fn input_key(job: &JobId, extension: &str) -> String {
    format!("inputs/{job}.{extension}")
}

/// Blob key of a job's GIF.
pub fn gif_key(job: &JobId) -> String {
    format!("gifs/{job}.gif")
}

/// Blob key of a job's thumbnail (a PNG beside the GIF).
pub fn thumb_key(job: &JobId) -> String {
    format!("thumbs/{job}.png")
}
