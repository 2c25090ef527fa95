//! Lambda behind `GET|POST /api/v1/wechat/events`; the handler lives in `emo::api::wechat_events`.

use lambda_http::{Error, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    emo::telemetry::init_lambda();
    let state = emo::AppState::from_env(emo::Role::WechatEvents).await?;
    run(service_fn(|req| async {
        Ok::<_, Error>(emo::api::wechat_events::events(&state, req).await)
    }))
    .await
}
