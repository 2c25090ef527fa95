use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::LocalDb;
use crate::domain::ModelKind;
use crate::job::{Job, JobId};
use crate::store::{JobStore, StoreError, TaskSlots};

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

fn decode(data: String) -> anyhow::Result<Job> {
    Ok(serde_json::from_str(&data)?)
}

#[async_trait]
impl JobStore for LocalJobStore {
    async fn create(&self, job: &Job) -> Result<(), StoreError> {
        let data = serde_json::to_string(job).map_err(anyhow::Error::from)?;
        let (id, user, created, rev) = (
            job.id.to_string(),
            job.user_id,
            job.created_at as i64,
            job.rev as i64,
        );
        let inserted = self
            .db
            .call(move |conn| {
                Ok(conn.execute(
                    "INSERT INTO jobs (id, user_id, created_at, rev, data) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (id) DO NOTHING",
                    params![id, user, created, rev, data],
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
        let (id, rev) = (job.id.to_string(), job.rev as i64);
        let changed = self
            .db
            .call(move |conn| {
                Ok(conn.execute(
                    "UPDATE jobs SET rev = ?2, data = ?3 WHERE id = ?1 AND rev = ?2 - 1",
                    params![id, rev, data],
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
}

#[async_trait]
impl TaskSlots for LocalJobStore {
    async fn acquire_task_slot(
        &self,
        model: ModelKind,
        job: &JobId,
        now: u64,
        until: u64,
        max: u32,
    ) -> Result<bool, StoreError> {
        let (model, job) = (model.as_str(), job.to_string());
        Ok(self
            .db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let held: Vec<(u32, String, i64)> = {
                    let mut stmt = tx.prepare_cached(
                        "SELECT slot, holder, until FROM task_slots WHERE model = ?1 AND slot < ?2",
                    )?;
                    stmt.query_map(params![model, max], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })?
                    .collect::<rusqlite::Result<_>>()?
                };
                let mine = held.iter().find(|(_, h, _)| *h == job).map(|(s, _, _)| *s);
                let free = (0..max).find(|slot| {
                    held.iter()
                        .find(|(s, _, _)| s == slot)
                        .is_none_or(|(_, _, u)| (*u as u64) < now)
                });
                let Some(slot) = mine.or(free) else {
                    return Ok(false);
                };
                tx.execute(
                    "INSERT INTO task_slots (model, slot, holder, until) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (model, slot) DO UPDATE SET holder = ?3, until = ?4",
                    params![model, slot, job, until as i64],
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
}
