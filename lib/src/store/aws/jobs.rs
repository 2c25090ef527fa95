//! Jobs table layout: partition key `id` (S); the whole job as attributes (serde_dynamo); TTL
//! attribute `expires_at`; two global secondary indexes:
//!
//! - `by_user` on `user_id` (N) and `created_at` (N): a user's jobs, newest first;
//! - `by_unattended` on `in_progress` (S, always `"1"`) and `unattended_since` (N, the job's
//!   `updated_at`): sparse, since both attributes are written only while the job is in progress,
//!   so it holds just the jobs the sweep may have to look at, oldest write first.
//!
//! The same table holds the DashScope task slots (`SLOT#<model>#<n>`: `holder`, `user_id`, `until`),
//! one marker per user holding a slot (`SLOTUSER#<model>#<user id>`: `holder`, `until`), and the
//! per-model create locks (`CREATE#<model>`: `holder`, `free_at`); none of them has the indexes'
//! attributes.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ScalarAttributeType, TransactWriteItem,
};

use super::sdk_err;
use super::users::cancellation_codes;
use crate::domain::ModelKind;
use crate::job::{Job, JobId};
use crate::store::{CREATE_GAP_SECS, JobStore, StoreError, TaskSlots, slots_per_user};

/// The per-user index's name, as the template declares it.
pub const USER_INDEX: &str = "by_user";

/// The index of jobs in progress by their last write, as the template declares it.
pub const UNATTENDED_INDEX: &str = "by_unattended";

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
            .attribute_definitions(attr("in_progress", ScalarAttributeType::S)?)
            .attribute_definitions(attr("unattended_since", ScalarAttributeType::N)?)
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
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(UNATTENDED_INDEX)
                    .key_schema(key("in_progress", KeyType::Hash)?)
                    .key_schema(key("unattended_since", KeyType::Range)?)
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
        if !job.status.is_terminal() {
            item.insert("in_progress".into(), AttributeValue::S("1".into()));
            item.insert(
                "unattended_since".into(),
                AttributeValue::N(job.updated_at.to_string()),
            );
        }
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

    async fn list_unattended(&self, before: u64, limit: usize) -> Result<Vec<Job>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(UNATTENDED_INDEX)
            .key_condition_expression("in_progress = :one AND unattended_since < :before")
            .expression_attribute_values(":one", AttributeValue::S("1".into()))
            .expression_attribute_values(":before", AttributeValue::N(before.to_string()))
            .limit(limit.min(1000) as i32)
            .send()
            .await
            .map_err(|e| sdk_err("Query (unattended jobs)", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect()
    }
}

#[async_trait]
impl TaskSlots for DynamoJobStore {
    async fn acquire_task_slot(
        &self,
        model: ModelKind,
        job: &JobId,
        user_id: i64,
        now: u64,
        until: u64,
        max: u32,
    ) -> Result<bool, StoreError> {
        let s = |v: String| AttributeValue::S(v);
        let n = |v: u64| AttributeValue::N(v.to_string());
        let fair = slots_per_user(max) < max;
        // One item per slot; a put wins a slot that is free, expired, or already this job's. With
        // fairness, the user's marker is put in the same transaction, so a user holds one slot.
        for slot in 0..max {
            let slot_put = Put::builder()
                .table_name(&self.table)
                .item("id", s(format!("SLOT#{}#{slot}", model.as_str())))
                .item("holder", s(job.to_string()))
                .item("user_id", AttributeValue::N(user_id.to_string()))
                .item("until", n(until))
                .item("expires_at", n(until + 86_400))
                .condition_expression("attribute_not_exists(id) OR #until < :now OR holder = :job")
                .expression_attribute_names("#until", "until")
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":job", s(job.to_string()))
                .build()
                .map_err(anyhow::Error::from)?;
            let mut tx = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(slot_put).build());
            if fair {
                let marker = Put::builder()
                    .table_name(&self.table)
                    .item("id", s(format!("SLOTUSER#{}#{user_id}", model.as_str())))
                    .item("holder", s(job.to_string()))
                    .item("until", n(until))
                    .item("expires_at", n(until + 86_400))
                    .condition_expression(
                        "attribute_not_exists(id) OR #until < :now OR holder = :job",
                    )
                    .expression_attribute_names("#until", "until")
                    .expression_attribute_values(":now", n(now))
                    .expression_attribute_values(":job", s(job.to_string()))
                    .build()
                    .map_err(anyhow::Error::from)?;
                tx = tx.transact_items(TransactWriteItem::builder().put(marker).build());
            }
            match tx.send().await {
                Ok(_) => return Ok(true),
                Err(e) => {
                    let e = e.into_service_error();
                    let reasons = cancellation_codes(&e);
                    let failed = |i: usize| {
                        reasons
                            .get(i)
                            .is_some_and(|c| c == "ConditionalCheckFailed")
                    };
                    if fair && failed(1) {
                        return Ok(false); // the user holds a slot with another job
                    }
                    if reasons.iter().any(|c| c == "TransactionConflict") {
                        continue; // another job took this slot at the same moment
                    }
                    if !failed(0) {
                        return Err(sdk_err("TransactWriteItems (task slot)", e).into());
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
        user_id: i64,
        max: u32,
    ) -> Result<(), StoreError> {
        // The slot, then the user's marker (a job holds either both or, without fairness, the
        // slot alone).
        let keys = (0..max)
            .map(|slot| format!("SLOT#{}#{slot}", model.as_str()))
            .chain(std::iter::once(format!(
                "SLOTUSER#{}#{user_id}",
                model.as_str()
            )));
        for key in keys {
            let res = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("id", AttributeValue::S(key))
                .condition_expression("holder = :job")
                .expression_attribute_values(":job", AttributeValue::S(job.to_string()))
                .send()
                .await;
            if let Err(e) = res {
                let e = e.into_service_error();
                if !e.is_conditional_check_failed_exception() {
                    return Err(sdk_err("DeleteItem (task slot)", e).into());
                }
            }
        }
        Ok(())
    }

    async fn acquire_create_lock(
        &self,
        model: ModelKind,
        job: &JobId,
        now: u64,
        until: u64,
    ) -> Result<bool, StoreError> {
        let res = self
            .client
            .put_item()
            .table_name(&self.table)
            .item(
                "id",
                AttributeValue::S(format!("CREATE#{}", model.as_str())),
            )
            .item("holder", AttributeValue::S(job.to_string()))
            .item(
                "free_at",
                AttributeValue::N((until + CREATE_GAP_SECS).to_string()),
            )
            .item(
                "expires_at",
                AttributeValue::N((until + 86_400).to_string()),
            )
            .condition_expression("attribute_not_exists(id) OR holder = :job OR free_at <= :now")
            .expression_attribute_values(":job", AttributeValue::S(job.to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Ok(false)
                } else {
                    Err(sdk_err("PutItem (create lock)", e).into())
                }
            }
        }
    }

    async fn release_create_lock(
        &self,
        model: ModelKind,
        job: &JobId,
        free_at: u64,
    ) -> Result<(), StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(
                "id",
                AttributeValue::S(format!("CREATE#{}", model.as_str())),
            )
            .update_expression("REMOVE holder SET free_at = :free")
            .condition_expression("holder = :job")
            .expression_attribute_values(":job", AttributeValue::S(job.to_string()))
            .expression_attribute_values(":free", AttributeValue::N(free_at.to_string()))
            .send()
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Ok(())
                } else {
                    Err(sdk_err("UpdateItem (create lock)", e).into())
                }
            }
        }
    }
}
