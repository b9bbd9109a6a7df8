//! Small HTTP helpers the handlers share: a request already read in full, JSON responses,
//! bearer tokens and media types. No I/O.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::{Method, StatusCode};
use serde::Serialize;

/// What every handler returns.
pub(crate) type Response = hyper::Response<Full<Bytes>>;

/// A request whose body has been read.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: Method,
    /// The path, without the query.
    pub path: String,
    /// The query, without the `?`, if there is one.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    /// The path's segments, without the leading slash: `/a/b` is `["a", "b"]`.
    pub(crate) fn segments(&self) -> Vec<&str> {
        self.path.trim_start_matches('/').split('/').collect()
    }

    /// The first value of the query parameter `name`, decoded.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_deref()?.as_bytes())
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The token of an `Authorization: Bearer` header.
    pub(crate) fn bearer_token(&self) -> Option<&str> {
        let value = self.headers.get(AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    }

    /// The body's media type, lower case and without parameters such as `charset`.
    pub(crate) fn media_type(&self) -> Option<String> {
        let value = self.headers.get(CONTENT_TYPE)?.to_str().ok()?;
        let media_type = value.split(';').next().unwrap_or_default().trim();
        Some(media_type.to_ascii_lowercase())
    }
}

/// A JSON response.
pub(crate) fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => with_type(status, "application/json", bytes),
        Err(error) => with_type(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("could not encode the response: {error}").into_bytes(),
        ),
    }
}

/// A plain-text response.
pub(crate) fn text_response(status: StatusCode, body: String) -> Response {
    with_type(status, "text/plain; charset=utf-8", body.into_bytes())
}

/// A response without a body.
pub(crate) fn empty_response(status: StatusCode) -> Response {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

fn with_type(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_with(header: hyper::header::HeaderName, value: &'static str) -> Request {
        let mut headers = HeaderMap::new();
        headers.insert(header, HeaderValue::from_static(value));
        Request {
            method: Method::GET,
            path: "/".to_owned(),
            query: None,
            headers,
            body: Bytes::new(),
        }
    }

    #[test]
    fn a_bearer_token_is_read_whatever_the_scheme_case() {
        assert_eq!(
            request_with(AUTHORIZATION, "Bearer ya29.abc").bearer_token(),
            Some("ya29.abc")
        );
        assert_eq!(
            request_with(AUTHORIZATION, "bearer ya29.abc").bearer_token(),
            Some("ya29.abc")
        );
        assert_eq!(
            request_with(AUTHORIZATION, "Basic eDp5").bearer_token(),
            None
        );
        assert_eq!(request_with(AUTHORIZATION, "Bearer ").bearer_token(), None);
    }

    #[test]
    fn a_query_parameter_is_decoded() {
        let mut request = request_with(CONTENT_TYPE, "text/plain");
        assert_eq!(request.query_param("audience"), None);
        request.query = Some("format=full&audience=sts.amazonaws.com%2Fx&audience=2".to_owned());
        assert_eq!(
            request.query_param("audience").as_deref(),
            Some("sts.amazonaws.com/x")
        );
        assert_eq!(request.query_param("format").as_deref(), Some("full"));
        assert_eq!(request.query_param("licenses"), None);
    }

    #[test]
    fn a_media_type_drops_its_parameters() {
        assert_eq!(
            request_with(CONTENT_TYPE, "Application/JSON; charset=utf-8").media_type(),
            Some("application/json".to_owned())
        );
    }
}
