//! Lambda behind `POST /api/v1/users/change-password`; the handler lives in `emo::api::users`.

use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    emo::telemetry::init_lambda();
    let state = emo::AppState::from_env(emo::Role::ChangePassword).await?;
    run(service_fn(|req| async {
        Ok::<_, Error>(emo::api::users::change_password(&state, req).await)
    }))
    .await
}
