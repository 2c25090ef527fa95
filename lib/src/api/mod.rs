//! One handler per endpoint, each `async fn(&AppState, Request) -> Response`. Handlers never fail:
//! every expected problem is the contract's envelope with a clear message
//! ([`crate::web::ApiError`]), and an unexpected one is logged with its cause and answered with an
//! opaque 500. Each Lambda calls its own handler; `emo-local` routes to them all.

pub mod library;
pub mod users;
pub mod video;
pub mod wechat_events;
