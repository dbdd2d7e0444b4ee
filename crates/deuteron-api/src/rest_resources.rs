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

// ---- templates ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KindQuery {
    /// `environment` or `service`.
    kind: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/templates", tag = "templates", params(KindQuery),
    responses((status = 200, body = [TemplateView]), (status = "4XX", body = ErrorBody)))]
async fn list_templates(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<KindQuery>) -> Reply {
    authorize(&api, &headers, "ListTemplates").await?;
    let kind = q.kind.as_deref().map(kind_of).transpose()?;
    ok(api.svc.list_templates(kind).await?.iter().map(TemplateView::from).collect::<Vec<_>>())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTemplateBody {
    /// `environment` or `service`.
    kind: String,
    name: String,
    display_name: Option<String>,
    description: Option<String>,
    /// Environment templates: provisioned outside Deuteron; service templates: no pipeline.
    #[serde(default)]
    customer_managed: bool,
}

#[utoipa::path(post, path = "/api/v1/templates", tag = "templates", request_body = CreateTemplateBody,
    responses((status = 201, body = TemplateView), (status = "4XX", body = ErrorBody)))]
async fn create_template(State(api): State<Arc<RestApi>>, headers: HeaderMap, bytes: axum::body::Bytes) -> Reply {
    authorize(&api, &headers, "CreateTemplate").await?;
    let b: CreateTemplateBody = json_body(&bytes)?;
    let t = api
        .svc
        .create_template(CreateTemplate {
            kind: kind_of(&b.kind)?,
            name: b.name,
            display_name: b.display_name,
            description: b.description,
            provisioning: if b.customer_managed { Provisioning::CustomerManaged } else { Provisioning::Standard },
            encryption_key: None,
        })
        .await?;
    created(TemplateView::from(&t))
}

#[utoipa::path(get, path = "/api/v1/templates/{kind}/{name}", tag = "templates",
    params(("kind" = String, Path, description = "environment or service"), ("name" = String, Path)),
    responses((status = 200, body = TemplateView), (status = "4XX", body = ErrorBody)))]
async fn get_template(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((kind, name)): Path<(String, String)>) -> Reply {
    authorize(&api, &headers, "GetTemplate").await?;
    ok(TemplateView::from(&api.svc.get_template(kind_of(&kind)?, &name).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateTemplateBody {
    display_name: Option<String>,
    description: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/templates/{kind}/{name}", tag = "templates", request_body = UpdateTemplateBody,
    params(("kind" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = TemplateView), (status = "4XX", body = ErrorBody)))]
async fn update_template(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path((kind, name)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> Reply {
    authorize(&api, &headers, "UpdateTemplate").await?;
    let b: UpdateTemplateBody = json_body(&bytes)?;
    let patch = TemplatePatch { display_name: b.display_name.map(Some), description: b.description.map(Some) };
    ok(TemplateView::from(&api.svc.update_template(kind_of(&kind)?, &name, patch).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendedBody {
    /// A published version (`1.3`) to recommend instead of the highest published one; `null` to
    /// follow the highest published one again.
    version: Option<String>,
}

#[utoipa::path(put, path = "/api/v1/templates/{kind}/{name}/recommended-version", tag = "templates", request_body = RecommendedBody,
    params(("kind" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = TemplateView), (status = "4XX", body = ErrorBody)))]
async fn set_recommended_version(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path((kind, name)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> Reply {
    authorize(&api, &headers, "UpdateTemplate").await?;
    let b: RecommendedBody = json_body(&bytes)?;
    let version = b.version.as_deref().map(|v| version_of("version", v)).transpose()?;
    ok(TemplateView::from(&api.svc.set_recommended_version(kind_of(&kind)?, &name, version).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CascadeQuery {
    /// Also delete the template's versions (none may be in use).
    #[serde(default)]
    cascade: bool,
}

#[utoipa::path(delete, path = "/api/v1/templates/{kind}/{name}", tag = "templates",
    params(("kind" = String, Path), ("name" = String, Path), CascadeQuery),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
async fn delete_template(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path((kind, name)): Path<(String, String)>,
    Query(q): Query<CascadeQuery>,
) -> Reply {
    authorize(&api, &headers, "DeleteTemplate").await?;
    api.svc.delete_template(kind_of(&kind)?, &name, q.cascade).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FleetQuery {
    /// `environment` or `service`.
    kind: Option<String>,
    /// One template.
    name: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/fleet", tag = "templates", params(FleetQuery),
    responses((status = 200, description = "Resources per version, and how many are behind", body = [TemplateFleet]), (status = "4XX", body = ErrorBody)))]
async fn fleet(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<FleetQuery>) -> Reply {
    authorize(&api, &headers, "GetFleet").await?;
    let kind = q.kind.as_deref().map(kind_of).transpose()?;
    ok(api.svc.template_fleet(kind, q.name.as_deref()).await?)
}

// ---- versions ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MajorQuery {
    /// Only this major version.
    major: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/templates/{kind}/{name}/versions", tag = "templates",
    params(("kind" = String, Path), ("name" = String, Path), MajorQuery),
    responses((status = 200, body = [VersionView]), (status = "4XX", body = ErrorBody)))]
async fn list_versions(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path((kind, name)): Path<(String, String)>,
    Query(q): Query<MajorQuery>,
) -> Reply {
    authorize(&api, &headers, "ListTemplateVersions").await?;
    ok(api.svc.list_versions(kind_of(&kind)?, &name, q.major).await?.iter().map(VersionView::from).collect::<Vec<_>>())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct RegisterQuery {
    /// Register the next minor of this major (default: a new major version).
    major: Option<u32>,
    description: Option<String>,
    /// Service templates: environment template majors this version deploys into, as
    /// `TEMPLATE:MAJOR` separated by commas (default: the bundle's `.compatible-envs`).
    compatible_envs: Option<String>,
    /// Service templates: allow directly defined components on instances.
    #[serde(default)]
    components: bool,
    /// Publish the version once registered.
    #[serde(default)]
    publish: bool,
    /// Register the bundle even when an existing version has the same content.
    #[serde(default)]
    allow_same_content: bool,
}

#[utoipa::path(post, path = "/api/v1/templates/{kind}/{name}/versions", tag = "templates",
    params(("kind" = String, Path), ("name" = String, Path), RegisterQuery),
    request_body(content = Vec<u8>, description = "The bundle as a .tar.gz or .zip archive", content_type = "application/octet-stream"),
    responses((status = 201, body = VersionView), (status = "4XX", body = ErrorBody)))]
async fn register_version(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path((kind, name)): Path<(String, String)>,
    Query(q): Query<RegisterQuery>,
    bytes: axum::body::Bytes,
) -> Reply {
    authorize(&api, &headers, "CreateTemplateVersion").await?;
    let kind = kind_of(&kind)?;
    let files = deuteron_bundle::BundleFiles::from_archive_bytes(&bytes, &api.svc.config().bundle_limits)
        .map_err(|e| invalid(format!("invalid bundle: {e}")))?;
    let compatible_environments = q
        .compatible_envs
        .as_deref()
        .unwrap_or("")
        .split(',')
        .filter(|c| !c.trim().is_empty())
        .map(|c| deuteron_core::CompatibleEnvironmentTemplate::parse(c.trim()).map_err(|e| invalid(format!("compatibleEnvs: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = RegisterOptions {
        major: q.major,
        description: q.description,
        compatible_environments,
        supported_component_sources: q.components.then(|| vec![deuteron_core::ComponentSource::DirectlyDefined]),
        allow_same_content: q.allow_same_content,
    };
    let v = api.svc.register_version(kind, &name, files, opts).await?;
    if q.publish {
        return created(VersionView::from(&api.svc.publish(kind, &name, v.version).await?));
    }
    created(VersionView::from(&v))
}

type VersionPath = Path<(String, String, String)>;

#[utoipa::path(get, path = "/api/v1/templates/{kind}/{name}/versions/{version}", tag = "templates",
    params(("kind" = String, Path), ("name" = String, Path), ("version" = String, Path, description = "M.m")),
    responses((status = 200, body = VersionView), (status = "4XX", body = ErrorBody)))]
async fn get_version(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((kind, name, version)): VersionPath) -> Reply {
    authorize(&api, &headers, "GetTemplateVersion").await?;
    ok(VersionView::from(&api.svc.get_version(kind_of(&kind)?, &name, version_of("version", &version)?).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateVersionBody {
    description: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/templates/{kind}/{name}/versions/{version}", tag = "templates", request_body = UpdateVersionBody,
    params(("kind" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = VersionView), (status = "4XX", body = ErrorBody)))]
async fn update_version(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path((kind, name, version)): VersionPath,
    bytes: axum::body::Bytes,
) -> Reply {
    authorize(&api, &headers, "UpdateTemplateVersion").await?;
    let b: UpdateVersionBody = json_body(&bytes)?;
    let v = api.svc.update_version_description(kind_of(&kind)?, &name, version_of("version", &version)?, b.description).await?;
    ok(VersionView::from(&v))
}

#[utoipa::path(post, path = "/api/v1/templates/{kind}/{name}/versions/{version}/publish", tag = "templates",
    params(("kind" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = VersionView), (status = "4XX", body = ErrorBody)))]
async fn publish_version(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((kind, name, version)): VersionPath) -> Reply {
    authorize(&api, &headers, "UpdateTemplateVersion").await?;
    ok(VersionView::from(&api.svc.publish(kind_of(&kind)?, &name, version_of("version", &version)?).await?))
}

#[utoipa::path(post, path = "/api/v1/templates/{kind}/{name}/versions/{version}/unblock", tag = "templates",
    params(("kind" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = VersionView), (status = "4XX", body = ErrorBody)))]
async fn unblock_version(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((kind, name, version)): VersionPath) -> Reply {
    authorize(&api, &headers, "UpdateTemplateVersion").await?;
    ok(VersionView::from(&api.svc.unblock_version(kind_of(&kind)?, &name, version_of("version", &version)?).await?))
}

#[utoipa::path(delete, path = "/api/v1/templates/{kind}/{name}/versions/{version}", tag = "templates",
    params(("kind" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
async fn delete_version(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((kind, name, version)): VersionPath) -> Reply {
    authorize(&api, &headers, "DeleteTemplateVersion").await?;
    api.svc.delete_version(kind_of(&kind)?, &name, version_of("version", &version)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- environments ----

#[utoipa::path(get, path = "/api/v1/environments", tag = "environments", params(VersionQuery),
    responses((status = 200, body = [EnvironmentView]), (status = "4XX", body = ErrorBody)))]
async fn list_environments(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<VersionQuery>) -> Reply {
    authorize(&api, &headers, "ListEnvironments").await?;
    ok(api.svc.environment_views(&q.filter()?).await?)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateEnvironmentBody {
    name: String,
    template_name: String,
    /// Default: the major of the template's recommended version.
    major_version: Option<u32>,
    /// Default: the major's recommended minor.
    minor_version: Option<u32>,
    /// A Proton `EnvironmentSpec` (YAML or JSON text).
    spec: String,
    description: Option<String>,
    role_arn: Option<String>,
    codebuild_role_arn: Option<String>,
    component_role_arn: Option<String>,
}

/// A resource and the deployment a change started (none for metadata-only changes).
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentChange {
    environment: EnvironmentView,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment_id: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/environments", tag = "environments", request_body = CreateEnvironmentBody,
    responses((status = 201, body = EnvironmentChange), (status = "4XX", body = ErrorBody)))]
async fn create_environment(State(api): State<Arc<RestApi>>, headers: HeaderMap, bytes: axum::body::Bytes) -> Reply {
    authorize(&api, &headers, "CreateEnvironment").await?;
    let b: CreateEnvironmentBody = json_body(&bytes)?;
    let major = match b.major_version {
        Some(m) => m,
        None => api.svc.default_major(TemplateKind::Environment, &b.template_name).await?,
    };
    let (env, dep) = api
        .svc
        .create_environment(CreateEnvironment {
            name: b.name,
            template_name: b.template_name,
            major,
            minor: b.minor_version,
            spec: b.spec,
            description: b.description,
            role_arn: b.role_arn,
            codebuild_role_arn: b.codebuild_role_arn,
            component_role_arn: b.component_role_arn,
        })
        .await?;
    api.svc.signals().enqueued.notify_waiters();
    created(EnvironmentChange { environment: EnvironmentView::from(&env), deployment_id: Some(dep) })
}

#[utoipa::path(get, path = "/api/v1/environments/{name}", tag = "environments", params(("name" = String, Path)),
    responses((status = 200, body = EnvironmentView), (status = "4XX", body = ErrorBody)))]
async fn get_environment(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    authorize(&api, &headers, "GetEnvironment").await?;
    ok(api.svc.environment_view(&name).await?)
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
    description: Option<String>,
}

impl UpdateBody {
    fn update(&self) -> Result<UpdateResource, RestError> {
        Ok(UpdateResource {
            update_type: update_type(self.deployment_type.as_deref())?,
            spec: self.spec.clone(),
            major: self.major_version,
            minor: self.minor_version,
        })
    }
}

#[utoipa::path(patch, path = "/api/v1/environments/{name}", tag = "environments", request_body = UpdateBody, params(("name" = String, Path)),
    responses((status = 200, body = EnvironmentChange), (status = "4XX", body = ErrorBody)))]
async fn update_environment(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    bytes: axum::body::Bytes,
) -> Reply {
    authorize(&api, &headers, "UpdateEnvironment").await?;
    let b: UpdateBody = json_body(&bytes)?;
    let (env, dep) = api.svc.update_environment(&name, b.description.clone().map(Some), b.update()?).await?;
    api.svc.signals().enqueued.notify_waiters();
    ok(EnvironmentChange { environment: EnvironmentView::from(&env), deployment_id: dep.map(|d| d.id) })
}

#[utoipa::path(delete, path = "/api/v1/environments/{name}", tag = "environments", params(("name" = String, Path)),
    responses((status = 202, description = "The deprovisioning deployment", body = DeploymentView), (status = "4XX", body = ErrorBody)))]
async fn delete_environment(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    authorize(&api, &headers, "DeleteEnvironment").await?;
    let d = api.svc.delete_environment(&name).await?;
    api.svc.signals().enqueued.notify_waiters();
    Ok((StatusCode::ACCEPTED, axum::Json(DeploymentView::from(&d))).into_response())
}

#[utoipa::path(get, path = "/api/v1/environments/{name}/outputs", tag = "environments", params(("name" = String, Path)),
    responses((status = 200, body = [OutputView]), (status = "4XX", body = ErrorBody)))]
async fn environment_outputs(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    authorize(&api, &headers, "ListEnvironmentOutputs").await?;
    api.svc.get_environment(&name).await?;
    ok(outputs(api.svc.outputs(&Target::Environment(name)).await?))
}

// ---- services, instances, pipelines ----

#[utoipa::path(get, path = "/api/v1/services", tag = "services",
    responses((status = 200, body = [ServiceView]), (status = "4XX", body = ErrorBody)))]
async fn list_services(State(api): State<Arc<RestApi>>, headers: HeaderMap) -> Reply {
    authorize(&api, &headers, "ListServices").await?;
    ok(api.svc.list_services().await?.iter().map(ServiceView::from).collect::<Vec<_>>())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateServiceBody {
    name: String,
    template_name: String,
    /// Default: the major of the template's recommended version.
    major_version: Option<u32>,
    minor_version: Option<u32>,
    /// A Proton `ServiceSpec` (YAML or JSON text): one entry per instance, and the pipeline's inputs.
    spec: String,
    description: Option<String>,
    repository_connection_arn: Option<String>,
    repository_id: Option<String>,
    branch_name: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/services", tag = "services", request_body = CreateServiceBody,
    responses((status = 201, body = ServiceView), (status = "4XX", body = ErrorBody)))]
async fn create_service(State(api): State<Arc<RestApi>>, headers: HeaderMap, bytes: axum::body::Bytes) -> Reply {
    authorize(&api, &headers, "CreateService").await?;
    let b: CreateServiceBody = json_body(&bytes)?;
    let major = match b.major_version {
        Some(m) => m,
        None => api.svc.default_major(TemplateKind::Service, &b.template_name).await?,
    };
    let s = api
        .svc
        .create_service(CreateService {
            name: b.name,
            template_name: b.template_name,
            major,
            minor: b.minor_version,
            spec: b.spec,
            description: b.description,
            repository_connection_arn: b.repository_connection_arn,
            repository_id: b.repository_id,
            branch_name: b.branch_name,
        })
        .await?;
    api.svc.signals().enqueued.notify_waiters();
    created(ServiceView::from(&s))
}

#[utoipa::path(get, path = "/api/v1/services/{name}", tag = "services", params(("name" = String, Path)),
    responses((status = 200, body = ServiceView), (status = "4XX", body = ErrorBody)))]
async fn get_service(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    authorize(&api, &headers, "GetService").await?;
    ok(ServiceView::from(&api.svc.get_service(&name).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateServiceBody {
    description: Option<String>,
    /// A ServiceSpec that adds (new entries) or removes (omitted entries) instances.
    spec: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/services/{name}", tag = "services", request_body = UpdateServiceBody, params(("name" = String, Path)),
    responses((status = 200, body = ServiceView), (status = "4XX", body = ErrorBody)))]
async fn update_service(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>, bytes: axum::body::Bytes) -> Reply {
    authorize(&api, &headers, "UpdateService").await?;
    let b: UpdateServiceBody = json_body(&bytes)?;
    let s = api.svc.update_service(&name, b.description.map(Some), b.spec).await?;
    api.svc.signals().enqueued.notify_waiters();
    ok(ServiceView::from(&s))
}

#[utoipa::path(delete, path = "/api/v1/services/{name}", tag = "services", params(("name" = String, Path)),
    responses((status = 202, description = "The deprovisioning deployments", body = [DeploymentView]), (status = "4XX", body = ErrorBody)))]
async fn delete_service(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    authorize(&api, &headers, "DeleteService").await?;
    let deps = api.svc.delete_service(&name).await?;
    api.svc.signals().enqueued.notify_waiters();
    Ok((StatusCode::ACCEPTED, axum::Json(deps.iter().map(DeploymentView::from).collect::<Vec<_>>())).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct InstanceQuery {
    service: Option<String>,
    environment: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/instances", tag = "services", params(InstanceQuery, VersionQuery),
    responses((status = 200, body = [InstanceView]), (status = "4XX", body = ErrorBody)))]
async fn list_instances(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Query(q): Query<InstanceQuery>,
    Query(v): Query<VersionQuery>,
) -> Reply {
    authorize(&api, &headers, "ListServiceInstances").await?;
    ok(api.svc.instance_views(q.service.as_deref(), q.environment.as_deref(), &v.filter()?).await?)
}

#[utoipa::path(get, path = "/api/v1/services/{service}/instances/{name}", tag = "services",
    params(("service" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = InstanceView), (status = "4XX", body = ErrorBody)))]
async fn get_instance(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((service, name)): Path<(String, String)>) -> Reply {
    authorize(&api, &headers, "GetServiceInstance").await?;
    ok(api.svc.instance_view(&service, &name).await?)
}

/// An instance and the deployment its update started (none for `NONE`).
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceChange {
    instance: InstanceView,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment_id: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/services/{service}/instances/{name}", tag = "services", request_body = UpdateBody,
    params(("service" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = InstanceChange), (status = "4XX", body = ErrorBody)))]
async fn update_instance(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path((service, name)): Path<(String, String)>,
    bytes: axum::body::Bytes,
) -> Reply {
    authorize(&api, &headers, "UpdateServiceInstance").await?;
    let b: UpdateBody = json_body(&bytes)?;
    if b.description.is_some() {
        return Err(invalid("description: service instances have no description"));
    }
    let dep = api.svc.update_instance(&service, &name, b.update()?).await?;
    api.svc.signals().enqueued.notify_waiters();
    let i = api.svc.get_instance(&service, &name).await?;
    ok(InstanceChange { instance: InstanceView::from(&i), deployment_id: dep.map(|d| d.id) })
}

#[utoipa::path(get, path = "/api/v1/services/{service}/instances/{name}/outputs", tag = "services",
    params(("service" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = [OutputView]), (status = "4XX", body = ErrorBody)))]
async fn instance_outputs(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((service, name)): Path<(String, String)>) -> Reply {
    authorize(&api, &headers, "ListServiceInstanceOutputs").await?;
    api.svc.get_instance(&service, &name).await?;
    ok(outputs(api.svc.outputs(&Target::ServiceInstance { service, instance: name }).await?))
}

#[utoipa::path(get, path = "/api/v1/pipelines", tag = "services", params(VersionQuery),
    responses((status = 200, body = [PipelineView]), (status = "4XX", body = ErrorBody)))]
async fn list_pipelines(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<VersionQuery>) -> Reply {
    authorize(&api, &headers, "ListServicePipelines").await?;
    ok(api.svc.pipeline_views(&q.filter()?).await?)
}

#[utoipa::path(get, path = "/api/v1/services/{service}/pipeline", tag = "services", params(("service" = String, Path)),
    responses((status = 200, body = PipelineView), (status = "4XX", body = ErrorBody)))]
async fn get_pipeline(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(service): Path<String>) -> Reply {
    authorize(&api, &headers, "GetServicePipeline").await?;
    ok(api.svc.pipeline_view(&service).await?)
}

#[utoipa::path(patch, path = "/api/v1/services/{service}/pipeline", tag = "services", request_body = UpdateBody, params(("service" = String, Path)),
    responses((status = 200, body = PipelineView), (status = "4XX", body = ErrorBody)))]
async fn update_pipeline(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path(service): Path<String>,
    bytes: axum::body::Bytes,
) -> Reply {
    authorize(&api, &headers, "UpdateServicePipeline").await?;
    let b: UpdateBody = json_body(&bytes)?;
    api.svc.update_pipeline(&service, b.update()?).await?;
    api.svc.signals().enqueued.notify_waiters();
    ok(PipelineView::from(&api.svc.get_pipeline(&service).await?))
}

#[utoipa::path(get, path = "/api/v1/services/{service}/pipeline/outputs", tag = "services", params(("service" = String, Path)),
    responses((status = 200, body = [OutputView]), (status = "4XX", body = ErrorBody)))]
async fn pipeline_outputs(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(service): Path<String>) -> Reply {
    authorize(&api, &headers, "ListServicePipelineOutputs").await?;
    api.svc.get_pipeline(&service).await?;
    ok(outputs(api.svc.outputs(&Target::ServicePipeline(service)).await?))
}

// ---- components ----

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ComponentQuery {
    environment: Option<String>,
    service: Option<String>,
    instance: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/components", tag = "components", params(ComponentQuery),
    responses((status = 200, body = [ComponentView]), (status = "4XX", body = ErrorBody)))]
async fn list_components(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<ComponentQuery>) -> Reply {
    authorize(&api, &headers, "ListComponents").await?;
    let filter = ComponentFilter { environment_name: q.environment, service_name: q.service, service_instance_name: q.instance };
    ok(api.svc.list_components(&filter).await?.iter().map(ComponentView::from).collect::<Vec<_>>())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateComponentBody {
    name: String,
    description: Option<String>,
    /// For a component attached to no instance.
    environment_name: Option<String>,
    service_name: Option<String>,
    service_instance_name: Option<String>,
    /// The ServiceSpec an attached component reads its instance's inputs from.
    service_spec: Option<String>,
    /// The CloudFormation or Terraform file (contents).
    template_file: String,
    /// The component's manifest (contents).
    manifest: String,
}

/// A component and the deployment a change started.
#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentChange {
    component: ComponentView,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployment_id: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/components", tag = "components", request_body = CreateComponentBody,
    responses((status = 201, body = ComponentChange), (status = "4XX", body = ErrorBody)))]
async fn create_component(State(api): State<Arc<RestApi>>, headers: HeaderMap, bytes: axum::body::Bytes) -> Reply {
    authorize(&api, &headers, "CreateComponent").await?;
    let b: CreateComponentBody = json_body(&bytes)?;
    let (c, dep) = api
        .svc
        .create_component(CreateComponent {
            name: b.name,
            description: b.description,
            environment_name: b.environment_name,
            service_name: b.service_name,
            service_instance_name: b.service_instance_name,
            service_spec: b.service_spec,
            template_file: b.template_file,
            manifest: b.manifest,
            client_token: None,
        })
        .await?;
    api.svc.signals().enqueued.notify_waiters();
    created(ComponentChange { component: ComponentView::from(&c), deployment_id: Some(dep) })
}

#[utoipa::path(get, path = "/api/v1/components/{name}", tag = "components", params(("name" = String, Path)),
    responses((status = 200, body = ComponentView), (status = "4XX", body = ErrorBody)))]
async fn get_component(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    authorize(&api, &headers, "GetComponent").await?;
    ok(ComponentView::from(&api.svc.get_component(&name).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateComponentBody {
    /// `NONE` (description only) or `CURRENT_VERSION` (redeploy with the changes); default
    /// `CURRENT_VERSION` when anything but the description changes.
    deployment_type: Option<String>,
    description: Option<String>,
    /// Attach to this instance (with `serviceInstanceName`); `""` for both detaches.
    service_name: Option<String>,
    service_instance_name: Option<String>,
    service_spec: Option<String>,
    template_file: Option<String>,
    manifest: Option<String>,
}

#[utoipa::path(patch, path = "/api/v1/components/{name}", tag = "components", request_body = UpdateComponentBody, params(("name" = String, Path)),
    responses((status = 200, body = ComponentChange), (status = "4XX", body = ErrorBody)))]
async fn update_component(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    bytes: axum::body::Bytes,
) -> Reply {
    authorize(&api, &headers, "UpdateComponent").await?;
    let b: UpdateComponentBody = json_body(&bytes)?;
    let changes = b.service_name.is_some() || b.service_spec.is_some() || b.template_file.is_some() || b.manifest.is_some();
    let redeploy = match b.deployment_type.as_deref() {
        None => changes,
        Some("NONE") => false,
        Some("CURRENT_VERSION") => true,
        Some(other) => return Err(invalid(format!("deploymentType: {other:?} is neither NONE nor CURRENT_VERSION"))),
    };
    let (c, dep) = api
        .svc
        .update_component(
            &name,
            UpdateComponent {
                redeploy,
                description: b.description.map(Some),
                service_name: b.service_name,
                service_instance_name: b.service_instance_name,
                service_spec: b.service_spec,
                template_file: b.template_file,
                manifest: b.manifest,
                client_token: None,
            },
        )
        .await?;
    api.svc.signals().enqueued.notify_waiters();
    ok(ComponentChange { component: ComponentView::from(&c), deployment_id: dep.map(|d| d.id) })
}

#[utoipa::path(delete, path = "/api/v1/components/{name}", tag = "components", params(("name" = String, Path)),
    responses((status = 202, body = DeploymentView), (status = "4XX", body = ErrorBody)))]
async fn delete_component(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    authorize(&api, &headers, "DeleteComponent").await?;
    let d = api.svc.delete_component(&name).await?;
    api.svc.signals().enqueued.notify_waiters();
    Ok((StatusCode::ACCEPTED, axum::Json(DeploymentView::from(&d))).into_response())
}

#[utoipa::path(get, path = "/api/v1/components/{name}/outputs", tag = "components", params(("name" = String, Path)),
    responses((status = 200, body = [OutputView]), (status = "4XX", body = ErrorBody)))]
async fn component_outputs(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    authorize(&api, &headers, "ListComponentOutputs").await?;
    api.svc.get_component(&name).await?;
    ok(outputs(api.svc.outputs(&Target::Component(name)).await?))
}

// ---- deployments ----

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeploymentQuery {
    environment: Option<String>,
    service: Option<String>,
    /// Only this resource's: `SERVICE/INSTANCE`, an environment, a service's pipeline or a
    /// component (`env:`, `pipeline:`, `component:` in front when the name is more than one).
    resource: Option<String>,
    /// At most this many, newest first (default 50, at most 1000).
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/deployments", tag = "deployments", params(DeploymentQuery),
    responses((status = 200, body = [DeploymentView]), (status = "4XX", body = ErrorBody)))]
async fn list_deployments(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<DeploymentQuery>) -> Reply {
    authorize(&api, &headers, "ListDeployments").await?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(invalid("limit: must be between 1 and 1000"));
    }
    let target = match &q.resource {
        Some(r) => Some(api.svc.resource_target(r).await?),
        None => None,
    };
    let filter =
        DeploymentFilter { environment_name: q.environment, service_name: q.service, target, limit: Some(limit), ..Default::default() };
    ok(api.svc.list_deployments(&filter).await?.iter().map(DeploymentView::from).collect::<Vec<_>>())
}

#[utoipa::path(get, path = "/api/v1/deployments/{id}", tag = "deployments", params(("id" = String, Path)),
    responses((status = 200, body = DeploymentView), (status = "4XX", body = ErrorBody)))]
async fn get_deployment(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(id): Path<String>) -> Reply {
    authorize(&api, &headers, "GetDeployment").await?;
    ok(DeploymentView::from(&api.svc.get_deployment(&id).await?))
}

#[utoipa::path(post, path = "/api/v1/deployments/{id}/cancel", tag = "deployments", params(("id" = String, Path)),
    responses((status = 200, body = DeploymentView), (status = "4XX", body = ErrorBody)))]
async fn cancel_deployment(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(id): Path<String>) -> Reply {
    authorize(&api, &headers, "CancelDeployment").await?;
    ok(DeploymentView::from(&api.svc.cancel_deployment(&id).await?))
}

// ---- access keys ----

/// Which keys `GET /api/v1/keys` lists: people's keys by default.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KeyQuery {
    /// List the keys issued to deployments instead.
    deployments: bool,
    /// Only this deployment's keys (implies `deployments`).
    deployment: Option<String>,
    /// With `deployments`: also revoked and expired keys.
    all: bool,
}

#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", params(KeyQuery),
    responses((status = 200, body = [AccessKeyView]), (status = "4XX", body = ErrorBody)))]
async fn list_keys(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<KeyQuery>) -> Reply {
    authorize(&api, &headers, "ListAccessKeys").await?;
    let listing = if q.deployments || q.deployment.is_some() {
        KeyListing::Deployments { deployment_id: q.deployment, all: q.all }
    } else {
        KeyListing::People
    };
    ok(api.svc.list_access_keys(&listing).await?.iter().map(AccessKeyView::from).collect::<Vec<_>>())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    /// `admin`, `developer` or `viewer`.
    role: String,
    description: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", request_body = CreateKeyBody,
    responses((status = 201, description = "The key, with its secret (shown only now) as secretAccessKey", body = AccessKeyView), (status = "4XX", body = ErrorBody)))]
async fn create_key(State(api): State<Arc<RestApi>>, headers: HeaderMap, bytes: axum::body::Bytes) -> Reply {
    authorize(&api, &headers, "CreateAccessKey").await?;
    let b: CreateKeyBody = json_body(&bytes)?;
    let role = Role::parse(&b.role)
        .filter(|r| *r != Role::Deployment)
        .ok_or_else(|| invalid(format!("role: {:?} is not admin, developer or viewer", b.role)))?;
    let (rec, secret) = api.svc.create_access_key(role, b.description).await?;
    let mut v = serde_json::to_value(AccessKeyView::from(&rec)).expect("views serialise");
    v["secretAccessKey"] = json!(secret);
    created(v)
}

#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys", params(("id" = String, Path)),
    responses((status = 200, body = AccessKeyView), (status = "4XX", body = ErrorBody)))]
async fn revoke_key(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(id): Path<String>) -> Reply {
    authorize(&api, &headers, "DeleteAccessKey").await?;
    ok(AccessKeyView::from(&api.svc.revoke_access_key(&id).await?))
}

/// `GET /api/v1/openapi.json`: no key needed.
pub async fn openapi() -> Response {
    axum::Json(crate::openapi::document()).into_response()
}
