//! The console's form posts. Each checks the session, its CSRF token and the role (the API's
//! rules), validates what was typed against the template's schema so that errors appear next to
//! their fields, then calls the same service-layer operation as the APIs. A refused form is shown
//! again with what was typed; nothing is stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use deuteron_bundle::{InputKind, TemplateSchema};
use deuteron_core::{ResourceName, TemplateKind, UpdateType, VersionNumber};
use deuteron_service::ServiceError;
use deuteron_service::resources::{CreateEnvironment, CreateService, UpdateResource};

use crate::forms::{self, FormValues, value};
use crate::pages::{self, NewQuery, Page};
use crate::{Console, auth::Session};

type Errors = BTreeMap<String, String>;

fn text(form: &FormValues, name: &str) -> String {
    value(form, name).unwrap_or_default().trim().to_string()
}

fn optional(form: &FormValues, name: &str) -> Option<String> {
    Some(text(form, name)).filter(|t| !t.is_empty())
}

/// The inputs typed for one input type of `schema`, checked against it; errors land in `errors`
/// under their field names. `None` when the schema has no such input type.
fn checked_inputs(schema: &TemplateSchema, kind: InputKind, prefix: &str, form: &FormValues, errors: &mut Errors) -> Option<Value> {
    let js = schema.json_schema(kind)?;
    let names: Vec<String> = forms::fields(js, prefix, None, &Value::Null, &BTreeMap::new()).into_iter().map(|f| f.name).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    match forms::inputs(js, prefix, form) {
        Err(conversion) => {
            errors.extend(conversion);
            None
        }
        Ok(inputs) => {
            if let Err(list) = schema.validate(kind, &inputs, prefix) {
                for e in list {
                    errors.entry(forms::field_of(&e.path, &names)).or_insert(e.message);
                }
            }
            Some(inputs)
        }
    }
}

fn check_name(form: &FormValues, field: &str, what: &str, errors: &mut Errors) -> String {
    let name = text(form, field);
    if name.is_empty() {
        errors.insert(field.to_string(), format!("the {what} needs a name"));
    } else if let Err(e) = ResourceName::parse(&name) {
        errors.insert(field.to_string(), e.to_string());
    }
    name
}

/// A service error from the final call, shown at the top of the form (validation details too).
fn form_error(errors: &mut Errors, e: &ServiceError) {
    errors.insert("_form".to_string(), e.full_text());
}

fn parse_version(raw: &str, errors: &mut Errors) -> Option<VersionNumber> {
    match raw.parse::<VersionNumber>() {
        Ok(v) => Some(v),
        Err(e) => {
            errors.insert("version".into(), format!("{raw:?}: {e}"));
            None
        }
    }
}

pub async fn create_environment(State(c): State<Arc<Console>>, headers: HeaderMap, uri: Uri, Form(form): Form<FormValues>) -> Page {
    let s = c.poster(&headers, &uri, &form, "CreateEnvironment").await?;
    let q = NewQuery { template: optional(&form, "template"), version: optional(&form, "version"), instances: None };
    let mut errors = Errors::new();
    let name = check_name(&form, "name", "environment", &mut errors);
    let template = q.template.clone().unwrap_or_default();
    let (_, version, schema) = pages::form_version(&c, &s, TemplateKind::Environment, &template, q.version.as_deref()).await?;
    let inputs = checked_inputs(&schema, InputKind::Environment, "in", &form, &mut errors).unwrap_or_else(|| json!({}));
    if errors.is_empty() {
        let input = CreateEnvironment {
            name: name.clone(),
            template_name: template.clone(),
            major: version.version.major,
            minor: Some(version.version.minor),
            spec: json!({"proton": "EnvironmentSpec", "spec": inputs}).to_string(),
            description: optional(&form, "description"),
            role_arn: optional(&form, "role_arn"),
            ..Default::default()
        };
        match c.svc.create_environment(input).await {
            Ok(_) => {
                tracing::info!(access_key = %s.key_id, environment = %name, "console: environment created");
                return Ok(Redirect::to(&format!("/environments/{name}")).into_response());
            }
            Err(e) => form_error(&mut errors, &e),
        }
    }
    pages::environment_new_page(&c, &s, &q, Some(&form), &errors).await
}

pub async fn create_service(State(c): State<Arc<Console>>, headers: HeaderMap, uri: Uri, Form(form): Form<FormValues>) -> Page {
    let s = c.poster(&headers, &uri, &form, "CreateService").await?;
    let count = text(&form, "count").parse::<usize>().unwrap_or(1).clamp(1, 20);
    let q = NewQuery { template: optional(&form, "template"), version: optional(&form, "version"), instances: Some(count) };
    let mut errors = Errors::new();
    let name = check_name(&form, "name", "service", &mut errors);
    let template = q.template.clone().unwrap_or_default();
    let (_, version, schema) = pages::form_version(&c, &s, TemplateKind::Service, &template, q.version.as_deref()).await?;
    let mut instances = Vec::new();
    for n in 0..count {
        let prefix = format!("i{n}");
        let inst_name = check_name(&form, &format!("{prefix}-name"), "instance", &mut errors);
        let env = text(&form, &format!("{prefix}-environment"));
        if env.is_empty() {
            errors.insert(format!("{prefix}-environment"), "choose the environment this instance runs in".into());
        }
        let inputs = checked_inputs(&schema, InputKind::ServiceInstance, &prefix, &form, &mut errors).unwrap_or_else(|| json!({}));
        instances.push(json!({"name": inst_name, "environment": env, "spec": inputs}));
    }
    let mut spec = json!({"proton": "ServiceSpec", "instances": instances});
    if let Some(p) = checked_inputs(&schema, InputKind::Pipeline, "pipeline", &form, &mut errors) {
        spec["pipeline"] = p;
    }
    if errors.is_empty() {
        let input = CreateService {
            name: name.clone(),
            template_name: template.clone(),
            major: version.version.major,
            minor: Some(version.version.minor),
            spec: spec.to_string(),
            description: optional(&form, "description"),
            ..Default::default()
        };
        match c.svc.create_service(input).await {
            Ok(_) => {
                tracing::info!(access_key = %s.key_id, service = %name, instances = count, "console: service created");
                return Ok(Redirect::to(&format!("/services/{name}")).into_response());
            }
            Err(e) => form_error(&mut errors, &e),
        }
    }
    pages::service_new_page(&c, &s, &q, Some(&form), &errors).await
}

/// How a resource at `current` moves to `target` (Proton's deployment types).
pub fn update_type(current: VersionNumber, target: VersionNumber) -> UpdateType {
    if target == current {
        UpdateType::CurrentVersion
    } else if target.major == current.major {
        UpdateType::MinorVersion
    } else {
        UpdateType::MajorVersion
    }
}

/// The update a form asks for: its target version and, when the input fields were shown, the
/// inputs typed (checked against the target version's schema).
async fn requested_update(
    c: &Console,
    s: &Session,
    kind: TemplateKind,
    template: &str,
    current: VersionNumber,
    form: &FormValues,
    errors: &mut Errors,
) -> Result<(VersionNumber, UpdateResource), Response> {
    let target = parse_version(&text(form, "version"), errors).unwrap_or(current);
    let mut spec = None;
    if value(form, "spec_fields").is_some() {
        let v = c.svc.get_version(kind, template, target).await.map_err(|e| c.service_error(Some(s), &e))?;
        let schema = c.svc.compiled_schema(&v.schema).map_err(|e| c.service_error(Some(s), &e))?;
        let input_kind = if kind == TemplateKind::Environment { InputKind::Environment } else { InputKind::ServiceInstance };
        if let Some(inputs) = checked_inputs(&schema, input_kind, "in", form, errors) {
            spec = Some(if kind == TemplateKind::Environment {
                json!({"proton": "EnvironmentSpec", "spec": inputs}).to_string()
            } else {
                inputs.to_string()
            });
        }
    }
    let update_type = update_type(current, target);
    // Proton's rule: a CURRENT_VERSION update names no version.
    let (major, minor) = if update_type == UpdateType::CurrentVersion { (None, None) } else { (Some(target.major), Some(target.minor)) };
    Ok((target, UpdateResource { update_type, spec, major, minor }))
}

pub async fn update_instance(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    uri: Uri,
    Path((service, name)): Path<(String, String)>,
    Form(form): Form<FormValues>,
) -> Page {
    let s = c.poster(&headers, &uri, &form, "UpdateServiceInstance").await?;
    let inst = c.svc.get_instance(&service, &name).await.map_err(|e| c.service_error(Some(&s), &e))?;
    let mut errors = Errors::new();
    let (target, update) = requested_update(&c, &s, TemplateKind::Service, &inst.template_name, inst.version, &form, &mut errors).await?;
    if errors.is_empty() {
        match c.svc.update_instance(&service, &name, update).await {
            Ok(d) => {
                tracing::info!(access_key = %s.key_id, instance = %format!("{service}/{name}"), to = %target, "console: service instance updated");
                let to = d.map_or_else(|| format!("/services/{service}/instances/{name}"), |d| format!("/deployments/{}", d.id));
                return Ok(Redirect::to(&to).into_response());
            }
            Err(e) => form_error(&mut errors, &e),
        }
    }
    pages::instance_page(&c, &s, &service, &name, Some(target), Some(&form), &errors).await
}

pub async fn update_environment(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    uri: Uri,
    Path(name): Path<String>,
    Form(form): Form<FormValues>,
) -> Page {
    let s = c.poster(&headers, &uri, &form, "UpdateEnvironment").await?;
    let env = c.svc.get_environment(&name).await.map_err(|e| c.service_error(Some(&s), &e))?;
    let mut errors = Errors::new();
    let (target, update) = requested_update(&c, &s, TemplateKind::Environment, &env.template_name, env.version, &form, &mut errors).await?;
    if errors.is_empty() {
        match c.svc.update_environment(&name, None, update).await {
            Ok((_, d)) => {
                tracing::info!(access_key = %s.key_id, environment = %name, to = %target, "console: environment updated");
                let to = d.map_or_else(|| format!("/environments/{name}"), |d| format!("/deployments/{}", d.id));
                return Ok(Redirect::to(&to).into_response());
            }
            Err(e) => form_error(&mut errors, &e),
        }
    }
    pages::environment_page(&c, &s, &name, Some(target), Some(&form), &errors).await
}

pub async fn publish(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    uri: Uri,
    Path((kind, name, version)): Path<(String, String, String)>,
    Form(form): Form<FormValues>,
) -> Page {
    let kind_parsed = TemplateKind::parse(&kind);
    let op =
        if kind_parsed == Some(TemplateKind::Environment) { "UpdateEnvironmentTemplateVersion" } else { "UpdateServiceTemplateVersion" };
    let s = c.poster(&headers, &uri, &form, op).await?;
    let kind = kind_parsed.ok_or_else(|| c.error_page(StatusCode::NOT_FOUND, Some(&s), &format!("no template kind {kind:?}")))?;
    let v = version
        .parse::<VersionNumber>()
        .map_err(|e| c.error_page(StatusCode::BAD_REQUEST, Some(&s), &format!("version {version:?}: {e}")))?;
    c.svc.publish_version(kind, &name, v).await.map_err(|e| c.service_error(Some(&s), &e))?;
    tracing::info!(access_key = %s.key_id, template = %name, kind = %kind, version = %v, "console: version published");
    Ok(Redirect::to(&format!("/templates/{kind}/{name}?version={v}")).into_response())
}

/// Pins a published version as the template's recommended one, or (no version) returns to the
/// highest published one.
pub async fn recommend(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    uri: Uri,
    Path((kind, name)): Path<(String, String)>,
    Form(form): Form<FormValues>,
) -> Page {
    let kind_parsed = TemplateKind::parse(&kind);
    let op = if kind_parsed == Some(TemplateKind::Environment) { "UpdateEnvironmentTemplate" } else { "UpdateServiceTemplate" };
    let s = c.poster(&headers, &uri, &form, op).await?;
    let kind = kind_parsed.ok_or_else(|| c.error_page(StatusCode::NOT_FOUND, Some(&s), &format!("no template kind {kind:?}")))?;
    let version = match optional(&form, "version") {
        Some(v) => Some(v.parse::<VersionNumber>().map_err(|e| c.error_page(StatusCode::BAD_REQUEST, Some(&s), &format!("version: {e}")))?),
        None => None,
    };
    let t = c.svc.set_recommended_version(kind, &name, version).await.map_err(|e| c.service_error(Some(&s), &e))?;
    tracing::info!(access_key = %s.key_id, template = %name, kind = %kind, pinned = ?version, "console: recommended version set");
    let shown = t.recommended.map(|v| format!("?version={v}")).unwrap_or_default();
    Ok(Redirect::to(&format!("/templates/{kind}/{name}{shown}")).into_response())
}

pub async fn cancel_deployment(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    Form(form): Form<FormValues>,
) -> Page {
    // Which cancel operation applies depends on the deployment's target: read it first.
    let s = c.poster(&headers, &uri, &form, "GetDeployment").await?;
    let d = c.svc.get_deployment(&id).await.map_err(|e| c.service_error(Some(&s), &e))?;
    let op = pages::cancel_operation(d.target.target_type().as_str());
    if !s.may(op) {
        return Err(c.error_page(StatusCode::FORBIDDEN, Some(&s), &format!("a {} key may not {op}", s.role)));
    }
    c.svc.cancel_deployment(&id).await.map_err(|e| c.service_error(Some(&s), &e))?;
    tracing::info!(access_key = %s.key_id, deployment = %id, "console: deployment cancel requested");
    Ok(Redirect::to(&format!("/deployments/{id}")).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_types_follow_the_target() {
        let v = |a, b| VersionNumber::new(a, b);
        assert_eq!(update_type(v(1, 0), v(1, 0)), UpdateType::CurrentVersion);
        assert_eq!(update_type(v(1, 0), v(1, 2)), UpdateType::MinorVersion);
        assert_eq!(update_type(v(1, 2), v(2, 0)), UpdateType::MajorVersion);
    }
}
