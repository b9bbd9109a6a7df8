//! The request paths of the Kubernetes API that tests and tooling send to local-gke's cluster
//! listener (or to a real kube-apiserver), and inject faults into: built here once. No I/O.

/// `/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale`: a Deployment's scale
/// subresource.
pub fn scale_path(namespace: &str, name: &str) -> String {
    format!("{}/scale", deployment_path(namespace, name))
}

/// `/apis/apps/v1/namespaces/{namespace}/deployments/{name}`: a Deployment itself.
pub fn deployment_path(namespace: &str, name: &str) -> String {
    format!("/apis/apps/v1/namespaces/{namespace}/deployments/{name}")
}

/// `/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}`: a Lease.
pub fn lease_path(namespace: &str, name: &str) -> String {
    format!("/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_subresource_is_below_its_deployment() {
        assert_eq!(
            scale_path("ml", "model-worker"),
            "/apis/apps/v1/namespaces/ml/deployments/model-worker/scale"
        );
        assert_eq!(
            deployment_path("ml", "model-worker"),
            "/apis/apps/v1/namespaces/ml/deployments/model-worker"
        );
    }

    #[test]
    fn a_lease_is_in_the_coordination_group() {
        assert_eq!(
            lease_path("ml", "gpu-pool"),
            "/apis/coordination.k8s.io/v1/namespaces/ml/leases/gpu-pool"
        );
    }
}
