//! Users table layout (one table, string partition key `pk`, TTL attribute `expires_at`):
//!
//! | item            | `pk`             | attributes                                              |
//! |-----------------|------------------|---------------------------------------------------------|
//! | a user          | `USER#<phone>`   | `id`, `phone`, `password_hash`, `token_version`, `created_at` |
//! | login failures  | `LOGIN#<phone>`  | `failures`, `locked_until`, `rev`, `expires_at`         |
//! | the id sequence | `SEQ#user`       | `value`                                                 |
//! | a day's jobs    | `QUOTA#<user id>#<day>` | `used`, `expires_at`                             |
//! | everyone's day  | `QUOTA#all#<day>` | `used`, `expires_at`                                 |
//!
//! Keying users by phone makes "one account per phone" a single conditional put; the numeric id the
//! JWT carries comes from an atomic counter.

use std::collections::HashMap;

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ScalarAttributeType, TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};

use super::sdk_err;
use crate::auth::LockoutPolicy;
use crate::domain::Phone;
use crate::store::{
    Allowance, DailyQuota, LoginAttempts, StoreError, User, UserStore, next_attempts,
};

/// [`UserStore`] on a DynamoDB table.
#[derive(Clone)]
pub struct DynamoUserStore {
    client: Client,
    table: String,
}

#[derive(Serialize, Deserialize)]
struct UserItem {
    pk: String,
    id: i64,
    phone: String,
    password_hash: String,
    token_version: u32,
    created_at: u64,
}

impl From<UserItem> for User {
    fn from(i: UserItem) -> Self {
        User {
            id: i.id,
            phone: i.phone,
            password_hash: i.password_hash,
            token_version: i.token_version,
            created_at: i.created_at,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct AttemptsItem {
    pk: String,
    failures: u32,
    locked_until: u64,
    /// Optimistic-concurrency revision: a write succeeds only over the revision it read.
    rev: u64,
    expires_at: u64,
}

fn user_pk(phone: &str) -> AttributeValue {
    AttributeValue::S(format!("USER#{phone}"))
}

fn login_pk(phone: &str) -> AttributeValue {
    AttributeValue::S(format!("LOGIN#{phone}"))
}

/// How long a failure counter outlives its last change before DynamoDB's TTL may delete it.
const ATTEMPTS_TTL_SECS: u64 = 24 * 3600;

impl DynamoUserStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Creates the table as the SAM template declares it (for tests and local emulators).
    pub async fn create_table(client: &Client, table: &str) -> anyhow::Result<()> {
        client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()?,
            )
            .send()
            .await
            .map_err(|e| sdk_err("CreateTable (users)", e))?;
        super::enable_ttl(client, table).await?;
        Ok(())
    }

    async fn next_user_id(&self) -> anyhow::Result<i64> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S("SEQ#user".into()))
            .update_expression("ADD #v :one")
            .expression_attribute_names("#v", "value")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| sdk_err("UpdateItem (user id sequence)", e))?;
        let value = out
            .attributes()
            .and_then(|a| a.get("value"))
            .and_then(|v| v.as_n().ok())
            .context("user id sequence returned no value")?;
        Ok(value.parse()?)
    }

    async fn read_attempts(&self, phone: &str) -> anyhow::Result<Option<AttemptsItem>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", login_pk(phone))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("GetItem (login attempts)", e))?;
        Ok(match out.item {
            Some(item) => Some(serde_dynamo::from_item(item)?),
            None => None,
        })
    }
}

fn attempts_of(item: &Option<AttemptsItem>) -> LoginAttempts {
    item.as_ref()
        .map(|i| LoginAttempts {
            failures: i.failures,
            locked_until: i.locked_until,
        })
        .unwrap_or_default()
}

#[async_trait]
impl UserStore for DynamoUserStore {
    async fn create(
        &self,
        phone: &Phone,
        password_hash: &str,
        now: u64,
    ) -> Result<User, StoreError> {
        let item = UserItem {
            pk: format!("USER#{phone}"),
            id: self.next_user_id().await?,
            phone: phone.as_str().to_owned(),
            password_hash: password_hash.to_owned(),
            token_version: 0,
            created_at: now,
        };
        let attrs: HashMap<String, AttributeValue> =
            serde_dynamo::to_item(&item).map_err(anyhow::Error::from)?;
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(item.into()),
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Err(StoreError::PhoneTaken)
                } else {
                    Err(sdk_err("PutItem (user)", e).into())
                }
            }
        }
    }

    async fn find_by_phone(&self, phone: &str) -> Result<Option<User>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", user_pk(phone))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("GetItem (user)", e))?;
        match out.item {
            Some(item) => {
                let item: UserItem = serde_dynamo::from_item(item).map_err(anyhow::Error::from)?;
                Ok(Some(item.into()))
            }
            None => Ok(None),
        }
    }

    async fn change_password(&self, phone: &str, password_hash: &str) -> Result<u32, StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", user_pk(phone))
            .update_expression("SET password_hash = :h ADD token_version :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":h", AttributeValue::S(password_hash.to_owned()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match res {
            Ok(out) => {
                let version = out
                    .attributes()
                    .and_then(|a| a.get("token_version"))
                    .and_then(|v| v.as_n().ok())
                    .context("UpdateItem returned no token_version")?;
                Ok(version.parse().map_err(anyhow::Error::from)?)
            }
            Err(e) => {
                let e = e.into_service_error();
                if e.is_conditional_check_failed_exception() {
                    Err(StoreError::NoSuchUser)
                } else {
                    Err(sdk_err("UpdateItem (password)", e).into())
                }
            }
        }
    }

    async fn login_attempts(&self, phone: &Phone) -> Result<LoginAttempts, StoreError> {
        Ok(attempts_of(&self.read_attempts(phone.as_str()).await?))
    }

    async fn record_login_failure(
        &self,
        phone: &Phone,
        now: u64,
        policy: LockoutPolicy,
    ) -> Result<LoginAttempts, StoreError> {
        // Read, apply the shared rule, write back only over the revision read; on a race, again.
        for _ in 0..16 {
            let current = self.read_attempts(phone.as_str()).await?;
            let before = attempts_of(&current);
            let next = next_attempts(before, now, policy);
            if next == before {
                return Ok(next);
            }
            let rev = current.as_ref().map_or(0, |i| i.rev);
            let item = AttemptsItem {
                pk: format!("LOGIN#{phone}"),
                failures: next.failures,
                locked_until: next.locked_until,
                rev: rev + 1,
                expires_at: now.max(next.locked_until) + ATTEMPTS_TTL_SECS,
            };
            let attrs: HashMap<String, AttributeValue> =
                serde_dynamo::to_item(&item).map_err(anyhow::Error::from)?;
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(attrs));
            let put = if current.is_some() {
                put.condition_expression("rev = :rev")
                    .expression_attribute_values(":rev", AttributeValue::N(rev.to_string()))
            } else {
                put.condition_expression("attribute_not_exists(pk)")
            };
            match put.send().await {
                Ok(_) => return Ok(next),
                Err(e) => {
                    let e = e.into_service_error();
                    if !e.is_conditional_check_failed_exception() {
                        return Err(sdk_err("PutItem (login attempts)", e).into());
                    }
                }
            }
        }
        Err(anyhow::anyhow!("login attempts for one phone kept changing under us").into())
    }

    async fn clear_login_failures(&self, phone: &Phone) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", login_pk(phone.as_str()))
            .send()
            .await
            .map_err(|e| sdk_err("DeleteItem (login attempts)", e))?;
        Ok(())
    }
}

/// How often a transaction that met another on the same item is tried.
const TRANSACTION_TRIES: u32 = 5;

/// The cancellation reason codes of a cancelled transaction, one per item (empty otherwise).
pub(crate) fn cancellation_codes(e: &TransactWriteItemsError) -> Vec<String> {
    match e {
        TransactWriteItemsError::TransactionCanceledException(c) => c
            .cancellation_reasons()
            .iter()
            .map(|r| r.code().unwrap_or("None").to_owned())
            .collect(),
        _ => Vec::new(),
    }
}

fn quota_pk(who: Option<i64>, day: u64) -> AttributeValue {
    match who {
        Some(user) => AttributeValue::S(format!("QUOTA#{user}#{day}")),
        None => AttributeValue::S(format!("QUOTA#all#{day}")),
    }
}

#[async_trait]
impl DailyQuota for DynamoUserStore {
    async fn take_daily_job(
        &self,
        user_id: i64,
        day: u64,
        max: u32,
        max_total: u32,
    ) -> Result<Allowance, StoreError> {
        // Kept two days past its own, then left to TTL.
        let ttl = AttributeValue::N(((day + 3) * 86_400).to_string());
        let count = |who: Option<i64>, limit: u32| {
            Update::builder()
                .table_name(&self.table)
                .key("pk", quota_pk(who, day))
                .update_expression("ADD used :one SET expires_at = :ttl")
                .condition_expression("attribute_not_exists(used) OR used < :max")
                .expression_attribute_values(":one", AttributeValue::N("1".into()))
                .expression_attribute_values(":max", AttributeValue::N(limit.to_string()))
                .expression_attribute_values(":ttl", ttl.clone())
                .build()
                .map(|u| TransactWriteItem::builder().update(u).build())
                .map_err(anyhow::Error::from)
        };
        // Both counters in one transaction: both count the job, or neither does. Creates at the
        // same moment meet on the service's counter: a conflict is tried again.
        for attempt in 1..=TRANSACTION_TRIES {
            let res = self
                .client
                .transact_write_items()
                .transact_items(count(Some(user_id), max)?)
                .transact_items(count(None, max_total)?)
                .send()
                .await;
            let e = match res {
                Ok(_) => return Ok(Allowance::Taken),
                Err(e) => e.into_service_error(),
            };
            let reasons = cancellation_codes(&e);
            if reasons
                .first()
                .is_some_and(|c| c == "ConditionalCheckFailed")
            {
                return Ok(Allowance::UserSpent);
            }
            if reasons
                .get(1)
                .is_some_and(|c| c == "ConditionalCheckFailed")
            {
                return Ok(Allowance::ServiceSpent);
            }
            if attempt == TRANSACTION_TRIES || !reasons.iter().any(|c| c == "TransactionConflict") {
                return Err(sdk_err("TransactWriteItems (daily quota)", e).into());
            }
            tokio::time::sleep(std::time::Duration::from_millis(
                rand::random_range(10..50) * attempt as u64,
            ))
            .await;
        }
        unreachable!("the last try returns")
    }

    async fn give_back_daily_job(&self, user_id: i64, day: u64) -> Result<(), StoreError> {
        for who in [Some(user_id), None] {
            let res = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", quota_pk(who, day))
                .update_expression("ADD used :minus")
                .condition_expression("used > :zero")
                .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
                .expression_attribute_values(":zero", AttributeValue::N("0".into()))
                .send()
                .await;
            if let Err(e) = res {
                let e = e.into_service_error();
                if !e.is_conditional_check_failed_exception() {
                    return Err(sdk_err("UpdateItem (daily quota give-back)", e).into());
                }
            }
        }
        Ok(())
    }
}
