//! [`Unconfigured`]: the adapter behind every port a process has no use for (the transcoder has
//! no users table, register no queue). Each call fails, naming the setting that would configure
//! it, so a role that forgot a port shows it in its logs at once rather than touching a default.

use std::time::Duration;

use async_trait::async_trait;

use super::{
    AccessTokens, Allowance, BlobStore, ClientBound, ClientBounds, DailyQuota, Delivery,
    JobDurations, JobPage, JobPosition, JobQueue, JobStore, LoginAttempts, LoginCheck, StoreError,
    TaskSlots, User, UserStore,
};
use crate::auth::LockoutPolicy;
use crate::domain::{ModelKind, Phone};
use crate::job::{Job, JobId, JobStatus};

/// A port this process was not configured with; `what` names it and its setting.
pub struct Unconfigured(pub &'static str);

impl Unconfigured {
    fn err<T>(&self) -> Result<T, StoreError> {
        Err(StoreError::Unavailable(anyhow::anyhow!(
            "this function is not configured with {} (its role does not use it)",
            self.0
        )))
    }
}

#[async_trait]
impl UserStore for Unconfigured {
    async fn create(&self, _: &Phone, _: &str, _: u64) -> Result<User, StoreError> {
        self.err()
    }
    async fn find_by_phone(&self, _: &str) -> Result<Option<User>, StoreError> {
        self.err()
    }
    async fn change_password(&self, _: &str, _: &str, _: u32) -> Result<u32, StoreError> {
        self.err()
    }
    async fn find_by_openid(&self, _: &str) -> Result<Option<User>, StoreError> {
        self.err()
    }
    async fn create_bound(
        &self,
        _: &str,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: u64,
    ) -> Result<User, StoreError> {
        self.err()
    }
    async fn bind_openid(&self, _: &str, _: &str, _: Option<&str>) -> Result<User, StoreError> {
        self.err()
    }
    async fn login_attempts(&self, _: &Phone) -> Result<LoginAttempts, StoreError> {
        self.err()
    }
    async fn begin_login_check(
        &self,
        _: &Phone,
        _: u64,
        _: LockoutPolicy,
    ) -> Result<LoginCheck, StoreError> {
        self.err()
    }
    async fn record_login_failure(
        &self,
        _: &Phone,
        _: u64,
        _: LockoutPolicy,
    ) -> Result<LoginAttempts, StoreError> {
        self.err()
    }
    async fn record_login_success(&self, _: &Phone, _: u64) -> Result<LoginCheck, StoreError> {
        self.err()
    }
}

#[async_trait]
impl AccessTokens for Unconfigured {
    async fn get_access_token(&self) -> Result<Option<(String, u64)>, StoreError> {
        self.err()
    }
    async fn put_access_token(&self, _: &str, _: u64) -> Result<(), StoreError> {
        self.err()
    }
}

#[async_trait]
impl ClientBounds for Unconfigured {
    async fn take_client_request(
        &self,
        _: ClientBound,
        _: &str,
        _: u64,
        _: u32,
    ) -> Result<bool, StoreError> {
        self.err()
    }
}

#[async_trait]
impl DailyQuota for Unconfigured {
    async fn take_daily_job(
        &self,
        _: i64,
        _: u64,
        _: u32,
        _: u32,
    ) -> Result<Allowance, StoreError> {
        self.err()
    }
    async fn give_back_daily_job(&self, _: i64, _: u64) -> Result<(), StoreError> {
        self.err()
    }
}

#[async_trait]
impl JobStore for Unconfigured {
    async fn create(&self, _: &Job) -> Result<(), StoreError> {
        self.err()
    }
    async fn get(&self, _: &JobId) -> Result<Option<Job>, StoreError> {
        self.err()
    }
    async fn update(&self, _: &Job) -> Result<bool, StoreError> {
        self.err()
    }
    async fn delete(&self, _: &JobId) -> Result<(), StoreError> {
        self.err()
    }
    async fn list_for_user(&self, _: i64, _: u64, _: usize) -> Result<Vec<Job>, StoreError> {
        self.err()
    }
    async fn list_page(
        &self,
        _: i64,
        _: Option<JobStatus>,
        _: Option<&JobPosition>,
        _: usize,
    ) -> Result<JobPage, StoreError> {
        self.err()
    }
    async fn list_unattended(&self, _: u64, _: usize) -> Result<Vec<Job>, StoreError> {
        self.err()
    }
    async fn link_trace(&self, _: &str, _: &JobId, _: u64) -> Result<(), StoreError> {
        self.err()
    }
    async fn find_by_trace(&self, _: &str) -> Result<Option<JobId>, StoreError> {
        self.err()
    }
}

#[async_trait]
impl JobDurations for Unconfigured {
    async fn record_duration(&self, _: ModelKind, _: u64) -> Result<(), StoreError> {
        self.err()
    }
    async fn recent_durations(
        &self,
        _: &[ModelKind],
    ) -> Result<Vec<(ModelKind, Vec<u64>)>, StoreError> {
        self.err()
    }
}

#[async_trait]
impl TaskSlots for Unconfigured {
    async fn acquire_task_slot(
        &self,
        _: ModelKind,
        _: &JobId,
        _: i64,
        _: u64,
        _: u64,
        _: u32,
    ) -> Result<bool, StoreError> {
        self.err()
    }
    async fn release_task_slot(
        &self,
        _: ModelKind,
        _: &JobId,
        _: i64,
        _: u32,
    ) -> Result<(), StoreError> {
        self.err()
    }
    async fn acquire_create_lock(
        &self,
        _: ModelKind,
        _: &JobId,
        _: u64,
        _: u64,
    ) -> Result<bool, StoreError> {
        self.err()
    }
    async fn release_create_lock(&self, _: ModelKind, _: &JobId, _: u64) -> Result<(), StoreError> {
        self.err()
    }
}

#[async_trait]
impl BlobStore for Unconfigured {
    async fn put(&self, _: &str, _: Vec<u8>, _: &str) -> Result<(), StoreError> {
        self.err()
    }
    async fn copy(&self, _: &str, _: &str) -> Result<bool, StoreError> {
        self.err()
    }
    async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.err()
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        self.err()
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    async fn url(&self, _: &str, _: Duration) -> Result<String, StoreError> {
        self.err()
    }
}

#[async_trait]
impl JobQueue for Unconfigured {
    async fn send(&self, _: &str, _: Duration) -> Result<(), StoreError> {
        self.err()
    }
    async fn receive(&self, _: usize, _: Duration) -> Result<Vec<Delivery>, StoreError> {
        self.err()
    }
    async fn delete(&self, _: &str) -> Result<(), StoreError> {
        self.err()
    }
    async fn retry_after(&self, _: &str, _: Duration) -> Result<(), StoreError> {
        self.err()
    }
}
