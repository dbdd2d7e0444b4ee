//! REST: Templates, their versions and the fleet summary.

use super::*;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KindQuery {
    /// `environment` or `service`.
    kind: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/templates", tag = "templates", params(KindQuery),
    responses((status = 200, body = [TemplateView]), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn list_templates(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<KindQuery>) -> Reply {
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
pub(crate) async fn create_template(State(api): State<Arc<RestApi>>, headers: HeaderMap, bytes: axum::body::Bytes) -> Reply {
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
pub(crate) async fn get_template(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((kind, name)): Path<(String, String)>) -> Reply {
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
pub(crate) async fn update_template(
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
pub(crate) async fn set_recommended_version(
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
pub(crate) async fn delete_template(
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
pub(crate) async fn fleet(State(api): State<Arc<RestApi>>, headers: HeaderMap, Query(q): Query<FleetQuery>) -> Reply {
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
pub(crate) async fn list_versions(
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
pub(crate) async fn register_version(
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

pub(crate) type VersionPath = Path<(String, String, String)>;

#[utoipa::path(get, path = "/api/v1/templates/{kind}/{name}/versions/{version}", tag = "templates",
    params(("kind" = String, Path), ("name" = String, Path), ("version" = String, Path, description = "M.m")),
    responses((status = 200, body = VersionView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn get_version(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((kind, name, version)): VersionPath) -> Reply {
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
pub(crate) async fn update_version(
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
pub(crate) async fn publish_version(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path((kind, name, version)): VersionPath,
) -> Reply {
    authorize(&api, &headers, "UpdateTemplateVersion").await?;
    ok(VersionView::from(&api.svc.publish(kind_of(&kind)?, &name, version_of("version", &version)?).await?))
}

#[utoipa::path(post, path = "/api/v1/templates/{kind}/{name}/versions/{version}/unblock", tag = "templates",
    params(("kind" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 200, body = VersionView), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn unblock_version(
    State(api): State<Arc<RestApi>>,
    headers: HeaderMap,
    Path((kind, name, version)): VersionPath,
) -> Reply {
    authorize(&api, &headers, "UpdateTemplateVersion").await?;
    ok(VersionView::from(&api.svc.unblock_version(kind_of(&kind)?, &name, version_of("version", &version)?).await?))
}

#[utoipa::path(delete, path = "/api/v1/templates/{kind}/{name}/versions/{version}", tag = "templates",
    params(("kind" = String, Path), ("name" = String, Path), ("version" = String, Path)),
    responses((status = 204), (status = "4XX", body = ErrorBody)))]
pub(crate) async fn delete_version(State(api): State<Arc<RestApi>>, headers: HeaderMap, Path((kind, name, version)): VersionPath) -> Reply {
    authorize(&api, &headers, "DeleteTemplateVersion").await?;
    api.svc.delete_version(kind_of(&kind)?, &name, version_of("version", &version)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
