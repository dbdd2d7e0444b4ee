//! REST: Environments.

use super::*;

#[utoipa::path(get, path = "/api/v1/environments", tag = "environments", params(VersionQuery),
    responses((status = 200, body = [EnvironmentView]), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list_environments(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<VersionQuery>) -> Reply {
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
pub(crate) async fn create_environment(State(api): State<Arc<RestApi>>, headers: HeaderMap, bytes: axum::body::Bytes) -> Reply {
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
pub(crate) async fn get_environment(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    authorize(&api, &headers, "GetEnvironment").await?;
    ok(api.svc.environment_view(&name).await?)
}

#[utoipa::path(patch, path = "/api/v1/environments/{name}", tag = "environments", request_body = UpdateBody, params(("name" = String, Path)),
    responses((status = 200, body = EnvironmentChange), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn update_environment(
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
pub(crate) async fn delete_environment(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    authorize(&api, &headers, "DeleteEnvironment").await?;
    let d = api.svc.delete_environment(&name).await?;
    api.svc.signals().enqueued.notify_waiters();
    Ok((StatusCode::ACCEPTED, axum::Json(DeploymentView::from(&d))).into_response())
}

#[utoipa::path(get, path = "/api/v1/environments/{name}/outputs", tag = "environments", params(("name" = String, Path)),
    responses((status = 200, body = [OutputView]), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn environment_outputs(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    authorize(&api, &headers, "ListEnvironmentOutputs").await?;
    api.svc.get_environment(&name).await?;
    ok(outputs(api.svc.outputs(&Target::Environment(name)).await?))
}
