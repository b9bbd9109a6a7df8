//! The function's alarms: re-arm (after acting on an ALARM, set the alarm back to OK) and, for
//! the heartbeat, reading them. A CloudWatch alarm invokes its action once per state change, so
//! without re-arm a backlog that persists would never invoke the function again; with it, the
//! next evaluation moves the alarm to ALARM again.

use queue_scaler_core::DescribedAlarm;
use queue_scaler_gke::aws::AwsClient;
use queue_scaler_gke::Error;
use std::future::Future;

/// Reading and setting the function's alarms. The handler is tested with a fake.
pub trait AlarmRearm: Send + Sync {
    /// Move `alarm` to OK, saying why.
    fn set_ok(&self, alarm: &str, reason: &str) -> impl Future<Output = Result<(), Error>> + Send;
    /// `DescribeAlarms` for `names`; names that do not exist are absent from the answer.
    fn describe(
        &self,
        names: &[&str],
    ) -> impl Future<Output = Result<Vec<DescribedAlarm>, Error>> + Send;
}

impl AlarmRearm for AwsClient {
    async fn set_ok(&self, alarm: &str, reason: &str) -> Result<(), Error> {
        self.set_alarm_ok(alarm, reason).await
    }

    async fn describe(&self, names: &[&str]) -> Result<Vec<DescribedAlarm>, Error> {
        self.describe_alarms(names).await
    }
}
