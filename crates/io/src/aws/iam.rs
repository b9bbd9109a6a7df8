//! IAM, in its query protocol: `GetRole`, for the doctor's check of each model's worker role
//! (its trust policy). IAM is global: one endpoint per partition, signed for that partition's
//! home region (`iam_endpoint`). Requests are built as plain values ([`iam_query_request`]);
//! answers are read by `parse_get_role`.

use crate::aws::query::query_request;
use crate::aws::AwsClient;
use crate::error::Error;

/// A role as `GetRole` tells it: its ARN and its trust policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    /// The role's ARN.
    pub arn: String,
    /// Its trust policy (`AssumeRolePolicyDocument`), as JSON.
    pub trust: serde_json::Value,
}

/// IAM's endpoint for the partition of `region`, and the region its requests are signed for:
/// `iam.amazonaws.com` (us-east-1), `iam.cn-north-1.amazonaws.com.cn` (cn-north-1) or
/// `iam.us-gov.amazonaws.com` (us-gov-west-1).
pub(crate) fn iam_endpoint(region: &str) -> (&'static str, &'static str) {
    if region.starts_with("cn-") {
        ("https://iam.cn-north-1.amazonaws.com.cn", "cn-north-1")
    } else if region.starts_with("us-gov-") {
        ("https://iam.us-gov.amazonaws.com", "us-gov-west-1")
    } else {
        ("https://iam.amazonaws.com", "us-east-1")
    }
}

impl AwsClient {
    /// IAM `GetRole`: the role named `name` (without its path), or `None` when there is none
    /// (`NoSuchEntity`).
    pub async fn get_role(&self, name: &str) -> Result<Option<Role>, Error> {
        let (endpoint, region) = iam_endpoint(&self.region);
        let endpoint = self.iam_endpoint.as_deref().unwrap_or(endpoint);
        let request = iam_query_request(endpoint, "GetRole", &[("RoleName", name)])?;
        match self.sender.send(region, "iam", "GetRole", request).await {
            Ok(body) => parse_get_role(&body)
                .map(Some)
                .map_err(|detail| Error::Protocol {
                    url: endpoint.to_owned(),
                    detail,
                }),
            Err(Error::Aws { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// An IAM query-protocol request (API version 2010-05-08).
pub fn iam_query_request(
    endpoint: &str,
    action: &str,
    params: &[(&str, &str)],
) -> Result<http::Request<Vec<u8>>, Error> {
    query_request(endpoint, "2010-05-08", action, params)
}

/// Read a `GetRole` answer: the role's `Arn`, and its `AssumeRolePolicyDocument`, which IAM
/// gives URL-encoded.
pub(crate) fn parse_get_role(body: &[u8]) -> Result<Role, String> {
    let text = std::str::from_utf8(body).map_err(|_| "GetRole answer is not UTF-8".to_owned())?;
    let doc =
        roxmltree::Document::parse(text).map_err(|e| format!("GetRole answer is not XML ({e})"))?;
    let role = doc
        .descendants()
        .find(|n| n.has_tag_name("Role"))
        .ok_or("GetRole answer has no Role")?;
    let field = |name: &str| {
        role.children()
            .find(|c| c.has_tag_name(name))
            .and_then(|c| c.text())
            .map(str::trim)
    };
    let arn = field("Arn").ok_or("GetRole answer's Role has no Arn")?;
    let document = field("AssumeRolePolicyDocument")
        .ok_or("GetRole answer's Role has no AssumeRolePolicyDocument")?;
    let decoded = percent_encoding::percent_decode_str(document)
        .decode_utf8()
        .map_err(|_| "the role's trust policy is not UTF-8".to_owned())?;
    let trust = serde_json::from_str(&decoded)
        .map_err(|e| format!("the role's trust policy is not JSON ({e})"))?;
    Ok(Role {
        arn: arn.to_owned(),
        trust,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_partition_has_its_iam_endpoint_and_signing_region() {
        assert_eq!(
            iam_endpoint("eu-west-1"),
            ("https://iam.amazonaws.com", "us-east-1")
        );
        assert_eq!(
            iam_endpoint("cn-northwest-1"),
            ("https://iam.cn-north-1.amazonaws.com.cn", "cn-north-1")
        );
        assert_eq!(
            iam_endpoint("us-gov-east-1"),
            ("https://iam.us-gov.amazonaws.com", "us-gov-west-1")
        );
    }

    #[test]
    fn get_role_is_a_form_post_naming_the_role() {
        let request = iam_query_request(
            "https://iam.amazonaws.com",
            "GetRole",
            &[("RoleName", "a+b")],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(request.uri(), "https://iam.amazonaws.com/");
        assert_eq!(
            String::from_utf8_lossy(request.body()),
            "Action=GetRole&Version=2010-05-08&RoleName=a%2Bb"
        );
    }

    #[test]
    fn a_get_role_answer_gives_the_arn_and_the_decoded_trust() {
        let body = br#"<GetRoleResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
  <GetRoleResult><Role>
    <Path>/</Path>
    <AssumeRolePolicyDocument>%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%7D%5D%7D</AssumeRolePolicyDocument>
    <RoleName>model-WorkerRole-1A</RoleName>
    <Arn>arn:aws:iam::123456789012:role/model-WorkerRole-1A</Arn>
  </Role></GetRoleResult>
</GetRoleResponse>"#;
        let role = parse_get_role(body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            role.arn,
            "arn:aws:iam::123456789012:role/model-WorkerRole-1A"
        );
        assert_eq!(role.trust["Statement"][0]["Effect"], "Allow");
        let err = parse_get_role(b"<GetRoleResponse/>").expect_err("no role");
        assert!(err.contains("no Role"), "{err}");
        let err = parse_get_role(
            b"<R><Role><Arn>a</Arn><AssumeRolePolicyDocument>%7Bnot</AssumeRolePolicyDocument></Role></R>",
        )
        .expect_err("not JSON");
        assert!(err.contains("not JSON"), "{err}");
    }
}
