//! Lambda run by an EventBridge schedule every minute; the sweep lives in `emo::job::sweep`.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    emo::telemetry::init_lambda();
    let state = emo::AppState::from_env(emo::Role::Sweeper).await?;
    run(service_fn(|_: LambdaEvent<serde_json::Value>| async {
        let swept = emo::job::sweep::sweep(&state, &state.sweep).await?;
        Ok::<_, Error>(serde_json::json!({
            "restarted": swept.restarted,
            "ended": swept.ended,
        }))
    }))
    .await
}
