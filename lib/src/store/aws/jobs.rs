//! Jobs table layout: partition key `id` (S); the whole job as attributes (serde_dynamo); TTL
//! attribute `expires_at`; two global secondary indexes:
//!
//! - `by_user` on `user_id` (N) and `created_at` (N): a user's jobs, newest first. The item's
//!   `created_at` carries the job's microseconds as a fraction (`1764000000.123456`; DynamoDB
//!   numbers are decimal), so two jobs made in one second sort in the order they were made; the
//!   job reads back its whole seconds (the fraction is its `created_micros`). Items written before
//!   have whole seconds, which sort before every fraction of their second: no migration;
//! - `by_unattended` on `in_progress` (S, always `"1"`) and `unattended_since` (N, the job's
//!   [`Job::sweep_after`]: its `updated_at`, or when a job awaiting WeChat's push is due): sparse, since both attributes are written only while the job is in progress,
//!   so it holds just the jobs the sweep may have to look at, oldest write first.
//!
//! The same table holds the DashScope task slots (`SLOT#<model>#<n>`: `holder`, `user_id`, `until`),
//! one marker per user holding a slot (`SLOTUSER#<model>#<user id>`: `holder`, `until`), and the
//! per-model create locks (`CREATE#<model>`: `holder`, `free_at`), and each model's recent job
//! durations (`DURATIONS#<model>`: a counter `n` and a map `d` of the last
//! [`RECENT_DURATIONS`] in seconds, slot `n % RECENT_DURATIONS` written last), and one marker per
//! WeChat media check sent (`TRACE#<trace_id>`: `job_id`, removed by TTL a day after the check's
//! window); none of them has the indexes' attributes.
//!
//! The push of a media check finds its job by the marker, not by an index on the job: a GSI is
//! only eventually consistent, and WeChat may push within a second of the check, while the
//! marker is read with a strongly consistent GetItem. It is written before the job records the
//! trace, so a push never finds a job that has no marker yet; one marker per check sent keeps
//! every trace of a job (a re-sent check's, and the late push of the first) pointing at it; and
//! the table needs no third index.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType,
    TransactWriteItem,
};

use super::users::cancellation_codes;
use super::{applied, sdk_err};
use crate::domain::ModelKind;
use crate::job::{Job, JobId, JobStatus};
use crate::store::{
    CREATE_GAP_SECS, JobDurations, JobPage, JobPosition, JobStore, RECENT_DURATIONS, StoreError,
    TaskSlots, slots_per_user,
};

/// With a status filter, how many index items one Query reads (DynamoDB filters after reading),
/// and how many Queries one page makes at most: a page reads at most 500 of the user's jobs.
const FILTERED_QUERY_ITEMS: usize = 100;
const MAX_PAGE_QUERIES: usize = 5;

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
    /// Deletes item `key` if `job` holds it; returns whether it did.
    async fn delete_held(&self, key: String, job: &JobId) -> Result<bool, StoreError> {
        let res = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("id", AttributeValue::S(key))
            .condition_expression("holder = :job")
            .expression_attribute_values(":job", AttributeValue::S(job.to_string()))
            .send()
            .await;
        applied(
            "DeleteItem (task slot)",
            res.map_err(|e| e.into_service_error()),
        )
    }

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
        // Both indexes: a hash and a range key, every attribute projected.
        let index = |name: &str, hash: &str, range: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash)?)
                .key_schema(key(range, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
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
            .global_secondary_indexes(index(USER_INDEX, "user_id", "created_at")?)
            .global_secondary_indexes(index(UNATTENDED_INDEX, "in_progress", "unattended_since")?)
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
            "created_at".into(),
            AttributeValue::N(order_value(job.created_at, job.created_micros)),
        );
        item.insert(
            "expires_at".into(),
            AttributeValue::N((job.created_at + self.retention_secs).to_string()),
        );
        if let Some(since) = job.sweep_after() {
            item.insert("in_progress".into(), AttributeValue::S("1".into()));
            item.insert(
                "unattended_since".into(),
                AttributeValue::N(since.to_string()),
            );
        }
        Ok(item)
    }
}

fn from_item(mut item: HashMap<String, AttributeValue>) -> Result<Job, StoreError> {
    // The index's fraction of a second is the job's `created_micros`, kept on its own too.
    if let Some(AttributeValue::N(n)) = item.get("created_at")
        && let Some((secs, _)) = n.split_once('.')
    {
        let secs = secs.to_owned();
        item.insert("created_at".into(), AttributeValue::N(secs));
    }
    Ok(serde_dynamo::from_item(item).map_err(anyhow::Error::from)?)
}

/// The `created_at` of the item: whole seconds, and the microseconds as a decimal fraction.
fn order_value(secs: u64, micros: u32) -> String {
    if micros == 0 {
        secs.to_string()
    } else {
        format!("{secs}.{micros:06}")
    }
}

/// The position an index key (a Query's `LastEvaluatedKey`) stands for.
fn position_of_key(key: &HashMap<String, AttributeValue>) -> Result<JobPosition, StoreError> {
    let bad = || StoreError::Unavailable(anyhow::anyhow!("a by_user key is not a job's"));
    let id = match key.get("id") {
        Some(AttributeValue::S(id)) => JobId::parse(id).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    let Some(AttributeValue::N(n)) = key.get("created_at") else {
        return Err(bad());
    };
    let (secs, fraction) = n.split_once('.').unwrap_or((n, ""));
    // DynamoDB drops a fraction's trailing zeros: `.12345` is 123450 microseconds.
    let digits: String = fraction
        .chars()
        .chain(std::iter::repeat('0'))
        .take(6)
        .collect();
    Ok(JobPosition {
        created_at: secs.parse().map_err(|_| bad())?,
        created_micros: digits.parse().map_err(|_| bad())?,
        id,
    })
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
        if applied("PutItem (new job)", res.map_err(|e| e.into_service_error()))? {
            Ok(())
        } else {
            Err(StoreError::JobExists)
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
        applied(
            "PutItem (job update)",
            res.map_err(|e| e.into_service_error()),
        )
    }

    async fn delete(&self, id: &JobId) -> Result<(), StoreError> {
        // Unconditional: a worker's write racing it finds no revision to write over.
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

    async fn list_page(
        &self,
        user_id: i64,
        status: Option<JobStatus>,
        after: Option<&JobPosition>,
        limit: usize,
    ) -> Result<JobPage, StoreError> {
        if limit == 0 {
            return Ok(JobPage::default());
        }
        let mut start = after.map(|p| {
            HashMap::from([
                ("id".to_owned(), AttributeValue::S(p.id.to_string())),
                ("user_id".to_owned(), AttributeValue::N(user_id.to_string())),
                (
                    "created_at".to_owned(),
                    AttributeValue::N(order_value(p.created_at, p.created_micros)),
                ),
            ])
        });
        let mut jobs = Vec::new();
        // One more than the page, to know whether another follows without reading it.
        for _ in 0..MAX_PAGE_QUERIES {
            let wanted = match status {
                None => limit + 1 - jobs.len(),
                Some(_) => FILTERED_QUERY_ITEMS,
            };
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(USER_INDEX)
                .key_condition_expression("user_id = :u")
                .expression_attribute_values(":u", AttributeValue::N(user_id.to_string()))
                .scan_index_forward(false)
                .limit(wanted.min(1000) as i32)
                .set_exclusive_start_key(start);
            if let Some(status) = status {
                query = query
                    .filter_expression("#status = :status")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(
                        ":status",
                        AttributeValue::S(status.as_str().to_owned()),
                    );
            }
            let out = query
                .send()
                .await
                .map_err(|e| sdk_err("Query (a page of a user's jobs)", e))?;
            for item in out.items.unwrap_or_default() {
                jobs.push(from_item(item)?);
            }
            start = out.last_evaluated_key;
            if jobs.len() > limit {
                jobs.truncate(limit);
                let next = jobs.last().map(JobPosition::of);
                return Ok(JobPage { jobs, next });
            }
            if start.is_none() {
                return Ok(JobPage { jobs, next: None });
            }
        }
        // The page read what it may: the next one goes on after the last item read.
        let next = start.as_ref().map(position_of_key).transpose()?;
        Ok(JobPage { jobs, next })
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

    async fn link_trace(&self, trace_id: &str, job: &JobId, until: u64) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("id", trace_key(trace_id))
            .item("job_id", AttributeValue::S(job.to_string()))
            .item(
                "expires_at",
                AttributeValue::N((until + 86_400).to_string()),
            )
            .send()
            .await
            .map_err(|e| sdk_err("PutItem (trace marker)", e))?;
        Ok(())
    }

    async fn find_by_trace(&self, trace_id: &str) -> Result<Option<JobId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("id", trace_key(trace_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("GetItem (trace marker)", e))?;
        Ok(match out.item.as_ref().and_then(|i| i.get("job_id")) {
            Some(AttributeValue::S(id)) => JobId::parse(id),
            _ => None,
        })
    }
}

fn trace_key(trace_id: &str) -> AttributeValue {
    AttributeValue::S(format!("TRACE#{trace_id}"))
}

fn durations_key(model: ModelKind) -> AttributeValue {
    AttributeValue::S(format!("DURATIONS#{}", model.as_str()))
}

#[async_trait]
impl JobDurations for DynamoJobStore {
    async fn record_duration(&self, model: ModelKind, secs: u64) -> Result<(), StoreError> {
        // Takes the next slot number atomically (creating the record the first time), then
        // writes the duration in that slot: concurrent records never share a slot.
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("id", durations_key(model))
            .update_expression("SET d = if_not_exists(d, :empty) ADD n :one")
            .expression_attribute_values(":empty", AttributeValue::M(HashMap::new()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| sdk_err("UpdateItem (duration counter)", e))?;
        let n: u64 = match out.attributes.as_ref().and_then(|a| a.get("n")) {
            Some(AttributeValue::N(n)) => n.parse().map_err(anyhow::Error::from)?,
            _ => return Err(anyhow::anyhow!("the duration counter came back without n").into()),
        };
        let slot = (n.saturating_sub(1) % RECENT_DURATIONS as u64).to_string();
        self.client
            .update_item()
            .table_name(&self.table)
            .key("id", durations_key(model))
            .update_expression("SET d.#slot = :secs")
            .expression_attribute_names("#slot", slot)
            .expression_attribute_values(":secs", AttributeValue::N(secs.to_string()))
            .send()
            .await
            .map_err(|e| sdk_err("UpdateItem (duration)", e))?;
        Ok(())
    }

    async fn recent_durations(
        &self,
        models: &[ModelKind],
    ) -> Result<Vec<(ModelKind, Vec<u64>)>, StoreError> {
        if models.is_empty() {
            return Ok(Vec::new());
        }
        let mut keys = KeysAndAttributes::builder().projection_expression("id, d");
        for model in models {
            keys = keys.keys(HashMap::from([("id".to_owned(), durations_key(*model))]));
        }
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.table, keys.build().map_err(anyhow::Error::from)?)
            .send()
            .await
            .map_err(|e| sdk_err("BatchGetItem (durations)", e))?;
        let mut found = Vec::new();
        for item in out
            .responses
            .and_then(|mut r| r.remove(&self.table))
            .unwrap_or_default()
        {
            let model = models
                .iter()
                .copied()
                .find(|m| item.get("id") == Some(&durations_key(*m)));
            let (Some(model), Some(AttributeValue::M(d))) = (model, item.get("d")) else {
                continue;
            };
            let secs = d
                .values()
                .filter_map(|v| match v {
                    AttributeValue::N(n) => n.parse().ok(),
                    _ => None,
                })
                .collect();
            found.push((model, secs));
        }
        Ok(found)
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
        // The job's slot (a job holds at most one: the first delete that applies ends the
        // search), then the user's marker (held with it when slots are shared fairly).
        let slots = (0..max).map(|slot| format!("SLOT#{}#{slot}", model.as_str()));
        for key in slots {
            if self.delete_held(key, job).await? {
                break;
            }
        }
        let marker = format!("SLOTUSER#{}#{user_id}", model.as_str());
        self.delete_held(marker, job).await?;
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
        applied(
            "PutItem (create lock)",
            res.map_err(|e| e.into_service_error()),
        )
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
        applied(
            "UpdateItem (create lock)",
            res.map_err(|e| e.into_service_error()),
        )
        .map(|_| ())
    }
}
