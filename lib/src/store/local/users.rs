//! Users, their login records, the daily job allowance and the per-client bounds on the embedded
//! database. Every read-then-write runs in an IMMEDIATE transaction, which takes the write lock
//! before reading, so two processes sharing the file never both act on the same old value.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::LocalDb;
use crate::auth::LockoutPolicy;
use crate::domain::Phone;
use crate::store::{
    AccessTokens, Allowance, ClientBound, ClientBounds, DailyQuota, LoginAttempts, LoginCheck,
    StoreError, User, UserStore,
};

/// [`UserStore`] on the embedded SQLite database.
#[derive(Clone)]
pub struct LocalUserStore {
    db: LocalDb,
}

impl LocalUserStore {
    /// The user whose `column` (`phone` or `openid`, both unique) is `value`.
    async fn find_where(
        &self,
        column: &'static str,
        value: &str,
    ) -> Result<Option<User>, StoreError> {
        let value = value.to_owned();
        let sql = format!(
            "SELECT id, phone, password_hash, token_version, created_at, openid, unionid
             FROM users WHERE {column} = ?1"
        );
        Ok(self
            .db
            .call(move |conn| Ok(conn.query_row(&sql, [value], read_user).optional()?))
            .await?)
    }

    pub fn new(db: LocalDb) -> Self {
        Self { db }
    }

    /// Applies `rule` to the phone's login record in one transaction, writing what it returns.
    async fn update_attempts<R: Send + 'static>(
        &self,
        phone: &Phone,
        rule: impl FnOnce(LoginAttempts) -> (LoginAttempts, R) + Send + 'static,
    ) -> Result<R, StoreError> {
        let phone = phone.as_str().to_owned();
        Ok(self
            .db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let before = read_attempts(&tx, &phone)?;
                let (next, result) = rule(before);
                if next != before {
                    write_attempts(&tx, &phone, next)?;
                    tx.commit()?;
                }
                Ok(result)
            })
            .await?)
    }
}

fn read_user(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        phone: row.get(1)?,
        password_hash: row.get(2)?,
        token_version: row.get(3)?,
        created_at: row.get::<_, i64>(4)? as u64,
        openid: row.get(5)?,
        unionid: row.get(6)?,
    })
}

fn read_attempts(conn: &rusqlite::Connection, phone: &str) -> rusqlite::Result<LoginAttempts> {
    let (failures, locked_until) = conn
        .query_row(
            "SELECT failures, locked_until FROM login_attempts WHERE phone = ?1",
            [phone],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)),
        )
        .optional()?
        .unwrap_or_default();
    let (checking, checking_until) = conn
        .query_row(
            "SELECT checking, checking_until FROM login_checks WHERE phone = ?1",
            [phone],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)),
        )
        .optional()?
        .unwrap_or_default();
    Ok(LoginAttempts {
        failures,
        locked_until,
        checking,
        checking_until,
    })
}

fn write_attempts(
    conn: &rusqlite::Connection,
    phone: &str,
    a: LoginAttempts,
) -> rusqlite::Result<()> {
    if a.failures == 0 && a.locked_until == 0 {
        conn.execute("DELETE FROM login_attempts WHERE phone = ?1", [phone])?;
    } else {
        conn.execute(
            "INSERT INTO login_attempts (phone, failures, locked_until) VALUES (?1, ?2, ?3)
             ON CONFLICT (phone) DO UPDATE SET failures = ?2, locked_until = ?3",
            params![phone, a.failures, a.locked_until as i64],
        )?;
    }
    if a.checking == 0 {
        conn.execute("DELETE FROM login_checks WHERE phone = ?1", [phone])?;
    } else {
        conn.execute(
            "INSERT INTO login_checks (phone, checking, checking_until) VALUES (?1, ?2, ?3)
             ON CONFLICT (phone) DO UPDATE SET checking = ?2, checking_until = ?3",
            params![phone, a.checking, a.checking_until as i64],
        )?;
    }
    Ok(())
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
                     RETURNING id, phone, password_hash, token_version, created_at, openid, unionid",
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
        self.find_where("phone", phone).await
    }

    async fn find_by_openid(&self, openid: &str) -> Result<Option<User>, StoreError> {
        self.find_where("openid", openid).await
    }

    async fn create_bound(
        &self,
        key: &str,
        password_hash: &str,
        openid: &str,
        unionid: Option<&str>,
        now: u64,
    ) -> Result<User, StoreError> {
        let (key, hash) = (key.to_owned(), password_hash.to_owned());
        let (openid, unionid) = (openid.to_owned(), unionid.map(str::to_owned));
        self.db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let taken = |sql: &str, v: &str| -> rusqlite::Result<bool> {
                    Ok(tx.query_row(sql, [v], |_| Ok(())).optional()?.is_some())
                };
                if taken("SELECT 1 FROM users WHERE phone = ?1", &key)? {
                    return Ok(Err(StoreError::PhoneTaken));
                }
                if taken("SELECT 1 FROM users WHERE openid = ?1", &openid)? {
                    return Ok(Err(StoreError::OpenidTaken));
                }
                let user = tx.query_row(
                    "INSERT INTO users (phone, password_hash, token_version, created_at, openid, unionid)
                     VALUES (?1, ?2, 0, ?3, ?4, ?5)
                     RETURNING id, phone, password_hash, token_version, created_at, openid, unionid",
                    params![key, hash, now as i64, openid, unionid],
                    read_user,
                )?;
                tx.commit()?;
                Ok(Ok(user))
            })
            .await?
    }

    async fn bind_openid(
        &self,
        phone: &str,
        openid: &str,
        unionid: Option<&str>,
    ) -> Result<User, StoreError> {
        let phone = phone.to_owned();
        let (openid, unionid) = (openid.to_owned(), unionid.map(str::to_owned));
        self.db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let select = "SELECT id, phone, password_hash, token_version, created_at, openid, unionid
                              FROM users WHERE ";
                let Some(user) = tx
                    .query_row(&format!("{select} phone = ?1"), [&phone], read_user)
                    .optional()?
                else {
                    return Ok(Err(StoreError::NoSuchUser));
                };
                match &user.openid {
                    Some(o) if *o == openid => return Ok(Ok(user)),
                    Some(_) => return Ok(Err(StoreError::OtherOpenidBound)),
                    None => {}
                }
                let other = tx
                    .query_row("SELECT 1 FROM users WHERE openid = ?1", [&openid], |_| Ok(()))
                    .optional()?;
                if other.is_some() {
                    return Ok(Err(StoreError::OpenidTaken));
                }
                let user = tx.query_row(
                    "UPDATE users SET openid = ?2, unionid = ?3 WHERE phone = ?1
                     RETURNING id, phone, password_hash, token_version, created_at, openid, unionid",
                    params![phone, openid, unionid],
                    read_user,
                )?;
                tx.commit()?;
                Ok(Ok(user))
            })
            .await?
    }

    async fn change_password(
        &self,
        phone: &str,
        password_hash: &str,
        token_version: u32,
    ) -> Result<u32, StoreError> {
        let phone = phone.to_owned();
        let hash = password_hash.to_owned();
        self.db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let version = tx
                    .query_row(
                        "UPDATE users SET password_hash = ?2, token_version = token_version + 1
                         WHERE phone = ?1 AND token_version = ?3 RETURNING token_version",
                        params![phone, hash, token_version],
                        |r| r.get::<_, u32>(0),
                    )
                    .optional()?;
                if let Some(v) = version {
                    tx.commit()?;
                    return Ok(Ok(v));
                }
                let exists = tx
                    .query_row("SELECT 1 FROM users WHERE phone = ?1", [&phone], |_| Ok(()))
                    .optional()?
                    .is_some();
                Ok(Err(if exists {
                    StoreError::TokenVersionChanged
                } else {
                    StoreError::NoSuchUser
                }))
            })
            .await?
    }

    async fn login_attempts(&self, phone: &Phone) -> Result<LoginAttempts, StoreError> {
        let phone = phone.as_str().to_owned();
        Ok(self
            .db
            .call(move |conn| Ok(read_attempts(conn, &phone)?))
            .await?)
    }

    async fn begin_login_check(
        &self,
        phone: &Phone,
        now: u64,
        policy: LockoutPolicy,
    ) -> Result<LoginCheck, StoreError> {
        self.update_attempts(phone, move |a| a.begin_check(now, policy))
            .await
    }

    async fn record_login_failure(
        &self,
        phone: &Phone,
        now: u64,
        policy: LockoutPolicy,
    ) -> Result<LoginAttempts, StoreError> {
        self.update_attempts(phone, move |a| {
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
        self.update_attempts(phone, move |a| a.check_succeeded(now))
            .await
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

#[async_trait]
impl ClientBounds for LocalUserStore {
    async fn take_client_request(
        &self,
        bound: ClientBound,
        client: &str,
        now: u64,
        max: u32,
    ) -> Result<bool, StoreError> {
        let client = client.to_owned();
        let window = bound.window(now) as i64;
        Ok(self
            .db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                // Windows that have ended count for nothing any more.
                tx.execute(
                    "DELETE FROM client_requests WHERE bound = ?1 AND window_no < ?2",
                    params![bound.name(), window],
                )?;
                let used: u32 = tx
                    .query_row(
                        "SELECT used FROM client_requests
                         WHERE bound = ?1 AND window_no = ?2 AND client = ?3",
                        params![bound.name(), window, client],
                        |r| r.get(0),
                    )
                    .optional()?
                    .unwrap_or(0);
                if used >= max {
                    tx.commit()?;
                    return Ok(false);
                }
                tx.execute(
                    "INSERT INTO client_requests (bound, window_no, client, used) VALUES (?1, ?2, ?3, 1)
                     ON CONFLICT (bound, window_no, client) DO UPDATE SET used = used + 1",
                    params![bound.name(), window, client],
                )?;
                tx.commit()?;
                Ok(true)
            })
            .await?)
    }
}

#[async_trait]
impl AccessTokens for LocalUserStore {
    async fn get_access_token(&self) -> Result<Option<(String, u64)>, StoreError> {
        Ok(self
            .db
            .call(|conn| {
                Ok(conn
                    .query_row(
                        "SELECT token, expires_at FROM wechat_tokens WHERE name = 'access_token'",
                        [],
                        |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)),
                    )
                    .optional()?)
            })
            .await?)
    }

    async fn put_access_token(&self, token: &str, expires_at: u64) -> Result<(), StoreError> {
        let token = token.to_owned();
        Ok(self
            .db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO wechat_tokens (name, token, expires_at)
                     VALUES ('access_token', ?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET token = ?1, expires_at = ?2",
                    params![token, expires_at as i64],
                )?;
                Ok(())
            })
            .await?)
    }
}
