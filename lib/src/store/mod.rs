//! Storage ports and their adapters.
//!
//! Each port is a narrow trait; `local` implements it on an embedded SQLite file, `aws` on the
//! official SDK. Domain code sees only the traits; item mapping stays inside each adapter. The same
//! contract tests (`lib/tests/it/user_store.rs`) run against every adapter.

pub mod aws;
pub mod local;

use async_trait::async_trait;

use crate::domain::Phone;
use crate::settings::LockoutPolicy;

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
}

/// Consecutive failed logins for one phone, known or not (so a lockout reveals nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoginAttempts {
    /// Failures since the last success or the last lockout.
    pub failures: u32,
    /// Unix seconds until which every login for this phone is refused; 0 when never locked.
    pub locked_until: u64,
}

impl LoginAttempts {
    pub fn is_locked(&self, now: u64) -> bool {
        self.locked_until > now
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
    /// The store could not be reached or answered unexpectedly; the cause is kept for the logs.
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

/// Users and their login-failure counters.
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

    /// Replaces the password hash and bumps the token version; returns the new version.
    ///
    /// Fails with [`StoreError::NoSuchUser`] when the phone is not registered.
    async fn change_password(&self, phone: &str, password_hash: &str) -> Result<u32, StoreError>;

    async fn login_attempts(&self, phone: &Phone) -> Result<LoginAttempts, StoreError>;

    /// Counts one failed login, atomically. Reaching `policy.max_failures` locks the phone until
    /// `now + policy.lockout` and starts the count again; while locked nothing changes.
    async fn record_login_failure(
        &self,
        phone: &Phone,
        now: u64,
        policy: LockoutPolicy,
    ) -> Result<LoginAttempts, StoreError>;

    /// Forgets the failures after a successful login.
    async fn clear_login_failures(&self, phone: &Phone) -> Result<(), StoreError>;
}

/// The counting rule both adapters apply inside their atomic section.
pub(crate) fn next_attempts(
    current: LoginAttempts,
    now: u64,
    policy: LockoutPolicy,
) -> LoginAttempts {
    if current.is_locked(now) {
        return current;
    }
    let failures = current.failures + 1;
    if failures >= policy.max_failures {
        LoginAttempts {
            failures: 0,
            locked_until: now + policy.lockout.as_secs(),
        }
    } else {
        LoginAttempts {
            failures,
            locked_until: current.locked_until,
        }
    }
}
