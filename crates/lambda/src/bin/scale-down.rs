//! `scale-down`: invoked when the low-backlog alarm fires; lowers the replica count one step.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    queue_scaler_lambda::run(queue_scaler_core::Direction::Down).await
}
