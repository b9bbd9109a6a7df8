//! `scale-up`: invoked when the backlog alarm fires; raises the target's replica count.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    queue_scaler_lambda::run(queue_scaler_core::Direction::Up).await
}
