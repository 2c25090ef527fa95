//! Lambda behind `GET /api/v1/video/query/{job_id}`; the handler lives in `emo::api::video`.

use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    emo::telemetry::init_lambda();
    let state = emo::AppState::from_env(emo::Role::Query).await?;
    run(service_fn(|req| async {
        Ok::<_, Error>(emo::api::video::query(&state, req).await)
    }))
    .await
}
