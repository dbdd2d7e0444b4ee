//! AWS Signature Version 4 verification (header form), as Proton's clients sign requests:
//! the canonical request is rebuilt from the raw request and the headers the client lists in
//! `SignedHeaders`, the body hashed as received, and the signature compared in constant time.

use aws_lc_rs::{digest, hmac};

/// Why a request is not authenticated. Each maps to AWS's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No `Authorization` header.
    Missing,
    /// The header is not a SigV4 header or lacks a part.
    Malformed(String),
    /// The access key id is unknown or revoked.
    UnknownKey(String),
    /// The signature does not match.
    BadSignature,
    /// `X-Amz-Date` is too far from the server's clock.
    Expired(String),
}

impl AuthError {
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "MissingAuthenticationTokenException",
            AuthError::Malformed(_) => "IncompleteSignatureException",
            AuthError::UnknownKey(_) => "UnrecognizedClientException",
            AuthError::BadSignature | AuthError::Expired(_) => "InvalidSignatureException",
        }
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::Missing => f.write_str("Missing Authentication Token: sign requests with AWS Signature Version 4"),
            AuthError::Malformed(m) => write!(f, "Authorization header is not a valid SigV4 header: {m}"),
            AuthError::UnknownKey(id) => write!(f, "The security token included in the request is invalid: unknown access key id {id}"),
            AuthError::BadSignature => f.write_str(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
            ),
            AuthError::Expired(m) => write!(f, "Signature expired: {m}"),
        }
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

impl Authorization {
    pub fn parse(header: &str) -> Result<Self, AuthError> {
        let rest =
            header.strip_prefix("AWS4-HMAC-SHA256").ok_or_else(|| AuthError::Malformed("the algorithm must be AWS4-HMAC-SHA256".into()))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let part = part.trim();
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v);
            }
        }
        let credential = credential.ok_or_else(|| AuthError::Malformed("no Credential".into()))?;
        let scope: Vec<&str> = credential.split('/').collect();
        if scope.len() != 5 || scope[4] != "aws4_request" {
            return Err(AuthError::Malformed(format!("Credential {credential:?} is not KEY/DATE/REGION/SERVICE/aws4_request")));
        }
        let signed = signed.ok_or_else(|| AuthError::Malformed("no SignedHeaders".into()))?;
        let signature = signature.ok_or_else(|| AuthError::Malformed("no Signature".into()))?;
        Ok(Self {
            access_key_id: scope[0].to_string(),
            date: scope[1].to_string(),
            region: scope[2].to_string(),
            service: scope[3].to_string(),
            signed_headers: signed.split(';').map(str::to_string).collect(),
            signature: signature.to_string(),
        })
    }
}

/// The request as received.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    /// Header values by lowercase name (repeated headers joined with `,`).
    pub header: &'a dyn Fn(&str) -> Option<String>,
    pub body: &'a [u8],
}

/// Most a request's `X-Amz-Date` may differ from the server's clock.
pub const MAX_SKEW_SECONDS: i64 = 15 * 60;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data).as_ref().to_vec()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data))
}

/// URI-encodes as SigV4 does (unreserved characters kept, `/` kept when `keep_slash`).
fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (uri_encode(k, false), uri_encode(v, false))
        })
        .collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// Parses `YYYYMMDDTHHMMSSZ` to Unix seconds.
fn amz_date_seconds(text: &str) -> Option<i64> {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    Some(time::PrimitiveDateTime::parse(text, &fmt).ok()?.assume_utc().unix_timestamp())
}

/// Verifies `req` signed under `auth` with `secret` at server time `now` (Unix seconds).
pub fn verify(req: &Request<'_>, auth: &Authorization, secret: &str, service: &str, now: i64) -> Result<(), AuthError> {
    if auth.service != service {
        return Err(AuthError::Malformed(format!("the credential scope names service {:?}; this endpoint is {service:?}", auth.service)));
    }
    let amz_date = (req.header)("x-amz-date").ok_or_else(|| AuthError::Malformed("no X-Amz-Date header".into()))?;
    let at = amz_date_seconds(&amz_date).ok_or_else(|| AuthError::Malformed(format!("X-Amz-Date {amz_date:?} is not YYYYMMDDTHHMMSSZ")))?;
    if (now - at).abs() > MAX_SKEW_SECONDS {
        return Err(AuthError::Expired(format!(
            "the request was signed at {amz_date}, more than {} minutes from the server's time",
            MAX_SKEW_SECONDS / 60
        )));
    }
    if !amz_date.starts_with(&auth.date) {
        return Err(AuthError::Malformed("the credential scope's date differs from X-Amz-Date".into()));
    }
    if !auth.signed_headers.iter().any(|h| h == "host") {
        return Err(AuthError::Malformed("SignedHeaders must include host".into()));
    }
    let mut canonical_headers = String::new();
    for name in &auth.signed_headers {
        let value = (req.header)(name).ok_or_else(|| AuthError::Malformed(format!("signed header {name} is missing")))?;
        let collapsed = value.split_whitespace().collect::<Vec<_>>().join(" ");
        canonical_headers.push_str(&format!("{name}:{collapsed}\n"));
    }
    // Non-S3 services encode each path segment twice.
    let path = if req.path.is_empty() { "/" } else { req.path };
    let canonical_uri = uri_encode(&uri_encode(path, true), true);
    let canonical = format!(
        "{}\n{canonical_uri}\n{}\n{canonical_headers}\n{}\n{}",
        req.method,
        canonical_query(req.query),
        auth.signed_headers.join(";"),
        sha256_hex(req.body)
    );
    let scope = format!("{}/{}/{}/aws4_request", auth.date, auth.region, auth.service);
    let to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", sha256_hex(canonical.as_bytes()));
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), auth.date.as_bytes());
    let k_region = hmac(&k_date, auth.region.as_bytes());
    let k_service = hmac(&k_region, auth.service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    let expected = hex::encode(hmac(&k_signing, to_sign.as_bytes()));
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), auth.signature.as_bytes()).map_err(|_| AuthError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request captured in the Proton API reference (§1.10), signed with secret `y`.
    #[test]
    fn verifies_a_captured_cli_request() {
        let header = "AWS4-HMAC-SHA256 Credential=x/20261126/us-east-1/proton/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=6e9bcbbab249e51e63beaefd36f3821650df8a12785daa2cd165997098a35b0d";
        let auth = Authorization::parse(header).unwrap();
        assert_eq!((auth.access_key_id.as_str(), auth.region.as_str()), ("x", "us-east-1"));
        let headers = |name: &str| -> Option<String> {
            match name {
                "content-type" => Some("application/x-amz-json-1.0".into()),
                "host" => Some("127.0.0.1:18431".into()),
                "x-amz-date" => Some("20261126T100636Z".into()),
                "x-amz-target" => Some("AwsProton20200720.ListEnvironmentTemplates".into()),
                _ => None,
            }
        };
        let req = Request { method: "POST", path: "/", query: "", header: &headers, body: b"{}" };
        let now = amz_date_seconds("20261126T100636Z").unwrap();
        assert_eq!(verify(&req, &auth, "y", "proton", now), Ok(()));
        assert_eq!(verify(&req, &auth, "z", "proton", now), Err(AuthError::BadSignature));
        let tampered = Request { body: b"{ }", ..req };
        assert_eq!(verify(&tampered, &auth, "y", "proton", now), Err(AuthError::BadSignature), "the body hash is signed");
        let late = verify(&req, &auth, "y", "proton", now + 16 * 60).unwrap_err();
        assert!(matches!(late, AuthError::Expired(_)) && late.to_string().starts_with("Signature expired"), "{late}");
        assert!(verify(&req, &auth, "y", "proton", now + 14 * 60).is_ok());
    }

    #[test]
    fn malformed_headers() {
        assert!(matches!(Authorization::parse("Basic abc"), Err(AuthError::Malformed(_))));
        assert!(matches!(
            Authorization::parse("AWS4-HMAC-SHA256 Credential=x/20261126/us-east-1/proton, SignedHeaders=host, Signature=ab"),
            Err(AuthError::Malformed(_))
        ));
    }
}
