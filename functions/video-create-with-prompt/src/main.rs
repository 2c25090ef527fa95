//! Lambda behind `POST /api/v1/video/create_with_prompt`; the handler lives in `emo::api::video`.

use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    emo::telemetry::init_lambda();
    let state = emo::AppState::from_env(emo::Role::Create).await?;
    run(service_fn(|req| async {
        Ok::<_, Error>(emo::api::video::create_with_prompt(&state, req).await)
    }))
    .await
}
