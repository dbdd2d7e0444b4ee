//! The console's pages: what each reads through the service layer and hands to its template.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use deuteron_bundle::{InputKind, SpecFile};
use deuteron_core::registry::Staleness;
use deuteron_core::{TemplateKind, TemplateVersionStatus, VersionNumber};
use deuteron_service::meta::{InstancePageQuery, VersionFilter};
use deuteron_service::views::{ComponentView, DeploymentView, EnvironmentView, LogLineView, ServiceView, VersionView};
use deuteron_store::{ComponentFilter, DeploymentFilter, JobState, Target};

use crate::auth::Session;
use crate::forms::{self, FormValues};
use crate::{Console, PAGE_SIZE};

pub(crate) type Page = Result<Response, Response>;

/// A total and the count per status.
type Tally = (i64, Vec<(String, i64)>);

/// A refused form shown again: what was typed and the errors by field name (`_form` for the
/// form as a whole).
#[derive(Clone, Copy)]
pub(crate) struct Shown<'a> {
    pub form: Option<&'a FormValues>,
    pub errors: &'a BTreeMap<String, String>,
}

/// Filters and paging of the list pages (each page uses the ones it shows).
#[derive(Debug, Clone, Default, serde::Deserialize, Serialize)]
pub struct ListQuery {
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "empty_none")]
    pub template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "empty_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "empty_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "empty_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "empty_none")]
    pub service: Option<String>,
    /// `BEHIND_MINOR`, `BEHIND_MAJOR`, `BEHIND` (either) or `UP_TO_DATE`.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "empty_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "empty_none")]
    pub page: Option<String>,
}

/// A filter left empty in a form means no filter.
fn empty_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
}

impl ListQuery {
    fn page(&self) -> usize {
        self.page.as_deref().and_then(|p| p.parse::<usize>().ok()).filter(|p| *p >= 1).unwrap_or(1)
    }

    fn url(&self, path: &str, page: usize) -> String {
        let q = ListQuery { page: (page > 1).then(|| page.to_string()), ..self.clone() };
        let qs = serde_urlencoded::to_string(&q).unwrap_or_default();
        if qs.is_empty() { path.to_string() } else { format!("{path}?{qs}") }
    }

    /// The version filter, or a message naming the bad filter.
    fn version_filter(&self) -> Result<VersionFilter, String> {
        let version = match &self.version {
            Some(v) => Some(v.parse::<VersionNumber>().map_err(|e| format!("version filter: {e}"))?),
            None => None,
        };
        let behind = match self.currency.as_deref() {
            None | Some("BEHIND") => None,
            Some("BEHIND_MINOR") => Some(Staleness::BehindMinor),
            Some("BEHIND_MAJOR") => Some(Staleness::BehindMajor),
            Some("UP_TO_DATE") => Some(Staleness::UpToDate),
            Some(other) => return Err(format!("currency {other:?}: expected UP_TO_DATE, BEHIND, BEHIND_MINOR or BEHIND_MAJOR")),
        };
        Ok(VersionFilter { template: self.template.clone(), version, behind })
    }

    fn keeps_currency(&self, status: Option<&str>) -> bool {
        self.currency.as_deref() != Some("BEHIND") || status.is_some_and(|s| s.starts_with("BEHIND"))
    }

    fn keeps_status(&self, status: &str) -> bool {
        self.status.as_deref().is_none_or(|s| s == status)
    }
}

/// One page of `items`, with links to the pages around it.
fn paged<T: Serialize>(items: &[T], q: &ListQuery, path: &str) -> Value {
    let page = q.page().min(items.len().div_ceil(PAGE_SIZE).max(1));
    let rows: Vec<&T> = items.iter().skip((page - 1) * PAGE_SIZE).take(PAGE_SIZE).collect();
    page_json(&rows, items.len(), page, q, path)
}

/// Page `page` holding `rows` of `total` items, with links to the pages around it.
fn page_json<T: Serialize>(rows: &[T], total: usize, page: usize, q: &ListQuery, path: &str) -> Value {
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let first = (page - 1) * PAGE_SIZE;
    json!({
        "rows": rows, "total": total, "page": page, "pages": pages,
        "first": first + usize::from(!rows.is_empty()), "last": first + rows.len(),
        "prev": (page > 1).then(|| q.url(path, page - 1)), "next": (page < pages).then(|| q.url(path, page + 1)),
    })
}

fn bad_filter(c: &Console, s: &Session, message: &str) -> Response {
    c.error_page(StatusCode::BAD_REQUEST, Some(s), message)
}

const DEPLOYMENT_STATUSES: &[&str] =
    &["IN_PROGRESS", "FAILED", "SUCCEEDED", "DELETE_IN_PROGRESS", "DELETE_FAILED", "DELETE_COMPLETE", "CANCELLING", "CANCELLED"];

/// The names of the templates of a kind, for filter menus.
async fn template_names(c: &Console, kind: TemplateKind) -> Result<Vec<String>, deuteron_service::ServiceError> {
    Ok(c.svc.list_templates(Some(kind)).await?.into_iter().map(|t| t.name).collect())
}

pub async fn overview(State(c): State<Arc<Console>>, headers: HeaderMap, uri: Uri) -> Page {
    let s = c.session(&headers, &uri).await?;
    let fail = |e: deuteron_service::ServiceError| c.service_error(Some(&s), &e);
    let counts = c.svc.status_counts().await.map_err(fail)?;
    let mut by_resource: BTreeMap<&str, Tally> = BTreeMap::new();
    for k in ["environment", "service", "service_instance", "pipeline", "component", "deployment"] {
        by_resource.insert(k, (0, Vec::new()));
    }
    for n in &counts {
        if let Some(e) = by_resource.get_mut(n.resource.as_str()) {
            e.0 += n.count;
            e.1.push((n.status.clone(), n.count));
        }
    }
    let label = |k: &str| match k {
        "environment" => ("Environments", "/environments"),
        "service" => ("Services", "/services"),
        "service_instance" => ("Service instances", "/instances"),
        "pipeline" => ("Pipelines", "/pipelines"),
        "component" => ("Components", "/components"),
        _ => ("Deployments", "/deployments"),
    };
    let summary: Vec<Value> = by_resource
        .iter()
        .map(|(k, (total, statuses))| {
            let (name, link) = label(k);
            let filterable = *k != "service";
            json!({"name": name, "link": link, "total": total,
                   "statuses": statuses.iter().map(|(st, n)| json!({"status": st, "count": n,
                       "link": filterable.then(|| format!("{link}?status={st}"))})).collect::<Vec<_>>()})
        })
        .collect();
    let fleet: Vec<Value> = c
        .svc
        .template_fleet(None, None)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|f| {
            let used: Vec<Value> = f
                .versions
                .iter()
                .map(|v| (v, v.environments + v.service_instances + v.pipelines))
                .filter(|(_, n)| *n > 0)
                .map(|(v, n)| json!({"version": v.version, "count": n}))
                .collect();
            let mut row = json!(f);
            row["used"] = json!(used);
            row
        })
        .collect();
    let behind_q = InstancePageQuery { currency: vec![Staleness::BehindMinor, Staleness::BehindMajor], limit: 25, ..Default::default() };
    let (behind, behind_total) = c.svc.instance_page(&behind_q).await.map_err(fail)?;
    // A minor update keeps the spec, so it is one click; a major one needs the inputs reviewed.
    let behind: Vec<Value> = behind
        .iter()
        .map(|i| {
            let cur = i.currency.as_ref();
            let one_click = cur
                .filter(|c| c.template_version_status == "BEHIND_MINOR")
                .and_then(|c| c.recommended_version.clone())
                .filter(|r| r.split('.').next() == Some(i.template_major_version.as_str()));
            json!({"i": i, "update_to": one_click})
        })
        .collect();
    Ok(c.render(
        StatusCode::OK,
        "overview.html",
        Some(&s),
        json!({"title": "Overview", "nav": "overview", "summary": summary, "fleet": fleet, "behind": behind, "behind_total": behind_total}),
    ))
}

pub async fn templates(State(c): State<Arc<Console>>, headers: HeaderMap, uri: Uri) -> Page {
    let s = c.session(&headers, &uri).await?;
    let list = c.svc.list_templates(None).await.map_err(|e| c.service_error(Some(&s), &e))?;
    let fleet = c.svc.template_fleet(None, None).await.map_err(|e| c.service_error(Some(&s), &e))?;
    let rows: Vec<Value> = list
        .iter()
        .map(|t| {
            let f = fleet.iter().find(|f| f.name == t.name && f.kind == t.kind.to_string());
            json!({"t": deuteron_service::views::TemplateView::from(t), "fleet": f})
        })
        .collect();
    Ok(c.render(StatusCode::OK, "templates.html", Some(&s), json!({"title": "Templates", "nav": "templates", "rows": rows})))
}

#[derive(Debug, serde::Deserialize)]
pub struct VersionQuery {
    pub version: Option<String>,
}

/// The input types of a template kind: title and field prefix of each one's preview form.
fn input_kinds(kind: TemplateKind) -> &'static [(InputKind, &'static str, &'static str)] {
    match kind {
        TemplateKind::Environment => &[(InputKind::Environment, "Environment inputs", "preview-environment")],
        TemplateKind::Service => &[
            (InputKind::ServiceInstance, "Service instance inputs", "preview-instance"),
            (InputKind::Pipeline, "Pipeline inputs", "preview-pipeline"),
        ],
    }
}

pub async fn template(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    uri: Uri,
    Path((kind, name)): Path<(String, String)>,
    Query(q): Query<VersionQuery>,
) -> Page {
    let s = c.session(&headers, &uri).await?;
    let fail = |e: deuteron_service::ServiceError| c.service_error(Some(&s), &e);
    let kind =
        TemplateKind::parse(&kind).ok_or_else(|| c.error_page(StatusCode::NOT_FOUND, Some(&s), &format!("no template kind {kind:?}")))?;
    let t = c.svc.get_template(kind, &name).await.map_err(fail)?;
    let versions = c.svc.list_versions(kind, &name, None).await.map_err(fail)?;
    let fleet = c.svc.template_fleet(Some(kind), Some(&name)).await.map_err(fail)?.into_iter().next();
    let chosen = match q.version.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => Some(v.parse::<VersionNumber>().map_err(|e| bad_filter(&c, &s, &format!("version: {e}")))?),
        None => t.recommended.or_else(|| versions.last().map(|v| v.version)),
    };
    let selected = chosen.and_then(|v| versions.iter().find(|x| x.version == v));
    if let (Some(v), None) = (chosen, selected) {
        return Err(c.error_page(StatusCode::NOT_FOUND, Some(&s), &format!("{kind} template {name} has no version {v}")));
    }
    let mut preview = Vec::new();
    let mut users = Vec::new();
    if let Some(v) = selected {
        if let Ok(schema) = c.svc.compiled_schema(&v.schema) {
            for (ik, title, prefix) in input_kinds(kind) {
                if let Some(js) = schema.json_schema(*ik) {
                    preview.push(json!({"title": title, "type_name": schema.type_name(*ik),
                        "fields": forms::fields(js, prefix, None, &Value::Null, &BTreeMap::new())}));
                }
            }
        }
        users = c
            .svc
            .version_usage(kind, &name, Some(v.version))
            .await
            .map_err(fail)?
            .into_iter()
            .take(200)
            .map(|u| {
                let link = match u.kind {
                    "environment" => format!("/environments/{}", u.name),
                    "service instance" => {
                        let (svc, inst) = u.name.split_once('/').unwrap_or((&u.name, ""));
                        format!("/services/{svc}/instances/{inst}")
                    }
                    _ => format!("/services/{}", u.name),
                };
                json!({"kind": u.kind, "name": u.name, "link": link})
            })
            .collect();
    }
    let views: Vec<Value> = versions
        .iter()
        .rev()
        .map(|v| {
            let usage = fleet.as_ref().and_then(|f| f.versions.iter().find(|u| u.version == v.version.to_string()));
            json!({"v": VersionView::from(v), "usage": usage, "draft": v.status == TemplateVersionStatus::Draft,
                   "recommended": t.recommended == Some(v.version),
                   "would_recommend": v.status == TemplateVersionStatus::Draft && t.pinned.is_none() && t.recommended.is_none_or(|r| v.version > r),
                   "may_recommend": v.status == TemplateVersionStatus::Published && t.recommended != Some(v.version)})
        })
        .collect();
    Ok(c.render(
        StatusCode::OK,
        "template.html",
        Some(&s),
        json!({"title": format!("{kind} template {name}"), "nav": "templates", "t": deuteron_service::views::TemplateView::from(&t),
               "kind": kind.to_string(), "versions": views, "fleet": fleet, "selected": selected.map(VersionView::from),
               "preview": preview, "users": users}),
    ))
}

pub async fn environments(State(c): State<Arc<Console>>, headers: HeaderMap, uri: Uri, Query(q): Query<ListQuery>) -> Page {
    let s = c.session(&headers, &uri).await?;
    let filter = q.version_filter().map_err(|m| bad_filter(&c, &s, &m))?;
    let list: Vec<EnvironmentView> = c
        .svc
        .environment_views(&filter)
        .await
        .map_err(|e| c.service_error(Some(&s), &e))?
        .into_iter()
        .filter(|e| q.keeps_status(&e.deployment.deployment_status))
        .filter(|e| q.keeps_currency(e.currency.as_ref().map(|c| c.template_version_status.as_str())))
        .collect();
    let names = template_names(&c, TemplateKind::Environment).await.map_err(|e| c.service_error(Some(&s), &e))?;
    Ok(c.render(
        StatusCode::OK,
        "environments.html",
        Some(&s),
        json!({"title": "Environments", "nav": "environments", "q": q, "list": paged(&list, &q, "/environments"),
               "templates": names, "statuses": DEPLOYMENT_STATUSES}),
    ))
}

/// The spec inputs of an environment (its stored EnvironmentSpec).
fn environment_inputs(spec: &str) -> Value {
    match SpecFile::parse("spec", spec) {
        Ok(SpecFile::Environment(e)) => e.spec,
        _ => Value::Null,
    }
}

/// The inputs of a service instance (its stored `{name, environment, spec}`).
fn instance_inputs(spec: &str) -> Value {
    serde_json::from_str::<Value>(spec).ok().and_then(|v| v.get("spec").cloned()).unwrap_or(Value::Null)
}

/// Versions a resource may move to (published, at or after its own), and the input fields of the
/// chosen one (`form` and `errors` after a refused submission).
pub(crate) async fn update_form(
    c: &Console,
    kind: TemplateKind,
    template: &str,
    current: VersionNumber,
    chosen: Option<VersionNumber>,
    inputs: &Value,
    shown: Shown<'_>,
) -> Result<Value, deuteron_service::ServiceError> {
    let Shown { form, errors } = shown;
    let versions = c.svc.list_versions(kind, template, None).await?;
    let targets: Vec<String> = versions
        .iter()
        .filter(|v| v.status == TemplateVersionStatus::Published && v.version >= current)
        .map(|v| v.version.to_string())
        .collect();
    let chosen = chosen.unwrap_or(current);
    let input_kind = if kind == TemplateKind::Environment { InputKind::Environment } else { InputKind::ServiceInstance };
    let fields = match versions.iter().find(|v| v.version == chosen) {
        Some(v) => c
            .svc
            .compiled_schema(&v.schema)?
            .json_schema(input_kind)
            .map(|js| forms::fields(js, "in", form, inputs, errors))
            .unwrap_or_default(),
        None => Vec::new(),
    };
    Ok(
        json!({"targets": targets, "chosen": chosen.to_string(), "current": current.to_string(), "fields": fields, "errors": errors.get("_form")}),
    )
}

async fn deployment_history(c: &Console, target: Target) -> Result<Vec<Value>, deuteron_service::ServiceError> {
    let list = c.svc.list_deployments(&DeploymentFilter { target: Some(target), limit: Some(50), ..Default::default() }).await?;
    Ok(with_short_ids(list.iter().map(DeploymentView::from).collect()))
}

/// Deployments as pages list them: each with `shortId`, the shortest prefix of its id that
/// tells the listed ones apart (UUIDv7s share their first characters).
fn with_short_ids(list: Vec<DeploymentView>) -> Vec<Value> {
    let short = deuteron_core::ids::short_forms(&list.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), 8);
    list.iter()
        .zip(short)
        .map(|(d, id)| {
            let mut v = serde_json::to_value(d).expect("views serialise");
            v["shortId"] = json!(id);
            v
        })
        .collect()
}

async fn outputs(c: &Console, target: &Target) -> Result<Vec<Value>, deuteron_service::ServiceError> {
    Ok(c.svc.outputs(target).await?.into_iter().map(|(k, v)| json!({"key": k, "value": v})).collect())
}

pub(crate) async fn environment_page(
    c: &Console,
    s: &Session,
    name: &str,
    chosen: Option<VersionNumber>,
    form: Option<&FormValues>,
    errors: &BTreeMap<String, String>,
) -> Page {
    let fail = |e: deuteron_service::ServiceError| c.service_error(Some(s), &e);
    let env = c.svc.environment_view(name).await.map_err(fail)?;
    let target = Target::Environment(name.to_string());
    let rec = c.svc.get_environment(name).await.map_err(fail)?;
    let update = update_form(
        c,
        TemplateKind::Environment,
        &env.template_name,
        rec.version,
        chosen,
        &environment_inputs(&env.spec),
        Shown { form, errors },
    )
    .await
    .map_err(fail)?;
    let here = InstancePageQuery { environment: Some(name.to_string()), limit: 100, ..Default::default() };
    let (instances, instance_total) = c.svc.instance_page(&here).await.map_err(fail)?;
    Ok(c.render(
        form_status(errors),
        "environment.html",
        Some(s),
        json!({"title": format!("Environment {name}"), "nav": "environments", "e": env,
               "outputs": outputs(c, &target).await.map_err(fail)?, "history": deployment_history(c, target).await.map_err(fail)?,
               "update": update, "instances": instances, "instance_total": instance_total}),
    ))
}

pub async fn environment(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    uri: Uri,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Page {
    let s = c.session(&headers, &uri).await?;
    let chosen = parse_version_opt(q.version.as_deref()).map_err(|m| bad_filter(&c, &s, &m))?;
    environment_page(&c, &s, &name, chosen, None, &BTreeMap::new()).await
}

fn parse_version_opt(raw: Option<&str>) -> Result<Option<VersionNumber>, String> {
    match raw.filter(|v| !v.is_empty()) {
        Some(v) => v.parse::<VersionNumber>().map(Some).map_err(|e| format!("version: {e}")),
        None => Ok(None),
    }
}

#[derive(Debug, Default, serde::Deserialize)]
pub struct NewQuery {
    pub template: Option<String>,
    pub version: Option<String>,
    pub instances: Option<usize>,
}

/// The published versions of a template, newest first, and the one to use (`wanted`, else the
/// recommended one).
pub(crate) async fn deployable_versions(
    c: &Console,
    kind: TemplateKind,
    template: &str,
    wanted: Option<&str>,
) -> Result<(Vec<String>, Option<deuteron_store::VersionRecord>), deuteron_service::ServiceError> {
    let mut published: Vec<deuteron_store::VersionRecord> =
        c.svc.list_versions(kind, template, None).await?.into_iter().filter(|v| v.status == TemplateVersionStatus::Published).collect();
    published.reverse();
    let names = published.iter().map(|v| v.version.to_string()).collect();
    let chosen = match wanted.filter(|w| !w.is_empty()) {
        Some(w) => published.into_iter().find(|v| v.version.to_string() == w),
        None => published.into_iter().next(),
    };
    Ok((names, chosen))
}

/// The version a create form deploys (`wanted`, else the newest published one), the published
/// versions to choose from and the version's compiled schema; an error page when there is none.
pub(crate) async fn form_version(
    c: &Console,
    s: &Session,
    kind: TemplateKind,
    template: &str,
    wanted: Option<&str>,
) -> Result<(Vec<String>, deuteron_store::VersionRecord, Arc<deuteron_bundle::TemplateSchema>), Response> {
    let fail = |e: deuteron_service::ServiceError| c.service_error(Some(s), &e);
    let (versions, chosen) = deployable_versions(c, kind, template, wanted).await.map_err(fail)?;
    let Some(v) = chosen else {
        let which = wanted.map_or_else(|| "no published version".to_string(), |w| format!("no published version {w}"));
        return Err(c.error_page(StatusCode::BAD_REQUEST, Some(s), &format!("{kind} template {template} has {which} to deploy")));
    };
    let schema = c.svc.compiled_schema(&v.schema).map_err(fail)?;
    Ok((versions, v, schema))
}

/// What every create form shows: the template menu, and after a refused post what was typed and
/// the errors; with a template chosen, its versions and the one deployed.
async fn create_form_context(
    c: &Console,
    s: &Session,
    kind: TemplateKind,
    title: &str,
    q: &NewQuery,
    shown: Shown<'_>,
) -> Result<(Value, Option<(deuteron_store::VersionRecord, Arc<deuteron_bundle::TemplateSchema>)>), Response> {
    let templates = template_names(c, kind).await.map_err(|e| c.service_error(Some(s), &e))?;
    let nav = if kind == TemplateKind::Environment { "environments" } else { "services" };
    let mut ctx = json!({"title": title, "nav": nav, "templates": templates, "form_errors": shown.errors.get("_form"),
                         "values": shown.form.map(|f| f.iter().cloned().collect::<BTreeMap<_, _>>()), "errors": shown.errors});
    let Some(t) = q.template.as_deref().filter(|t| !t.is_empty()) else { return Ok((ctx, None)) };
    let (versions, v, schema) = form_version(c, s, kind, t, q.version.as_deref()).await?;
    ctx["template"] = json!(t);
    ctx["versions"] = json!(versions);
    ctx["version"] = json!(v.version.to_string());
    Ok((ctx, Some((v, schema))))
}

fn form_status(errors: &BTreeMap<String, String>) -> StatusCode {
    if errors.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY }
}

/// The new-environment form (a template picker first).
pub(crate) async fn environment_new_page(
    c: &Console,
    s: &Session,
    q: &NewQuery,
    form: Option<&FormValues>,
    errors: &BTreeMap<String, String>,
) -> Page {
    let (mut ctx, chosen) = create_form_context(c, s, TemplateKind::Environment, "New environment", q, Shown { form, errors }).await?;
    if let Some((_, schema)) = chosen {
        let fields =
            schema.json_schema(InputKind::Environment).map(|js| forms::fields(js, "in", form, &Value::Null, errors)).unwrap_or_default();
        ctx["fields"] = json!(fields);
    }
    Ok(c.render(form_status(errors), "environment_new.html", Some(s), ctx))
}

pub async fn environment_new(State(c): State<Arc<Console>>, headers: HeaderMap, uri: Uri, Query(q): Query<NewQuery>) -> Page {
    let s = c.session(&headers, &uri).await?;
    environment_new_page(&c, &s, &q, None, &BTreeMap::new()).await
}

pub async fn services(State(c): State<Arc<Console>>, headers: HeaderMap, uri: Uri, Query(q): Query<ListQuery>) -> Page {
    let s = c.session(&headers, &uri).await?;
    let list: Vec<ServiceView> = c
        .svc
        .list_services()
        .await
        .map_err(|e| c.service_error(Some(&s), &e))?
        .iter()
        .filter(|x| q.template.as_deref().is_none_or(|t| t == x.template_name) && q.keeps_status(x.status.as_str()))
        .map(ServiceView::from)
        .collect();
    let names = template_names(&c, TemplateKind::Service).await.map_err(|e| c.service_error(Some(&s), &e))?;
    let statuses =
        ["ACTIVE", "CREATE_IN_PROGRESS", "CREATE_FAILED", "UPDATE_IN_PROGRESS", "UPDATE_FAILED", "DELETE_IN_PROGRESS", "DELETE_FAILED"];
    Ok(c.render(
        StatusCode::OK,
        "services.html",
        Some(&s),
        json!({"title": "Services", "nav": "services", "q": q, "list": paged(&list, &q, "/services"), "templates": names, "statuses": statuses}),
    ))
}

pub async fn service(State(c): State<Arc<Console>>, headers: HeaderMap, uri: Uri, Path(name): Path<String>) -> Page {
    let s = c.session(&headers, &uri).await?;
    let fail = |e: deuteron_service::ServiceError| c.service_error(Some(&s), &e);
    let svc = c.svc.get_service(&name).await.map_err(fail)?;
    let instances = c.svc.instance_views(Some(&name), None, &VersionFilter::default()).await.map_err(fail)?;
    let pipeline = match c.svc.pipeline_view(&name).await {
        Ok(p) => Some(p),
        Err(deuteron_service::ServiceError::NotFound(_)) => None,
        Err(e) => return Err(fail(e)),
    };
    let pipeline_outputs = match &pipeline {
        Some(_) => outputs(&c, &Target::ServicePipeline(name.clone())).await.map_err(fail)?,
        None => Vec::new(),
    };
    let history = with_short_ids(
        c.svc
            .list_deployments(&DeploymentFilter { service_name: Some(name.clone()), limit: Some(50), ..Default::default() })
            .await
            .map_err(fail)?
            .iter()
            .map(DeploymentView::from)
            .collect(),
    );
    Ok(c.render(
        StatusCode::OK,
        "service.html",
        Some(&s),
        json!({"title": format!("Service {name}"), "nav": "services", "s": ServiceView::from(&svc), "instances": instances,
               "pipeline": pipeline, "pipeline_outputs": pipeline_outputs, "history": history}),
    ))
}

/// Instance rows of the new-service form.
const MAX_FORM_INSTANCES: usize = 20;

pub(crate) async fn service_new_page(
    c: &Console,
    s: &Session,
    q: &NewQuery,
    form: Option<&FormValues>,
    errors: &BTreeMap<String, String>,
) -> Page {
    let fail = |e: deuteron_service::ServiceError| c.service_error(Some(s), &e);
    let (mut ctx, chosen) = create_form_context(c, s, TemplateKind::Service, "New service", q, Shown { form, errors }).await?;
    if let Some((v, schema)) = chosen {
        let count = q.instances.unwrap_or(1).clamp(1, MAX_FORM_INSTANCES);
        // Environments whose template this version is compatible with.
        let envs: Vec<String> = c
            .svc
            .list_environments()
            .await
            .map_err(fail)?
            .into_iter()
            .filter(|e| {
                v.compatible_environments.iter().any(|ce| ce.template_name == e.template_name && ce.major_version == e.version.major)
            })
            .map(|e| e.name)
            .collect();
        let instance_schema = schema.json_schema(InputKind::ServiceInstance);
        let rows: Vec<Value> = (0..count)
            .map(|n| {
                let prefix = format!("i{n}");
                json!({"prefix": prefix, "n": n + 1,
                       "fields": instance_schema.map(|js| forms::fields(js, &prefix, form, &Value::Null, errors)).unwrap_or_default()})
            })
            .collect();
        let pipeline = schema.json_schema(InputKind::Pipeline).map(|js| forms::fields(js, "pipeline", form, &Value::Null, errors));
        ctx["environments"] = json!(envs);
        ctx["instances"] = json!(rows);
        ctx["count"] = json!(count);
        ctx["more"] = json!((count < MAX_FORM_INSTANCES).then(|| format!(
            "/services/new?template={}&version={}&instances={}",
            v.template_name,
            v.version,
            count + 1
        )));
        ctx["pipeline"] = json!(pipeline);
    }
    Ok(c.render(form_status(errors), "service_new.html", Some(s), ctx))
}

pub async fn service_new(State(c): State<Arc<Console>>, headers: HeaderMap, uri: Uri, Query(q): Query<NewQuery>) -> Page {
    let s = c.session(&headers, &uri).await?;
    service_new_page(&c, &s, &q, None, &BTreeMap::new()).await
}

pub(crate) async fn instance_page(
    c: &Console,
    s: &Session,
    service: &str,
    name: &str,
    chosen: Option<VersionNumber>,
    form: Option<&FormValues>,
    errors: &BTreeMap<String, String>,
) -> Page {
    let fail = |e: deuteron_service::ServiceError| c.service_error(Some(s), &e);
    let inst = c.svc.instance_view(service, name).await.map_err(fail)?;
    let rec = c.svc.get_instance(service, name).await.map_err(fail)?;
    let target = Target::ServiceInstance { service: service.to_string(), instance: name.to_string() };
    let update = update_form(
        c,
        TemplateKind::Service,
        &inst.template_name,
        rec.version,
        chosen,
        &instance_inputs(&inst.spec),
        Shown { form, errors },
    )
    .await
    .map_err(fail)?;
    let components: Vec<ComponentView> = c
        .svc
        .list_components(&ComponentFilter {
            service_name: Some(service.to_string()),
            service_instance_name: Some(name.to_string()),
            ..Default::default()
        })
        .await
        .map_err(fail)?
        .iter()
        .map(ComponentView::from)
        .collect();
    Ok(c.render(
        form_status(errors),
        "instance.html",
        Some(s),
        json!({"title": format!("Service instance {service}/{name}"), "nav": "instances", "i": inst,
               "inputs": serde_json::to_string_pretty(&instance_inputs(&inst.spec)).unwrap_or_default(),
               "outputs": outputs(c, &target).await.map_err(fail)?, "history": deployment_history(c, target).await.map_err(fail)?,
               "update": update, "components": components}),
    ))
}

pub async fn instance(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    uri: Uri,
    Path((service, name)): Path<(String, String)>,
    Query(q): Query<VersionQuery>,
) -> Page {
    let s = c.session(&headers, &uri).await?;
    let chosen = parse_version_opt(q.version.as_deref()).map_err(|m| bad_filter(&c, &s, &m))?;
    instance_page(&c, &s, &service, &name, chosen, None, &BTreeMap::new()).await
}

pub async fn instances(State(c): State<Arc<Console>>, headers: HeaderMap, uri: Uri, Query(q): Query<ListQuery>) -> Page {
    let s = c.session(&headers, &uri).await?;
    let filter = q.version_filter().map_err(|m| bad_filter(&c, &s, &m))?;
    let currency = match (q.currency.as_deref(), filter.behind) {
        (Some("BEHIND"), _) => vec![Staleness::BehindMinor, Staleness::BehindMajor],
        (_, Some(one)) => vec![one],
        _ => Vec::new(),
    };
    let page = q.page();
    let query = InstancePageQuery {
        service: q.service.clone(),
        environment: q.environment.clone(),
        template: filter.template,
        version: filter.version,
        status: q.status.clone(),
        currency,
        offset: i64::try_from((page - 1) * PAGE_SIZE).unwrap_or(0),
        limit: i64::try_from(PAGE_SIZE).unwrap_or(50),
    };
    // Paged by the store: only this page's rows are read.
    let (rows, total) = c.svc.instance_page(&query).await.map_err(|e| c.service_error(Some(&s), &e))?;
    let list = page_json(&rows, usize::try_from(total).unwrap_or(usize::MAX), page, &q, "/instances");
    let names = template_names(&c, TemplateKind::Service).await.map_err(|e| c.service_error(Some(&s), &e))?;
    Ok(c.render(
        StatusCode::OK,
        "instances.html",
        Some(&s),
        json!({"title": "Service instances", "nav": "instances", "q": q, "list": list, "templates": names, "statuses": DEPLOYMENT_STATUSES}),
    ))
}

pub async fn pipelines(State(c): State<Arc<Console>>, headers: HeaderMap, uri: Uri, Query(q): Query<ListQuery>) -> Page {
    let s = c.session(&headers, &uri).await?;
    let filter = q.version_filter().map_err(|m| bad_filter(&c, &s, &m))?;
    let list: Vec<_> = c
        .svc
        .pipeline_views(&filter)
        .await
        .map_err(|e| c.service_error(Some(&s), &e))?
        .into_iter()
        .filter(|p| q.keeps_status(&p.deployment.deployment_status) && q.service.as_deref().is_none_or(|x| x == p.service_name))
        .filter(|p| q.keeps_currency(p.currency.as_ref().map(|c| c.template_version_status.as_str())))
        .collect();
    let names = template_names(&c, TemplateKind::Service).await.map_err(|e| c.service_error(Some(&s), &e))?;
    Ok(c.render(
        StatusCode::OK,
        "pipelines.html",
        Some(&s),
        json!({"title": "Pipelines", "nav": "pipelines", "q": q, "list": paged(&list, &q, "/pipelines"), "templates": names,
               "statuses": DEPLOYMENT_STATUSES}),
    ))
}

pub async fn components(State(c): State<Arc<Console>>, headers: HeaderMap, uri: Uri, Query(q): Query<ListQuery>) -> Page {
    let s = c.session(&headers, &uri).await?;
    let filter = ComponentFilter { environment_name: q.environment.clone(), service_name: q.service.clone(), ..Default::default() };
    let list: Vec<ComponentView> = c
        .svc
        .list_components(&filter)
        .await
        .map_err(|e| c.service_error(Some(&s), &e))?
        .iter()
        .filter(|x| q.keeps_status(x.deployment.status.as_str()))
        .map(ComponentView::from)
        .collect();
    Ok(c.render(
        StatusCode::OK,
        "components.html",
        Some(&s),
        json!({"title": "Components", "nav": "components", "q": q, "list": paged(&list, &q, "/components"), "statuses": DEPLOYMENT_STATUSES}),
    ))
}

pub async fn component(State(c): State<Arc<Console>>, headers: HeaderMap, uri: Uri, Path(name): Path<String>) -> Page {
    let s = c.session(&headers, &uri).await?;
    let fail = |e: deuteron_service::ServiceError| c.service_error(Some(&s), &e);
    let comp = c.svc.get_component(&name).await.map_err(fail)?;
    let target = Target::Component(name.clone());
    Ok(c.render(
        StatusCode::OK,
        "component.html",
        Some(&s),
        json!({"title": format!("Component {name}"), "nav": "components", "x": ComponentView::from(&comp),
               "outputs": outputs(&c, &target).await.map_err(fail)?, "history": deployment_history(&c, target).await.map_err(fail)?}),
    ))
}

pub async fn deployments(State(c): State<Arc<Console>>, headers: HeaderMap, uri: Uri, Query(q): Query<ListQuery>) -> Page {
    let s = c.session(&headers, &uri).await?;
    let page = q.page();
    // The store pages deployments itself (there are many more of them than of anything else).
    let filter = DeploymentFilter {
        environment_name: q.environment.clone(),
        service_name: q.service.clone(),
        status: q.status.clone(),
        limit: Some(i64::try_from(PAGE_SIZE + 1).unwrap_or(51)),
        offset: i64::try_from((page - 1) * PAGE_SIZE).unwrap_or(0),
        ..Default::default()
    };
    let mut list: Vec<DeploymentView> =
        c.svc.list_deployments(&filter).await.map_err(|e| c.service_error(Some(&s), &e))?.iter().map(DeploymentView::from).collect();
    let more = list.len() > PAGE_SIZE;
    list.truncate(PAGE_SIZE);
    let paging = json!({"rows": with_short_ids(list), "page": page, "prev": (page > 1).then(|| q.url("/deployments", page - 1)),
                        "next": more.then(|| q.url("/deployments", page + 1))});
    Ok(c.render(
        StatusCode::OK,
        "deployments.html",
        Some(&s),
        json!({"title": "Deployments", "nav": "deployments", "q": q, "list": paging, "statuses": DEPLOYMENT_STATUSES}),
    ))
}

/// The page of the resource a deployment targets.
pub(crate) fn target_link(d: &DeploymentView) -> Option<String> {
    match d.target_resource_type.as_str() {
        "ENVIRONMENT" => d.environment_name.as_ref().map(|e| format!("/environments/{e}")),
        "SERVICE_INSTANCE" => Some(format!("/services/{}/instances/{}", d.service_name.as_deref()?, d.service_instance_name.as_deref()?)),
        "SERVICE_PIPELINE" => d.service_name.as_ref().map(|x| format!("/services/{x}")),
        "COMPONENT" => d.component_name.as_ref().map(|x| format!("/components/{x}")),
        _ => None,
    }
}

/// The Proton operation that cancels a deployment of this kind of resource.
pub(crate) fn cancel_operation(target_type: &str) -> &'static str {
    match target_type {
        "ENVIRONMENT" => "CancelEnvironmentDeployment",
        "SERVICE_PIPELINE" => "CancelServicePipelineDeployment",
        "COMPONENT" => "CancelComponentDeployment",
        _ => "CancelServiceInstanceDeployment",
    }
}

pub async fn deployment(State(c): State<Arc<Console>>, headers: HeaderMap, uri: Uri, Path(id): Path<String>) -> Page {
    let s = c.session(&headers, &uri).await?;
    let fail = |e: deuteron_service::ServiceError| c.service_error(Some(&s), &e);
    let d = c.svc.get_deployment(&id).await.map_err(fail)?;
    let log: Vec<LogLineView> = c.svc.deployment_log(&id, 0).await.map_err(fail)?.iter().map(LogLineView::from).collect();
    let view = DeploymentView::from(&d);
    let running = d.job_state != JobState::Done;
    let pretty = |v: &deuteron_store::ResourceState| serde_json::to_string_pretty(v).unwrap_or_default();
    Ok(c.render(
        StatusCode::OK,
        "deployment.html",
        Some(&s),
        json!({"title": format!("Deployment {id}"), "nav": "deployments", "d": view, "log": log, "running": running,
               "after": log.last().map_or(0, |l| l.seq), "link": target_link(&view),
               "may_cancel": running && s.may(cancel_operation(&view.target_resource_type)),
               "initial": d.initial_state.as_ref().map(pretty), "target": pretty(&d.target_state)}),
    ))
}

#[derive(Debug, serde::Deserialize)]
pub struct AfterQuery {
    #[serde(default)]
    pub after: i64,
}

/// Server-Sent Events following a deployment's log: `line` events, then `end` with its final
/// status (the same stream as the REST API's, behind the console's session).
pub async fn deployment_stream(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Query(q): Query<AfterQuery>,
) -> Page {
    let s = c.session(&headers, &uri).await.map_err(|_| (StatusCode::UNAUTHORIZED, "sign in first").into_response())?;
    let after = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok()).unwrap_or(q.after);
    // Read once: a missing deployment is a 404, and the lines become the first events.
    let read = c.svc.deployment_log(&id, after).await.map_err(|e| c.service_error(Some(&s), &e))?;
    let stream = deuteron_api::rest::follow_log(c.svc.clone(), id, after, read, c.poll);
    let stream = futures_util::StreamExt::map(stream, Ok::<Event, Infallible>);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
}
