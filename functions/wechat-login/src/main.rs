//! Lambda behind `POST /api/v1/users/wechat-login`; the handler lives in `emo::api::users`.

use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    emo::telemetry::init_lambda();
    let state = emo::AppState::from_env(emo::Role::WechatLogin).await?;
    run(service_fn(|req| async {
        Ok::<_, Error>(emo::api::users::wechat_login(&state, req).await)
    }))
    .await
}
