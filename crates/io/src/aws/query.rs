//! The query protocol CloudWatch and IAM speak: a form-encoded POST of `Action`, `Version` and
//! the action's parameters to the endpoint's root, answered in XML.

use crate::error::{built, Error};

/// A query-protocol request of API `version`: `Action`, `Version` and `params`, form-encoded.
pub(crate) fn query_request(
    endpoint: &str,
    version: &str,
    action: &str,
    params: &[(&str, &str)],
) -> Result<http::Request<Vec<u8>>, Error> {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("Action", action)
        .append_pair("Version", version);
    for (k, v) in params {
        form.append_pair(k, v);
    }
    let url = format!("{}/", endpoint.trim_end_matches('/'));
    built(
        &url,
        http::Request::post(&url)
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(form.finish().into_bytes()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_action_version_and_parameters_are_form_encoded_to_the_root() {
        let r = query_request(
            "https://iam.amazonaws.com/",
            "2010-05-08",
            "GetRole",
            &[("RoleName", "a b&c")],
        )
        .expect("a request");
        assert_eq!(r.uri(), "https://iam.amazonaws.com/");
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(
            String::from_utf8_lossy(r.body()),
            "Action=GetRole&Version=2010-05-08&RoleName=a+b%26c"
        );
    }
}
