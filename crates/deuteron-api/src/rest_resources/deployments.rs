//! REST: Deployments.

use super::*;

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
pub(crate) async fn list_deployments(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<DeploymentQuery>) -> Reply {
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
pub(crate) async fn get_deployment(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(id): Path<String>) -> Reply {
    authorize(&api, &headers, "GetDeployment").await?;
    ok(DeploymentView::from(&api.svc.get_deployment(&id).await?))
}

#[utoipa::path(post, path = "/api/v1/deployments/{id}/cancel", tag = "deployments", params(("id" = String, Path)),
    responses((status = 200, body = DeploymentView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn cancel_deployment(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(id): Path<String>) -> Reply {
    authorize(&api, &headers, "CancelDeployment").await?;
    ok(DeploymentView::from(&api.svc.cancel_deployment(&id).await?))
}
