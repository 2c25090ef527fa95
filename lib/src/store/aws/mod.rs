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

/// A DynamoDB operation's error that can tell that the write's condition refused it.
pub(crate) trait ConditionRefusal: std::error::Error + Send + Sync + 'static {
    fn refused_by_condition(&self) -> bool;
}

macro_rules! condition_refusal {
    ($($error:ty),*) => {$(
        impl ConditionRefusal for $error {
            fn refused_by_condition(&self) -> bool {
                self.is_conditional_check_failed_exception()
            }
        }
    )*};
}

condition_refusal!(
    aws_sdk_dynamodb::operation::put_item::PutItemError,
    aws_sdk_dynamodb::operation::update_item::UpdateItemError,
    aws_sdk_dynamodb::operation::delete_item::DeleteItemError
);

/// Whether a conditional write applied: `Ok(false)` when its condition refused it, an error
/// (named `what`) for anything else. Takes the operation's service error.
pub(crate) fn applied<O, E: ConditionRefusal>(
    what: &'static str,
    res: Result<O, E>,
) -> Result<bool, crate::store::StoreError> {
    match res {
        Ok(_) => Ok(true),
        Err(e) if e.refused_by_condition() => Ok(false),
        Err(e) => Err(sdk_err(what, e).into()),
    }
}

/// Turns on DynamoDB's TTL on the `expires_at` attribute of `table`.
pub(crate) async fn enable_ttl(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> anyhow::Result<()> {
    use aws_sdk_dynamodb::types::TimeToLiveSpecification;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expires_at")
                .enabled(true)
                .build()?,
        )
        .send()
        .await
        .map_err(|e| sdk_err("UpdateTimeToLive", e))?;
    Ok(())
}

/// The names of the resources the aws adapters use.
#[derive(Debug, Clone)]
pub struct Resources {
    pub users_table: String,
    pub jobs_table: String,
    pub bucket: String,
    pub queue_url: String,
}

impl Resources {
    /// The settings' variables that name these resources.
    pub fn env(&self) -> [(&'static str, &str); 4] {
        [
            ("EMO_USERS_TABLE", &self.users_table),
            ("EMO_JOBS_TABLE", &self.jobs_table),
            ("EMO_BUCKET", &self.bucket),
            ("EMO_QUEUE_URL", &self.queue_url),
        ]
    }
}

/// Creates both tables, the bucket and the queue as the SAM template declares them, named
/// `<prefix>-users` and so on (the prefix must be lowercase letters, digits and dashes). For tests
/// and local emulators; production resources come from the template.
pub async fn provision(
    conf: &aws_config::SdkConfig,
    prefix: &str,
    queue_visibility: std::time::Duration,
) -> anyhow::Result<Resources> {
    let dynamo = aws_sdk_dynamodb::Client::new(conf);
    let users_table = format!("{prefix}-users");
    let jobs_table = format!("{prefix}-jobs");
    let bucket = format!("{prefix}-blobs");
    DynamoUserStore::create_table(&dynamo, &users_table).await?;
    DynamoJobStore::create_table(&dynamo, &jobs_table).await?;
    S3BlobStore::create_bucket(&S3BlobStore::client(conf), &bucket).await?;
    let queue_url = SqsJobQueue::create_queue(
        &aws_sdk_sqs::Client::new(conf),
        &format!("{prefix}-jobs"),
        queue_visibility,
    )
    .await?;
    Ok(Resources {
        users_table,
        jobs_table,
        bucket,
        queue_url,
    })
}
