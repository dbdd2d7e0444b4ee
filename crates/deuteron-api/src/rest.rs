//! The REST API under `/api/v1`, authenticated with bearer tokens (`Authorization: Bearer
//! <access key id>:<secret>`). Today it serves the event stream — `GET /api/v1/events` lists
//! status changes as JSON, or streams them as Server-Sent Events when the client accepts
//! `text/event-stream` (resuming after `Last-Event-ID`) — and deployment logs:
//! `GET /api/v1/deployments/{id}/log` as JSON, or as an SSE stream that follows a running
//! deployment and ends with its final status.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use serde_json::json;

use deuteron_core::Role;
use deuteron_service::{Deuteron, ServiceError};
use deuteron_store::EventFilter;

/// How late an event may commit (relative to newer ones) and still be streamed.
const LOOKBACK: i64 = 256;

#[derive(Clone)]
pub struct RestApi {
    pub svc: Deuteron,
    /// How often the event stream looks for new events.
    pub poll: Duration,
}

pub fn router(api: RestApi) -> Router {
    let api = Arc::new(api);
    Router::new()
        .route("/api/v1/events", get(events))
        .route("/api/v1/deployments/{id}/log", get(deployment_log))
        .route("/api/v1/openapi.json", get(crate::rest_resources::openapi))
        .with_state(api.clone())
        .merge(crate::rest_rollouts::router(api.clone()))
        .merge(crate::rest_resources::router(api))
}

pub(crate) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": {"type": code, "message": message.into()}}))).into_response()
}

/// A refused or failed REST call, as the response to send (boxed: responses are large).
pub struct RestError(Box<Response>);

impl From<Response> for RestError {
    fn from(r: Response) -> Self {
        RestError(Box::new(r))
    }
}

impl From<ServiceError> for RestError {
    fn from(e: ServiceError) -> Self {
        service_error(e).into()
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        *self.0
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> RestError {
    error(StatusCode::BAD_REQUEST, "ValidationError", message).into()
}

/// The JSON request body as `T`: a clear error for anything that is not JSON, then one naming
/// the member that does not fit.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, RestError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| invalid(format!("the body is not JSON: {e}")))?;
    serde_json::from_value(value).map_err(|e| invalid(format!("body: {e}")))
}

/// A template kind named in `field`: `environment` or `service`.
pub(crate) fn template_kind(field: &str, raw: &str) -> Result<deuteron_core::TemplateKind, RestError> {
    deuteron_core::TemplateKind::parse(raw).ok_or_else(|| invalid(format!("{field}: {raw:?} is neither environment nor service")))
}

pub(crate) type Reply = Result<Response, RestError>;

/// A service error as a REST error response.
pub fn service_error(e: ServiceError) -> Response {
    let (status, code) = match &e {
        ServiceError::Validation { .. } | ServiceError::Bundle(_) => (StatusCode::BAD_REQUEST, "ValidationError"),
        ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
        ServiceError::Conflict(_) => (StatusCode::CONFLICT, "Conflict"),
        ServiceError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
    };
    let details: Vec<serde_json::Value> = match &e {
        ServiceError::Validation { details, .. } => details.iter().map(deuteron_service::Detail::to_json).collect(),
        _ => Vec::new(),
    };
    (status, axum::Json(json!({"error": {"type": code, "message": e.full_text(), "details": details}}))).into_response()
}

/// The caller's key id, if its role may call `operation` (named as the Proton operation it
/// matches, e.g. `UpdateServiceInstance`; the same rules as the Proton endpoint). Access keys are
/// managed by admins only.
pub(crate) async fn authorize(api: &RestApi, headers: &HeaderMap, operation: &str) -> Result<String, RestError> {
    let (id, role) = bearer(&api.svc, headers).await?;
    let allowed = if operation.contains("AccessKey") { role == Role::Admin } else { role.may_call(operation) };
    if !allowed {
        tracing::warn!(access_key = %id, role = %role, operation, "REST request denied");
        return Err(error(StatusCode::FORBIDDEN, "AccessDenied", format!("a {role} key may not call {operation}")).into());
    }
    Ok(id)
}

/// The caller's role from `Authorization: Bearer <id>:<secret>`.
pub async fn bearer(svc: &Deuteron, headers: &HeaderMap) -> Result<(String, Role), Response> {
    let unauthorized = |m: &str| error(StatusCode::UNAUTHORIZED, "Unauthorized", m);
    let value = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized("missing Authorization: Bearer <access key id>:<secret>"))?;
    let token =
        value.strip_prefix("Bearer ").ok_or_else(|| unauthorized("the Authorization header must be `Bearer <access key id>:<secret>`"))?;
    let (id, secret) = token.split_once(':').ok_or_else(|| unauthorized("the bearer token must be `<access key id>:<secret>`"))?;
    let found = svc.key_secret(id).await.map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string()))?;
    match found {
        Some((expected, role)) if aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), secret.as_bytes()).is_ok() => {
            Ok((id.to_string(), role))
        }
        _ => {
            tracing::warn!(access_key = %id, "REST request with an unknown key or a wrong secret");
            Err(unauthorized("unknown access key or wrong secret"))
        }
    }
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    #[serde(default)]
    after: i64,
    #[serde(rename = "type")]
    resource_type: Option<String>,
    resource: Option<String>,
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventQuery),
    responses((status = 200, description = "`{events, next}` as JSON, or with `Accept: text/event-stream` a Server-Sent Events stream (`status` events, resumable with Last-Event-ID)", body = Object), (status = "4XX", body = crate::rest_resources::ErrorBody)))]
async fn events(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<EventQuery>) -> Response {
    if let Err(r) = bearer(&api.svc, &headers).await {
        return r;
    }
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return error(StatusCode::BAD_REQUEST, "ValidationError", "limit: must be between 1 and 1000");
    }
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i64>().ok());
    let filter = EventFilter { after: resume.unwrap_or(q.after), resource_type: q.resource_type, resource: q.resource, limit };
    let wants_stream = headers.get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/event-stream"));
    if !wants_stream {
        return match api.svc.list_events(&filter).await {
            Ok(list) => {
                let next = list.last().map_or(filter.after, |e| e.seq);
                axum::Json(json!({"events": list, "next": next})).into_response()
            }
            Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string()),
        };
    }
    // Polls the store (events may come from any server or worker sharing it) and re-reads a
    // short window behind the newest event sent, so one committed late is still delivered once.
    let state = (api.clone(), filter, BTreeSet::<i64>::new(), Vec::<Event>::new());
    let stream = futures_util::stream::unfold(state, |(api, mut filter, mut sent, mut ready)| async move {
        loop {
            if let Some(ev) = ready.pop() {
                return Some((Ok::<Event, Infallible>(ev), (api, filter, sent, ready)));
            }
            let newest = sent.last().copied().unwrap_or(filter.after);
            // The window holds at most LOOKBACK events already sent, so each read makes progress.
            let window = EventFilter { after: (newest - LOOKBACK).max(filter.after), limit: LOOKBACK + filter.limit, ..filter.clone() };
            match api.svc.list_events(&window).await {
                Ok(list) => {
                    let fresh: Vec<_> = list.into_iter().filter(|e| sent.insert(e.seq)).collect();
                    ready = fresh
                        .iter()
                        .rev()
                        .map(|e| Event::default().id(e.seq.to_string()).event("status").json_data(e).expect("events serialise"))
                        .collect();
                    if let Some(&last) = sent.last() {
                        filter.after = filter.after.max(last - 4 * LOOKBACK);
                        sent = sent.split_off(&(last - 2 * LOOKBACK));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "event stream: cannot read events"),
            }
            if ready.is_empty() {
                tokio::time::sleep(api.poll).await;
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    #[serde(default)]
    after: i64,
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}/log", tag = "deployments", params(("id" = String, Path), LogQuery),
    responses((status = 200, description = "`{lines, next}` as JSON, or with `Accept: text/event-stream` `line` events following the deployment and an `end` event with its final status", body = Object), (status = "4XX", body = crate::rest_resources::ErrorBody)))]
async fn deployment_log(
    State(api): State<Arc<RestApi>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: HeaderMap,
    Query(q): Query<LogQuery>,
) -> Response {
    if let Err(r) = bearer(&api.svc, &headers).await {
        return r;
    }
    let after = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<i64>().ok()).unwrap_or(q.after);
    let first = match api.svc.deployment_log(&id, after).await {
        Ok(lines) => lines,
        Err(deuteron_service::ServiceError::NotFound(m)) => return error(StatusCode::NOT_FOUND, "NotFound", format!("{m} not found")),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", e.to_string()),
    };
    let wants_stream = headers.get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/event-stream"));
    if !wants_stream {
        let next = first.last().map_or(after, |l| l.seq);
        return axum::Json(json!({"lines": first.iter().map(line_json).collect::<Vec<_>>(), "next": next})).into_response();
    }
    // The lines already read are the stream's first events.
    let stream = follow_log(api.svc.clone(), id, after, first, api.poll).map(Ok::<Event, Infallible>);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response()
}

fn line_json(l: &deuteron_store::LogLine) -> serde_json::Value {
    json!({"seq": l.seq, "at": deuteron_service::views::iso(l.at), "stream": l.stream, "line": l.line})
}

/// Server-Sent Events that follow a deployment's log from after line `after` (starting with
/// `read`, lines already read from there): a `line` event per line (its id the line's sequence
/// number), then, once the deployment is done and every line sent, an `end` event with its final
/// status. Shared by the REST API and the console.
pub fn follow_log(
    svc: Deuteron,
    id: String,
    after: i64,
    read: Vec<deuteron_store::LogLine>,
    poll: Duration,
) -> impl futures_util::Stream<Item = Event> + Send {
    let state = (svc, id, after, read, false);
    futures_util::stream::unfold(state, move |(svc, id, mut after, mut pending, finished)| async move {
        if finished {
            return None;
        }
        loop {
            if !pending.is_empty() {
                let l = pending.remove(0);
                after = l.seq;
                let ev = Event::default().id(l.seq.to_string()).event("line").json_data(line_json(&l)).expect("lines serialise");
                return Some((ev, (svc, id, after, pending, false)));
            }
            let done = match svc.get_deployment(&id).await {
                Ok(d) => (d.job_state == deuteron_store::JobState::Done).then_some(d),
                Err(_) => None,
            };
            match svc.deployment_log(&id, after).await {
                Ok(lines) if !lines.is_empty() => pending = lines,
                Ok(_) => {
                    if let Some(d) = done {
                        let end = json!({"id": d.id, "deploymentStatus": d.status.as_str(), "message": d.status_message,
                                        "attempts": d.attempts, "startedAt": d.started_at.map(deuteron_service::views::iso),
                                        "completedAt": d.completed_at.map(deuteron_service::views::iso)});
                        let ev = Event::default().event("end").json_data(end).expect("status serialises");
                        return Some((ev, (svc, id, after, pending, true)));
                    }
                    tokio::time::sleep(poll).await;
                }
                Err(e) => {
                    tracing::warn!(deployment = %id, error = %e, "log stream: cannot read the log");
                    return None;
                }
            }
        }
    })
}
