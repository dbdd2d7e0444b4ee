//! Fleet rollouts over REST: `GET/POST /api/v1/rollouts`, `POST /api/v1/rollouts/plan`,
//! `GET /api/v1/rollouts/{id}`, `GET /api/v1/rollouts/{id}/items` and
//! `POST /api/v1/rollouts/{id}/{pause|resume|approve|cancel}`, plus each template's default
//! rollout policy (with its automatic mode) at `/api/v1/templates/{kind}/{name}/rollout-policy`.
//! Reading needs any key; changing needs an admin key (the rules of the Proton endpoint's roles).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use deuteron_core::rollout::{RolloutPolicy, SpecTransform};
use deuteron_service::rollouts::{RolloutRequest, Selection, TemplatePolicy, item_json, plan_json, rollout_json, rollout_summary_json};

use crate::rest::{Reply, RestApi, RestError, authorize, error, invalid, json_body, template_kind};

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

/// A rollout request as JSON.
/// A rollout: the template, the target version, which resources, the policy and an optional spec
/// transform (the policy and transform as in `deuteron rollout --policy` files).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RolloutBody {
    template_kind: String,
    template_name: String,
    /// `1.3`, or `2` for major 2's recommended minor.
    target_version: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    selection: Selection,
    #[serde(default)]
    #[schema(value_type = Object)]
    policy: RolloutPolicy,
    #[schema(value_type = Option<Object>)]
    spec_transform: Option<SpecTransform>,
}

fn request(body: &[u8], caller: &str) -> Result<RolloutRequest, RestError> {
    let b: RolloutBody = json_body(body)?;
    let (major, minor) = match b.target_version.as_deref() {
        None => (None, None),
        Some(v) if !v.contains('.') => (Some(v.parse().map_err(|_| invalid(format!("targetVersion: {v:?} is not a version")))?), None),
        Some(v) => {
            let n: deuteron_core::VersionNumber = v.parse().map_err(|e| invalid(format!("targetVersion: {e}")))?;
            (Some(n.major), Some(n.minor))
        }
    };
    Ok(RolloutRequest {
        kind: template_kind("templateKind", &b.template_kind)?,
        template: b.template_name,
        major,
        minor,
        selection: b.selection,
        policy: b.policy,
        transform: b.spec_transform,
        created_by: Some(format!("key:{caller}")),
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/rollouts", tag = "rollouts", params(ListQuery),
    responses((status = 200, description = "`{rollouts: [...]}`, newest first", body = Object), (status = "4XX", body = crate::rest_resources::ErrorBody)))]
async fn list(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Reply {
    authorize(&api, &headers, "ListRollouts").await?;
    let list = api.svc.list_rollouts(q.limit.unwrap_or(50).clamp(1, 1000)).await?;
    Ok(axum::Json(json!({"rollouts": list.iter().map(rollout_summary_json).collect::<Vec<_>>()})).into_response())
}

#[utoipa::path(post, path = "/api/v1/rollouts/plan", tag = "rollouts", request_body = RolloutBody,
    responses((status = 200, description = "Which resources move, from which version to which, in which wave; which are skipped and why", body = Object), (status = "4XX", body = crate::rest_resources::ErrorBody)))]
async fn plan(State(api): State<Arc<RestApi>>, headers: HeaderMap, body: axum::body::Bytes) -> Reply {
    let who = authorize(&api, &headers, "GetRolloutPlan").await?;
    let plan = api.svc.plan_rollout(&request(&body, &who)?).await?;
    Ok(axum::Json(plan_json(&plan)).into_response())
}

#[utoipa::path(post, path = "/api/v1/rollouts", tag = "rollouts", request_body = RolloutBody,
    responses((status = 201, description = "The rollout with its per-wave progress", body = Object), (status = "4XX", body = crate::rest_resources::ErrorBody)))]
async fn start(State(api): State<Arc<RestApi>>, headers: HeaderMap, body: axum::body::Bytes) -> Reply {
    let who = authorize(&api, &headers, "StartRollout").await?;
    let (rec, _) = api.svc.start_rollout(request(&body, &who)?).await?;
    let progress = api.svc.get_rollout(&rec.id).await?;
    Ok((StatusCode::CREATED, axum::Json(rollout_json(&progress))).into_response())
}

#[utoipa::path(get, path = "/api/v1/rollouts/{id}", tag = "rollouts", params(("id" = String, Path)),
    responses((status = 200, description = "The rollout with its per-wave progress", body = Object), (status = "4XX", body = crate::rest_resources::ErrorBody)))]
async fn show(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(id): Path<String>) -> Reply {
    authorize(&api, &headers, "GetRollout").await?;
    Ok(axum::Json(rollout_json(&api.svc.get_rollout(&id).await?)).into_response())
}

#[utoipa::path(get, path = "/api/v1/rollouts/{id}/items", tag = "rollouts", params(("id" = String, Path)),
    responses((status = 200, description = "`{items: [...]}`: every resource with its wave, state and deployments", body = Object), (status = "4XX", body = crate::rest_resources::ErrorBody)))]
async fn items(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(id): Path<String>) -> Reply {
    authorize(&api, &headers, "ListRolloutItems").await?;
    let list = api.svc.rollout_items(&id).await?;
    Ok(axum::Json(json!({"items": list.iter().map(item_json).collect::<Vec<_>>()})).into_response())
}

#[utoipa::path(post, path = "/api/v1/rollouts/{id}/{action}", tag = "rollouts",
    params(("id" = String, Path), ("action" = String, Path, description = "pause, resume, approve or cancel")),
    responses((status = 200, description = "The rollout after the change", body = Object), (status = "4XX", body = crate::rest_resources::ErrorBody)))]
async fn act(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((id, action)): Path<(String, String)>) -> Reply {
    authorize(&api, &headers, "UpdateRollout").await?;
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

#[utoipa::path(get, path = "/api/v1/templates/{kind}/{name}/rollout-policy", tag = "rollouts",
    params(("kind" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "`{policy, automatic}`", body = Object), (status = "4XX", body = crate::rest_resources::ErrorBody)))]
async fn get_policy(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((kind, name)): Path<(String, String)>) -> Reply {
    authorize(&api, &headers, "GetTemplateRolloutPolicy").await?;
    let kind = template_kind("kind", &kind)?;
    match api.svc.template_rollout_policy(kind, &name).await? {
        Some(p) => Ok(policy_json(&p)),
        None => Err(error(StatusCode::NOT_FOUND, "NotFound", format!("{} template {name} has no rollout policy", kind.as_str())).into()),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    #[serde(default)]
    #[schema(value_type = Object)]
    policy: RolloutPolicy,
    #[serde(default)]
    automatic: bool,
}

#[utoipa::path(put, path = "/api/v1/templates/{kind}/{name}/rollout-policy", tag = "rollouts", request_body = PolicyBody,
    params(("kind" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "`{policy, automatic}`", body = Object), (status = "4XX", body = crate::rest_resources::ErrorBody)))]
async fn put_policy(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path((kind, name)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Reply {
    authorize(&api, &headers, "UpdateTemplateRolloutPolicy").await?;
    let kind = template_kind("kind", &kind)?;
    let b: PolicyBody = json_body(&body)?;
    match api.svc.set_template_rollout_policy(kind, &name, Some((b.policy, b.automatic))).await? {
        Some(p) => Ok(policy_json(&p)),
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

#[utoipa::path(delete, path = "/api/v1/templates/{kind}/{name}/rollout-policy", tag = "rollouts",
    params(("kind" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = "4XX", body = crate::rest_resources::ErrorBody)))]
async fn delete_policy(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((kind, name)): Path<(String, String)>) -> Reply {
    authorize(&api, &headers, "DeleteTemplateRolloutPolicy").await?;
    api.svc.set_template_rollout_policy(template_kind("kind", &kind)?, &name, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
