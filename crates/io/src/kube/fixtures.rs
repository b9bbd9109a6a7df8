//! What the tests of the request builders share.

/// The target the request builders' tests share: `ml/model-worker`.
pub(crate) fn test_target() -> queue_scaler_core::Target {
    queue_scaler_core::Target {
        namespace: "ml".into(),
        deployment: "model-worker".into(),
        policy: queue_scaler_core::Policy {
            min: 1,
            max: 4,
            step: 1,
            messages_per_replica: None,
        },
    }
}
