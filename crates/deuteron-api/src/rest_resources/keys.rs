//! REST: Access keys.

use super::*;

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
pub(crate) async fn list_keys(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<KeyQuery>) -> Reply {
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
pub(crate) async fn create_key(State(api): State<Arc<RestApi>>, headers: HeaderMap, bytes: axum::body::Bytes) -> Reply {
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
pub(crate) async fn revoke_key(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path(id): Path<String>) -> Reply {
    authorize(&api, &headers, "DeleteAccessKey").await?;
    ok(AccessKeyView::from(&api.svc.revoke_access_key(&id).await?))
}
