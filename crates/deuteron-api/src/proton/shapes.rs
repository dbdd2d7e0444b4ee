//! Records as Proton's wire shapes: camelCase members, epoch-second timestamps, ARNs, absent
//! optional members left out, and every member the model marks required present.

use serde_json::{Map, Value, json};

use deuteron_core::{ArnConfig, TemplateKind};
use deuteron_store::{
    ComponentRecord, DeploymentFields, DeploymentRecord, EnvironmentRecord, InstanceRecord, Millis, PipelineRecord, RepositoryRecord,
    ResourceState, ServiceRecord, Target, TemplateRecord, VersionRecord,
};

/// Epoch seconds with millisecond precision, as a JSON number.
pub fn ts(ms: Millis) -> Value {
    json!(ms as f64 / 1000.0)
}

/// Drops `null` members (Proton leaves absent optional members out).
fn clean(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect::<Map<_, _>>()),
        other => other,
    }
}

/// Keeps only the members a summary shape has.
fn without(mut v: Value, drop: &[&str]) -> Value {
    if let Value::Object(m) = &mut v {
        for k in drop {
            m.remove(*k);
        }
    }
    v
}

pub fn template(t: &TemplateRecord, arn: &ArnConfig) -> Value {
    let prov_key = if t.kind == TemplateKind::Environment { "provisioning" } else { "pipelineProvisioning" };
    let mut v = json!({
        "arn": arn.template(t.kind, &t.name),
        "name": t.name,
        "displayName": t.display_name,
        "description": t.description,
        "encryptionKey": t.encryption_key,
        "recommendedVersion": t.recommended.map(|r| r.to_string()),
        "createdAt": ts(t.created_at),
        "lastModifiedAt": ts(t.updated_at),
    });
    v[prov_key] = json!(t.provisioning.as_wire());
    clean(v)
}

pub fn template_summary(t: &TemplateRecord, arn: &ArnConfig) -> Value {
    without(template(t, arn), &["encryptionKey"])
}

pub fn version(v: &VersionRecord, arn: &ArnConfig) -> Value {
    let mut out = json!({
        "arn": format!("{}:{}.{}", arn.template(v.kind, &v.template_name), v.version.major, v.version.minor),
        "templateName": v.template_name,
        "majorVersion": v.version.major.to_string(),
        "minorVersion": v.version.minor.to_string(),
        "recommendedMinorVersion": v.recommended_minor.map(|m| m.to_string()),
        "status": v.status.as_str(),
        // Proton has no blocked versions: a Proton client reads the block in the status message.
        "statusMessage": match (&v.status_message, &v.blocked) {
            (m, None) => m.clone(),
            (None, Some(b)) => Some(format!("BLOCKED: {b}")),
            (Some(m), Some(b)) => Some(format!("BLOCKED: {b}; {m}")),
        },
        "description": v.description,
        "schema": (!v.schema.is_empty()).then(|| v.schema.clone()),
        "createdAt": ts(v.created_at),
        "lastModifiedAt": ts(v.updated_at),
    });
    if v.kind == TemplateKind::Service {
        out["compatibleEnvironmentTemplates"] = v
            .compatible_environments
            .iter()
            .map(|c| json!({"templateName": c.template_name, "majorVersion": c.major_version.to_string()}))
            .collect();
        out["supportedComponentSources"] = v.supported_component_sources.iter().map(|s| json!(s.as_str())).collect();
    }
    clean(out)
}

pub fn version_summary(v: &VersionRecord, arn: &ArnConfig) -> Value {
    without(version(v, arn), &["schema", "compatibleEnvironmentTemplates", "supportedComponentSources"])
}

/// The LAST* members. `lastDeploymentAttemptedAt` is required, so `createdAt` stands in before
/// the first attempt; `lastDeploymentSucceededAt` is left out until a deployment succeeded, as
/// Proton does (SDKs fill a missing required member with a default).
fn deployment_fields(out: &mut Value, d: &DeploymentFields, created_at: Millis, required_times: bool) {
    out["deploymentStatus"] = json!(d.status.as_str());
    out["deploymentStatusMessage"] = json!(d.status_message);
    out["lastAttemptedDeploymentId"] = json!(d.last_attempted_deployment_id);
    out["lastSucceededDeploymentId"] = json!(d.last_succeeded_deployment_id);
    let attempted = if required_times { Some(d.last_attempted_at.unwrap_or(created_at)) } else { d.last_attempted_at };
    out["lastDeploymentAttemptedAt"] = attempted.map_or(Value::Null, ts);
    out["lastDeploymentSucceededAt"] = d.last_succeeded_at.map_or(Value::Null, ts);
}

pub fn environment(e: &EnvironmentRecord, arn: &ArnConfig) -> Value {
    let mut v = json!({
        "arn": arn.environment(&e.name),
        "name": e.name,
        "description": e.description,
        "templateName": e.template_name,
        "templateMajorVersion": e.version.major.to_string(),
        "templateMinorVersion": e.version.minor.to_string(),
        "spec": e.spec,
        "protonServiceRoleArn": e.role_arn,
        "codebuildRoleArn": e.codebuild_role_arn,
        "componentRoleArn": e.component_role_arn,
        "provisioning": e.provisioning.as_wire(),
        "createdAt": ts(e.created_at),
    });
    deployment_fields(&mut v, &e.deployment, e.created_at, true);
    clean(v)
}

pub fn environment_summary(e: &EnvironmentRecord, arn: &ArnConfig) -> Value {
    without(environment(e, arn), &["codebuildRoleArn", "provisioningRepository", "spec"])
}

pub fn pipeline(p: &PipelineRecord, arn: &ArnConfig) -> Value {
    let mut v = json!({
        "arn": arn.service_pipeline(&p.service_name),
        "templateName": p.template_name,
        "templateMajorVersion": p.version.major.to_string(),
        "templateMinorVersion": p.version.minor.to_string(),
        "spec": p.spec,
        "createdAt": ts(p.created_at),
    });
    deployment_fields(&mut v, &p.deployment, p.created_at, true);
    clean(v)
}

pub fn service(s: &ServiceRecord, p: Option<&PipelineRecord>, arn: &ArnConfig) -> Value {
    clean(json!({
        "arn": arn.service(&s.name),
        "name": s.name,
        "description": s.description,
        "templateName": s.template_name,
        "spec": s.spec,
        "status": s.status.as_str(),
        "statusMessage": s.status_message,
        "pipeline": p.map(|p| pipeline(p, arn)),
        "repositoryConnectionArn": s.repository_connection_arn,
        "repositoryId": s.repository_id,
        "branchName": s.branch_name,
        "createdAt": ts(s.created_at),
        "lastModifiedAt": ts(s.updated_at),
    }))
}

pub fn service_summary(s: &ServiceRecord, arn: &ArnConfig) -> Value {
    without(service(s, None, arn), &["branchName", "pipeline", "repositoryConnectionArn", "repositoryId", "spec"])
}

pub fn instance(i: &InstanceRecord, arn: &ArnConfig) -> Value {
    let mut v = json!({
        "arn": arn.service_instance(&i.service_name, &i.name),
        "name": i.name,
        "serviceName": i.service_name,
        "environmentName": i.environment_name,
        "templateName": i.template_name,
        "templateMajorVersion": i.version.major.to_string(),
        "templateMinorVersion": i.version.minor.to_string(),
        "spec": i.spec,
        "lastClientRequestToken": i.last_client_request_token,
        "createdAt": ts(i.created_at),
    });
    deployment_fields(&mut v, &i.deployment, i.created_at, true);
    clean(v)
}

pub fn instance_summary(i: &InstanceRecord, arn: &ArnConfig) -> Value {
    without(instance(i, arn), &["lastClientRequestToken", "spec"])
}

pub fn component(c: &ComponentRecord, arn: &ArnConfig) -> Value {
    let mut v = json!({
        "arn": arn.component(&c.name),
        "name": c.name,
        "description": c.description,
        "environmentName": c.environment_name,
        "serviceName": c.service_name,
        "serviceInstanceName": c.service_instance_name,
        "serviceSpec": c.service_spec,
        "lastClientRequestToken": c.last_client_request_token,
        "createdAt": ts(c.created_at),
        "lastModifiedAt": ts(c.updated_at),
    });
    deployment_fields(&mut v, &c.deployment, c.created_at, false);
    clean(v)
}

pub fn component_summary(c: &ComponentRecord, arn: &ArnConfig) -> Value {
    without(component(c, arn), &["description", "lastClientRequestToken", "serviceSpec"])
}

/// A `DeploymentState` union: exactly one key, matching the target's type.
fn state(t: &Target, s: &ResourceState) -> Value {
    if let Some(c) = &s.component {
        return json!({"component": clean(json!({
            "serviceName": c.service_name,
            "serviceInstanceName": c.service_instance_name,
            "serviceSpec": (!s.spec.is_empty()).then(|| s.spec.clone()),
            "templateFile": c.template_file,
        }))});
    }
    let key = match t {
        Target::Environment(_) => "environment",
        Target::ServiceInstance { .. } => "serviceInstance",
        Target::ServicePipeline(_) => "servicePipeline",
        Target::Component(_) => "component",
    };
    json!({ key: {
        "templateName": s.template_name,
        "templateMajorVersion": s.template_major_version,
        "templateMinorVersion": s.template_minor_version,
        "spec": s.spec,
    }})
}

pub fn deployment(d: &DeploymentRecord, arn: &ArnConfig) -> Value {
    let (service, instance, component) = d.target.names(&d.target_state);
    clean(json!({
        "id": d.id,
        "arn": format!("{}/deployment/{}", d.target.arn(arn), d.id),
        "targetArn": d.target.arn(arn),
        "targetResourceType": d.target.target_type().as_str(),
        "targetResourceCreatedAt": ts(d.created_at),
        "environmentName": d.environment_name.clone().unwrap_or_default(),
        "serviceName": service,
        "serviceInstanceName": instance,
        "componentName": component,
        "deploymentStatus": d.status.as_str(),
        "deploymentStatusMessage": d.status_message,
        "initialState": d.initial_state.as_ref().map(|s| state(&d.target, s)),
        "targetState": state(&d.target, &d.target_state),
        "createdAt": ts(d.created_at),
        "lastModifiedAt": ts(d.completed_at.or(d.started_at).unwrap_or(d.created_at)),
        "completedAt": d.completed_at.map(ts),
    }))
}

pub fn deployment_summary(d: &DeploymentRecord, arn: &ArnConfig) -> Value {
    without(deployment(d, arn), &["deploymentStatusMessage", "initialState", "targetState"])
}

pub fn outputs(pairs: Vec<(String, String)>) -> Value {
    pairs.into_iter().map(|(k, v)| json!({"key": k, "valueString": v})).collect()
}

pub fn repository(r: &RepositoryRecord, arn: &ArnConfig) -> Value {
    clean(json!({
        "arn": arn.repository(&r.provider, &r.name),
        "provider": r.provider,
        "name": r.name,
        "connectionArn": r.connection_arn,
        "encryptionKey": r.encryption_key,
    }))
}

pub fn repository_summary(r: &RepositoryRecord, arn: &ArnConfig) -> Value {
    without(repository(r, arn), &["encryptionKey"])
}
