//! REST: Services, their instances and pipelines.

use super::*;

#[utoipa::path(get, path = "/api/v1/services", tag = "services",
    responses((status = 200, body = [ServiceView]), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list_services(State(api): State<Arc<RestApi>>, headers: HeaderMap) -> Reply {
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
pub(crate) async fn create_service(State(api): State<Arc<RestApi>>, headers: HeaderMap, bytes: axum::body::Bytes) -> Reply {
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
pub(crate) async fn get_service(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
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
pub(crate) async fn update_service(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    bytes: axum::body::Bytes,
) -> Reply {
    authorize(&api, &headers, "UpdateService").await?;
    let b: UpdateServiceBody = json_body(&bytes)?;
    let s = api.svc.update_service(&name, b.description.map(Some), b.spec).await?;
    api.svc.signals().enqueued.notify_waiters();
    ok(ServiceView::from(&s))
}

#[utoipa::path(delete, path = "/api/v1/services/{name}", tag = "services", params(("name" = String, Path)),
    responses((status = 202, description = "The deprovisioning deployments", body = [DeploymentView]), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn delete_service(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
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
pub(crate) async fn list_instances(
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
pub(crate) async fn get_instance(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path((service, name)): Path<(String, String)>,
) -> Reply {
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
pub(crate) async fn update_instance(
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
pub(crate) async fn instance_outputs(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path((service, name)): Path<(String, String)>,
) -> Reply {
    authorize(&api, &headers, "ListServiceInstanceOutputs").await?;
    api.svc.get_instance(&service, &name).await?;
    ok(outputs(api.svc.outputs(&Target::ServiceInstance { service, instance: name }).await?))
}

#[utoipa::path(get, path = "/api/v1/pipelines", tag = "services", params(VersionQuery),
    responses((status = 200, body = [PipelineView]), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list_pipelines(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<VersionQuery>) -> Reply {
    authorize(&api, &headers, "ListServicePipelines").await?;
    ok(api.svc.pipeline_views(&q.filter()?).await?)
}

#[utoipa::path(get, path = "/api/v1/services/{service}/pipeline", tag = "services", params(("service" = String, Path)),
    responses((status = 200, body = PipelineView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn get_pipeline(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(service): Path<String>) -> Reply {
    authorize(&api, &headers, "GetServicePipeline").await?;
    ok(api.svc.pipeline_view(&service).await?)
}

#[utoipa::path(patch, path = "/api/v1/services/{service}/pipeline", tag = "services", request_body = UpdateBody, params(("service" = String, Path)),
    responses((status = 200, body = PipelineView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn update_pipeline(
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
pub(crate) async fn pipeline_outputs(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(service): Path<String>) -> Reply {
    authorize(&api, &headers, "ListServicePipelineOutputs").await?;
    api.svc.get_pipeline(&service).await?;
    ok(outputs(api.svc.outputs(&Target::ServicePipeline(service)).await?))
}
