use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::LocalDb;
use crate::auth::LockoutPolicy;
use crate::domain::Phone;
use crate::store::{
    Allowance, DailyQuota, LoginAttempts, StoreError, User, UserStore, next_attempts,
};

/// [`UserStore`] on the embedded SQLite database.
#[derive(Clone)]
pub struct LocalUserStore {
    db: LocalDb,
}

impl LocalUserStore {
    pub fn new(db: LocalDb) -> Self {
        Self { db }
    }
}

fn read_user(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        phone: row.get(1)?,
        password_hash: row.get(2)?,
        token_version: row.get(3)?,
        created_at: row.get::<_, i64>(4)? as u64,
    })
}

fn read_attempts(conn: &rusqlite::Connection, phone: &str) -> rusqlite::Result<LoginAttempts> {
    Ok(conn
        .query_row(
            "SELECT failures, locked_until FROM login_attempts WHERE phone = ?1",
            [phone],
            |r| {
                Ok(LoginAttempts {
                    failures: r.get(0)?,
                    locked_until: r.get::<_, i64>(1)? as u64,
                })
            },
        )
        .optional()?
        .unwrap_or_default())
}

#[async_trait]
impl UserStore for LocalUserStore {
    async fn create(
        &self,
        phone: &Phone,
        password_hash: &str,
        now: u64,
    ) -> Result<User, StoreError> {
        let phone = phone.as_str().to_owned();
        let hash = password_hash.to_owned();
        let inserted = self
            .db
            .call(move |conn| {
                let res = conn.query_row(
                    "INSERT INTO users (phone, password_hash, token_version, created_at)
                     VALUES (?1, ?2, 0, ?3)
                     RETURNING id, phone, password_hash, token_version, created_at",
                    params![phone, hash, now as i64],
                    read_user,
                );
                match res {
                    Ok(user) => Ok(Some(user)),
                    Err(rusqlite::Error::SqliteFailure(e, _))
                        if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
                    {
                        Ok(None)
                    }
                    Err(e) => Err(e.into()),
                }
            })
            .await?;
        inserted.ok_or(StoreError::PhoneTaken)
    }

    async fn find_by_phone(&self, phone: &str) -> Result<Option<User>, StoreError> {
        let phone = phone.to_owned();
        Ok(self
            .db
            .call(move |conn| {
                Ok(conn
                    .query_row(
                        "SELECT id, phone, password_hash, token_version, created_at
                         FROM users WHERE phone = ?1",
                        [phone],
                        read_user,
                    )
                    .optional()?)
            })
            .await?)
    }

    async fn change_password(&self, phone: &str, password_hash: &str) -> Result<u32, StoreError> {
        let phone = phone.to_owned();
        let hash = password_hash.to_owned();
        let version = self
            .db
            .call(move |conn| {
                Ok(conn
                    .query_row(
                        "UPDATE users SET password_hash = ?2, token_version = token_version + 1
                         WHERE phone = ?1 RETURNING token_version",
                        params![phone, hash],
                        |r| r.get::<_, u32>(0),
                    )
                    .optional()?)
            })
            .await?;
        version.ok_or(StoreError::NoSuchUser)
    }

    async fn login_attempts(&self, phone: &Phone) -> Result<LoginAttempts, StoreError> {
        let phone = phone.as_str().to_owned();
        Ok(self
            .db
            .call(move |conn| Ok(read_attempts(conn, &phone)?))
            .await?)
    }

    async fn record_login_failure(
        &self,
        phone: &Phone,
        now: u64,
        policy: LockoutPolicy,
    ) -> Result<LoginAttempts, StoreError> {
        let phone = phone.as_str().to_owned();
        Ok(self
            .db
            .call(move |conn| {
                // IMMEDIATE takes the write lock before reading, so two processes counting the
                // same phone cannot both read the old value.
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let next = next_attempts(read_attempts(&tx, &phone)?, now, policy);
                tx.execute(
                    "INSERT INTO login_attempts (phone, failures, locked_until) VALUES (?1, ?2, ?3)
                     ON CONFLICT (phone) DO UPDATE SET failures = ?2, locked_until = ?3",
                    params![phone, next.failures, next.locked_until as i64],
                )?;
                tx.commit()?;
                Ok(next)
            })
            .await?)
    }

    async fn clear_login_failures(&self, phone: &Phone) -> Result<(), StoreError> {
        let phone = phone.as_str().to_owned();
        self.db
            .call(move |conn| {
                conn.execute("DELETE FROM login_attempts WHERE phone = ?1", [phone])?;
                Ok(())
            })
            .await?;
        Ok(())
    }
}

/// The `job_quota` row that counts every user's jobs of a day (user ids start at 1).
const EVERYONE: i64 = 0;

#[async_trait]
impl DailyQuota for LocalUserStore {
    async fn take_daily_job(
        &self,
        user_id: i64,
        day: u64,
        max: u32,
        max_total: u32,
    ) -> Result<Allowance, StoreError> {
        Ok(self
            .db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let used = |who: i64| -> rusqlite::Result<u32> {
                    Ok(tx
                        .query_row(
                            "SELECT used FROM job_quota WHERE user_id = ?1 AND day = ?2",
                            params![who, day as i64],
                            |r| r.get(0),
                        )
                        .optional()?
                        .unwrap_or(0))
                };
                if used(user_id)? >= max {
                    return Ok(Allowance::UserSpent);
                }
                if used(EVERYONE)? >= max_total {
                    return Ok(Allowance::ServiceSpent);
                }
                for who in [user_id, EVERYONE] {
                    tx.execute(
                        "INSERT INTO job_quota (user_id, day, used) VALUES (?1, ?2, 1)
                         ON CONFLICT (user_id, day) DO UPDATE SET used = used + 1",
                        params![who, day as i64],
                    )?;
                }
                tx.commit()?;
                Ok(Allowance::Taken)
            })
            .await?)
    }

    async fn give_back_daily_job(&self, user_id: i64, day: u64) -> Result<(), StoreError> {
        self.db
            .call(move |conn| {
                Ok(conn.execute(
                    "UPDATE job_quota SET used = used - 1
                     WHERE (user_id = ?1 OR user_id = ?3) AND day = ?2 AND used > 0",
                    params![user_id, day as i64, EVERYONE],
                )?)
            })
            .await?;
        Ok(())
    }
}
