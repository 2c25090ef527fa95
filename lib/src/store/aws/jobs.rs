//! Jobs table layout: partition key `id` (S); the whole job as attributes (serde_dynamo); a global
//! secondary index `by_user` on `user_id` (N) and `created_at` (N); TTL attribute `expires_at`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType,
};

use super::sdk_err;
use crate::domain::ModelKind;
use crate::job::{Job, JobId};
use crate::store::{JobStore, StoreError, TaskSlots};

/// The per-user index's name, as the template declares it.
pub const USER_INDEX: &str = "by_user";

/// [`JobStore`] on a DynamoDB table.
#[derive(Clone)]
pub struct DynamoJobStore {
    client: Client,
    table: String,
    /// How long a job is kept after its creation before TTL may remove it.
    retention_secs: u64,
}

impl DynamoJobStore {
    pub fn new(client: Client, table: impl Into<String>, retention_secs: u64) -> Self {
        Self {
            client,
            table: table.into(),
            retention_secs,
        }
    }

    /// Creates the table as the SAM template declares it (for tests and local emulators).
    pub async fn create_table(client: &Client, table: &str) -> anyhow::Result<()> {
        let attr = |name: &str, t: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(t)
                .build()
        };
        let key = |name: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(t)
                .build()
        };
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr("id", ScalarAttributeType::S)?)
            .attribute_definitions(attr("user_id", ScalarAttributeType::N)?)
            .attribute_definitions(attr("created_at", ScalarAttributeType::N)?)
            .key_schema(key("id", KeyType::Hash)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(USER_INDEX)
                    .key_schema(key("user_id", KeyType::Hash)?)
                    .key_schema(key("created_at", KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| sdk_err("CreateTable (jobs)", e))?;
        super::enable_ttl(client, table).await?;
        Ok(())
    }

    fn item(&self, job: &Job) -> Result<HashMap<String, AttributeValue>, StoreError> {
        let mut item: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(job).map_err(anyhow::Error::from)?;
        item.insert(
            "expires_at".into(),
            AttributeValue::N((job.created_at + self.retention_secs).to_string()),
        );
        Ok(item)
    }
}

fn from_item(item: HashMap<String, AttributeValue>) -> Result<Job, StoreError> {
    Ok(serde_dynamo::from_item(item).map_err(anyhow::Error::from)?)
}

#[async_trait]
impl JobStore for DynamoJobStore {
    async fn create(&self, job: &Job) -> Result<(), StoreError> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item(job)?))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Err(StoreError::JobExists)
                } else {
                    Err(sdk_err("PutItem (new job)", e).into())
                }
            }
        }
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("GetItem (job)", e))?;
        out.item.map(from_item).transpose()
    }

    async fn update(&self, job: &Job) -> Result<bool, StoreError> {
        // Revision 0 is only ever created, never written over anything.
        let Some(prev) = job.rev.checked_sub(1) else {
            return Ok(false);
        };
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item(job)?))
            .condition_expression("#rev = :prev")
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_values(":prev", AttributeValue::N(prev.to_string()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Ok(false)
                } else {
                    Err(sdk_err("PutItem (job update)", e).into())
                }
            }
        }
    }

    async fn delete(&self, id: &JobId) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(id.to_string()))
            .send()
            .await
            .map_err(|e| sdk_err("DeleteItem (job)", e))?;
        Ok(())
    }

    async fn list_for_user(
        &self,
        user_id: i64,
        since: u64,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        // DynamoDB refuses a Limit of 0.
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut jobs = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(USER_INDEX)
                .key_condition_expression("user_id = :u AND created_at >= :since")
                .expression_attribute_values(":u", AttributeValue::N(user_id.to_string()))
                .expression_attribute_values(":since", AttributeValue::N(since.to_string()))
                .scan_index_forward(false)
                .limit((limit - jobs.len()).min(1000) as i32)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_err("Query (jobs by user)", e))?;
            for item in out.items.unwrap_or_default() {
                jobs.push(from_item(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() || jobs.len() >= limit {
                return Ok(jobs);
            }
        }
    }
}

#[async_trait]
impl TaskSlots for DynamoJobStore {
    async fn acquire_task_slot(
        &self,
        model: ModelKind,
        job: &JobId,
        now: u64,
        until: u64,
        max: u32,
    ) -> Result<bool, StoreError> {
        // One item per slot; a put wins a slot that is free, expired, or already this job's.
        for slot in 0..max {
            let res = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(
                    "id",
                    AttributeValue::S(format!("SLOT#{}#{slot}", model.as_str())),
                )
                .item("holder", AttributeValue::S(job.to_string()))
                .item("until", AttributeValue::N(until.to_string()))
                .item(
                    "expires_at",
                    AttributeValue::N((until + 86_400).to_string()),
                )
                .condition_expression("attribute_not_exists(id) OR #until < :now OR holder = :job")
                .expression_attribute_names("#until", "until")
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .expression_attribute_values(":job", AttributeValue::S(job.to_string()))
                .send()
                .await;
            match res {
                Ok(_) => return Ok(true),
                Err(e) => {
                    let e = e.into_service_error();
                    if !e.is_conditional_check_failed_exception() {
                        return Err(sdk_err("PutItem (task slot)", e).into());
                    }
                }
            }
        }
        Ok(false)
    }

    async fn release_task_slot(
        &self,
        model: ModelKind,
        job: &JobId,
        max: u32,
    ) -> Result<(), StoreError> {
        for slot in 0..max {
            let res = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key(
                    "id",
                    AttributeValue::S(format!("SLOT#{}#{slot}", model.as_str())),
                )
                .condition_expression("holder = :job")
                .expression_attribute_values(":job", AttributeValue::S(job.to_string()))
                .send()
                .await;
            match res {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let e = e.into_service_error();
                    if !e.is_conditional_check_failed_exception() {
                        return Err(sdk_err("DeleteItem (task slot)", e).into());
                    }
                }
            }
        }
        Ok(())
    }
}
