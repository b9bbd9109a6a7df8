//! Re-arm: after acting on an ALARM, set the alarm back to OK. A CloudWatch alarm invokes its
//! action once per state change, so without this a backlog that persists would never invoke the
//! function again; with it, the next evaluation moves the alarm to ALARM again.

use queue_scaler_gke::aws::AwsClient;
use queue_scaler_gke::Error;
use std::future::Future;

/// Setting an alarm's state. The handler is tested with a fake.
pub trait AlarmRearm: Send + Sync {
    /// Move `alarm` to OK, saying why.
    fn set_ok(&self, alarm: &str, reason: &str) -> impl Future<Output = Result<(), Error>> + Send;
}

impl AlarmRearm for AwsClient {
    async fn set_ok(&self, alarm: &str, reason: &str) -> Result<(), Error> {
        self.set_alarm_ok(alarm, reason).await
    }
}
