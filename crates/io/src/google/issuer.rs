//! GKE's publication of a cluster's service-account issuer: the discovery document
//! (`getOpenid-configuration`) and the keys (`getJwks`) that STS fetches without credentials
//! before it trusts a token of the cluster (the workers' way (a), docs/design.md "The workers'
//! AWS access"). Google's reference says they are not available for every cluster, so the
//! doctor reads them as STS would: anonymous GETs, and only from the GKE API the functions
//! already use (`GKE_API_URL`), never from a host a document names.

use crate::error::{built, Error};
use crate::http::send;

/// GKE's public API, the host of every cluster's issuer.
pub(crate) const GKE_API: &str = "https://container.googleapis.com";

/// Whether STS can read the cluster's issuer documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// Both answer 200: the `issuer` the discovery document names, and how many keys there are.
    Yes {
        /// The discovery document's `issuer`.
        issuer: String,
        /// The number of keys in the JWKS.
        keys: usize,
    },
    /// What STS would meet instead: the URL and its answer, or what is missing.
    No(String),
}

/// The discovery document's URL for `cluster` (`projects/P/locations/L/clusters/C`) on the GKE
/// API at `api`.
pub(crate) fn discovery_url(api: &str, cluster: &str) -> String {
    format!(
        "{}/v1/{cluster}/.well-known/openid-configuration",
        api.trim_end_matches('/')
    )
}

/// Read `cluster`'s issuer documents from the GKE API at `api` with `client`, without a token.
/// A `jwks_uri` on GKE's public API is read at `api` (the same API, a stand-in in the tests); one
/// on another host is not fetched and is reported.
pub(crate) async fn published(
    client: &reqwest::Client,
    api: &str,
    cluster: &str,
) -> Result<Published, Error> {
    let url = discovery_url(api, cluster);
    let discovery = match get_json(client, &url).await? {
        Ok(doc) => doc,
        Err(why) => return Ok(Published::No(why)),
    };
    let (issuer, jwks_uri) = match parse_discovery(&discovery) {
        Ok(found) => found,
        Err(why) => return Ok(Published::No(format!("{url}: {why}"))),
    };
    let Some(path) = jwks_uri.strip_prefix(GKE_API) else {
        return Ok(Published::No(format!(
            "{url} names its keys at {jwks_uri}, not on {GKE_API}: not read here"
        )));
    };
    let jwks_url = format!("{}{path}", api.trim_end_matches('/'));
    let keys = match get_json(client, &jwks_url).await? {
        Ok(jwks) => jwks["keys"].as_array().map_or(0, Vec::len),
        Err(why) => return Ok(Published::No(why)),
    };
    if keys == 0 {
        return Ok(Published::No(format!("{jwks_uri} holds no keys")));
    }
    Ok(Published::Yes { issuer, keys })
}

/// An anonymous GET: the JSON body of a 200, or what was answered instead.
async fn get_json(
    client: &reqwest::Client,
    url: &str,
) -> Result<Result<serde_json::Value, String>, Error> {
    let request = built(url, http::Request::get(url).body(Vec::new()))?;
    let answer = send(client, request, None, None).await?;
    if answer.status != 200 {
        let body = String::from_utf8_lossy(&answer.body);
        let body: String = body.chars().take(200).collect();
        return Ok(Err(format!(
            "GET {url} without credentials answered {}: {body}",
            answer.status
        )));
    }
    Ok(serde_json::from_slice(&answer.body)
        .map_err(|e| format!("GET {url} answered 200 but not JSON ({e})")))
}

/// The discovery document's `issuer` and `jwks_uri`.
pub(crate) fn parse_discovery(doc: &serde_json::Value) -> Result<(String, String), String> {
    let field = |name: &str| {
        doc[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the discovery document has no {name}"))
    };
    Ok((field("issuer")?, field("jwks_uri")?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_discovery_document_is_under_the_clusters_path_and_names_issuer_and_keys() {
        assert_eq!(
            discovery_url("https://container.googleapis.com/", "projects/p/locations/l/clusters/c"),
            "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c/.well-known/openid-configuration"
        );
        let doc = json!({"issuer": "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c",
            "jwks_uri": "https://container.googleapis.com/v1/projects/p/locations/l/clusters/c/jwks"});
        let (issuer, jwks) = parse_discovery(&doc).expect("both fields");
        assert!(issuer.ends_with("clusters/c") && jwks.ends_with("/jwks"));
        let err = parse_discovery(&json!({"issuer": "x"})).expect_err("no jwks_uri");
        assert!(err.contains("jwks_uri"), "{err}");
    }
}
