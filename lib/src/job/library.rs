//! A user's jobs page by page, newest first: the list's parameters as the API takes them
//! (`limit`, `status`, `cursor`), checked once ([`ListQuery::parse`]), the opaque cursor that
//! says where the next page starts, and reading one page ([`page`]). The order and what a page
//! reads are the store's ([`crate::store::JobStore::list_page`]).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::AppState;
use crate::domain::{Invalid, JobId};
use crate::store::{JobPage, JobPosition, StoreError};

use super::JobStatus;

/// Jobs on a page when the request names no `limit`.
pub const DEFAULT_LIMIT: usize = 20;
/// The most jobs one page may hold.
pub const MAX_LIMIT: usize = 50;

/// The statuses `status` may name: the spec's five (section 3).
pub const STATUSES: [&str; 5] = ["PENDING", "RUNNING", "SUCCEEDED", "FAILED", "UNKNOWN"];

/// Which jobs a page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    All,
    Only(JobStatus),
    /// `UNKNOWN`: the spec's status of a job that does not exist, which no stored job has; its
    /// list is empty and costs no read.
    Unknown,
}

/// A checked list request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub limit: usize,
    pub status: StatusFilter,
    /// Where the page starts (after this job); from the newest without.
    pub after: Option<JobPosition>,
}

impl ListQuery {
    /// Reads `limit` (1 to [`MAX_LIMIT`], default [`DEFAULT_LIMIT`]), `status` (one of
    /// [`STATUSES`]) and `cursor` (a `next_cursor` this service gave), each absent when `None`
    /// or empty. The error says which is wrong, for a 400.
    pub fn parse(
        limit: Option<&str>,
        status: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Self, Invalid> {
        let limit = match present(limit) {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    return Err(Invalid(format!(
                        "limit 必须是 1 到 {MAX_LIMIT} 之间的整数（收到 {}）",
                        clip(raw)
                    )));
                }
            },
        };
        let status = match present(status) {
            None => StatusFilter::All,
            Some("PENDING") => StatusFilter::Only(JobStatus::Pending),
            Some("RUNNING") => StatusFilter::Only(JobStatus::Running),
            Some("SUCCEEDED") => StatusFilter::Only(JobStatus::Succeeded),
            Some("FAILED") => StatusFilter::Only(JobStatus::Failed),
            Some("UNKNOWN") => StatusFilter::Unknown,
            Some(other) => {
                return Err(Invalid(format!(
                    "status 必须是 {} 之一（收到 {}）",
                    STATUSES.join("、"),
                    clip(other)
                )));
            }
        };
        let after = match present(cursor) {
            None => None,
            Some(raw) => Some(decode_cursor(raw).ok_or_else(|| {
                Invalid("cursor 无效：请使用上一页返回的 next_cursor".to_owned())
            })?),
        };
        Ok(Self {
            limit,
            status,
            after,
        })
    }
}

/// `v` trimmed, unless absent or empty.
fn present(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

/// At most 32 characters of a bad value, for the message.
fn clip(s: &str) -> String {
    s.chars().take(32).collect()
}

/// The cursor's version tag, so a later layout can tell old cursors apart.
const CURSOR_VERSION: &str = "1";

/// The opaque `next_cursor` of a position: URL-safe base64 (no padding) of
/// `1.<created_at>.<created_micros>.<job id>`. Opaque to clients, who only hand it back; a
/// cursor changed by hand at worst starts the page elsewhere in the caller's own list.
pub fn encode_cursor(p: &JobPosition) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{CURSOR_VERSION}.{}.{}.{}",
        p.created_at, p.created_micros, p.id
    ))
}

/// The position a cursor from [`encode_cursor`] stands for; `None` for anything else.
pub fn decode_cursor(cursor: &str) -> Option<JobPosition> {
    if cursor.len() > 128 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = std::str::from_utf8(&bytes).ok()?;
    let mut parts = text.split('.');
    let (version, secs, micros, id) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let digits = |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    if version != CURSOR_VERSION || parts.next().is_some() || !digits(secs) || !digits(micros) {
        return None;
    }
    let created_micros: u32 = micros.parse().ok().filter(|m| *m < 1_000_000)?;
    Some(JobPosition {
        created_at: secs.parse().ok()?,
        created_micros,
        id: JobId::parse(id)?,
    })
}

/// The page of `user_id`'s jobs `query` asks for.
pub async fn page(
    state: &AppState,
    user_id: i64,
    query: &ListQuery,
) -> Result<JobPage, StoreError> {
    let status = match query.status {
        StatusFilter::All => None,
        StatusFilter::Only(s) => Some(s),
        StatusFilter::Unknown => return Ok(JobPage::default()),
    };
    state
        .jobs
        .list_page(user_id, status, query.after.as_ref(), query.limit)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position() -> JobPosition {
        JobPosition {
            created_at: 1_764_000_000,
            created_micros: 42,
            id: JobId::parse("job_0123456789abcdef01234567").unwrap(),
        }
    }

    #[test]
    fn a_cursor_round_trips_and_says_nothing_plainly() {
        let p = position();
        let cursor = encode_cursor(&p);
        assert!(!cursor.contains("job_"), "{cursor}");
        assert!(
            cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{cursor}"
        );
        assert_eq!(decode_cursor(&cursor), Some(p));
    }

    #[test]
    fn anything_but_a_cursor_of_ours_is_refused() {
        let b64 = |s: &str| URL_SAFE_NO_PAD.encode(s);
        for bad in [
            "".to_owned(),
            "not base64 !".to_owned(),
            b64("2.1764000000.42.job_0123456789abcdef01234567"),
            b64("1.1764000000.42"),
            b64("1.1764000000.1000000.job_0123456789abcdef01234567"),
            b64("1.-5.42.job_0123456789abcdef01234567"),
            b64("1.1764000000.42.job_nothex"),
            b64("1.1764000000.42.job_0123456789abcdef01234567.x"),
            "A".repeat(200),
        ] {
            assert_eq!(decode_cursor(&bad), None, "{bad}");
        }
    }

    #[test]
    fn the_list_takes_a_limit_a_status_and_a_cursor_or_says_which_is_wrong() {
        let q = ListQuery::parse(None, None, None).unwrap();
        assert_eq!((q.limit, q.status, q.after), (20, StatusFilter::All, None));
        let cursor = encode_cursor(&position());
        let q = ListQuery::parse(Some("50"), Some("SUCCEEDED"), Some(&cursor)).unwrap();
        assert_eq!(q.limit, 50);
        assert_eq!(q.status, StatusFilter::Only(JobStatus::Succeeded));
        assert_eq!(q.after, Some(position()));
        assert_eq!(
            ListQuery::parse(Some(""), Some(""), Some("")).unwrap(),
            ListQuery::parse(None, None, None).unwrap()
        );
        assert_eq!(
            ListQuery::parse(None, Some("UNKNOWN"), None)
                .unwrap()
                .status,
            StatusFilter::Unknown
        );
        for (limit, status, cursor, names) in [
            (Some("0"), None, None, "limit"),
            (Some("51"), None, None, "limit"),
            (Some("ten"), None, None, "limit"),
            (Some("-1"), None, None, "limit"),
            (None, Some("succeeded"), None, "status"),
            (None, Some("DONE"), None, "status"),
            (None, None, Some("abc"), "cursor"),
        ] {
            let e = ListQuery::parse(limit, status, cursor).unwrap_err().0;
            assert!(e.starts_with(names), "{e}");
        }
    }
}
