//! AWS Signature Version 4, recomputed from a request's parts so a signature can be verified:
//! the `Authorization` header's fields, the canonical request, the string to sign and the
//! HMAC-SHA256 key derivation (`AWS4` + secret, then date, region, service, `aws4_request`).
//! Pure; the caller finds the secret for the access key and checks the clock.

use ring::hmac;
use sha2::{Digest, Sha256};

/// The only algorithm SigV4 (not SigV4a) signs with.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The fields of `Authorization: AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request,
/// SignedHeaders=a;b;c, Signature=HEX`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Authorization<'a> {
    pub access_key_id: &'a str,
    /// `YYYYMMDD`, the credential scope's date.
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    /// `aws4_request` in every valid scope.
    pub terminator: &'a str,
    /// Lower-case header names, in the order given (signers sort them).
    pub signed_headers: Vec<&'a str>,
    /// 64 lower-case hex digits.
    pub signature: &'a str,
}

impl<'a> Authorization<'a> {
    /// Reads the header; `None` when it is not a SigV4 `Authorization` with all three fields.
    pub(crate) fn parse(value: &'a str) -> Option<Self> {
        let rest = value.strip_prefix(ALGORITHM)?;
        if !rest.starts_with(' ') {
            return None;
        }
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (name, field) = part.trim().split_once('=')?;
            let slot = match name {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                _ => return None,
            };
            if slot.replace(field).is_some() {
                return None;
            }
        }
        let mut scope = credential?.split('/');
        let (Some(access_key_id), Some(date), Some(region), Some(service), Some(terminator), None) = (
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
        ) else {
            return None;
        };
        let signed_headers: Vec<&str> = signed_headers?.split(';').collect();
        let signature = signature?;
        let well_formed = !access_key_id.is_empty()
            && date.len() == 8
            && date.bytes().all(|b| b.is_ascii_digit())
            && !region.is_empty()
            && !service.is_empty()
            && signed_headers.iter().all(|h| !h.is_empty())
            && signature.len() == 64
            && signature.bytes().all(|b| b.is_ascii_hexdigit());
        well_formed.then_some(Authorization {
            access_key_id,
            date,
            region,
            service,
            terminator,
            signed_headers,
            signature,
        })
    }

    /// `DATE/REGION/SERVICE/aws4_request`.
    pub(crate) fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }
}

/// What the canonical request is built from.
#[derive(Debug)]
pub(crate) struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as sent (percent-encoded); empty means `/`.
    pub path: &'a str,
    /// The query as sent, without `?`.
    pub query: &'a str,
    /// Every header, name in lower case, value as sent; a name may repeat.
    pub headers: &'a [(String, String)],
    pub signed_headers: &'a [&'a str],
    pub payload: &'a [u8],
}

/// The canonical request: method, URI, query, signed headers with their values, the signed
/// header list and the payload's hash, one per line.
pub(crate) fn canonical_request(request: &SignedRequest<'_>) -> String {
    let path = if request.path.is_empty() {
        "/".to_owned()
    } else {
        // Every service but S3 encodes the (already encoded) path segments once more.
        request
            .path
            .split('/')
            .map(|segment| uri_encode(segment.as_bytes()))
            .collect::<Vec<_>>()
            .join("/")
    };
    let mut query: Vec<(String, String)> = url::form_urlencoded::parse(request.query.as_bytes())
        .map(|(key, value)| (uri_encode(key.as_bytes()), uri_encode(value.as_bytes())))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&");
    let headers: String = request
        .signed_headers
        .iter()
        .map(|name| {
            let values: Vec<String> = request
                .headers
                .iter()
                .filter(|(header, _)| header == name)
                .map(|(_, value)| trim_all(value))
                .collect();
            format!("{name}:{}\n", values.join(","))
        })
        .collect();
    format!(
        "{}\n{path}\n{query}\n{headers}\n{}\n{}",
        request.method,
        request.signed_headers.join(";"),
        hex(&Sha256::digest(request.payload)),
    )
}

/// The string to sign: the algorithm, the request's `x-amz-date`, the credential scope and the
/// canonical request's hash.
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The signing key: HMAC-SHA256 chained over the date, region, service and `aws4_request`,
/// starting from `AWS4` + the secret access key.
pub(crate) fn signing_key(secret_access_key: &str, authorization: &Authorization<'_>) -> hmac::Key {
    let mut key = format!("AWS4{secret_access_key}").into_bytes();
    for part in [
        authorization.date,
        authorization.region,
        authorization.service,
        authorization.terminator,
    ] {
        key = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), part.as_bytes())
            .as_ref()
            .to_vec();
    }
    hmac::Key::new(hmac::HMAC_SHA256, &key)
}

/// Whether `signature` (hex) is the HMAC of `string_to_sign` under `key`, compared in constant
/// time.
pub(crate) fn verify(key: &hmac::Key, string_to_sign: &str, signature: &str) -> bool {
    match unhex(signature) {
        Some(signature) => hmac::verify(key, string_to_sign.as_bytes(), &signature).is_ok(),
        None => false,
    }
}

/// Percent-encodes all but the unreserved characters (`A-Z a-z 0-9 - _ . ~`), upper-case hex.
fn uri_encode(bytes: &[u8]) -> String {
    let mut encoded = String::with_capacity(bytes.len());
    for &byte in bytes {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Trims spaces at both ends and turns each run of spaces into one, as SigV4 normalises header
/// values.
fn trim_all(value: &str) -> String {
    value
        .split(' ')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked example of AWS's SigV4 documentation: IAM ListUsers, 2015-08-30 12:36:00 UTC.
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const AUTHORIZATION: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

    fn example_headers() -> Vec<(String, String)> {
        [
            (
                "content-type",
                "application/x-www-form-urlencoded;  charset=utf-8 ",
            ),
            ("host", "iam.amazonaws.com"),
            ("x-amz-date", "20150830T123600Z"),
            ("authorization", AUTHORIZATION),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn the_documented_example_is_verified() -> Result<(), String> {
        let authorization = Authorization::parse(AUTHORIZATION).ok_or("parses")?;
        assert_eq!(authorization.access_key_id, "AKIDEXAMPLE");
        assert_eq!(authorization.scope(), "20150830/us-east-1/iam/aws4_request");
        let headers = example_headers();
        let canonical = canonical_request(&SignedRequest {
            method: "GET",
            path: "/",
            query: "Version=2010-05-08&Action=ListUsers",
            headers: &headers,
            signed_headers: &authorization.signed_headers,
            payload: b"",
        });
        assert_eq!(
            canonical,
            "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
             content-type:application/x-www-form-urlencoded; charset=utf-8\n\
             host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
             content-type;host;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let to_sign = string_to_sign("20150830T123600Z", &authorization.scope(), &canonical);
        assert!(
            to_sign.ends_with("f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59")
        );
        let key = signing_key(SECRET, &authorization);
        assert!(verify(&key, &to_sign, authorization.signature));
        // Another secret, or one changed character of the signature, does not verify.
        let other = signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", &authorization);
        assert!(!verify(&other, &to_sign, authorization.signature));
        let tampered = authorization.signature.replacen('5', "6", 1);
        assert!(!verify(&key, &to_sign, &tampered));
        Ok(())
    }

    #[test]
    fn an_authorization_without_all_fields_or_with_a_short_signature_is_not_read() {
        for value in [
            "",
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256Credential=a/20150830/r/s/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=host",
            "AWS4-HMAC-SHA256 Credential=a/2015083/r/s/aws4_request, SignedHeaders=host, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s, SignedHeaders=host, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=host, Signature=5d67",
            "AWS4-HMAC-SHA256 Credential=a/20150830/r/s/aws4_request, SignedHeaders=host;;date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
            "AWS4-ECDSA-P256-SHA256 Credential=a/20150830/s/aws4_request, SignedHeaders=host, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        ] {
            assert_eq!(Authorization::parse(value), None, "{value:?}");
        }
    }

    #[test]
    fn query_keys_and_values_are_encoded_and_sorted() {
        let headers = Vec::new();
        let canonical = canonical_request(&SignedRequest {
            method: "POST",
            path: "",
            query: "b=2&a=x%20y&a=%2B",
            headers: &headers,
            signed_headers: &[],
            payload: b"",
        });
        assert!(
            canonical.starts_with("POST\n/\na=%2B&a=x%20y&b=2\n"),
            "{canonical}"
        );
    }
}
