use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::LocalDb;
use crate::domain::ModelKind;
use crate::job::{Job, JobId, JobStatus};
use crate::store::{
    CREATE_GAP_SECS, JobDurations, JobPage, JobPosition, JobStore, RECENT_DURATIONS, StoreError,
    TaskSlots, slots_per_user,
};

/// [`JobStore`] on the embedded database: the job as JSON, with its id, owner, time (seconds and
/// microseconds) and revision in columns for the conditional writes and the per-user index; the
/// recent durations of each model in `job_durations`; WeChat's media-check trace ids in
/// `job_traces` (removed with their job).
#[derive(Clone)]
pub struct LocalJobStore {
    db: LocalDb,
}

impl LocalJobStore {
    pub fn new(db: LocalDb) -> Self {
        Self { db }
    }
}

/// The sweep's index value ([`Job::sweep_after`]): none once the job ended.
fn unattended_since(job: &Job) -> Option<i64> {
    job.sweep_after().map(|t| t as i64)
}

fn decode(data: String) -> anyhow::Result<Job> {
    Ok(serde_json::from_str(&data)?)
}

#[async_trait]
impl JobStore for LocalJobStore {
    async fn create(&self, job: &Job) -> Result<(), StoreError> {
        let data = serde_json::to_string(job).map_err(anyhow::Error::from)?;
        let (id, user, created, micros, rev, since) = (
            job.id.to_string(),
            job.user_id,
            job.created_at as i64,
            job.created_micros,
            job.rev as i64,
            unattended_since(job),
        );
        let inserted = self
            .db
            .call(move |conn| {
                Ok(conn.execute(
                    "INSERT INTO jobs
                       (id, user_id, created_at, created_micros, rev, data, unattended_since)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (id) DO NOTHING",
                    params![id, user, created, micros, rev, data, since],
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
            .call(move |conn| {
                let tx = conn.transaction()?;
                tx.execute("DELETE FROM job_traces WHERE job_id = ?1", [&id])?;
                tx.execute("DELETE FROM jobs WHERE id = ?1", [&id])?;
                tx.commit()?;
                Ok(())
            })
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

    async fn list_page(
        &self,
        user_id: i64,
        status: Option<JobStatus>,
        after: Option<&JobPosition>,
        limit: usize,
    ) -> Result<JobPage, StoreError> {
        let after = after.map(|p| (p.created_at as i64, p.created_micros, p.id.to_string()));
        let status = status.map(|s| s.as_str());
        let rows = self
            .db
            .call(move |conn| {
                let mut sql = String::from("SELECT data FROM jobs WHERE user_id = ?1");
                if after.is_some() {
                    sql.push_str(" AND (created_at, created_micros, id) < (?2, ?3, ?4)");
                }
                if status.is_some() {
                    sql.push_str(" AND json_extract(data, '$.status') = ?5");
                }
                sql.push_str(" ORDER BY created_at DESC, created_micros DESC, id DESC LIMIT ?6");
                let (secs, micros, id) = after.unwrap_or_default();
                let mut stmt = conn.prepare_cached(&sql)?;
                // One more than the page, to know whether another follows.
                let mut rows = stmt.query(params![
                    user_id,
                    secs,
                    micros,
                    id,
                    status.unwrap_or_default(),
                    (limit + 1) as i64
                ])?;
                let mut found = Vec::new();
                while let Some(row) = rows.next()? {
                    found.push(row.get::<_, String>(0)?);
                }
                Ok(found)
            })
            .await?;
        let mut jobs = rows
            .into_iter()
            .map(decode)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let next = if jobs.len() > limit {
            jobs.truncate(limit);
            jobs.last().map(JobPosition::of)
        } else {
            None
        };
        Ok(JobPage { jobs, next })
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

    async fn link_trace(&self, trace_id: &str, job: &JobId, _until: u64) -> Result<(), StoreError> {
        let (trace, job) = (trace_id.to_owned(), job.to_string());
        self.db
            .call(move |conn| {
                Ok(conn.execute(
                    "INSERT INTO job_traces (trace_id, job_id) VALUES (?1, ?2)
                     ON CONFLICT (trace_id) DO UPDATE SET job_id = ?2",
                    params![trace, job],
                )?)
            })
            .await?;
        Ok(())
    }

    async fn find_by_trace(&self, trace_id: &str) -> Result<Option<JobId>, StoreError> {
        let trace = trace_id.to_owned();
        let id = self
            .db
            .call(move |conn| {
                Ok(conn
                    .query_row(
                        "SELECT job_id FROM job_traces WHERE trace_id = ?1",
                        [trace],
                        |r| r.get::<_, String>(0),
                    )
                    .optional()?)
            })
            .await?;
        Ok(id.as_deref().and_then(JobId::parse))
    }
}

#[async_trait]
impl JobDurations for LocalJobStore {
    async fn record_duration(&self, model: ModelKind, secs: u64) -> Result<(), StoreError> {
        let model = model.as_str();
        self.db
            .call(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute(
                    "INSERT INTO job_durations (model, secs) VALUES (?1, ?2)",
                    params![model, secs as i64],
                )?;
                tx.execute(
                    "DELETE FROM job_durations WHERE model = ?1 AND n <= (
                       SELECT n FROM job_durations WHERE model = ?1
                       ORDER BY n DESC LIMIT 1 OFFSET ?2)",
                    params![model, RECENT_DURATIONS as i64],
                )?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn recent_durations(
        &self,
        models: &[ModelKind],
    ) -> Result<Vec<(ModelKind, Vec<u64>)>, StoreError> {
        let models = models.to_vec();
        Ok(self
            .db
            .call(move |conn| {
                let mut stmt =
                    conn.prepare_cached("SELECT secs FROM job_durations WHERE model = ?1")?;
                let mut found = Vec::new();
                for model in models {
                    let secs = stmt
                        .query_map([model.as_str()], |r| r.get::<_, i64>(0))?
                        .map(|s| s.map(|s| s as u64))
                        .collect::<rusqlite::Result<Vec<_>>>()?;
                    if !secs.is_empty() {
                        found.push((model, secs));
                    }
                }
                Ok(found)
            })
            .await?)
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
