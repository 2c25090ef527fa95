//! Log set-up. Lambdas use the runtime's subscriber (JSON when the function's log format is JSON);
//! the local server logs human-readable lines. `RUST_LOG` overrides the level in both.

/// For the Lambda binaries.
pub fn init_lambda() {
    lambda_http::tracing::init_default_subscriber();
}

/// For local binaries: one line per event on stderr, `info` unless `RUST_LOG` says otherwise.
pub fn init_local() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
