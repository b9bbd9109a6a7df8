//! `clusters.get` reports the cluster's node pools as GKE does, and a test can replace them with
//! any list, including a pool whose taints repeat or lack `mlonly`.

mod common;

use common::{Fallible, Harness, TestResult};
use local_gke::{Config, NodeConfig, NodePool, NodeTaint, TaintEffect, CLOUD_PLATFORM_SCOPE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

async fn get_cluster(harness: &Harness) -> Fallible<Value> {
    let token = harness.token(CLOUD_PLATFORM_SCOPE).await?;
    let response = harness.get_cluster(&token).await?;
    let status = response.status();
    let body: Value = response.json().await?;
    if status != StatusCode::OK {
        return Err(format!("clusters.get: {status} {body}").into());
    }
    Ok(body)
}

/// A pool's `config.taints` as `key=value:EFFECT` strings.
fn taints(pool: &Value) -> Vec<String> {
    pool["config"]["taints"]
        .as_array()
        .map(|taints| {
            taints
                .iter()
                .map(|t| {
                    format!(
                        "{}={}:{}",
                        t["key"].as_str().unwrap_or_default(),
                        t["value"].as_str().unwrap_or_default(),
                        t["effect"].as_str().unwrap_or_default()
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_default_gpu_pool_is_reported_with_gkes_taint_and_ours() -> TestResult {
    let harness = Harness::start().await?;
    let cluster = get_cluster(&harness).await?;
    let pools = cluster["nodePools"].as_array().ok_or("no nodePools")?;
    assert_eq!(pools.len(), 1, "{cluster}");
    let pool = &pools[0];
    assert_eq!(pool["name"], "gpu-pool");
    assert_eq!(pool["status"], "RUNNING");
    assert_eq!(
        pool["selfLink"],
        format!("{}/nodePools/gpu-pool", harness.cluster_get_url())
    );
    assert_eq!(
        taints(pool),
        [
            "nvidia.com/gpu=present:NO_SCHEDULE",
            "mlonly=true:NO_SCHEDULE"
        ]
    );
    assert_eq!(pool["config"]["labels"], json!({"mlonly": "true"}));
    assert_eq!(
        pool["config"]["accelerators"],
        json!([{"acceleratorCount": "1", "acceleratorType": "nvidia-tesla-t4"}])
    );
    assert_eq!(
        pool["autoscaling"],
        json!({"enabled": true, "minNodeCount": 2, "maxNodeCount": 4})
    );
    Ok(())
}

#[tokio::test]
async fn replaced_pools_are_what_clusters_get_reports_duplicates_and_all() -> TestResult {
    let harness = Harness::start().await?;
    let duplicated = json!([{
        "name": "gpu-pool",
        "config": {
            "taints": [
                {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"},
                {"key": "mlonly", "value": "true", "effect": "NO_SCHEDULE"},
                {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}
            ],
            "labels": {"mlonly": "true"},
            "accelerators": [{"acceleratorCount": 2, "acceleratorType": "nvidia-l4"}]
        },
        "autoscaling": {"enabled": true, "minNodeCount": 1, "maxNodeCount": 3}
    }, {
        "name": "cpu-pool",
        "config": {"labels": {"tier": "web"}}
    }]);
    // Sent as JSON: `acceleratorCount` as a number, which the typed pools would not say.
    let (status, body) = harness
        .admin
        .send_raw(Method::PUT, "/node-pools", Some(&duplicated))
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cluster = get_cluster(&harness).await?;
    let pools = cluster["nodePools"].as_array().ok_or("no nodePools")?;
    assert_eq!(pools.len(), 2);
    assert_eq!(
        taints(&pools[0]),
        [
            "nvidia.com/gpu=present:NO_SCHEDULE",
            "mlonly=true:NO_SCHEDULE",
            "nvidia.com/gpu=present:NO_SCHEDULE"
        ]
    );
    assert_eq!(
        pools[0]["config"]["accelerators"][0]["acceleratorCount"],
        "2"
    );
    assert_eq!(pools[1]["name"], "cpu-pool");
    // Empty fields are left out, as GKE leaves them out.
    assert!(pools[1]["config"].get("taints").is_none(), "{}", pools[1]);
    assert!(pools[1].get("autoscaling").is_none(), "{}", pools[1]);

    // The wrapped form works too: a pool without our taint.
    let wrapped = json!({"nodePools": [{"name": "gpu-pool", "config": {"taints": [
        {"key": "nvidia.com/gpu", "value": "present", "effect": "NO_SCHEDULE"}]}}]});
    let (status, body) = harness
        .admin
        .send_raw(Method::PUT, "/node-pools", Some(&wrapped))
        .await?;
    assert_eq!(status, StatusCode::OK, "{body}");
    let read = harness.admin.node_pools().await?;
    assert_eq!(json!({ "nodePools": read }), body);
    let cluster = get_cluster(&harness).await?;
    assert_eq!(
        taints(&cluster["nodePools"][0]),
        ["nvidia.com/gpu=present:NO_SCHEDULE"]
    );
    Ok(())
}

#[tokio::test]
async fn pools_that_no_cluster_could_have_are_refused_and_change_nothing() -> TestResult {
    let harness = Harness::start().await?;
    for body in [
        json!([{"name": "a"}, {"name": "a"}]),
        json!([{"name": ""}]),
        json!([{"name": "a", "config": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}]),
        json!([{"name": "a", "config": {"taint": []}}]),
        json!([{"name": "a", "autoscaling": {"enabled": true, "minNodeCount": 3, "maxNodeCount": 1}}]),
        json!({"pools": []}),
    ] {
        let (status, answer) = harness
            .admin
            .send_raw(Method::PUT, "/node-pools", Some(&body))
            .await?;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
    }
    let cluster = get_cluster(&harness).await?;
    assert_eq!(
        taints(&cluster["nodePools"][0]),
        [
            "nvidia.com/gpu=present:NO_SCHEDULE",
            "mlonly=true:NO_SCHEDULE"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn pools_can_be_configured_at_start_and_none_leaves_the_field_out() -> TestResult {
    let harness = Harness::start_with(Config {
        node_pools: vec![NodePool {
            name: "tainted-twice".to_owned(),
            config: NodeConfig {
                taints: vec![
                    NodeTaint::new("mlonly", "true", TaintEffect::NoSchedule),
                    NodeTaint::new("mlonly", "true", TaintEffect::NoSchedule),
                ],
                ..NodeConfig::default()
            },
            autoscaling: None,
        }],
        ..Config::default()
    })
    .await?;
    let cluster = get_cluster(&harness).await?;
    assert_eq!(cluster["nodePools"][0]["name"], "tainted-twice");
    assert_eq!(
        taints(&cluster["nodePools"][0]),
        ["mlonly=true:NO_SCHEDULE", "mlonly=true:NO_SCHEDULE"]
    );

    let harness = Harness::start_with(Config {
        node_pools: Vec::new(),
        ..Config::default()
    })
    .await?;
    let cluster = get_cluster(&harness).await?;
    assert!(cluster.get("nodePools").is_none(), "{cluster}");
    assert_eq!(cluster["status"], "RUNNING");
    Ok(())
}
