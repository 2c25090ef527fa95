//! Lambda behind `POST /api/v1/video/regenerate/{job_id}`, a create from an ended job (so it
//! takes the creates' role); the handler lives in `emo::api::library`.

use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    emo::telemetry::init_lambda();
    let state = emo::AppState::from_env(emo::Role::Create).await?;
    run(service_fn(|req| async {
        Ok::<_, Error>(emo::api::library::regenerate(&state, req).await)
    }))
    .await
}
