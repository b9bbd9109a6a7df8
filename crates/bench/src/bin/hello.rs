//! `hello`: the floor the functions are measured against. It is the smallest useful
//! `lambda_runtime` function, shaped like cargo-lambda's template (tracing initialised, one
//! handler that echoes its event), built with the same release profile as `scale-up`. Whatever
//! `scale-up` costs above it is the price of queue-scaler's own work.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
