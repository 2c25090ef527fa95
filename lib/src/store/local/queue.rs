use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use rusqlite::{TransactionBehavior, params};

use super::LocalDb;
use crate::store::{Delivery, JobQueue, StoreError};

/// [`JobQueue`] as a table: each row has the time it becomes visible, its receive count and the
/// receipt of its latest delivery. Receiving hides a row for the visibility timeout, as SQS does.
#[derive(Clone)]
pub struct LocalJobQueue {
    db: LocalDb,
    visibility: Duration,
}

impl LocalJobQueue {
    pub fn new(db: LocalDb, visibility: Duration) -> Self {
        Self { db, visibility }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// How often an idle receive looks again while it waits.
const IDLE_POLL: Duration = Duration::from_millis(100);

#[async_trait]
impl JobQueue for LocalJobQueue {
    async fn send(&self, body: &str, delay: Duration) -> Result<(), StoreError> {
        let body = body.to_owned();
        let visible_at = now_ms() + delay.as_millis() as i64;
        self.db
            .call(move |conn| {
                conn.execute(
                    "INSERT INTO queue (body, visible_at, receive_count) VALUES (?1, ?2, 0)",
                    params![body, visible_at],
                )?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, StoreError> {
        let give_up = tokio::time::Instant::now() + wait;
        let hide_ms = self.visibility.as_millis() as i64;
        loop {
            let got = self
                .db
                .call(move |conn| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    let now = now_ms();
                    let rows: Vec<(i64, String, u32)> = {
                        let mut stmt = tx.prepare_cached(
                            "SELECT id, body, receive_count FROM queue WHERE visible_at <= ?1
                             ORDER BY visible_at, id LIMIT ?2",
                        )?;
                        stmt.query_map(params![now, max as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                            .collect::<rusqlite::Result<_>>()?
                    };
                    let mut out = Vec::with_capacity(rows.len());
                    for (id, body, count) in rows {
                        let receipt = format!("{id}:{}", hex::encode(rand::random::<[u8; 8]>()));
                        tx.execute(
                            "UPDATE queue SET visible_at = ?2, receive_count = receive_count + 1, receipt = ?3
                             WHERE id = ?1",
                            params![id, now + hide_ms, receipt],
                        )?;
                        out.push(Delivery { body, receipt, receive_count: count + 1 });
                    }
                    tx.commit()?;
                    Ok(out)
                })
                .await?;
            if !got.is_empty() || tokio::time::Instant::now() >= give_up {
                return Ok(got);
            }
            tokio::time::sleep(IDLE_POLL.min(give_up - tokio::time::Instant::now())).await;
        }
    }

    async fn delete(&self, receipt: &str) -> Result<(), StoreError> {
        let receipt = receipt.to_owned();
        self.db
            .call(move |conn| Ok(conn.execute("DELETE FROM queue WHERE receipt = ?1", [receipt])?))
            .await?;
        Ok(())
    }

    async fn retry_after(&self, receipt: &str, delay: Duration) -> Result<(), StoreError> {
        let receipt = receipt.to_owned();
        let visible_at = now_ms() + delay.as_millis() as i64;
        self.db
            .call(move |conn| {
                Ok(conn.execute(
                    "UPDATE queue SET visible_at = ?2 WHERE receipt = ?1",
                    params![receipt, visible_at],
                )?)
            })
            .await?;
        Ok(())
    }
}
