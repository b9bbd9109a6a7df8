//! A real Kubernetes API server as the cluster under test: etcd and kube-apiserver on 127.0.0.1
//! (`scripts/kube-up.sh`), with RBAC, that authenticates the Google access tokens of the local
//! token endpoint through local-gke's TokenReview webhook, as GKE authenticates Google tokens.
//!
//! Start-up breaks a cycle: kube-apiserver needs the webhook's URL and CA to start, and local-gke's
//! `clusters.get` needs kube-apiserver's endpoint and CA. So local-gke starts first, then the API
//! server, and then local-gke is told to advertise it ([`local_gke::LocalGke::set_external_cluster`])
//! and rewrites its `env` file. A function given `GKE_CLUSTER` therefore discovers the real server,
//! and one given `GKE_ENDPOINT` and `GKE_CA_CERT` goes to it directly.
//!
//! The cluster then gets the manifests of `infra/gke` (namespace, Role and RoleBinding for the
//! local service account's email, the model Deployment) and a second Deployment the Role does not
//! name. Dropping [`RealKube`] stops etcd and kube-apiserver (`scripts/kube-down.sh`), also when a
//! test panics.
//!
//! Does I/O: processes, sockets and files.

use crate::scenarios::{DEPLOYMENT, MISSING, NS, UNGRANTED};
use crate::{
    env_var, read_env_file, take_request_kinds, workspace_root, ClusterUnderTest, ControlPlane,
};
use local_gke::admin::Listener;
use local_gke::{scale_path, ExternalCluster};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// etcd and kube-apiserver, started from a state directory; stopped when dropped.
struct KubeProcesses {
    dir: tempfile::TempDir,
}

impl Drop for KubeProcesses {
    fn drop(&mut self) {
        let script = workspace_root().join("scripts/kube-down.sh");
        match Command::new(&script)
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .status()
        {
            Ok(status) if status.success() => {}
            Ok(status) => eprintln!(
                "{} {}: {status}",
                script.display(),
                self.dir.path().display()
            ),
            Err(e) => eprintln!("{}: {e}", script.display()),
        }
    }
}

/// A real kube-apiserver with RBAC behind local-gke's token endpoint and GKE API.
pub struct RealKube {
    /// local-gke: the token endpoint, the GKE API advertising the real server, the webhook.
    pub local: ControlPlane,
    /// What local-gke's `env` file says, with the real server as `GKE_ENDPOINT`/`GKE_CA_CERT`.
    pub env: Vec<(String, String)>,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The API server's version, e.g. `v1.34.4`.
    pub version: String,
    pub(crate) admin_token: String,
    pub(crate) admin: reqwest::Client,
    // Last, so it is dropped last: the cluster outlives every client of it.
    _processes: KubeProcesses,
}

impl std::fmt::Debug for RealKube {
    // The admin token is a credential: leave it out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealKube")
            .field("url", &self.url)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// The directory that holds `kube-apiserver` and `etcd`: `$KUBE_BIN_DIR`, or what
/// `scripts/build-kube.sh` built (or reuses: it returns at once when its stamp matches).
pub fn kube_binaries() -> PathBuf {
    if let Some(dir) = std::env::var_os("KUBE_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let script = workspace_root().join("scripts/build-kube.sh");
    let go_missing = Command::new("go")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err();
    assert!(
        !go_missing,
        "the real-server tests need kube-apiserver and etcd, which {} builds from source with Go: \
         install Go (the version in tools/kube/go.mod or newer) or set KUBE_BIN_DIR to a directory \
         that holds both binaries",
        script.display()
    );
    let output = Command::new(&script)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} failed ({}); its output is above",
        script.display(),
        output.status
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let dir = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    assert!(
        dir.join("kube-apiserver").exists() && dir.join("etcd").exists(),
        "{} did not build into {}",
        script.display(),
        dir.display()
    );
    dir
}

impl RealKube {
    /// Build (or reuse) the binaries, start local-gke and the API server, wait until it is ready
    /// and apply the manifests.
    pub async fn start() -> RealKube {
        RealKube::start_with(false).await
    }

    /// [`RealKube::start`], and with `scheduling`, kube-scheduler and kube-controller-manager
    /// too (see [`crate::real_scheduler`]).
    pub async fn start_with(scheduling: bool) -> RealKube {
        RealKube::start_as(scheduling, None).await
    }

    /// [`RealKube::start`], signing its service-account tokens as `issuer` (GKE's shape:
    /// `https://container.googleapis.com/v1/projects/P/locations/L/clusters/C`), whose discovery
    /// document names `{issuer}/jwks` as GKE's does.
    pub async fn start_with_issuer(issuer: &str) -> RealKube {
        RealKube::start_as(false, Some(issuer)).await
    }

    async fn start_as(scheduling: bool, issuer: Option<&str>) -> RealKube {
        let bin = kube_binaries();
        let local = crate::start_local_gke(|_| {}).await;
        let dir = tempfile::Builder::new()
            .prefix("real-kube")
            .tempdir()
            .expect("a temporary directory");
        let processes = KubeProcesses { dir };
        let kube_env = kube_up(
            processes.dir.path(),
            &bin,
            &local.var("LOCAL_GKE_TOKENREVIEW_URL"),
            &local.var("SSL_CERT_FILE"),
            scheduling,
            issuer,
        )
        .await;
        let var = |name: &str| env_var(&kube_env, name);
        let url = var("KUBE_URL");
        let ca_pem = std::fs::read_to_string(var("KUBE_CA")).expect("kube-up's CA file");

        local.gke().set_external_cluster(ExternalCluster {
            endpoint: url::Url::parse(&url).expect("KUBE_URL is a URL"),
            ca_pem: ca_pem.clone(),
        });
        let env_file = local
            .gke()
            .write_state_dir(local.dir())
            .expect("local-gke rewrites its state");
        let env = read_env_file(&env_file);

        let admin = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(
                reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("the cluster CA"),
            )
            .build()
            .expect("admin client");
        let kube = RealKube {
            local,
            env,
            url,
            version: var("KUBE_VERSION"),
            admin_token: var("KUBE_ADMIN_TOKEN"),
            admin,
            _processes: processes,
        };
        kube.apply_manifests().await;
        kube
    }

    /// What the functions' environment needs to scale this cluster (`GKE_CLUSTER`...), and more.
    pub fn var(&self, name: &str) -> String {
        env_var(&self.env, name)
    }

    /// A request as the cluster administrator (group `system:masters`); the status and the body.
    pub async fn admin_request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, Value)>,
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        crate::bearer_request(&self.admin, method, &url, &self.admin_token, body).await
    }

    /// The same, which must succeed.
    pub(crate) async fn admin_ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, Value)>,
    ) -> Value {
        let (status, value) = self.admin_request(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }

    /// Wait until the authorizer (which reads RBAC through a cache) answers `allowed` for the
    /// service account and `attributes` (a SubjectAccessReview's `resourceAttributes`).
    pub(crate) async fn wait_for_authorizer(&self, attributes: Value, allowed: bool) {
        let review = json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": self.var("SCALER_SERVICE_ACCOUNT"), "resourceAttributes": attributes},
        });
        for _ in 0..100 {
            let answer = self
                .admin_ok(
                    reqwest::Method::POST,
                    "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                    Some(("application/json", review.clone())),
                )
                .await;
            if answer["status"]["allowed"].as_bool().unwrap_or(false) == allowed {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the authorizer never answered allowed={allowed} for {review}");
    }

    /// Create the objects of `infra/gke` the way `kubectl create -f` would, with the placeholders
    /// filled in: the RoleBinding names local-gke's service account, and the Role also names
    /// `ml/missing-model` (which does not exist, so that a 404 can be seen through RBAC).
    /// A copy of the model Deployment named `ml/other-model` is created too; the Role does not
    /// name it.
    async fn apply_manifests(&self) {
        let email = self.var("SCALER_SERVICE_ACCOUNT");
        let mut objects = manifest("infra/gke/namespace.yaml");
        let rbac = std::fs::read_to_string(workspace_root().join("infra/gke/rbac.yaml"))
            .expect("infra/gke/rbac.yaml")
            .replace("queue-scaler@PROJECT_ID.iam.gserviceaccount.com", &email);
        for mut object in yaml_documents(&rbac, "infra/gke/rbac.yaml") {
            if object["kind"] == "Role" {
                // Both rules on the Deployments (its scale, and itself) name the same ones.
                for rule in 0..2 {
                    let names = object["rules"][rule]["resourceNames"]
                        .as_array_mut()
                        .expect("the Role names its deployments");
                    assert_eq!(
                        names,
                        &vec![json!(DEPLOYMENT)],
                        "infra/gke/rbac.yaml: resourceNames"
                    );
                    names.push(json!(MISSING));
                }
            }
            objects.push(object);
        }
        let (account, model) = model_manifest();
        assert_eq!(model["metadata"]["name"], DEPLOYMENT);
        // The workers' service account before the Deployments whose pods name it.
        objects.push(account);
        let mut other = model.clone();
        other["metadata"]["name"] = json!(UNGRANTED);
        for labels in [
            "/metadata/labels",
            "/spec/selector/matchLabels",
            "/spec/template/metadata/labels",
        ] {
            other
                .pointer_mut(labels)
                .unwrap_or_else(|| panic!("model-deployment.yaml has {labels}"))
                ["app.kubernetes.io/name"] = json!(UNGRANTED);
        }
        objects.extend([model, other]);
        for object in objects {
            let path = collection_path(&object);
            self.admin_ok(
                reqwest::Method::POST,
                &path,
                Some(("application/json", object)),
            )
            .await;
        }
        // The deployments start with one replica (the manifest leaves replicas out).
        assert_eq!(self.replicas(NS, DEPLOYMENT).await, 1);
        assert_eq!(self.replicas(NS, UNGRANTED).await, 1);
    }
}

/// Run `scripts/kube-up.sh` (etcd + kube-apiserver; it returns once `/readyz` answers ok) and
/// return its `env` file. Its output goes to a file, not a pipe, that the servers it leaves
/// running could hold open.
async fn kube_up(
    dir: &Path,
    bin: &Path,
    webhook_url: &str,
    webhook_ca: &str,
    scheduling: bool,
    issuer: Option<&str>,
) -> Vec<(String, String)> {
    let script = workspace_root().join("scripts/kube-up.sh");
    let log = dir.join("kube-up.log");
    let log_file = std::fs::File::create(&log).expect("kube-up log");
    let mut command = tokio::process::Command::new(&script);
    if let Some(issuer) = issuer {
        command
            .env("KUBE_SA_ISSUER", issuer)
            .env("KUBE_SA_JWKS_URI", format!("{issuer}/jwks"));
    }
    let status = command
        .arg(dir)
        .arg(webhook_url)
        .arg(webhook_ca)
        .env("KUBE_BIN_DIR", bin)
        .env("KUBE_SCHEDULING", if scheduling { "1" } else { "0" })
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log"))
        .stderr(log_file)
        .status()
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", script.display()));
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        status.success(),
        "{} failed ({status}):\n{output}",
        script.display()
    );
    read_env_file(&dir.join("env"))
}

/// `infra/gke/model-deployment.yaml`: the workers' ServiceAccount and the model Deployment.
pub(crate) fn model_manifest() -> (Value, Value) {
    let objects = manifest("infra/gke/model-deployment.yaml");
    let of_kind = |kind: &str| {
        objects
            .iter()
            .find(|o| o["kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("infra/gke/model-deployment.yaml has a {kind}"))
    };
    (of_kind("ServiceAccount"), of_kind("Deployment"))
}

/// The objects of a YAML file of the workspace, as JSON.
pub(crate) fn manifest(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(workspace_root().join(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    yaml_documents(&text, path)
}

/// Every document of a multi-document YAML text (documents separated by `---` lines), as JSON.
pub(crate) fn yaml_documents(text: &str, origin: &str) -> Vec<Value> {
    let mut documents = vec![String::new()];
    for line in text.lines() {
        if line.trim_end() == "---" {
            documents.push(String::new());
        } else if let Some(last) = documents.last_mut() {
            last.push_str(line);
            last.push('\n');
        }
    }
    documents
        .iter()
        .map(|document| {
            serde_norway::from_str::<Value>(document).unwrap_or_else(|e| panic!("{origin}: {e}"))
        })
        // A document of comments only is empty.
        .filter(|value| !value.is_null())
        .collect()
}

/// Where an object is created: `/api/v1[/namespaces/NS]/KINDs` or
/// `/apis/GROUP/VERSION[/namespaces/NS]/KINDs` (the plural of every kind applied here is its
/// lower-case name and an s).
pub(crate) fn collection_path(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let kind = object["kind"].as_str().expect("kind");
    let prefix = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .map(|ns| format!("/namespaces/{ns}"))
        .unwrap_or_default();
    format!("{prefix}{namespace}/{}s", kind.to_ascii_lowercase())
}

impl ClusterUnderTest for RealKube {
    fn counts_cluster_requests(&self) -> bool {
        false
    }

    async fn hold_next_reads(&self, _namespace: &str, _name: &str, _count: u32) -> bool {
        false
    }

    async fn replicas(&self, namespace: &str, name: &str) -> i32 {
        let scale = self
            .admin_ok(reqwest::Method::GET, &scale_path(namespace, name), None)
            .await;
        // The API server leaves out zero.
        scale["spec"]["replicas"].as_i64().unwrap_or(0) as i32
    }

    async fn set_replicas(&self, namespace: &str, name: &str, replicas: i32) {
        self.admin_ok(
            reqwest::Method::PATCH,
            &scale_path(namespace, name),
            Some((
                "application/merge-patch+json",
                json!({"spec": {"replicas": replicas}}),
            )),
        )
        .await;
    }

    async fn fail_next(&self, _namespace: &str, _name: &str, _count: u32, _status: u16) -> bool {
        false
    }

    async fn take_requests(&self) -> Vec<String> {
        take_request_kinds(self.local.admin(), |listener| listener == Listener::Google).await
    }

    async fn events(&self, namespace: &str, name: &str) -> Vec<Value> {
        let path =
            format!("/apis/events.k8s.io/v1/namespaces/{namespace}/events?fieldSelector=regarding.name%3D{name}");
        let list = self.admin_ok(reqwest::Method::GET, &path, None).await;
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// Replaces the Role with one that has, or lacks, its Events rule, then waits until the
    /// authorizer (which reads RBAC through a cache) answers accordingly.
    async fn allow_events(&self, namespace: &str, allowed: bool) {
        let path =
            format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles/queue-scaler");
        let mut role = self.admin_ok(reqwest::Method::GET, &path, None).await;
        let events_rule =
            json!({"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create"]});
        let rules = role["rules"].as_array_mut().expect("the Role has rules");
        rules.retain(|rule| *rule != events_rule);
        if allowed {
            rules.push(events_rule);
        }
        self.admin_ok(
            reqwest::Method::PUT,
            &path,
            Some(("application/json", role)),
        )
        .await;
        let attributes = json!({
            "namespace": namespace, "verb": "create", "group": "events.k8s.io", "resource": "events"});
        self.wait_for_authorizer(attributes, allowed).await;
    }
}
