//! Lambda fed by the job queue's SQS event source; the state machine lives in `emo::worker`.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    emo::telemetry::init_lambda();
    let state = emo::AppState::from_env(emo::Role::Transcoder).await?;
    emo::worker::check_ready(&state)?;
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        // Every step of the batch ends before the invocation's deadline.
        let time = emo::worker::lambda_step_time(event.context.deadline);
        let state = &state;
        async move {
            Ok::<_, Error>(emo::worker::handle_sqs_event(state, event.payload, time).await)
        }
    }))
    .await
}
