//! Users table layout (one table, string partition key `pk`, TTL attribute `expires_at`):
//!
//! | item            | `pk`             | attributes                                              |
//! |-----------------|------------------|---------------------------------------------------------|
//! | a user          | `USER#<phone>`   | `id`, `phone`, `password_hash`, `token_version`, `created_at` |
//! | a login record  | `LOGIN#<phone>`  | `failures`, `locked_until`, `checking`, `checking_until`, `rev`, `expires_at` |
//! | the id sequence | `SEQ#user`       | `value`                                                 |
//! | a day's jobs    | `QUOTA#<user id>#<day>` | `used`, `expires_at`                             |
//! | everyone's day  | `QUOTA#all#<day>` | `used`, `expires_at`                                 |
//! | a client's window | `CLIENT#<bound>#<address>#<window>` | `used`, `expires_at`                   |
//! | WeChat's access token | `WECHAT#access_token` | `token`, `token_expires_at` (not `expires_at`: the TTL must not delete it early) |
//!
//! Keying users by phone makes "one account per phone" a single conditional put; the numeric id the
//! JWT carries comes from an atomic counter. A login record is changed by reading it, applying
//! [`LoginAttempts`]' rules and writing it back only over the revision read (so every change is
//! atomic); the counters are single conditional updates.

use std::collections::HashMap;

use anyhow::Context;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};

use super::{applied, sdk_err};
use crate::auth::LockoutPolicy;
use crate::domain::Phone;
use crate::store::{
    AccessTokens, Allowance, ClientBound, ClientBounds, DailyQuota, LoginAttempts, LoginCheck,
    StoreError, User, UserStore,
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
    /// Absent on records written before checks were reserved.
    #[serde(default)]
    checking: u32,
    #[serde(default)]
    checking_until: u64,
    /// Optimistic-concurrency revision: a write succeeds only over the revision it read. It only
    /// grows (a cleared record is written, not deleted), so a revision never comes back.
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

/// How often a change of a login record is tried when other changes keep beating it. Each
/// write that beats it is another login's reservation or end, of which a phone has at most two
/// for each failure its lockout allows (refusals write nothing), so this is not reached in
/// practice; reaching it is an error (500), never a check made without a reservation.
const ATTEMPTS_TRIES: usize = 64;

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

    /// Applies `rule` to the phone's login record atomically: read, apply, write back only over
    /// the revision read; when another change came first, again from a fresh read.
    async fn update_attempts<R>(
        &self,
        phone: &Phone,
        now: u64,
        rule: impl Fn(LoginAttempts) -> (LoginAttempts, R),
    ) -> Result<R, StoreError> {
        for _ in 0..ATTEMPTS_TRIES {
            let current = self.read_attempts(phone.as_str()).await?;
            let before = attempts_of(&current);
            let (next, result) = rule(before);
            if next == before {
                return Ok(result);
            }
            let rev = current.as_ref().map_or(0, |i| i.rev);
            let item = AttemptsItem {
                pk: format!("LOGIN#{phone}"),
                failures: next.failures,
                locked_until: next.locked_until,
                checking: next.checking,
                checking_until: next.checking_until,
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
                Ok(_) => return Ok(result),
                Err(e) => {
                    let e = e.into_service_error();
                    if !e.is_conditional_check_failed_exception() {
                        return Err(sdk_err("PutItem (login record)", e).into());
                    }
                }
            }
        }
        Err(anyhow::anyhow!("the login record of one phone kept changing under us").into())
    }
}

fn attempts_of(item: &Option<AttemptsItem>) -> LoginAttempts {
    item.as_ref()
        .map(|i| LoginAttempts {
            failures: i.failures,
            locked_until: i.locked_until,
            checking: i.checking,
            checking_until: i.checking_until,
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

    async fn change_password(
        &self,
        phone: &str,
        password_hash: &str,
        token_version: u32,
    ) -> Result<u32, StoreError> {
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", user_pk(phone))
            .update_expression("SET password_hash = :h ADD token_version :one")
            .condition_expression("attribute_exists(pk) AND token_version = :v")
            .expression_attribute_values(":h", AttributeValue::S(password_hash.to_owned()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":v", AttributeValue::N(token_version.to_string()))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
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
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => {
                    // The item as it was tells which condition failed.
                    if failed.item().is_some_and(|i| !i.is_empty()) {
                        Err(StoreError::TokenVersionChanged)
                    } else {
                        Err(StoreError::NoSuchUser)
                    }
                }
                e => Err(sdk_err("UpdateItem (password)", e).into()),
            },
        }
    }

    async fn login_attempts(&self, phone: &Phone) -> Result<LoginAttempts, StoreError> {
        Ok(attempts_of(&self.read_attempts(phone.as_str()).await?))
    }

    async fn begin_login_check(
        &self,
        phone: &Phone,
        now: u64,
        policy: LockoutPolicy,
    ) -> Result<LoginCheck, StoreError> {
        self.update_attempts(phone, now, |a| a.begin_check(now, policy))
            .await
    }

    async fn record_login_failure(
        &self,
        phone: &Phone,
        now: u64,
        policy: LockoutPolicy,
    ) -> Result<LoginAttempts, StoreError> {
        self.update_attempts(phone, now, |a| {
            let next = a.check_failed(now, policy);
            (next, next)
        })
        .await
    }

    async fn record_login_success(
        &self,
        phone: &Phone,
        now: u64,
    ) -> Result<LoginCheck, StoreError> {
        self.update_attempts(phone, now, |a| a.check_succeeded(now))
            .await
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
            applied(
                "UpdateItem (daily quota give-back)",
                res.map_err(|e| e.into_service_error()),
            )?;
        }
        Ok(())
    }
}

#[async_trait]
impl ClientBounds for DynamoUserStore {
    async fn take_client_request(
        &self,
        bound: ClientBound,
        client: &str,
        now: u64,
        max: u32,
    ) -> Result<bool, StoreError> {
        let window = bound.window(now);
        let res = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(
                "pk",
                AttributeValue::S(format!("CLIENT#{}#{client}#{window}", bound.name())),
            )
            .update_expression("ADD used :one SET expires_at = :ttl")
            .condition_expression("attribute_not_exists(used) OR used < :max")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":max", AttributeValue::N(max.to_string()))
            // Read for nothing once its window has ended; then left to TTL.
            .expression_attribute_values(
                ":ttl",
                AttributeValue::N((bound.window_end(now) + 3600).to_string()),
            )
            .send()
            .await;
        applied(
            "UpdateItem (client bound)",
            res.map_err(|e| e.into_service_error()),
        )
    }
}

const ACCESS_TOKEN_PK: &str = "WECHAT#access_token";

#[async_trait]
impl AccessTokens for DynamoUserStore {
    async fn get_access_token(&self) -> Result<Option<(String, u64)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(ACCESS_TOKEN_PK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err("GetItem (WeChat access token)", e))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let token = item.get("token").and_then(|v| v.as_s().ok());
        let until = item
            .get("token_expires_at")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok());
        Ok(match (token, until) {
            (Some(t), Some(u)) => Some((t.clone(), u)),
            _ => None,
        })
    }

    async fn put_access_token(&self, token: &str, expires_at: u64) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(ACCESS_TOKEN_PK.into()))
            .item("token", AttributeValue::S(token.into()))
            .item(
                "token_expires_at",
                AttributeValue::N(expires_at.to_string()),
            )
            .send()
            .await
            .map_err(|e| sdk_err("PutItem (WeChat access token)", e))?;
        Ok(())
    }
}
