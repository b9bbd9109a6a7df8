//! The end-to-end harness: the real release binaries of `scale-up` and `scale-down`, run by the
//! Lambda runtime emulator (`cargo lambda watch`), against a cluster under test.
//!
//! - [`start_local_gke`] starts the local control plane (`local-gke`) in-process, as the harness
//!   crate's [`ControlPlane`]: Google's token endpoint, the GKE API and a Kubernetes API, over
//!   TLS with CAs it generates.
//! - [`Functions`] runs `cargo lambda watch` with an environment and invokes functions over its
//!   HTTP API, as `cargo lambda invoke` does.
//! - [`scenarios`] are written against [`ClusterUnderTest`], so the same assertions run against
//!   the local control plane and a real kube-apiserver.
//!
//! Does I/O: processes, sockets and files.

pub mod real_kube;
pub mod real_pool;
pub mod real_scheduler;
pub mod scenarios;
pub mod web_identity;

use local_gke::admin::{Fault, Listener};
use local_gke::{scale_path, AdminClient, Config as GkeConfig};
use queue_scaler_harness::moto::{CloudWatch, MotoServer, ACCESS_KEY_ID, SECRET_ACCESS_KEY};
pub use queue_scaler_harness::ControlPlane;
use serde_json::Value;
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The path of a file in `events/`.
pub fn event_path(name: &str) -> PathBuf {
    workspace_root().join("events").join(name)
}

/// The parsed JSON of a file in `events/`.
pub fn event(name: &str) -> Value {
    let path = event_path(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file in `events/`, sorted.
pub fn event_files() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(workspace_root().join("events"))
        .expect("events/ is readable")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The cluster the functions scale, seen from the test: its replica counts and, where it can,
/// injected faults.
pub trait ClusterUnderTest: Sync {
    /// `spec.replicas` of a Deployment.
    fn replicas(&self, namespace: &str, name: &str) -> impl Future<Output = i32> + Send;
    /// Set `spec.replicas` of a Deployment, as an operator would.
    fn set_replicas(
        &self,
        namespace: &str,
        name: &str,
        replicas: i32,
    ) -> impl Future<Output = ()> + Send;
    /// Make the next `count` requests to the scale subresource of `name` fail with `status`.
    /// Returns false where the cluster cannot inject faults (a real API server).
    fn fail_next(
        &self,
        namespace: &str,
        name: &str,
        count: u32,
        status: u16,
    ) -> impl Future<Output = bool> + Send;
    /// Hold the next `count` reads (`GET`) of the Deployment `name` until all `count` have
    /// arrived, then serve them: racing callers read the same `resourceVersion`. Returns false
    /// where the cluster cannot (a real API server).
    fn hold_next_reads(
        &self,
        namespace: &str,
        name: &str,
        count: u32,
    ) -> impl Future<Output = bool> + Send;
    /// Requests the Google side and the cluster received since the last call, by kind
    /// (`token`, `discovery`, `scale_get`, `scale_put`...), in order; then forget them.
    fn take_requests(&self) -> impl Future<Output = Vec<String>> + Send;
    /// Whether [`ClusterUnderTest::take_requests`] includes the cluster's own requests (the
    /// local control plane records them; a real API server's are not seen).
    fn counts_cluster_requests(&self) -> bool;
    /// The Events regarding a Deployment (`events.k8s.io/v1`), as
    /// `fieldSelector=regarding.name=NAME` lists them in its namespace.
    fn events(&self, namespace: &str, name: &str) -> impl Future<Output = Vec<Value>> + Send;
    /// Allow, or refuse, the service account `create` on Events in `namespace` (the second rule
    /// of `infra/gke/rbac.yaml`).
    fn allow_events(&self, namespace: &str, allowed: bool) -> impl Future<Output = ()> + Send;
}

/// Start the local control plane with its defaults (deployment `ml/model-worker` at 2
/// replicas, the service account granted on it) changed by `tweak`, or panic with why.
pub async fn start_local_gke(tweak: impl FnOnce(&mut GkeConfig)) -> ControlPlane {
    ControlPlane::start(tweak)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Panics with the admin API's error: the local stack is the test's own.
fn admin_ok<T>(result: Result<T, local_gke::AdminError>) -> T {
    result.unwrap_or_else(|error| panic!("local-gke's admin API: {error}"))
}

impl ClusterUnderTest for ControlPlane {
    fn counts_cluster_requests(&self) -> bool {
        true
    }

    async fn replicas(&self, namespace: &str, name: &str) -> i32 {
        admin_ok(self.admin().deployment(namespace, name).await).replicas
    }

    async fn set_replicas(&self, namespace: &str, name: &str, replicas: i32) {
        admin_ok(self.admin().set_replicas(namespace, name, replicas).await);
    }

    async fn fail_next(&self, namespace: &str, name: &str, count: u32, status: u16) -> bool {
        let fault = Fault::status(&scale_path(namespace, name), count, status);
        admin_ok(self.admin().add_fault(&fault).await);
        true
    }

    async fn hold_next_reads(&self, namespace: &str, name: &str, count: u32) -> bool {
        let fault = Fault::hold(&local_gke::deployment_path(namespace, name), "GET", count);
        admin_ok(self.admin().add_fault(&fault).await);
        true
    }

    async fn take_requests(&self) -> Vec<String> {
        take_request_kinds(self.admin(), |_| true).await
    }

    async fn events(&self, namespace: &str, name: &str) -> Vec<Value> {
        admin_ok(self.admin().events(namespace, name).await)
    }

    async fn allow_events(&self, namespace: &str, allowed: bool) {
        let grant = local_gke::admin::EventGrant {
            identity: self.var("SCALER_SERVICE_ACCOUNT"),
            namespace: namespace.to_owned(),
        };
        admin_ok(if allowed {
            self.admin().grant_events(&grant).await
        } else {
            self.admin().revoke_events(&grant).await
        });
    }
}

/// The kinds of the requests local-gke logged that `keep` keeps, since the last call; then
/// forget them.
pub async fn take_request_kinds(
    admin: &AdminClient,
    keep: impl Fn(Listener) -> bool,
) -> Vec<String> {
    admin_ok(admin.take_requests().await)
        .into_iter()
        .filter(|r| keep(r.listener) && !is_refused_queue_read(r))
        .map(|r| r.kind.name().to_owned())
        .collect()
}

/// The functions' live queue read that [`function_env`] points at the control plane, which
/// refuses it (404): an SQS JSON-protocol `POST /`. Nothing of Google's or the cluster's is
/// served at the root, so it is told apart by that alone.
fn is_refused_queue_read(r: &local_gke::admin::RecordedRequest) -> bool {
    r.method == "POST" && r.path == "/" && r.status == 404
}

/// What `tests/infra/template_invariants.py MODE infra/aws/template.yaml ARGS...` prints, one
/// JSON value a line: the template resolved by the project's own resolver (python3 with PyYAML
/// on the PATH: the `.venv` of `make venv`).
pub fn template_resolved(mode: &str, args: &[String]) -> Vec<Value> {
    let root = workspace_root();
    let output = std::process::Command::new("python3")
        .arg(root.join("tests/infra/template_invariants.py"))
        .arg(mode)
        .arg(root.join("infra/aws/template.yaml"))
        .args(args)
        .output()
        .expect("python3 runs (make venv puts it, with PyYAML, on the PATH)");
    assert!(
        output.status.success(),
        "the resolver failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// `method url` with a bearer token and, optionally, a body of a content type: the status and the
/// body as JSON (or, when it is not JSON, as a JSON string).
pub async fn bearer_request(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: &str,
    body: Option<(&str, Value)>,
) -> (u16, Value) {
    let mut request = client
        .request(method.clone(), url)
        .bearer_auth(token)
        .header("accept", "application/json");
    if let Some((content_type, body)) = body {
        request = request
            .header("content-type", content_type)
            .body(body.to_string());
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    status_and_body(response).await
}

/// An answer's status and its body: JSON where it is JSON, else the text.
pub(crate) async fn status_and_body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The value of `name` in `KEY=VALUE` pairs (an env file's), or a panic that names it.
pub fn env_var(env: &[(String, String)], name: &str) -> String {
    env.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("{name} is not in the env"))
}

/// `KEY=VALUE` lines.
pub fn read_env_file(path: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

/// The `cargo-lambda` executable: `$CARGO_LAMBDA`, the project's `.venv`, or `PATH`.
pub fn cargo_lambda() -> PathBuf {
    if let Some(p) = std::env::var_os("CARGO_LAMBDA") {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join(".venv/bin/cargo-lambda");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("cargo-lambda")
}

/// What an invocation returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// The function's JSON result.
    Ok(Value),
    /// The function's error, as the runtime reported it.
    Err {
        /// `Retryable`, `NonRetryable` or `Config`.
        error_type: String,
        /// The message.
        message: String,
    },
}

/// Asserts that the result `out` has these `fields` (each a name and its value), compared all
/// at once; a mismatch shows the whole result.
#[track_caller]
pub fn assert_fields(out: &Value, fields: &[(&str, Value)]) {
    let got: Vec<&Value> = fields.iter().map(|(name, _)| &out[*name]).collect();
    let want: Vec<&Value> = fields.iter().map(|(_, value)| value).collect();
    assert_eq!(got, want, "{out}");
}

impl Invocation {
    /// The result, or a panic that shows the error.
    pub fn ok(self) -> Value {
        match self {
            Invocation::Ok(v) => v,
            Invocation::Err {
                error_type,
                message,
            } => panic!("expected a result, got {error_type}: {message}"),
        }
    }

    /// The error, or a panic that shows the result.
    pub fn err(self) -> (String, String) {
        match self {
            Invocation::Err {
                error_type,
                message,
            } => (error_type, message),
            Invocation::Ok(v) => panic!("expected an error, got {v}"),
        }
    }
}

/// `cargo lambda watch` serving both functions (release builds) with one environment.
pub struct Functions {
    child: Child,
    port: u16,
    log: PathBuf,
    http: reqwest::Client,
    _env_dir: tempfile::TempDir,
}

impl Functions {
    /// Start the emulator with `env` as the functions' environment.
    pub async fn start(env: &[(String, String)]) -> Functions {
        let env_dir = tempfile::tempdir().expect("a temporary directory");
        let env_file = env_dir.path().join("functions.env");
        let text: String = env.iter().map(|(k, v)| env_file_line(k, v)).collect();
        std::fs::write(&env_file, text).expect("env file");
        let log = env_dir.path().join("watch.log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let port = free_port();
        let mut cmd = Command::new(cargo_lambda());
        cmd.args([
            "lambda",
            "watch",
            "--release",
            "--ignore-changes",
            // The emulator builds a stale function on its first invoke, and the deadline counts
            // from when the invocation was queued: leave room for that build.
            "--timeout",
            "900",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
        ])
        .arg(port.to_string())
        .arg("--env-file")
        .arg(&env_file)
        .arg("--manifest-path")
        .arg(workspace_root().join("crates/lambda/Cargo.toml"))
        .current_dir(workspace_root())
        // The functions' environment is the env file, not this process's.
        .env_remove("SSL_CERT_FILE")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file);
        // `cargo test` gives this process its own package's variables (CARGO_PKG_NAME,
        // CARGO_MANIFEST_DIR, OUT_DIR...). Build scripts such as ring's rerun when one of those
        // changes, so passing them on would make the emulator rebuild the functions, for
        // minutes, on the first invoke of every test run.
        for (name, _) in std::env::vars_os() {
            if name.to_str().is_some_and(is_cargo_package_variable) {
                cmd.env_remove(name);
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start {}: {e} (run `make venv`)",
                cargo_lambda().display()
            )
        });
        let functions = Functions {
            child,
            port,
            log,
            http: reqwest::Client::new(),
            _env_dir: env_dir,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "cargo lambda watch did not listen:\n{}",
                functions.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        functions
    }

    /// Everything the emulator and the functions wrote.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Invoke `function` with `payload`, as `cargo lambda invoke --data-file` does.
    pub async fn invoke(&self, function: &str, payload: &Value) -> Invocation {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{function}/invocations",
            self.port
        );
        let resp = self
            .http
            .post(&url)
            .json(payload)
            .timeout(Duration::from_secs(600))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{url}: {e}\n{}", self.log()));
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        match (status.is_success(), body.get("errorType")) {
            (true, None) => Invocation::Ok(body),
            (_, Some(t)) => Invocation::Err {
                error_type: t.as_str().unwrap_or_default().to_owned(),
                message: body["errorMessage"].as_str().unwrap_or_default().to_owned(),
            },
            (false, None) => panic!("{url}: {status} {body}\n{}", self.log()),
        }
    }

    /// Invoke with a file from `events/`.
    pub async fn invoke_file(&self, function: &str, event_file: &str) -> Invocation {
        self.invoke(function, &event(event_file)).await
    }
}

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Functions")
            .field("port", &self.port)
            .field("log", &self.log)
            .finish_non_exhaustive()
    }
}

/// One `KEY=VALUE` line of the env file `cargo lambda watch` reads (dotenv). Values are quoted:
/// unquoted, its parser refuses a value that ends in `=` (base64) or holds `"` (JSON), and a PEM
/// spans lines. Single quotes keep everything literal; a value with a single quote gets double
/// quotes, in which `\`, `"` and `$` are escaped.
fn env_file_line(key: &str, value: &str) -> String {
    if value.contains('\'') {
        let escaped = value
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$");
        format!("{key}=\"{escaped}\"\n")
    } else {
        format!("{key}='{value}'\n")
    }
}

/// A variable that cargo sets for the package it builds or tests, rather than one that
/// configures cargo (`CARGO_HOME`, `CARGO_TARGET_DIR`, `CARGO_PROFILE_*`... are kept).
fn is_cargo_package_variable(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_BIN_")
        || name.starts_with("CARGO_MANIFEST_")
        || matches!(
            name,
            "CARGO_CRATE_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

impl Drop for Functions {
    fn drop(&mut self) {
        // The emulator starts each function as a child: stop the whole process group.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// The region the moto tests sign for.
pub use queue_scaler_harness::events::REGION;

/// A local AWS API (moto) for CloudWatch, Secrets Manager and SQS.
pub async fn moto() -> MotoServer {
    // Display, not Debug: a missing moto_server says to run `make venv`.
    MotoServer::start().await.unwrap_or_else(|e| panic!("{e}"))
}

/// The functions' AWS settings: moto for CloudWatch, Secrets Manager and SQS, re-arm on.
pub fn aws_env(moto: &MotoServer) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_REGION", REGION.into()),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.into()),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", moto.endpoint().into()),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.endpoint().into()),
        ("AWS_ENDPOINT_URL_SQS", moto.endpoint().into()),
        ("REARM_ALARM", "true".into()),
    ]
}

/// Create a backlog alarm in moto (visible messages of the queue `model-jobs` above 100 for one
/// 60 s period) whose action invokes `action`, a function's ARN, its actions enabled or not.
/// moto creates it in OK.
pub async fn put_alarm(cw: &CloudWatch, name: &str, action: &str, enabled: bool) {
    cw.query(
        "PutMetricAlarm",
        &[
            ("AlarmName", name),
            ("ComparisonOperator", "GreaterThanThreshold"),
            ("EvaluationPeriods", "1"),
            ("Threshold", "100"),
            ("Namespace", "AWS/SQS"),
            ("MetricName", "ApproximateNumberOfMessagesVisible"),
            ("Dimensions.member.1.Name", "QueueName"),
            ("Dimensions.member.1.Value", "model-jobs"),
            ("Period", "60"),
            ("Statistic", "Maximum"),
            ("ActionsEnabled", if enabled { "true" } else { "false" }),
            ("AlarmActions.member.1", action),
        ],
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

/// The function's own ARN, as the emulator gives it: read from a heartbeat's report.
pub async fn function_arn(functions: &Functions, function: &str) -> String {
    let report = functions.invoke_file(function, "heartbeat.json").await.ok();
    report["function"]
        .as_str()
        .unwrap_or_else(|| panic!("no function ARN in {report}"))
        .to_owned()
}

/// The base environment of the functions against a control plane: its variables, one target
/// `ml/model-worker` with min 2, max 4, and re-arm off (the moto tests cover re-arm).
pub fn function_env(
    cluster_env: &[(String, String)],
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let keep = [
        "GKE_CLUSTER",
        "GKE_API_URL",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "SSL_CERT_FILE",
        // Keyless (see [`keyless`]).
        "GCP_CREDENTIAL_CONFIG",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ];
    let mut env: Vec<(String, String)> = cluster_env
        .iter()
        .filter(|(k, _)| keep.contains(&k.as_str()))
        .cloned()
        .collect();
    // No SQS runs beside these tests (the moto ones set their own): the control plane's HTTPS
    // endpoint refuses SQS's requests at once (404), so a decision takes the alarm's datapoint
    // without waiting on an endpoint that cannot be reached.
    if let Some((_, url)) = cluster_env.iter().find(|(k, _)| k == "GKE_API_URL") {
        env.push(("AWS_ENDPOINT_URL_SQS".to_owned(), url.clone()));
    }
    for (k, v) in [
        ("TARGET_NAMESPACE", "ml"),
        ("TARGET_DEPLOYMENT", "model-worker"),
        ("MIN_REPLICAS", "2"),
        ("MAX_REPLICAS", "4"),
        ("MESSAGES_PER_REPLICA", "100"),
        ("REARM_ALARM", "false"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("RUST_LOG", "info"),
    ] {
        env.push((k.to_owned(), v.to_owned()));
    }
    for (k, v) in extra {
        env.retain(|(name, _)| name != k);
        if !v.is_empty() {
            env.push(((*k).to_owned(), (*v).to_owned()));
        }
    }
    env
}

/// A control plane's variables made keyless: no key file, but the `external_account`
/// configuration local-gke wrote (as `create-cred-config --aws` would) and the AWS identity it
/// knows, as Lambda would set it from the execution role. [`function_env`] passes them on.
pub fn keyless(cluster_env: &[(String, String)]) -> Vec<(String, String)> {
    let var = |name: &str| env_var(cluster_env, name);
    let config_path = var("LOCAL_GKE_CREDENTIAL_CONFIG");
    let config =
        std::fs::read_to_string(&config_path).unwrap_or_else(|e| panic!("{config_path}: {e}"));
    let mut env: Vec<(String, String)> = cluster_env
        .iter()
        .filter(|(k, _)| k != "GOOGLE_APPLICATION_CREDENTIALS")
        .cloned()
        .collect();
    env.extend([
        ("GCP_CREDENTIAL_CONFIG".to_owned(), config),
        ("AWS_REGION".to_owned(), "eu-west-1".to_owned()),
        (
            "AWS_ACCESS_KEY_ID".to_owned(),
            var("LOCAL_GKE_AWS_ACCESS_KEY_ID"),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_owned(),
            var("LOCAL_GKE_AWS_SECRET_ACCESS_KEY"),
        ),
        (
            "AWS_SESSION_TOKEN".to_owned(),
            var("LOCAL_GKE_AWS_SESSION_TOKEN"),
        ),
    ]);
    env
}
