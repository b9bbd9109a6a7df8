//! The first stage: every setting read from the lookup, in this one place, as the text it was
//! given. Nothing is checked here, so reading never fails; the topic modules then check these
//! values into typed ones, each problem naming its setting.
//!
//! No `Debug`: some of these values are secrets, and they are not wrapped until checked.

/// One setting as the lookup gave it: its name, and its value when set and not blank, trimmed.
pub(super) struct Setting {
    /// The variable's name, which every problem with it names.
    pub(super) name: &'static str,
    /// The value, trimmed; `None` when unset or blank.
    pub(super) value: Option<String>,
}

/// Every setting, grouped by the topic that checks it.
pub(super) struct RawConfig {
    /// How to reach the cluster.
    pub(super) cluster: RawCluster,
    /// The Google credentials and the token's scopes.
    pub(super) credentials: RawCredentials,
    /// What each alarm scales.
    pub(super) targets: RawTargets,
    /// `DRY_RUN`.
    pub(super) dry_run: Setting,
    /// `REARM_ALARM`.
    pub(super) rearm_alarm: Setting,
    /// `HEARTBEAT_GRACE_SECONDS`.
    pub(super) heartbeat_grace: Setting,
    /// `KUBE_EVENTS`.
    pub(super) kube_events: Setting,
    /// `POOL_REBALANCE`.
    pub(super) pool_rebalance: Setting,
    /// `CAPACITY_PENDING_SECONDS`.
    pub(super) capacity_pending: Setting,
    /// `AWS_LAMBDA_FUNCTION_NAME`, which Lambda sets: the Events' reporting instance.
    pub(super) function_name: Setting,
    /// `QUEUE_SCALER_FUNCTION_ARN`.
    pub(super) function_arn: Setting,
    /// AWS access.
    pub(super) aws: RawAws,
}

/// The cluster settings.
pub(super) struct RawCluster {
    /// `GKE_CLUSTER`.
    pub(super) cluster: Setting,
    /// `GKE_ENDPOINT`.
    pub(super) endpoint: Setting,
    /// `GKE_CA_CERT`.
    pub(super) ca_cert: Setting,
    /// `GKE_API_URL`.
    pub(super) api_url: Setting,
}

/// The Google credential settings.
pub(super) struct RawCredentials {
    /// `GOOGLE_APPLICATION_CREDENTIALS`.
    pub(super) file: Setting,
    /// `GCP_SERVICE_ACCOUNT_KEY`.
    pub(super) inline_key: Setting,
    /// `GCP_CREDENTIAL_CONFIG`.
    pub(super) credential_config: Setting,
    /// `GCP_SERVICE_ACCOUNT_KEY_SECRET`.
    pub(super) key_secret: Setting,
    /// `GCP_TOKEN_SCOPES`.
    pub(super) token_scopes: Setting,
}

/// The routing settings: the table, or the single target's variables.
pub(super) struct RawTargets {
    /// `SCALER_TARGETS`: a JSON array, or the path of a file holding one.
    pub(super) table: Setting,
    /// `TARGET_NAMESPACE`.
    pub(super) namespace: Setting,
    /// `TARGET_DEPLOYMENT`.
    pub(super) deployment: Setting,
    /// `MIN_REPLICAS`.
    pub(super) min_replicas: Setting,
    /// `MAX_REPLICAS`.
    pub(super) max_replicas: Setting,
    /// `SCALE_STEP`.
    pub(super) scale_step: Setting,
    /// `MESSAGES_PER_REPLICA`.
    pub(super) messages_per_replica: Setting,
    /// `TARGET_ALARMS`.
    pub(super) alarms: Setting,
    /// `TARGET_WAKE_ALARMS`.
    pub(super) wake_alarms: Setting,
    /// `TARGET_QUEUES`.
    pub(super) queues: Setting,
    /// `TARGET_POOL`.
    pub(super) pool: Setting,
    /// `TARGET_GPUS_PER_REPLICA`.
    pub(super) gpus_per_replica: Setting,
    /// `TARGET_POOL_GPUS`.
    pub(super) pool_gpus: Setting,
    /// `TARGET_WORKER_ROLE`.
    pub(super) worker_role: Setting,
}

/// The AWS settings, with their fallbacks already applied.
pub(super) struct RawAws {
    /// `AWS_REGION`, or else `AWS_DEFAULT_REGION`.
    pub(super) region: Setting,
    /// `AWS_ACCESS_KEY_ID`.
    pub(super) access_key_id: Setting,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub(super) secret_access_key: Setting,
    /// `AWS_SESSION_TOKEN`.
    pub(super) session_token: Setting,
    /// `AWS_ENDPOINT_URL_CLOUDWATCH`, or else `AWS_ENDPOINT_URL`.
    pub(super) cloudwatch_endpoint: Setting,
    /// `AWS_ENDPOINT_URL_SECRETS_MANAGER`, or else `AWS_ENDPOINT_URL`.
    pub(super) secretsmanager_endpoint: Setting,
    /// `AWS_ENDPOINT_URL_SQS`, or else `AWS_ENDPOINT_URL`.
    pub(super) sqs_endpoint: Setting,
    /// `AWS_ENDPOINT_URL_IAM`, or else `AWS_ENDPOINT_URL`.
    pub(super) iam_endpoint: Setting,
}

impl RawConfig {
    /// Read every setting from `lookup`.
    pub(super) fn read(lookup: &dyn Fn(&str) -> Option<String>) -> RawConfig {
        let value = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let get = |name: &'static str| Setting {
            name,
            value: value(name),
        };
        // A setting that falls back to another: problems name the first.
        let get_or = |name: &'static str, fallback: &str| Setting {
            name,
            value: value(name).or_else(|| value(fallback)),
        };
        RawConfig {
            cluster: RawCluster {
                cluster: get("GKE_CLUSTER"),
                endpoint: get("GKE_ENDPOINT"),
                ca_cert: get("GKE_CA_CERT"),
                api_url: get("GKE_API_URL"),
            },
            credentials: RawCredentials {
                file: get("GOOGLE_APPLICATION_CREDENTIALS"),
                inline_key: get("GCP_SERVICE_ACCOUNT_KEY"),
                credential_config: get("GCP_CREDENTIAL_CONFIG"),
                key_secret: get("GCP_SERVICE_ACCOUNT_KEY_SECRET"),
                token_scopes: get("GCP_TOKEN_SCOPES"),
            },
            targets: RawTargets {
                table: get("SCALER_TARGETS"),
                namespace: get("TARGET_NAMESPACE"),
                deployment: get("TARGET_DEPLOYMENT"),
                min_replicas: get("MIN_REPLICAS"),
                max_replicas: get("MAX_REPLICAS"),
                scale_step: get("SCALE_STEP"),
                messages_per_replica: get("MESSAGES_PER_REPLICA"),
                alarms: get("TARGET_ALARMS"),
                wake_alarms: get("TARGET_WAKE_ALARMS"),
                queues: get("TARGET_QUEUES"),
                pool: get("TARGET_POOL"),
                gpus_per_replica: get("TARGET_GPUS_PER_REPLICA"),
                pool_gpus: get("TARGET_POOL_GPUS"),
                worker_role: get("TARGET_WORKER_ROLE"),
            },
            dry_run: get("DRY_RUN"),
            rearm_alarm: get("REARM_ALARM"),
            heartbeat_grace: get("HEARTBEAT_GRACE_SECONDS"),
            kube_events: get("KUBE_EVENTS"),
            pool_rebalance: get("POOL_REBALANCE"),
            capacity_pending: get("CAPACITY_PENDING_SECONDS"),
            function_name: get("AWS_LAMBDA_FUNCTION_NAME"),
            function_arn: get("QUEUE_SCALER_FUNCTION_ARN"),
            aws: RawAws {
                region: get_or("AWS_REGION", "AWS_DEFAULT_REGION"),
                access_key_id: get("AWS_ACCESS_KEY_ID"),
                secret_access_key: get("AWS_SECRET_ACCESS_KEY"),
                session_token: get("AWS_SESSION_TOKEN"),
                cloudwatch_endpoint: get_or("AWS_ENDPOINT_URL_CLOUDWATCH", "AWS_ENDPOINT_URL"),
                secretsmanager_endpoint: get_or(
                    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
                    "AWS_ENDPOINT_URL",
                ),
                sqs_endpoint: get_or("AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL"),
                iam_endpoint: get_or("AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL"),
            },
        }
    }
}
