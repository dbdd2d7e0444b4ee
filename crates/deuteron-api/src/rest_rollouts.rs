//! Fleet rollouts over REST: `GET/POST /api/v1/rollouts`, `POST /api/v1/rollouts/plan`,
//! `GET /api/v1/rollouts/{id}`, `GET /api/v1/rollouts/{id}/items` and
//! `POST /api/v1/rollouts/{id}/{pause|resume|approve|cancel}`, plus each template's default
//! rollout policy (with its automatic mode) at `/api/v1/templates/{kind}/{name}/rollout-policy`.
//! Reading needs any key; changing needs an admin key.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use deuteron_core::rollout::{RolloutPolicy, SpecTransform};
use deuteron_core::{Role, TemplateKind};
use deuteron_service::ServiceError;
use deuteron_service::rollouts::{RolloutRequest, Selection, TemplatePolicy, item_json, plan_json, rollout_json, rollout_summary_json};

use crate::rest::{RestApi, bearer, error};

pub fn router(api: Arc<RestApi>) -> Router {
    Router::new()
        .route("/api/v1/rollouts", get(list).post(start))
        .route("/api/v1/rollouts/plan", post(plan))
        .route("/api/v1/rollouts/{id}", get(show))
        .route("/api/v1/rollouts/{id}/items", get(items))
        .route("/api/v1/rollouts/{id}/{action}", post(act))
        .route("/api/v1/templates/{kind}/{name}/rollout-policy", get(get_policy).put(put_policy).delete(delete_policy))
        .with_state(api)
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

fn invalid(message: impl Into<String>) -> RestError {
    error(StatusCode::BAD_REQUEST, "ValidationError", message).into()
}

type Reply = Result<Response, RestError>;

/// A service error as a REST error response.
pub fn service_error(e: ServiceError) -> Response {
    let (status, code) = match &e {
        ServiceError::Validation { .. } | ServiceError::Bundle(_) => (StatusCode::BAD_REQUEST, "ValidationError"),
        ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
        ServiceError::Conflict(_) => (StatusCode::CONFLICT, "Conflict"),
        ServiceError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
    };
    error(status, code, e.full_text())
}

/// The caller, if its key may make this call: any role reads, only admins change rollouts.
async fn caller(api: &RestApi, headers: &HeaderMap, change: bool) -> Result<String, RestError> {
    let (id, role) = bearer(&api.svc, headers).await?;
    if change && role != Role::Admin {
        tracing::warn!(access_key = %id, role = %role, "REST rollout change refused");
        return Err(error(StatusCode::FORBIDDEN, "AccessDenied", format!("a {role} key cannot change rollouts; an admin key can")).into());
    }
    Ok(id)
}

/// A rollout request as JSON.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RolloutBody {
    template_kind: String,
    template_name: String,
    /// `1.3`, or `2` for major 2's recommended minor.
    target_version: Option<String>,
    #[serde(default)]
    selection: Selection,
    #[serde(default)]
    policy: RolloutPolicy,
    spec_transform: Option<SpecTransform>,
}

fn kind_of(raw: &str) -> Result<TemplateKind, RestError> {
    TemplateKind::parse(raw).ok_or_else(|| invalid(format!("templateKind: {raw:?} is neither environment nor service")))
}

fn request(body: &[u8], caller: &str) -> Result<RolloutRequest, RestError> {
    let b: RolloutBody = serde_json::from_value(parse_body(body)?).map_err(|e| invalid(format!("body: {e}")))?;
    let (major, minor) = match b.target_version.as_deref() {
        None => (None, None),
        Some(v) if !v.contains('.') => (Some(v.parse().map_err(|_| invalid(format!("targetVersion: {v:?} is not a version")))?), None),
        Some(v) => {
            let n: deuteron_core::VersionNumber = v.parse().map_err(|e| invalid(format!("targetVersion: {e}")))?;
            (Some(n.major), Some(n.minor))
        }
    };
    Ok(RolloutRequest {
        kind: kind_of(&b.template_kind)?,
        template: b.template_name,
        major,
        minor,
        selection: b.selection,
        policy: b.policy,
        transform: b.spec_transform,
        created_by: Some(format!("key:{caller}")),
    })
}

/// The JSON body, with a clear error for anything that is not JSON.
fn parse_body(body: &[u8]) -> Result<Value, RestError> {
    serde_json::from_slice(body).map_err(|e| invalid(format!("the body is not JSON: {e}")))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<i64>,
}

async fn list(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Reply {
    caller(&api, &headers, false).await?;
    let list = api.svc.list_rollouts(q.limit.unwrap_or(50).clamp(1, 1000)).await?;
    Ok(axum::Json(json!({"rollouts": list.iter().map(rollout_summary_json).collect::<Vec<_>>()})).into_response())
}

async fn plan(State(api): State<Arc<RestApi>>, headers: HeaderMap, body: axum::body::Bytes) -> Reply {
    let who = caller(&api, &headers, false).await?;
    let plan = api.svc.plan_rollout(&request(&body, &who)?).await?;
    Ok(axum::Json(plan_json(&plan)).into_response())
}

async fn start(State(api): State<Arc<RestApi>>, headers: HeaderMap, body: axum::body::Bytes) -> Reply {
    let who = caller(&api, &headers, true).await?;
    let (rec, _) = api.svc.start_rollout(request(&body, &who)?).await?;
    let progress = api.svc.get_rollout(&rec.id).await?;
    Ok((StatusCode::CREATED, axum::Json(rollout_json(&progress))).into_response())
}

async fn show(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(id): Path<String>) -> Reply {
    caller(&api, &headers, false).await?;
    Ok(axum::Json(rollout_json(&api.svc.get_rollout(&id).await?)).into_response())
}

async fn items(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(id): Path<String>) -> Reply {
    caller(&api, &headers, false).await?;
    let list = api.svc.rollout_items(&id).await?;
    Ok(axum::Json(json!({"items": list.iter().map(item_json).collect::<Vec<_>>()})).into_response())
}

async fn act(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((id, action)): Path<(String, String)>) -> Reply {
    caller(&api, &headers, true).await?;
    let r = match action.as_str() {
        "pause" => api.svc.pause_rollout(&id).await?,
        "resume" => api.svc.resume_rollout(&id).await?,
        "approve" => api.svc.approve_rollout(&id).await?,
        "cancel" => api.svc.cancel_rollout(&id).await?,
        other => {
            let m = format!("no rollout action {other:?}; use pause, resume, approve or cancel");
            return Err(error(StatusCode::NOT_FOUND, "NotFound", m).into());
        }
    };
    Ok(axum::Json(rollout_json(&api.svc.get_rollout(&r.id).await?)).into_response())
}

fn policy_json(p: &TemplatePolicy) -> Response {
    axum::Json(json!({"policy": p.policy, "automatic": p.automatic})).into_response()
}

async fn get_policy(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((kind, name)): Path<(String, String)>) -> Reply {
    caller(&api, &headers, false).await?;
    let kind = kind_of(&kind)?;
    match api.svc.template_rollout_policy(kind, &name).await? {
        Some(p) => Ok(policy_json(&p)),
        None => Err(error(StatusCode::NOT_FOUND, "NotFound", format!("{} template {name} has no rollout policy", kind.as_str())).into()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    #[serde(default)]
    policy: RolloutPolicy,
    #[serde(default)]
    automatic: bool,
}

async fn put_policy(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path((kind, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Reply {
    caller(&api, &headers, true).await?;
    let kind = kind_of(&kind)?;
    let b: PolicyBody = serde_json::from_value(parse_body(&body)?).map_err(|e| invalid(format!("body: {e}")))?;
    match api.svc.set_template_rollout_policy(kind, &name, Some((b.policy, b.automatic))).await? {
        Some(p) => Ok(policy_json(&p)),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

async fn delete_policy(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((kind, name)): Path<(String, String)>) -> Reply {
    caller(&api, &headers, true).await?;
    api.svc.set_template_rollout_policy(kind_of(&kind)?, &name, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
