use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::LocalDb;
use crate::domain::ModelKind;
use crate::job::{Job, JobId};
use crate::store::{CREATE_GAP_SECS, JobStore, StoreError, TaskSlots, slots_per_user};

/// [`JobStore`] on the embedded database: the job as JSON, with its id, owner, time and revision
/// in columns for the conditional writes and the per-user index.
#[derive(Clone)]
pub struct LocalJobStore {
    db: LocalDb,
}

impl LocalJobStore {
    pub fn new(db: LocalDb) -> Self {
        Self { db }
    }
}

/// The sweep's index value: the job's last write while it is in progress, none once it ended.
fn unattended_since(job: &Job) -> Option<i64> {
    (!job.status.is_terminal()).then_some(job.updated_at as i64)
}

fn decode(data: String) -> anyhow::Result<Job> {
    Ok(serde_json::from_str(&data)?)
}

#[async_trait]
impl JobStore for LocalJobStore {
    async fn create(&self, job: &Job) -> Result<(), StoreError> {
        let data = serde_json::to_string(job).map_err(anyhow::Error::from)?;
        let (id, user, created, rev, since) = (
            job.id.to_string(),
            job.user_id,
            job.created_at as i64,
            job.rev as i64,
            unattended_since(job),
        );
        let inserted = self
            .db
            .call(move |conn| {
                Ok(conn.execute(
                    "INSERT INTO jobs (id, user_id, created_at, rev, data, unattended_since)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (id) DO NOTHING",
                    params![id, user, created, rev, data, since],
                )?)
            })
            .await?;
        if inserted == 1 {
            Ok(())
        } else {
            Err(StoreError::JobExists)
        }
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, StoreError> {
        let id = id.to_string();
        let data = self
            .db
            .call(move |conn| {
                Ok(conn
                    .query_row("SELECT data FROM jobs WHERE id = ?1", [id], |r| {
                        r.get::<_, String>(0)
                    })
                    .optional()?)
            })
            .await?;
        Ok(data.map(decode).transpose()?)
    }

    async fn update(&self, job: &Job) -> Result<bool, StoreError> {
        let data = serde_json::to_string(job).map_err(anyhow::Error::from)?;
        let (id, rev, since) = (job.id.to_string(), job.rev as i64, unattended_since(job));
        let changed = self
            .db
            .call(move |conn| {
                Ok(conn.execute(
                    "UPDATE jobs SET rev = ?2, data = ?3, unattended_since = ?4
                     WHERE id = ?1 AND rev = ?2 - 1",
                    params![id, rev, data, since],
                )?)
            })
            .await?;
        Ok(changed == 1)
    }

    async fn delete(&self, id: &JobId) -> Result<(), StoreError> {
        let id = id.to_string();
        self.db
            .call(move |conn| Ok(conn.execute("DELETE FROM jobs WHERE id = ?1", [id])?))
            .await?;
        Ok(())
    }

    async fn list_for_user(
        &self,
        user_id: i64,
        since: u64,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let rows = self
            .db
            .call(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT data FROM jobs WHERE user_id = ?1 AND created_at >= ?2
                     ORDER BY created_at DESC, id DESC LIMIT ?3",
                )?;
                let rows = stmt
                    .query_map(params![user_id, since as i64, limit as i64], |r| {
                        r.get::<_, String>(0)
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(decode)
            .collect::<anyhow::Result<_>>()?)
    }

    async fn list_unattended(&self, before: u64, limit: usize) -> Result<Vec<Job>, StoreError> {
        let rows = self
            .db
            .call(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT data FROM jobs WHERE unattended_since IS NOT NULL
                     AND unattended_since < ?1 ORDER BY unattended_since LIMIT ?2",
                )?;
                let rows = stmt
                    .query_map(params![before as i64, limit as i64], |r| {
                        r.get::<_, String>(0)
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(rows)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(decode)
            .collect::<anyhow::Result<_>>()?)
    }
}

#[async_trait]
impl TaskSlots for LocalJobStore {
    async fn acquire_task_slot(
        &self,
        model: ModelKind,
        job: &JobId,
        user_id: i64,
        now: u64,
        until: u64,
        max: u32,
    ) -> Result<bool, StoreError> {
        let (model, job) = (model.as_str(), job.to_string());
        Ok(self
            .db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let held: Vec<(u32, String, i64, i64)> = {
                    let mut stmt = tx.prepare_cached(
                        "SELECT slot, holder, until, user_id FROM task_slots
                         WHERE model = ?1 AND slot < ?2",
                    )?;
                    stmt.query_map(params![model, max], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                    })?
                    .collect::<rusqlite::Result<_>>()?
                };
                let live = |u: i64| (u as u64) >= now;
                let mine = held
                    .iter()
                    .find(|(_, h, _, _)| *h == job)
                    .map(|(s, _, _, _)| *s);
                if mine.is_none() {
                    let users = held
                        .iter()
                        .filter(|(_, _, u, owner)| live(*u) && *owner == user_id)
                        .count() as u32;
                    if users >= slots_per_user(max) {
                        return Ok(false);
                    }
                }
                let free = (0..max).find(|slot| {
                    held.iter()
                        .find(|(s, _, _, _)| s == slot)
                        .is_none_or(|(_, _, u, _)| !live(*u))
                });
                let Some(slot) = mine.or(free) else {
                    return Ok(false);
                };
                tx.execute(
                    "INSERT INTO task_slots (model, slot, holder, until, user_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (model, slot) DO UPDATE SET holder = ?3, until = ?4, user_id = ?5",
                    params![model, slot, job, until as i64, user_id],
                )?;
                tx.commit()?;
                Ok(true)
            })
            .await?)
    }

    async fn release_task_slot(
        &self,
        model: ModelKind,
        job: &JobId,
        _user_id: i64,
        _max: u32,
    ) -> Result<(), StoreError> {
        let (model, job) = (model.as_str(), job.to_string());
        self.db
            .call(move |conn| {
                Ok(conn.execute(
                    "DELETE FROM task_slots WHERE model = ?1 AND holder = ?2",
                    params![model, job],
                )?)
            })
            .await?;
        Ok(())
    }

    async fn acquire_create_lock(
        &self,
        model: ModelKind,
        job: &JobId,
        now: u64,
        until: u64,
    ) -> Result<bool, StoreError> {
        let (model, job) = (model.as_str(), job.to_string());
        let free_at = (until + CREATE_GAP_SECS) as i64;
        let taken = self
            .db
            .call(move |conn| {
                Ok(conn.execute(
                    "INSERT INTO create_locks (model, holder, free_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (model) DO UPDATE SET holder = ?2, free_at = ?3
                     WHERE create_locks.holder = ?2 OR create_locks.free_at <= ?4",
                    params![model, job, free_at, now as i64],
                )?)
            })
            .await?;
        Ok(taken == 1)
    }

    async fn release_create_lock(
        &self,
        model: ModelKind,
        job: &JobId,
        free_at: u64,
    ) -> Result<(), StoreError> {
        let (model, job) = (model.as_str(), job.to_string());
        self.db
            .call(move |conn| {
                Ok(conn.execute(
                    "UPDATE create_locks SET holder = NULL, free_at = ?3
                     WHERE model = ?1 AND holder = ?2",
                    params![model, job, free_at as i64],
                )?)
            })
            .await?;
        Ok(())
    }
}
