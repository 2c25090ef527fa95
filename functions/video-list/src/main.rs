//! Lambda behind `GET /api/v1/video/list`; the handler lives in `emo::api::library`.

use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    emo::telemetry::init_lambda();
    let state = emo::AppState::from_env(emo::Role::List).await?;
    run(service_fn(|req| async {
        Ok::<_, Error>(emo::api::library::list(&state, req).await)
    }))
    .await
}
