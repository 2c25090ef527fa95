//! Log set-up. Lambdas write one JSON object per line (the functions' log format is JSON), with
//! the fields of the spans they are in: every line the worker logs for a job carries `job_id` and,
//! once DashScope has one, `task_id`. The local server logs human-readable lines. `RUST_LOG` (or
//! Lambda's `AWS_LAMBDA_LOG_LEVEL`) sets the level in both; `info` otherwise.
//!
//! Nothing secret is ever a log field: settings print their keys as `<redacted>`, and requests,
//! passwords and tokens are never logged.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The level filter: `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else `info`.
fn filter() -> EnvFilter {
    std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .and_then(|level| EnvFilter::try_new(level.to_lowercase()).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"))
}

/// The Lambdas' subscriber, writing to `writer`: JSON lines with the event's fields at the top
/// level, the innermost span's fields under `span` and every enclosing span's under `spans` (the
/// runtime's own span holds the `requestId`).
pub fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(true)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

/// For the Lambda binaries: JSON lines on stdout, which Lambda sends to CloudWatch.
pub fn init_lambda() {
    let _ = tracing::subscriber::set_global_default(json_subscriber(filter(), std::io::stdout));
}

/// For local binaries: one line per event on stderr.
pub fn init_local() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .try_init();
}
