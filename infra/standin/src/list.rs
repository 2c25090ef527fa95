//! What the stand-in lists: DashScope's task list (`GET /api/v1/tasks/`, the batch query of the
//! asynchronous task management API), checked the way its reference describes it, and the
//! stand-in-only count of the tasks it made (`GET /_standin/tasks`), for tests that run Emo in
//! another process and cannot call [`crate::StandinHandle::task_ids`].
//!
//! The reference writes `start_time` and `end_time` as `YYYYMMDDhhmmss` without a time zone;
//! the stand-in reads them as Beijing time (UTC+8), the zone of every other DashScope timestamp.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::response::Response;
use http::{HeaderMap, Uri};
use serde_json::{Value, json};

use crate::routes::{ApiError, error, gate, json_response, uuid_like};
use crate::state::{Inner, Shared};
use crate::tasks::{Outcome, Phase};

/// The longest range the task list takes, by its reference.
const MAX_RANGE_MS: u64 = 24 * 3600 * 1000;
const BEIJING_OFFSET_SECS: i64 = 8 * 3600;
/// The reference's default page size; it gives no maximum, so the stand-in takes at most this.
const DEFAULT_PAGE_SIZE: u64 = 10;
const MAX_PAGE_SIZE: u64 = 100;
const STATUSES: [&str; 6] = [
    "PENDING",
    "RUNNING",
    "SUCCEEDED",
    "FAILED",
    "CANCELED",
    "UNKNOWN",
];

/// `GET /api/v1/tasks/?start_time=&end_time=&model_name=&status=&page_no=&page_size=`: the tasks
/// made in the range (both ends included, to the second), newest first, one page of them.
/// Without `start_time` the range starts 24 hours before its end; without `end_time` it ends now.
/// 400 `InvalidParameter` on a time that is not `YYYYMMDDhhmmss`, a range that ends before it
/// starts or spans more than 24 hours, an unknown status, or a page number or size that is not
/// a positive integer (a size of at most 100).
pub(crate) async fn list_tasks(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    gate(&shared, &headers)?;
    let invalid = |message: &str| error(400, "InvalidParameter", message);
    let params: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|_| invalid("The query string cannot be read."))?;
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    };
    let time = |name: &str| -> Result<Option<u64>, ApiError> {
        param(name)
            .map(|v| {
                beijing_secs(v).map(|s| s * 1000).ok_or_else(|| {
                    invalid(&format!("{name} must be a time written YYYYMMDDhhmmss."))
                })
            })
            .transpose()
    };
    let now_ms = epoch_ms(SystemTime::now());
    let end_ms = time("end_time")?.unwrap_or(now_ms / 1000 * 1000);
    let start_ms = time("start_time")?.unwrap_or(end_ms.saturating_sub(MAX_RANGE_MS));
    if start_ms > end_ms {
        return Err(invalid("start_time must not be later than end_time."));
    }
    if end_ms - start_ms > MAX_RANGE_MS {
        return Err(invalid(
            "The time range between start_time and end_time cannot exceed 24 hours.",
        ));
    }
    let status = param("status")
        .map(|s| {
            STATUSES
                .iter()
                .find(|known| **known == s)
                .copied()
                .ok_or_else(|| invalid(&format!("status must be one of {}.", STATUSES.join(", "))))
        })
        .transpose()?;
    let positive = |name: &str, default: u64, max: u64| -> Result<u64, ApiError> {
        match param(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| invalid(&format!("{name} must be an integer from 1 to {max}."))),
        }
    };
    let page_no = positive("page_no", 1, u64::from(u32::MAX))?;
    let page_size = positive("page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)?;
    let model = param("model_name");

    let state = shared.lock();
    let mut rows: Vec<(u64, &String, Value)> = state
        .tasks
        .iter()
        // A lost task stands for one of another account or region: this one does not know it.
        .filter(|(_, t)| !matches!(t.outcome, Outcome::Lost))
        .filter(|(_, t)| model.is_none_or(|m| t.model == m))
        .filter_map(|(id, t)| {
            let created = epoch_ms(t.submitted_at);
            // The end is a whole second: a task made during it is inside.
            if created < start_ms || created >= end_ms + 1000 {
                return None;
            }
            let phase = t.phase();
            if status.is_some_and(|s| s != phase.as_str()) {
                return None;
            }
            let mut row = json!({
                "api_key_id": "standin",
                "caller_parent_id": "standin",
                "caller_uid": "standin",
                "gmt_create": created,
                "model_name": t.model,
                "region": "cn-beijing",
                "request_id": t.request_id,
                "status": phase.as_str(),
                "task_id": id,
                "user_api_unique_key": format!(
                    "apikey:v1:aigc:video-generation:video-synthesis:{}", t.model
                ),
            });
            if !matches!(phase, Phase::Pending | Phase::Canceled) {
                row["start_time"] = json!(epoch_ms(t.scheduled_at()));
            }
            if matches!(phase, Phase::Succeeded | Phase::Failed(_) | Phase::Canceled) {
                row["end_time"] = json!(epoch_ms(t.ended_at()));
            }
            Some((created, id, row))
        })
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let total = rows.len() as u64;
    let skip = usize::try_from((page_no - 1).saturating_mul(page_size)).unwrap_or(usize::MAX);
    let data: Vec<Value> = rows
        .into_iter()
        .skip(skip)
        .take(page_size as usize)
        .map(|(_, _, row)| row)
        .collect();
    Ok(json_response(
        200,
        json!({
            "total": total,
            "data": data,
            "total_page": total.div_ceil(page_size),
            "page_no": page_no,
            "request_id": uuid_like(),
            "page_size": page_size,
        }),
    ))
}

/// `GET /_standin/tasks?prompt_contains=…` (stand-in only, no key needed): `{"count": n,
/// "task_ids": [...]}`, the tasks made in the last day whose prompt contains the text (all of
/// them without it), oldest first. Lost tasks count: they were made and would be billed.
pub(crate) async fn standin_tasks(State(shared): State<Arc<Shared>>, uri: Uri) -> Response {
    let params: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or("")).unwrap_or_default();
    let needle = params
        .iter()
        .find(|(k, _)| k == "prompt_contains")
        .map_or("", |(_, v)| v.as_str());
    let ids = task_ids(&shared.lock(), needle);
    json_response(200, json!({"count": ids.len(), "task_ids": ids}))
}

/// The ids of the tasks whose prompt contains `needle`, oldest first.
pub(crate) fn task_ids(state: &Inner, needle: &str) -> Vec<String> {
    let mut tasks: Vec<_> = state
        .tasks
        .iter()
        .filter(|(_, t)| t.prompt.contains(needle))
        .map(|(id, t)| (t.created, id.clone()))
        .collect();
    tasks.sort();
    tasks.into_iter().map(|(_, id)| id).collect()
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
        .try_into()
        .unwrap_or(u64::MAX)
}

/// `YYYYMMDDhhmmss` read as Beijing time, in seconds since the Unix epoch; `None` when it is not
/// a real time so written.
fn beijing_secs(text: &str) -> Option<u64> {
    if text.len() != 14 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |range: std::ops::Range<usize>| text[range].parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second) = (num(8..10)?, num(10..12)?, num(12..14)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if year < 1970 || !(1..=days_in_month).contains(&day) || hour > 23 || minute > 59 || second > 59
    {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - BEIJING_OFFSET_SECS;
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_times_are_read_as_beijing_time() {
        // 2025-04-25 16:07:08 in Beijing is 08:07:08 UTC.
        assert_eq!(beijing_secs("20250425160708"), Some(1_745_568_428));
        assert_eq!(beijing_secs("20250101000000"), Some(1_735_660_800));
        assert_eq!(beijing_secs("20240229120000"), Some(1_709_179_200));
        for bad in [
            "2025042516070",
            "202504251607080",
            "2025-04-25 16:07",
            "20250230000000",
            "20230229000000",
            "20251301000000",
            "20250425240000",
            "20250425236000",
            "20250425235960",
            "19691231000000",
        ] {
            assert_eq!(beijing_secs(bad), None, "{bad}");
        }
    }
}
