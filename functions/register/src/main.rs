//! Lambda behind `POST /api/v1/users/register`; the handler lives in `emo::api::users`.

use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    emo::telemetry::init_lambda();
    let state = emo::AppState::from_env(emo::Role::Register).await?;
    run(service_fn(|req| async {
        Ok::<_, Error>(emo::api::users::register(&state, req).await)
    }))
    .await
}
