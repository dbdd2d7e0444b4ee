//! The Proton-compatible endpoint: AWS JSON 1.0 (`POST` with
//! `X-Amz-Target: AwsProton20200720.<Operation>`), SigV4-authenticated against Deuteron's
//! access keys, answering Proton's request and response shapes and errors over the same service
//! layer the CLI uses.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use deuteron_core::{ArnConfig, Role};
use deuteron_service::{Deuteron, ServiceError};

use crate::sigv4::{self, AuthError, Authorization};

mod ops;
pub mod shapes;

pub const TARGET_PREFIX: &str = "AwsProton20200720.";
const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

/// Fetches a template bundle named by `source.s3` (implemented with aws-sdk-s3 by the server).
#[async_trait::async_trait]
pub trait BundleSource: Send + Sync {
    /// The object's bytes, or a message saying why it could not be read.
    async fn fetch(&self, bucket: &str, key: &str, max_bytes: u64) -> Result<Vec<u8>, String>;
}

/// Settings and collaborators of the endpoint.
#[derive(Clone)]
pub struct ProtonApi {
    pub svc: Deuteron,
    pub arn: ArnConfig,
    /// Largest request body accepted.
    pub max_body: usize,
    pub bundles: Option<Arc<dyn BundleSource>>,
}

/// An error in Proton's wire form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "ResourceNotFoundException", message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "ConflictException", message)
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match &e {
            ServiceError::Validation { .. } | ServiceError::Bundle(_) => ApiError::validation(e.full_text()),
            ServiceError::NotFound(_) => ApiError::not_found(e.to_string()),
            ServiceError::Conflict(_) => ApiError::conflict(e.to_string()),
            ServiceError::Internal(_) => {
                tracing::error!(error = %e, "internal error in the Proton API");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalServerException", "internal error; see the server log")
            }
        }
    }
}

fn respond(status: StatusCode, body: &Value, request_id: &str, error_code: Option<&str>) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Some(code) = error_code.and_then(|c| HeaderValue::from_str(c).ok()) {
        h.insert("x-amzn-errortype", code);
    }
    resp
}

fn error_response(e: &ApiError, request_id: &str) -> Response {
    respond(e.status, &json!({"__type": e.code, "message": e.message}), request_id, Some(e.code))
}

/// The caller a request was signed by.
#[derive(Debug, Clone)]
pub struct Caller {
    pub access_key_id: String,
    pub role: Role,
}

async fn authenticate(api: &ProtonApi, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<Caller, AuthError> {
    let header = headers.get("authorization").and_then(|v| v.to_str().ok()).ok_or(AuthError::Missing)?;
    let auth = Authorization::parse(header)?;
    let (secret, role) = match api.svc.key_secret(&auth.access_key_id).await {
        Ok(Some(found)) => found,
        Ok(None) => return Err(AuthError::UnknownKey(auth.access_key_id.clone())),
        Err(e) => {
            tracing::error!(error = %e, "cannot read access keys");
            return Err(AuthError::UnknownKey(auth.access_key_id.clone()));
        }
    };
    let lookup = |name: &str| -> Option<String> {
        let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    let req = sigv4::Request { method: method.as_str(), path: uri.path(), query: uri.query().unwrap_or(""), header: &lookup, body };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    sigv4::verify(&req, &auth, &secret, "proton", now)?;
    Ok(Caller { access_key_id: auth.access_key_id, role })
}

/// SHA-256 of the request's members other than `clientToken`, keys sorted at every level.
fn request_hash(input: &Map<String, Value>) -> String {
    fn canonical(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: std::collections::BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, canonical(v))).collect();
                serde_json::to_value(sorted).expect("JSON values serialise")
            }
            Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
            other => other.clone(),
        }
    }
    let mut rest = input.clone();
    rest.remove("clientToken");
    let text = canonical(&Value::Object(rest)).to_string();
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes()))
}

/// The axum handler for every `POST` of the endpoint.
pub async fn handle(State(api): State<Arc<ProtonApi>>, method: Method, uri: Uri, headers: HeaderMap, body: Body) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let body: Bytes = match axum::body::to_bytes(body, api.max_body).await {
        Ok(b) => b,
        Err(_) => {
            let e = ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLargeException",
                format!("the request body exceeds {} bytes", api.max_body),
            );
            tracing::warn!(%request_id, "Proton API request refused: body over {} bytes", api.max_body);
            return error_response(&e, &request_id);
        }
    };
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(operation) = target.strip_prefix(TARGET_PREFIX).filter(|op| !op.is_empty()) else {
        let message = if target.is_empty() {
            "missing X-Amz-Target header: name the operation as AwsProton20200720.<Operation>".to_string()
        } else {
            format!("unknown target {target:?}: this endpoint serves AwsProton20200720.<Operation>")
        };
        return error_response(&ApiError::new(StatusCode::BAD_REQUEST, "UnknownOperationException", message), &request_id);
    };
    let operation = operation.to_string();
    let caller = match authenticate(&api, &method, &uri, &headers, &body).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(%request_id, %operation, reason = %e, "Proton API request not authenticated");
            return error_response(&ApiError::new(StatusCode::FORBIDDEN, e.code(), e.to_string()), &request_id);
        }
    };
    let input: Map<String, Value> = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(m)) => m,
            Ok(_) => {
                let e = ApiError::new(StatusCode::BAD_REQUEST, "SerializationException", "the request body must be a JSON object");
                return error_response(&e, &request_id);
            }
            Err(err) => {
                let e = ApiError::new(StatusCode::BAD_REQUEST, "SerializationException", format!("the request body is not JSON: {err}"));
                return error_response(&e, &request_id);
            }
        }
    };
    if !ops::OPERATIONS.contains(&operation.as_str()) && !ops::UNSUPPORTED.contains(&operation.as_str()) {
        let e = ApiError::new(StatusCode::BAD_REQUEST, "UnknownOperationException", format!("unknown operation {operation}"));
        return error_response(&e, &request_id);
    }
    if !caller.role.may_call(&operation) {
        tracing::warn!(%request_id, %operation, access_key = %caller.access_key_id, role = %caller.role, "Proton API request denied");
        let e = ApiError::new(
            StatusCode::FORBIDDEN,
            "AccessDeniedException",
            format!("access key {} ({} role) is not allowed to call {operation}", caller.access_key_id, caller.role),
        );
        return error_response(&e, &request_id);
    }
    // Proton's idempotency tokens: a retry with the same token and parameters replays the reply.
    let token = match input.get("clientToken") {
        Some(Value::String(t)) if !t.is_empty() && ops::TOKEN_OPERATIONS.contains(&operation.as_str()) => Some(t.clone()),
        _ => None,
    };
    let request_hash = token.as_ref().map(|_| request_hash(&input));
    if let (Some(t), Some(hash)) = (&token, &request_hash) {
        match api.svc.idempotent_reply(&caller.access_key_id, &operation, t).await {
            Ok(Some(reply)) if reply.request_hash == *hash => {
                tracing::info!(%request_id, %operation, access_key = %caller.access_key_id, "replayed the reply to an idempotency token");
                let body: Value = serde_json::from_str(&reply.response).unwrap_or_else(|_| json!({}));
                return respond(StatusCode::OK, &body, &request_id, None);
            }
            Ok(Some(_)) => {
                let e = ApiError::validation(format!(
                    "IdempotentParameterMismatch: clientToken {t:?} was already used for a {operation} request with different parameters"
                ));
                return error_response(&e, &request_id);
            }
            Ok(None) => {}
            Err(e) => return error_response(&ApiError::from(e), &request_id),
        }
    }
    let started = std::time::Instant::now();
    let result = ops::dispatch(&api, &caller, &operation, &input).await;
    if let (Ok(out), Some(t), Some(hash)) = (&result, &token, &request_hash)
        && let Err(e) = api.svc.save_idempotent_reply(&caller.access_key_id, &operation, t, hash, &out.to_string()).await
    {
        tracing::warn!(%request_id, %operation, error = %e, "cannot keep the reply to an idempotency token");
    }
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(out) => {
            tracing::debug!(%request_id, %operation, access_key = %caller.access_key_id, elapsed_ms, "Proton API request");
            respond(StatusCode::OK, &out, &request_id, None)
        }
        Err(e) => {
            tracing::info!(%request_id, %operation, access_key = %caller.access_key_id, code = e.code, message = %e.message, elapsed_ms, "Proton API request failed");
            error_response(&e, &request_id)
        }
    }
}
