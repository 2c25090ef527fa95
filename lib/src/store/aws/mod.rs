//! The production backend: DynamoDB (and, with the jobs, S3 and SQS) through the official SDK.
//!
//! The SDK configuration comes from the environment (`AWS_REGION`, credentials, and
//! `AWS_ENDPOINT_URL` when a local emulator stands in for AWS), so no code differs between a test
//! against the emulator and a Lambda in production.

mod blobs;
mod jobs;
mod queue;
mod users;

pub use blobs::S3BlobStore;
pub use jobs::{DynamoJobStore, USER_INDEX};
pub use queue::SqsJobQueue;
pub use users::DynamoUserStore;

use aws_config::BehaviorVersion;

/// Loads the SDK configuration once per process.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

/// Flattens an SDK error with its source chain into one loggable error.
pub(crate) fn sdk_err<E>(what: &'static str, err: E) -> anyhow::Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    anyhow::Error::new(err).context(what)
}
