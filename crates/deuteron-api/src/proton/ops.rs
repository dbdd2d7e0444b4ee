//! Proton operations over the service layer: input members checked as the model constrains
//! them (an error names the member), records returned in Proton's shapes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use deuteron_core::{
    CompatibleEnvironmentTemplate, ComponentSource, Provisioning, TemplateKind, TemplateVersionStatus, UpdateType, VersionNumber,
};
use deuteron_service::components::{CreateComponent, UpdateComponent};
use deuteron_service::registry::{CreateTemplate, RegisterOptions};
use deuteron_service::resources::{CreateEnvironment, CreateService, UpdateResource};
use deuteron_store::{ComponentFilter, DeploymentFilter, DeploymentRecord, Target, TemplatePatch};

use super::shapes as s;
use super::{ApiError, Caller, ProtonApi};

/// Operations this endpoint implements.
pub const OPERATIONS: &[&str] = &[
    "CreateEnvironmentTemplate",
    "GetEnvironmentTemplate",
    "ListEnvironmentTemplates",
    "UpdateEnvironmentTemplate",
    "DeleteEnvironmentTemplate",
    "CreateEnvironmentTemplateVersion",
    "GetEnvironmentTemplateVersion",
    "ListEnvironmentTemplateVersions",
    "UpdateEnvironmentTemplateVersion",
    "DeleteEnvironmentTemplateVersion",
    "CreateServiceTemplate",
    "GetServiceTemplate",
    "ListServiceTemplates",
    "UpdateServiceTemplate",
    "DeleteServiceTemplate",
    "CreateServiceTemplateVersion",
    "GetServiceTemplateVersion",
    "ListServiceTemplateVersions",
    "UpdateServiceTemplateVersion",
    "DeleteServiceTemplateVersion",
    "CreateEnvironment",
    "GetEnvironment",
    "ListEnvironments",
    "UpdateEnvironment",
    "DeleteEnvironment",
    "CreateService",
    "GetService",
    "ListServices",
    "UpdateService",
    "DeleteService",
    "CreateServiceInstance",
    "GetServiceInstance",
    "ListServiceInstances",
    "UpdateServiceInstance",
    "UpdateServicePipeline",
    "CreateComponent",
    "GetComponent",
    "ListComponents",
    "UpdateComponent",
    "DeleteComponent",
    "GetDeployment",
    "ListDeployments",
    "CancelEnvironmentDeployment",
    "CancelServiceInstanceDeployment",
    "CancelServicePipelineDeployment",
    "CancelComponentDeployment",
    "ListEnvironmentOutputs",
    "ListServiceInstanceOutputs",
    "ListServicePipelineOutputs",
    "ListComponentOutputs",
    "GetAccountSettings",
    "NotifyResourceDeploymentStatusChange",
    "DeleteDeployment",
    "CreateRepository",
    "GetRepository",
    "ListRepositories",
    "DeleteRepository",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "GetResourcesSummary",
    "ListEnvironmentProvisionedResources",
    "ListServiceInstanceProvisionedResources",
    "ListServicePipelineProvisionedResources",
    "ListComponentProvisionedResources",
];

/// Operations with an idempotency token (`clientToken`), which the SDKs fill in themselves.
pub const TOKEN_OPERATIONS: &[&str] = &[
    "CreateEnvironmentTemplateVersion",
    "CreateServiceTemplateVersion",
    "CreateServiceInstance",
    "UpdateServiceInstance",
    "CreateComponent",
    "UpdateComponent",
    "CreateEnvironmentAccountConnection",
];

/// Proton operations that exist but that Deuteron does not serve yet: they answer a
/// `ValidationException` saying so.
pub const UNSUPPORTED: &[&str] = &[
    "GetRepositorySyncStatus",
    "ListRepositorySyncDefinitions",
    "CreateTemplateSyncConfig",
    "GetTemplateSyncConfig",
    "UpdateTemplateSyncConfig",
    "DeleteTemplateSyncConfig",
    "GetTemplateSyncStatus",
    "CreateServiceSyncConfig",
    "GetServiceSyncConfig",
    "UpdateServiceSyncConfig",
    "DeleteServiceSyncConfig",
    "GetServiceInstanceSyncStatus",
    "GetServiceSyncBlockerSummary",
    "UpdateServiceSyncBlocker",
    "UpdateAccountSettings",
    "CreateEnvironmentAccountConnection",
    "GetEnvironmentAccountConnection",
    "ListEnvironmentAccountConnections",
    "UpdateEnvironmentAccountConnection",
    "AcceptEnvironmentAccountConnection",
    "RejectEnvironmentAccountConnection",
    "DeleteEnvironmentAccountConnection",
];

type R = Result<Value, ApiError>;

/// Reads and checks request members.
struct In<'a>(&'a Map<String, Value>);

fn constraint(member: &str, rule: &str) -> ApiError {
    ApiError::validation(format!("1 validation error detected: Value at '{member}' failed to satisfy constraint: {rule}"))
}

impl In<'_> {
    fn opt(&self, k: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) => Ok(Some(v.clone())),
            Some(other) => Err(constraint(k, &format!("Member must be a string (got {other})"))),
        }
    }

    fn req(&self, k: &str) -> Result<String, ApiError> {
        self.opt(k)?.ok_or_else(|| constraint(k, "Member must not be null"))
    }

    fn bounded(&self, k: &str, min: usize, max: usize) -> Result<Option<String>, ApiError> {
        let v = self.opt(k)?;
        if let Some(text) = &v
            && !(min..=max).contains(&text.chars().count())
        {
            return Err(constraint(k, &format!("Member must have length between {min} and {max}")));
        }
        Ok(v)
    }

    /// A `ResourceName`: 1..100 characters, `^[0-9A-Za-z]+[0-9A-Za-z_\-]*$`.
    fn name(&self, k: &str) -> Result<String, ApiError> {
        let v = self.req(k)?;
        deuteron_core::ResourceName::parse(&v)
            .map_err(|e| constraint(k, &format!("Member must satisfy regular expression pattern: ^[0-9A-Za-z]+[0-9A-Za-z_\\-]*$ ({e})")))?;
        Ok(v)
    }

    fn part(&self, k: &str) -> Result<Option<u32>, ApiError> {
        self.opt(k)?
            .map(|v| {
                if v.len() > 1 && v.starts_with('0') {
                    return Err(constraint(k, "Member must satisfy regular expression pattern: ^(0|([1-9]{1}\\d*))$"));
                }
                v.parse::<u32>().map_err(|_| constraint(k, "Member must satisfy regular expression pattern: ^(0|([1-9]{1}\\d*))$"))
            })
            .transpose()
    }

    fn req_part(&self, k: &str) -> Result<u32, ApiError> {
        self.part(k)?.ok_or_else(|| constraint(k, "Member must not be null"))
    }

    fn version(&self) -> Result<VersionNumber, ApiError> {
        Ok(VersionNumber::new(self.req_part("majorVersion")?, self.req_part("minorVersion")?))
    }

    fn description(&self) -> Result<Option<String>, ApiError> {
        self.bounded("description", 0, 500)
    }

    fn spec(&self, k: &str) -> Result<Option<String>, ApiError> {
        self.bounded(k, 1, 51_200)
    }

    fn update_type(&self) -> Result<UpdateType, ApiError> {
        let raw = self.req("deploymentType")?;
        UpdateType::parse(&raw).ok_or_else(|| {
            constraint("deploymentType", "Member must satisfy enum value set: [NONE, CURRENT_VERSION, MINOR_VERSION, MAJOR_VERSION]")
        })
    }

    fn client_token(&self) -> Result<Option<String>, ApiError> {
        let v = self.bounded("clientToken", 0, 64)?;
        if v.as_deref().is_some_and(|t| !t.bytes().all(|b| (b'!'..=b'~').contains(&b))) {
            return Err(constraint("clientToken", "Member must satisfy regular expression pattern: ^[!-~]*$"));
        }
        Ok(v.filter(|t| !t.is_empty()))
    }
}

/// One page of `items` from `nextToken` (an opaque offset) and `maxResults` (1..100).
fn page(items: Vec<Value>, input: &In<'_>, key: &str) -> R {
    let max = match input.0.get("maxResults") {
        None | Some(Value::Null) => 100,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=100) => n as usize,
            _ => return Err(constraint("maxResults", "Member must have value between 1 and 100")),
        },
    };
    let start = match input.opt("nextToken")? {
        None => 0,
        Some(t) => B64
            .decode(&t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("offset:").and_then(|n| n.parse::<usize>().ok()))
            .ok_or_else(|| ApiError::validation("nextToken: not a token this endpoint issued"))?,
    };
    let end = (start + max).min(items.len());
    let mut out = json!({ key: items.get(start.min(items.len())..end).unwrap_or_default() });
    if end < items.len() {
        out["nextToken"] = json!(B64.encode(format!("offset:{end}")));
    }
    Ok(out)
}

fn kind_of(op: &str) -> TemplateKind {
    if op.contains("EnvironmentTemplate") { TemplateKind::Environment } else { TemplateKind::Service }
}

fn template_key(kind: TemplateKind) -> &'static str {
    if kind == TemplateKind::Environment { "environmentTemplate" } else { "serviceTemplate" }
}

fn version_key(kind: TemplateKind) -> &'static str {
    if kind == TemplateKind::Environment { "environmentTemplateVersion" } else { "serviceTemplateVersion" }
}

fn update(i: &In<'_>) -> Result<UpdateResource, ApiError> {
    let update_type = i.update_type()?;
    let (major, minor) = (i.part("templateMajorVersion")?, i.part("templateMinorVersion")?);
    if update_type == UpdateType::CurrentVersion && (major.is_some() || minor.is_some()) {
        return Err(ApiError::validation(
            "CURRENT_VERSION redeploys the current version: leave templateMajorVersion and templateMinorVersion out",
        ));
    }
    Ok(UpdateResource { update_type, spec: i.spec("spec")?, major, minor })
}

/// Cancels the active deployment of `target` (Proton: only while it is in progress).
async fn cancel(api: &ProtonApi, what: &str, last: Option<String>, active: bool) -> Result<DeploymentRecord, ApiError> {
    let id = last.filter(|_| active).ok_or_else(|| ApiError::conflict(format!("{what} has no deployment in progress to cancel")))?;
    Ok(api.svc.cancel_deployment(&id).await?)
}

pub async fn dispatch(api: &ProtonApi, caller: &Caller, op: &str, body: &Map<String, Value>) -> R {
    // `tags` given to a Create* operation are checked first and stored on the created resource.
    let tags = if op.starts_with("Create") { tag_list(body.get("tags"), "tags")? } else { Vec::new() };
    if tags.len() > deuteron_service::meta::MAX_TAGS
        || tags.iter().any(|(k, v)| !(1..=128).contains(&k.chars().count()) || v.chars().count() > 256)
    {
        return Err(constraint("tags", "at most 50 tags; keys 1-128 characters, values 0-256"));
    }
    let out = dispatch_op(api, caller, op, body).await?;
    if !tags.is_empty()
        && let Some(created) = out.as_object().and_then(|m| m.values().next()).and_then(|v| v.get("arn")).and_then(Value::as_str)
    {
        api.svc.tag_resource(created, &tags).await?;
    }
    Ok(out)
}

async fn dispatch_op(api: &ProtonApi, caller: &Caller, op: &str, body: &Map<String, Value>) -> R {
    let i = In(body);
    let svc = &api.svc;
    let arn = &api.arn;
    tracing::trace!(access_key = %caller.access_key_id, %op, "dispatch");
    match op {
        "CreateEnvironmentTemplate" | "CreateServiceTemplate" => {
            let kind = kind_of(op);
            let prov_key = if kind == TemplateKind::Environment { "provisioning" } else { "pipelineProvisioning" };
            let provisioning = match i.opt(prov_key)? {
                None => Provisioning::Standard,
                Some(p) if p == "CUSTOMER_MANAGED" => Provisioning::CustomerManaged,
                Some(_) => return Err(constraint(prov_key, "Member must satisfy enum value set: [CUSTOMER_MANAGED]")),
            };
            let t = svc
                .create_template(CreateTemplate {
                    kind,
                    name: i.name("name")?,
                    display_name: i.bounded("displayName", 1, 100)?,
                    description: i.description()?,
                    provisioning,
                    encryption_key: i.opt("encryptionKey")?,
                })
                .await?;
            Ok(json!({ template_key(kind): s::template(&t, arn) }))
        }
        "GetEnvironmentTemplate" | "GetServiceTemplate" => {
            let kind = kind_of(op);
            let t = svc.get_template(kind, &i.name("name")?).await?;
            Ok(json!({ template_key(kind): s::template(&t, arn) }))
        }
        "ListEnvironmentTemplates" | "ListServiceTemplates" => {
            let list = svc.list_templates(Some(kind_of(op))).await?;
            page(list.iter().map(|t| s::template_summary(t, arn)).collect(), &i, "templates")
        }
        "UpdateEnvironmentTemplate" | "UpdateServiceTemplate" => {
            let kind = kind_of(op);
            let patch =
                TemplatePatch { display_name: i.bounded("displayName", 1, 100)?.map(Some), description: i.description()?.map(Some) };
            let t = svc.update_template(kind, &i.name("name")?, patch).await?;
            Ok(json!({ template_key(kind): s::template(&t, arn) }))
        }
        "DeleteEnvironmentTemplate" | "DeleteServiceTemplate" => {
            let kind = kind_of(op);
            let name = i.name("name")?;
            let t = svc.get_template(kind, &name).await?;
            svc.delete_template(kind, &name, false).await?;
            Ok(json!({ template_key(kind): s::template(&t, arn) }))
        }
        "CreateEnvironmentTemplateVersion" | "CreateServiceTemplateVersion" => create_version(api, &i, kind_of(op)).await,
        "GetEnvironmentTemplateVersion" | "GetServiceTemplateVersion" => {
            let kind = kind_of(op);
            let v = svc.get_version(kind, &i.name("templateName")?, i.version()?).await?;
            Ok(json!({ version_key(kind): s::version(&v, arn) }))
        }
        "ListEnvironmentTemplateVersions" | "ListServiceTemplateVersions" => {
            let kind = kind_of(op);
            let list = svc.list_versions(kind, &i.name("templateName")?, i.part("majorVersion")?).await?;
            page(list.iter().map(|v| s::version_summary(v, arn)).collect(), &i, "templateVersions")
        }
        "UpdateEnvironmentTemplateVersion" | "UpdateServiceTemplateVersion" => {
            let kind = kind_of(op);
            let (name, version) = (i.name("templateName")?, i.version()?);
            if kind == TemplateKind::Service
                && (body.contains_key("compatibleEnvironmentTemplates") || body.contains_key("supportedComponentSources"))
            {
                return Err(ApiError::validation(
                    "changing compatibleEnvironmentTemplates or supportedComponentSources of a registered version is not supported; register a new version",
                ));
            }
            if let Some(d) = i.description()? {
                svc.update_version_description(kind, &name, version, Some(d)).await?;
            }
            let v = match i.opt("status")? {
                None => svc.get_version(kind, &name, version).await?,
                Some(st) if st == TemplateVersionStatus::Published.as_str() => svc.publish_version(kind, &name, version).await?,
                Some(st) => {
                    return Err(ApiError::validation(format!(
                        "status: {st} cannot be set through an update; the supported transition is DRAFT -> PUBLISHED"
                    )));
                }
            };
            Ok(json!({ version_key(kind): s::version(&v, arn) }))
        }
        "DeleteEnvironmentTemplateVersion" | "DeleteServiceTemplateVersion" => {
            let kind = kind_of(op);
            let (name, version) = (i.name("templateName")?, i.version()?);
            let v = svc.get_version(kind, &name, version).await?;
            svc.delete_version(kind, &name, version).await?;
            Ok(json!({ version_key(kind): s::version(&v, arn) }))
        }
        "CreateEnvironment" => {
            let (e, _) = svc
                .create_environment(CreateEnvironment {
                    name: i.name("name")?,
                    template_name: i.name("templateName")?,
                    major: i.req_part("templateMajorVersion")?,
                    minor: i.part("templateMinorVersion")?,
                    spec: i.spec("spec")?.ok_or_else(|| constraint("spec", "Member must not be null"))?,
                    description: i.description()?,
                    role_arn: i.opt("protonServiceRoleArn")?,
                    codebuild_role_arn: i.opt("codebuildRoleArn")?,
                    component_role_arn: i.opt("componentRoleArn")?,
                })
                .await?;
            Ok(json!({"environment": s::environment(&e, arn)}))
        }
        "GetEnvironment" => Ok(json!({"environment": s::environment(&svc.get_environment(&i.name("name")?).await?, arn)})),
        "ListEnvironments" => {
            let wanted: Vec<(String, String)> = match body.get("environmentTemplates") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(list)) => list
                    .iter()
                    .map(|f| {
                        let f = f.as_object().ok_or_else(|| constraint("environmentTemplates", "Member must be a list of filters"))?;
                        let fi = In(f);
                        Ok((fi.name("templateName")?, fi.req("majorVersion")?))
                    })
                    .collect::<Result<_, ApiError>>()?,
                Some(_) => return Err(constraint("environmentTemplates", "Member must be a list")),
            };
            let list = svc.list_environments().await?;
            let items = list
                .iter()
                .filter(|e| wanted.is_empty() || wanted.iter().any(|(t, m)| *t == e.template_name && *m == e.version.major.to_string()))
                .map(|e| s::environment_summary(e, arn))
                .collect();
            page(items, &i, "environments")
        }
        "UpdateEnvironment" => {
            let name = i.name("name")?;
            let (e, _) = svc.update_environment(&name, i.description()?.map(Some), update(&i)?).await?;
            Ok(json!({"environment": s::environment(&e, arn)}))
        }
        "DeleteEnvironment" => {
            let name = i.name("name")?;
            svc.delete_environment(&name).await?;
            Ok(json!({"environment": s::environment(&svc.get_environment(&name).await?, arn)}))
        }
        "CreateService" => {
            let name = i.name("name")?;
            let created = svc
                .create_service(CreateService {
                    name: name.clone(),
                    template_name: i.name("templateName")?,
                    major: i.req_part("templateMajorVersion")?,
                    minor: i.part("templateMinorVersion")?,
                    spec: i.spec("spec")?.ok_or_else(|| constraint("spec", "Member must not be null"))?,
                    description: i.description()?,
                    repository_connection_arn: i.opt("repositoryConnectionArn")?,
                    repository_id: i.bounded("repositoryId", 1, 200)?,
                    branch_name: i.bounded("branchName", 1, 200)?,
                })
                .await?;
            let pipeline = svc.get_pipeline(&name).await.ok();
            Ok(json!({"service": s::service(&created, pipeline.as_ref(), arn)}))
        }
        "GetService" => {
            let name = i.name("name")?;
            let found = svc.get_service(&name).await?;
            let pipeline = svc.get_pipeline(&name).await.ok();
            Ok(json!({"service": s::service(&found, pipeline.as_ref(), arn)}))
        }
        "ListServices" => page(svc.list_services().await?.iter().map(|x| s::service_summary(x, arn)).collect(), &i, "services"),
        "UpdateService" => {
            let name = i.name("name")?;
            let updated = svc.update_service(&name, i.description()?.map(Some), i.spec("spec")?).await?;
            let pipeline = svc.get_pipeline(&name).await.ok();
            Ok(json!({"service": s::service(&updated, pipeline.as_ref(), arn)}))
        }
        "DeleteService" => {
            let name = i.name("name")?;
            svc.delete_service(&name).await?;
            match svc.get_service(&name).await {
                Ok(found) => Ok(json!({"service": s::service(&found, svc.get_pipeline(&name).await.ok().as_ref(), arn)})),
                Err(deuteron_service::ServiceError::NotFound(_)) => Ok(json!({})),
                Err(e) => Err(e.into()),
            }
        }
        "CreateServiceInstance" => {
            let (service, name) = (i.name("serviceName")?, i.name("name")?);
            let version = match (i.part("templateMajorVersion")?, i.part("templateMinorVersion")?) {
                (Some(major), minor) => Some((major, minor)),
                (None, Some(_)) => {
                    return Err(constraint("templateMajorVersion", "Member must not be null when templateMinorVersion is given"));
                }
                (None, None) => None,
            };
            let token = i.client_token()?;
            let spec = i.spec("spec")?.ok_or_else(|| constraint("spec", "Member must not be null"))?;
            svc.create_instance(&service, &name, &spec, version).await?;
            if let Some(t) = token {
                svc.record_instance_client_token(&service, &name, &t).await?;
            }
            Ok(json!({"serviceInstance": s::instance(&svc.get_instance(&service, &name).await?, arn)}))
        }
        "GetServiceInstance" => {
            let inst = svc.get_instance(&i.name("serviceName")?, &i.name("name")?).await?;
            Ok(json!({"serviceInstance": s::instance(&inst, arn)}))
        }
        "ListServiceInstances" => list_instances(api, &i).await,
        "UpdateServiceInstance" => {
            let (service, name) = (i.name("serviceName")?, i.name("name")?);
            let token = i.client_token()?;
            svc.update_instance(&service, &name, update(&i)?).await?;
            if let Some(t) = token {
                svc.record_instance_client_token(&service, &name, &t).await?;
            }
            Ok(json!({"serviceInstance": s::instance(&svc.get_instance(&service, &name).await?, arn)}))
        }
        "UpdateServicePipeline" => {
            let service = i.name("serviceName")?;
            svc.update_pipeline(&service, update(&i)?).await?;
            Ok(json!({"pipeline": s::pipeline(&svc.get_pipeline(&service).await?, arn)}))
        }
        "CreateComponent" => {
            let (c, _) = svc
                .create_component(CreateComponent {
                    name: i.name("name")?,
                    description: i.description()?,
                    environment_name: i.opt("environmentName")?,
                    service_name: i.opt("serviceName")?,
                    service_instance_name: i.opt("serviceInstanceName")?,
                    service_spec: i.spec("serviceSpec")?,
                    template_file: i
                        .bounded("templateFile", 1, 51_200)?
                        .ok_or_else(|| constraint("templateFile", "Member must not be null"))?,
                    manifest: i.bounded("manifest", 1, 1_024)?.ok_or_else(|| constraint("manifest", "Member must not be null"))?,
                    client_token: i.client_token()?,
                })
                .await?;
            Ok(json!({"component": s::component(&c, arn)}))
        }
        "GetComponent" => Ok(json!({"component": s::component(&svc.get_component(&i.name("name")?).await?, arn)})),
        "ListComponents" => {
            let filter = ComponentFilter {
                environment_name: i.opt("environmentName")?,
                service_name: i.opt("serviceName")?,
                service_instance_name: i.opt("serviceInstanceName")?,
            };
            page(svc.list_components(&filter).await?.iter().map(|c| s::component_summary(c, arn)).collect(), &i, "components")
        }
        "UpdateComponent" => {
            let name = i.name("name")?;
            let redeploy = match i.req("deploymentType")?.as_str() {
                "NONE" => false,
                "CURRENT_VERSION" => true,
                _ => return Err(constraint("deploymentType", "Member must satisfy enum value set: [NONE, CURRENT_VERSION]")),
            };
            let (c, _) = svc
                .update_component(
                    &name,
                    UpdateComponent {
                        redeploy,
                        description: i.description()?.map(Some),
                        service_name: i.opt("serviceName")?,
                        service_instance_name: i.opt("serviceInstanceName")?,
                        service_spec: i.opt("serviceSpec")?,
                        template_file: i.opt("templateFile")?,
                        manifest: None,
                        client_token: i.client_token()?,
                    },
                )
                .await?;
            Ok(json!({"component": s::component(&c, arn)}))
        }
        "DeleteComponent" => {
            let name = i.name("name")?;
            svc.delete_component(&name).await?;
            Ok(json!({"component": s::component(&svc.get_component(&name).await?, arn)}))
        }
        "GetDeployment" => {
            let d = svc.get_deployment(&i.req("id")?).await?;
            Ok(json!({"deployment": s::deployment(&d, arn)}))
        }
        "ListDeployments" => {
            let mut filter =
                DeploymentFilter { environment_name: i.opt("environmentName")?, service_name: i.opt("serviceName")?, ..Default::default() };
            if let Some(c) = i.opt("componentName")? {
                filter.target = Some(Target::Component(c));
            } else if let (Some(svc_name), Some(inst)) = (i.opt("serviceName")?, i.opt("serviceInstanceName")?) {
                filter.target = Some(Target::ServiceInstance { service: svc_name, instance: inst });
            }
            let list = svc.list_deployments(&filter).await?;
            page(list.iter().map(|d| s::deployment_summary(d, arn)).collect(), &i, "deployments")
        }
        "CancelEnvironmentDeployment" => {
            let name = i.name("environmentName")?;
            let e = svc.get_environment(&name).await?;
            cancel(api, &format!("environment {name}"), e.deployment.last_attempted_deployment_id, e.deployment.status.is_active()).await?;
            Ok(json!({"environment": s::environment(&svc.get_environment(&name).await?, arn)}))
        }
        "CancelServiceInstanceDeployment" => {
            let (service, name) = (i.name("serviceName")?, i.name("serviceInstanceName")?);
            let x = svc.get_instance(&service, &name).await?;
            let what = format!("service instance {service}/{name}");
            cancel(api, &what, x.deployment.last_attempted_deployment_id, x.deployment.status.is_active()).await?;
            Ok(json!({"serviceInstance": s::instance(&svc.get_instance(&service, &name).await?, arn)}))
        }
        "CancelServicePipelineDeployment" => {
            let service = i.name("serviceName")?;
            let p = svc.get_pipeline(&service).await?;
            let what = format!("pipeline of service {service}");
            cancel(api, &what, p.deployment.last_attempted_deployment_id, p.deployment.status.is_active()).await?;
            Ok(json!({"pipeline": s::pipeline(&svc.get_pipeline(&service).await?, arn)}))
        }
        "CancelComponentDeployment" => {
            let name = i.name("componentName")?;
            let c = svc.get_component(&name).await?;
            cancel(api, &format!("component {name}"), c.deployment.last_attempted_deployment_id, c.deployment.status.is_active()).await?;
            Ok(json!({"component": s::component(&svc.get_component(&name).await?, arn)}))
        }
        "ListEnvironmentOutputs" => {
            let name = i.name("environmentName")?;
            svc.get_environment(&name).await?;
            Ok(json!({"outputs": s::outputs(svc.outputs(&Target::Environment(name)).await?)}))
        }
        "ListServiceInstanceOutputs" => {
            let (service, name) = (i.name("serviceName")?, i.name("serviceInstanceName")?);
            svc.get_instance(&service, &name).await?;
            Ok(json!({"outputs": s::outputs(svc.outputs(&Target::ServiceInstance { service, instance: name }).await?)}))
        }
        "ListServicePipelineOutputs" => {
            let service = i.name("serviceName")?;
            svc.get_pipeline(&service).await?;
            Ok(json!({"outputs": s::outputs(svc.outputs(&Target::ServicePipeline(service)).await?)}))
        }
        "ListComponentOutputs" => {
            let name = i.name("componentName")?;
            svc.get_component(&name).await?;
            Ok(json!({"outputs": s::outputs(svc.outputs(&Target::Component(name)).await?)}))
        }
        "GetAccountSettings" => Ok(json!({"accountSettings": {}})),
        "ListEnvironmentProvisionedResources"
        | "ListServiceInstanceProvisionedResources"
        | "ListServicePipelineProvisionedResources"
        | "ListComponentProvisionedResources" => {
            let target = match op {
                "ListEnvironmentProvisionedResources" => Target::Environment(i.name("environmentName")?),
                "ListServiceInstanceProvisionedResources" => {
                    Target::ServiceInstance { service: i.name("serviceName")?, instance: i.name("serviceInstanceName")? }
                }
                "ListServicePipelineProvisionedResources" => Target::ServicePipeline(i.name("serviceName")?),
                _ => Target::Component(i.name("componentName")?),
            };
            svc.active_deployment(&target).await?;
            let list = svc.provisioned_resources(&target).await?;
            let items: Vec<Value> =
                list.iter().map(|r| json!({"name": r.name, "identifier": r.identifier, "provisioningEngine": r.engine})).collect();
            Ok(json!({"provisionedResources": items}))
        }
        "DeleteDeployment" => {
            let d = svc.delete_deployment(&i.req("id")?).await?;
            Ok(json!({"deployment": s::deployment(&d, arn)}))
        }
        "TagResource" | "UntagResource" | "ListTagsForResource" => {
            let resource_arn = i.bounded("resourceArn", 1, 200)?.ok_or_else(|| constraint("resourceArn", "Member must not be null"))?;
            if !arn_exists(api, &resource_arn).await? {
                return Err(ApiError::not_found(format!("no resource has the ARN {resource_arn}")));
            }
            match op {
                "TagResource" => {
                    svc.tag_resource(&resource_arn, &tag_list(body.get("tags"), "tags")?).await?;
                    Ok(json!({}))
                }
                "UntagResource" => {
                    let keys = body
                        .get("tagKeys")
                        .and_then(Value::as_array)
                        .ok_or_else(|| constraint("tagKeys", "Member must not be null"))?
                        .iter()
                        .map(|k| k.as_str().map(str::to_string).ok_or_else(|| constraint("tagKeys", "Member must be a list of strings")))
                        .collect::<Result<Vec<_>, _>>()?;
                    svc.untag_resource(&resource_arn, &keys).await?;
                    Ok(json!({}))
                }
                _ => {
                    let tags = svc.tags(&resource_arn).await?;
                    page(tags.into_iter().map(|(k, v)| json!({"key": k, "value": v})).collect(), &i, "tags")
                }
            }
        }
        "CreateRepository" => {
            let r = svc.create_repository(&i.req("provider")?, &i.req("name")?, &i.req("connectionArn")?, i.opt("encryptionKey")?).await?;
            Ok(json!({"repository": s::repository(&r, arn)}))
        }
        "GetRepository" => Ok(json!({"repository": s::repository(&svc.get_repository(&i.req("provider")?, &i.req("name")?).await?, arn)})),
        "ListRepositories" => {
            let list = svc.list_repositories().await?;
            page(list.iter().map(|r| s::repository_summary(r, arn)).collect(), &i, "repositories")
        }
        "DeleteRepository" => {
            Ok(json!({"repository": s::repository(&svc.delete_repository(&i.req("provider")?, &i.req("name")?).await?, arn)}))
        }
        "GetResourcesSummary" => Ok(json!({"counts": svc.resources_summary().await?})),
        "NotifyResourceDeploymentStatusChange" => {
            let resource_arn = i.bounded("resourceArn", 1, 200)?.ok_or_else(|| constraint("resourceArn", "Member must not be null"))?;
            let target = target_of(&resource_arn).ok_or_else(|| {
                ApiError::validation(format!(
                    "resourceArn: {resource_arn} is not the ARN of an environment, service instance, pipeline or component"
                ))
            })?;
            let status = i.opt("status")?;
            if status.as_deref().is_some_and(|s| !["IN_PROGRESS", "FAILED", "SUCCEEDED"].contains(&s)) {
                return Err(constraint("status", "Member must satisfy enum value set: [IN_PROGRESS, FAILED, SUCCEEDED]"));
            }
            let mut outputs = Vec::new();
            if let Some(list) = body.get("outputs") {
                for (n, o) in
                    list.as_array().ok_or_else(|| constraint("outputs", "Member must be a list of {key, valueString}"))?.iter().enumerate()
                {
                    let o =
                        In(o.as_object().ok_or_else(|| constraint(&format!("outputs.{}", n + 1), "Member must be {key, valueString}"))?);
                    outputs.push((o.req("key")?, o.req("valueString")?));
                }
            }
            if caller.role == deuteron_core::Role::Deployment {
                // Keys issued to a deployment's commands report on that deployment only.
                let key = svc.get_access_key(&caller.access_key_id).await?;
                let active = svc.active_deployment(&target).await?;
                if active.is_none() || key.description.as_deref() != active.as_deref().map(|d| format!("deployment {d}")).as_deref() {
                    return Err(ApiError::new(
                        axum::http::StatusCode::FORBIDDEN,
                        "AccessDeniedException",
                        format!(
                            "access key {} was issued to another deployment than the one in progress for {resource_arn}",
                            caller.access_key_id
                        ),
                    ));
                }
            }
            let message = i.bounded("statusMessage", 0, 5000)?;
            svc.notify_deployment(&target, i.opt("deploymentId")?.as_deref(), status.as_deref(), outputs, message.as_deref()).await?;
            Ok(json!({}))
        }
        other => Err(ApiError::validation(format!(
            "{other} is a Proton operation that Deuteron does not support yet (Git sync, account connections, tags and provisioned-resource listings come in later releases)"
        ))),
    }
}

async fn create_version(api: &ProtonApi, i: &In<'_>, kind: TemplateKind) -> R {
    let template = i.name("templateName")?;
    let source = i.0.get("source").and_then(Value::as_object).ok_or_else(|| constraint("source", "Member must not be null"))?;
    let s3 = source.get("s3").and_then(Value::as_object).ok_or_else(|| constraint("source.s3", "Member must not be null"))?;
    let s3 = In(s3);
    let bucket = s3.bounded("bucket", 3, 63)?.ok_or_else(|| constraint("source.s3.bucket", "Member must not be null"))?;
    let key = s3.bounded("key", 1, 1024)?.ok_or_else(|| constraint("source.s3.key", "Member must not be null"))?;
    let mut opts = RegisterOptions { major: i.part("majorVersion")?, description: i.description()?, ..Default::default() };
    if kind == TemplateKind::Service {
        let list =
            i.0.get("compatibleEnvironmentTemplates")
                .and_then(Value::as_array)
                .ok_or_else(|| constraint("compatibleEnvironmentTemplates", "Member must not be null"))?;
        if !(1..=10).contains(&list.len()) {
            return Err(constraint("compatibleEnvironmentTemplates", "Member must have length between 1 and 10"));
        }
        for (n, c) in list.iter().enumerate() {
            let c = In(c
                .as_object()
                .ok_or_else(|| constraint(&format!("compatibleEnvironmentTemplates.{}", n + 1), "Member must be an object"))?);
            let major = c.req("majorVersion")?;
            opts.compatible_environments.push(CompatibleEnvironmentTemplate {
                template_name: c.name("templateName")?,
                major_version: major.parse().map_err(|_| {
                    constraint(&format!("compatibleEnvironmentTemplates.{}.majorVersion", n + 1), "Member must be a major version number")
                })?,
            });
        }
        if let Some(list) = i.0.get("supportedComponentSources").and_then(Value::as_array) {
            let mut sources = Vec::new();
            for v in list {
                let raw = v.as_str().unwrap_or_default();
                sources
                    .push(ComponentSource::parse(raw).ok_or_else(|| {
                        constraint("supportedComponentSources", "Member must satisfy enum value set: [DIRECTLY_DEFINED]")
                    })?);
            }
            opts.supported_component_sources = Some(sources);
        }
    }
    let fetcher = api.bundles.clone().ok_or_else(|| ApiError::validation("source.s3: this server has no S3 access configured"))?;
    api.svc.get_template(kind, &template).await?;
    let limits = api.svc.config().bundle_limits;
    let bytes = fetcher
        .fetch(&bucket, &key, limits.max_archive_bytes)
        .await
        .map_err(|m| ApiError::validation(format!("source.s3: cannot read s3://{bucket}/{key}: {m}")))?;
    let files = match deuteron_bundle::BundleFiles::from_archive_bytes(&bytes, &limits) {
        Ok(f) => f,
        Err(e) => return Err(ApiError::validation(format!("source.s3: s3://{bucket}/{key}: {e}"))),
    };
    let v = api.svc.begin_registration(kind, &template, files, &opts).await?;
    // Registration finishes asynchronously, as in Proton: the caller polls (or waits) for DRAFT.
    let svc = api.svc.clone();
    let version = v.version;
    let tname = template.clone();
    tokio::spawn(async move {
        if let Err(e) = svc.complete_registration(kind, &tname, version, &opts).await {
            tracing::error!(template = %tname, %version, error = %e, "template version registration failed");
        }
    });
    Ok(json!({ version_key(kind): s::version(&v, &api.arn) }))
}

/// `nextToken` of keyset pages: the last `(service, name)` returned.
fn key_token(service: &str, name: &str) -> String {
    B64.encode(format!("key:{service}/{name}"))
}

fn parse_key_token(token: &str) -> Option<(String, String)> {
    let text = String::from_utf8(B64.decode(token).ok()?).ok()?;
    let (s, n) = text.strip_prefix("key:")?.split_once('/')?;
    Some((s.to_string(), n.to_string()))
}

async fn list_instances(api: &ProtonApi, i: &In<'_>) -> R {
    let service = i.opt("serviceName")?;
    // The common case pages in the store, in (service, name) order: cheap on any fleet size.
    let custom_order = i.opt("sortBy")?.is_some_and(|s| s != "serviceName") || i.opt("sortOrder")?.as_deref() == Some("DESCENDING");
    let mut query = deuteron_store::InstanceQuery { service: service.clone(), ..Default::default() };
    let mut store_filters = true;
    if let Some(filters) = i.0.get("filters").and_then(Value::as_array) {
        for f in filters {
            let f = In(f.as_object().ok_or_else(|| constraint("filters", "Member must be a list of {key, value}"))?);
            let value = Some(f.req("value")?);
            match f.req("key")?.as_str() {
                "name" => query.name = value,
                "deploymentStatus" => query.deployment_status = value,
                "templateName" => query.template = value,
                "serviceName" => query.service = value,
                "environmentName" => query.environment = value,
                _ => store_filters = false,
            }
        }
    }
    let token = i.opt("nextToken")?;
    if !custom_order && store_filters && token.as_deref().is_none_or(|t| parse_key_token(t).is_some()) {
        let max = match i.0.get("maxResults") {
            None | Some(Value::Null) => 100,
            Some(v) => match v.as_u64() {
                Some(n @ 1..=100) => n as i64,
                _ => return Err(constraint("maxResults", "Member must have value between 1 and 100")),
            },
        };
        query.after = token.as_deref().and_then(parse_key_token);
        query.limit = max + 1;
        let mut list = api.svc.query_instances(&query).await?;
        let more = list.len() as i64 > max;
        list.truncate(max as usize);
        let mut out = json!({"serviceInstances": list.iter().map(|x| s::instance_summary(x, &api.arn)).collect::<Vec<_>>()});
        if let (true, Some(last)) = (more, list.last()) {
            out["nextToken"] = json!(key_token(&last.service_name, &last.name));
        }
        return Ok(out);
    }
    let mut list = api.svc.list_instances(service.as_deref(), None).await?;
    if let Some(filters) = i.0.get("filters").and_then(Value::as_array) {
        for f in filters {
            let f = In(f.as_object().ok_or_else(|| constraint("filters", "Member must be a list of {key, value}"))?);
            let (key, value) = (f.req("key")?, f.req("value")?);
            match key.as_str() {
                "name" => list.retain(|x| x.name == value),
                "deploymentStatus" => list.retain(|x| x.deployment.status.as_str() == value),
                "templateName" => list.retain(|x| x.template_name == value),
                "serviceName" => list.retain(|x| x.service_name == value),
                "environmentName" => list.retain(|x| x.environment_name == value),
                "createdAtBefore" | "createdAtAfter" | "lastDeploymentAttemptedAtBefore" | "lastDeploymentAttemptedAtAfter" => {
                    let at = time_filter(&value).ok_or_else(|| {
                        ApiError::validation(format!("filters: {key} value {value:?} is neither ISO-8601 nor epoch seconds"))
                    })?;
                    let created = key.starts_with("createdAt");
                    let before = key.ends_with("Before");
                    list.retain(|x| {
                        let t = if created { Some(x.created_at) } else { x.deployment.last_attempted_at };
                        t.is_some_and(|t| if before { t < at } else { t > at })
                    });
                }
                // Outdated detection: UP_TO_DATE, BEHIND_MINOR or BEHIND_MAJOR against the
                // template's recommended version.
                "deployedTemplateVersionStatus" => {
                    if !["UP_TO_DATE", "BEHIND_MINOR", "BEHIND_MAJOR"].contains(&value.as_str()) {
                        return Err(ApiError::validation(format!(
                            "filters: deployedTemplateVersionStatus value {value:?} is not UP_TO_DATE, BEHIND_MINOR or BEHIND_MAJOR"
                        )));
                    }
                    let currency = api.svc.currency(deuteron_core::TemplateKind::Service).await?;
                    list.retain(|x| deuteron_service::meta::staleness_str(currency.staleness(&x.template_name, x.version)) == value);
                }
                _ => return Err(ApiError::validation(format!("filters: key {key} is not supported yet"))),
            }
        }
    }
    let descending = i.opt("sortOrder")?.as_deref() == Some("DESCENDING");
    match i.opt("sortBy")?.as_deref() {
        Some("name") => list.sort_by(|a, b| (&a.name, &a.service_name).cmp(&(&b.name, &b.service_name))),
        None | Some("serviceName") => list.sort_by(|a, b| (&a.service_name, &a.name).cmp(&(&b.service_name, &b.name))),
        Some("environmentName") => list.sort_by(|a, b| a.environment_name.cmp(&b.environment_name)),
        Some("templateName") => list.sort_by(|a, b| a.template_name.cmp(&b.template_name)),
        Some("deploymentStatus") => list.sort_by(|a, b| a.deployment.status.as_str().cmp(b.deployment.status.as_str())),
        Some("createdAt") => list.sort_by_key(|x| x.created_at),
        Some("lastDeploymentAttemptedAt") => list.sort_by_key(|x| x.deployment.last_attempted_at),
        Some(other) => return Err(constraint("sortBy", &format!("Member must satisfy enum value set (got {other})"))),
    }
    if descending {
        list.reverse();
    }
    page(list.iter().map(|x| s::instance_summary(x, &api.arn)).collect(), i, "serviceInstances")
}

/// The resource an ARN names: `environment/N`, `service/S/service-instance/I`,
/// `service/S/pipeline`, `component/N` (any partition, region and account).
fn target_of(arn: &str) -> Option<Target> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "proton" {
        return None;
    }
    let path: Vec<&str> = parts[5].split('/').collect();
    match path.as_slice() {
        ["environment", n] => Some(Target::Environment(n.to_string())),
        ["service", s, "service-instance", i] => Some(Target::ServiceInstance { service: s.to_string(), instance: i.to_string() }),
        ["service", s, "pipeline"] | ["service", s, "pipeline", _] => Some(Target::ServicePipeline(s.to_string())),
        ["component", n] => Some(Target::Component(n.to_string())),
        _ => None,
    }
}

/// A time filter value: ISO-8601 / RFC 3339 or epoch seconds, as milliseconds.
fn time_filter(value: &str) -> Option<i64> {
    if let Ok(secs) = value.parse::<f64>() {
        return Some((secs * 1000.0) as i64);
    }
    let t = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339).ok()?;
    Some((t.unix_timestamp_nanos() / 1_000_000) as i64)
}

/// `[{key, value}]` tags of a request member.
fn tag_list(v: Option<&Value>, member: &str) -> Result<Vec<(String, String)>, ApiError> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let list = v.as_array().ok_or_else(|| constraint(member, "Member must be a list of {key, value}"))?;
    list.iter()
        .enumerate()
        .map(|(n, t)| {
            let t = In(t.as_object().ok_or_else(|| constraint(&format!("{member}.{}", n + 1), "Member must be {key, value}"))?);
            Ok((t.req("key")?, t.req("value")?))
        })
        .collect()
}

/// Whether an ARN names an existing template, version, resource or repository.
async fn arn_exists(api: &ProtonApi, arn: &str) -> Result<bool, ApiError> {
    use deuteron_service::ServiceError::NotFound;
    let svc = &api.svc;
    let found = |r: Result<(), deuteron_service::ServiceError>| match r {
        Ok(()) => Ok(true),
        Err(NotFound(_)) => Ok(false),
        Err(e) => Err(ApiError::from(e)),
    };
    if let Some(t) = target_of(arn) {
        return found(svc.active_deployment(&t).await.map(|_| ()));
    }
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() < 6 || parts[0] != "arn" || parts[2] != "proton" {
        return Ok(false);
    }
    let rest = arn.splitn(6, ':').nth(5).unwrap_or_default();
    let (kind, path) = rest.split_once('/').unwrap_or((rest, ""));
    match kind {
        "environment-template" | "service-template" => {
            let tk = if kind == "environment-template" { TemplateKind::Environment } else { TemplateKind::Service };
            let (name, version) = path.split_once(':').map_or((path, None), |(n, v)| (n, Some(v)));
            match version.map(str::parse::<VersionNumber>) {
                None => found(svc.get_template(tk, name).await.map(|_| ())),
                Some(Ok(v)) => found(svc.get_version(tk, name, v).await.map(|_| ())),
                Some(Err(_)) => Ok(false),
            }
        }
        "service" if !path.contains('/') => found(svc.get_service(path).await.map(|_| ())),
        "repository" => match path.split_once(':') {
            Some((provider, name)) => found(svc.get_repository(&provider.to_uppercase(), name).await.map(|_| ())),
            None => Ok(false),
        },
        _ => Ok(false),
    }
}
