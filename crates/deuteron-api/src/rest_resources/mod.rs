//! The REST API for everything the CLI does: templates and versions (bundles uploaded as the
//! request body), environments, services, instances, pipelines, components, deployments and access
//! keys. Every handler calls the service layer, answers with the same JSON views the CLI prints
//! with `--output json`, and is described by its `#[utoipa::path]`, from which
//! `/api/v1/openapi.json` is generated. Roles follow the Proton endpoint's rules.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use deuteron_core::registry::Staleness;
use deuteron_core::{Provisioning, Role, TemplateKind, UpdateType, VersionNumber};
use deuteron_service::components::{CreateComponent, UpdateComponent};
use deuteron_service::keys::{AccessKeyView, KeyListing};
use deuteron_service::meta::{TemplateFleet, VersionFilter};
use deuteron_service::registry::{CreateTemplate, RegisterOptions};
use deuteron_service::resources::{CreateEnvironment, CreateService, UpdateResource};
use deuteron_service::views::{
    ComponentView, DeploymentView, EnvironmentView, InstanceView, OutputView, PipelineView, ServiceView, TemplateView, VersionView,
};
use deuteron_store::{ComponentFilter, DeploymentFilter, Target, TemplatePatch};

use crate::rest::{Reply, RestApi, RestError, authorize, invalid, json_body, template_kind};

mod components;
mod deployments;
mod environments;
mod keys;
mod services;
mod templates;

pub use components::*;
pub use deployments::*;
pub use environments::*;
pub use keys::*;
pub use services::*;
pub use templates::*;

pub fn router(api: Arc<RestApi>) -> Router {
    Router::new()
        .route("/api/v1/templates", get(list_templates).post(create_template))
        .route("/api/v1/templates/{kind}/{name}", get(get_template).patch(update_template).delete(delete_template))
        .route("/api/v1/templates/{kind}/{name}/recommended-version", put(set_recommended_version))
        .route("/api/v1/templates/{kind}/{name}/versions", get(list_versions).post(register_version))
        .route("/api/v1/templates/{kind}/{name}/versions/{version}", get(get_version).patch(update_version).delete(delete_version))
        .route("/api/v1/templates/{kind}/{name}/versions/{version}/publish", post(publish_version))
        .route("/api/v1/templates/{kind}/{name}/versions/{version}/unblock", post(unblock_version))
        .route("/api/v1/fleet", get(fleet))
        .route("/api/v1/environments", get(list_environments).post(create_environment))
        .route("/api/v1/environments/{name}", get(get_environment).patch(update_environment).delete(delete_environment))
        .route("/api/v1/environments/{name}/outputs", get(environment_outputs))
        .route("/api/v1/services", get(list_services).post(create_service))
        .route("/api/v1/services/{name}", get(get_service).patch(update_service).delete(delete_service))
        .route("/api/v1/instances", get(list_instances))
        .route("/api/v1/services/{service}/instances/{name}", get(get_instance).patch(update_instance))
        .route("/api/v1/services/{service}/instances/{name}/outputs", get(instance_outputs))
        .route("/api/v1/pipelines", get(list_pipelines))
        .route("/api/v1/services/{service}/pipeline", get(get_pipeline).patch(update_pipeline))
        .route("/api/v1/services/{service}/pipeline/outputs", get(pipeline_outputs))
        .route("/api/v1/components", get(list_components).post(create_component))
        .route("/api/v1/components/{name}", get(get_component).patch(update_component).delete(delete_component))
        .route("/api/v1/components/{name}/outputs", get(component_outputs))
        .route("/api/v1/deployments", get(list_deployments))
        .route("/api/v1/deployments/{id}", get(get_deployment))
        .route("/api/v1/deployments/{id}/cancel", post(cancel_deployment))
        .route("/api/v1/keys", get(list_keys).post(create_key))
        .route("/api/v1/keys/{id}", axum::routing::delete(revoke_key))
        .with_state(api)
}

/// An error answer: `{"error": {"type", "message"}}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// `ValidationError`, `NotFound`, `Conflict`, `Unauthorized`, `AccessDenied`, `InternalError`.
    r#type: String,
    message: String,
    /// For validation errors: each input that broke a rule of the template's schema as
    /// `{"path", "rule", "value", "message"}`, or a sentence.
    #[schema(value_type = Vec<Object>)]
    details: Vec<serde_json::Value>,
}

fn ok<T: serde::Serialize>(v: T) -> Reply {
    Ok(axum::Json(v).into_response())
}

fn created<T: serde::Serialize>(v: T) -> Reply {
    Ok((StatusCode::CREATED, axum::Json(v)).into_response())
}

fn kind_of(raw: &str) -> Result<TemplateKind, RestError> {
    template_kind("kind", raw)
}

fn version_of(what: &str, raw: &str) -> Result<VersionNumber, RestError> {
    raw.parse().map_err(|e| invalid(format!("{what}: {e}")))
}

fn outputs(pairs: Vec<(String, String)>) -> Vec<OutputView> {
    pairs.into_iter().map(|(key, value_string)| OutputView { key, value_string }).collect()
}

fn update_type(raw: Option<&str>) -> Result<UpdateType, RestError> {
    match raw {
        None => Ok(UpdateType::CurrentVersion),
        Some(t) => UpdateType::parse(t)
            .ok_or_else(|| invalid(format!("deploymentType: {t:?} is not NONE, CURRENT_VERSION, MINOR_VERSION or MAJOR_VERSION"))),
    }
}

/// Outdated detection filters of the resource lists.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// Only resources of this template.
    template: Option<String>,
    /// Only resources running this version (`M.m`).
    template_version: Option<String>,
    /// Only resources behind the recommended version: `minor` or `major`.
    behind: Option<String>,
}

impl VersionQuery {
    fn filter(&self) -> Result<VersionFilter, RestError> {
        let version = self.template_version.as_deref().map(|v| version_of("templateVersion", v)).transpose()?;
        let behind = match self.behind.as_deref() {
            None => None,
            Some("minor") => Some(Staleness::BehindMinor),
            Some("major") => Some(Staleness::BehindMajor),
            Some(other) => return Err(invalid(format!("behind: {other:?} is neither minor nor major"))),
        };
        Ok(VersionFilter { template: self.template.clone(), version, behind })
    }
}

/// Proton's update types: `NONE` (metadata only), `CURRENT_VERSION` (new spec), `MINOR_VERSION`,
/// `MAJOR_VERSION`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateBody {
    /// Default `CURRENT_VERSION`.
    deployment_type: Option<String>,
    /// A new spec (default: the current one).
    spec: Option<String>,
    major_version: Option<u32>,
    minor_version: Option<u32>,
    pub(crate) description: Option<String>,
}

impl UpdateBody {
    pub(crate) fn update(&self) -> Result<UpdateResource, RestError> {
        Ok(UpdateResource {
            update_type: update_type(self.deployment_type.as_deref())?,
            spec: self.spec.clone(),
            major: self.major_version,
            minor: self.minor_version,
        })
    }
}

/// `GET /api/v1/openapi.json`: no key needed.
pub async fn openapi() -> Response {
    axum::Json(crate::openapi::document()).into_response()
}
