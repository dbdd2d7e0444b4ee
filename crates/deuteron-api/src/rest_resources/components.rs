//! REST: Directly defined components.

use super::*;

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
pub(crate) async fn list_components(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<ComponentQuery>) -> Reply {
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
pub(crate) async fn create_component(State(api): State<Arc<RestApi>>, headers: HeaderMap, bytes: axum::body::Bytes) -> Reply {
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
pub(crate) async fn get_component(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
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
pub(crate) async fn update_component(
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
pub(crate) async fn delete_component(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    authorize(&api, &headers, "DeleteComponent").await?;
    let d = api.svc.delete_component(&name).await?;
    api.svc.signals().enqueued.notify_waiters();
    Ok((StatusCode::ACCEPTED, axum::Json(DeploymentView::from(&d))).into_response())
}

#[utoipa::path(get, path = "/api/v1/components/{name}/outputs", tag = "components", params(("name" = String, Path)),
    responses((status = 200, body = [OutputView]), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn component_outputs(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(name): Path<String>) -> Reply {
    authorize(&api, &headers, "ListComponentOutputs").await?;
    api.svc.get_component(&name).await?;
    ok(outputs(api.svc.outputs(&Target::Component(name)).await?))
}
