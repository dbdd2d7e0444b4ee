//! Directly defined components (Proton's `CreateComponent` family): a template file and a
//! manifest given with the request, deployed in an environment, optionally attached to one
//! service instance whose templates then see the component's outputs as
//! `service_instance.components.default.outputs`.

use serde_json::Value;

use deuteron_bundle::{ComponentTemplate, InputKind};
use deuteron_core::{ComponentSource, DeploymentAction, DeploymentStatus, ResourceName, TemplateKind};
use deuteron_store::{ComponentFilter, ComponentRecord, DeploymentRecord, NewComponent, NewDeployment, ResourceState, StoreError, Target};

use crate::{Deuteron, Result, ServiceError};

/// Proton's limit on a component's template file.
pub const MAX_TEMPLATE_FILE: usize = 51_200;

#[derive(Debug, Clone, Default)]
pub struct CreateComponent {
    pub name: String,
    pub description: Option<String>,
    /// Required for a detached component; for an attached one it must be the instance's.
    pub environment_name: Option<String>,
    pub service_name: Option<String>,
    pub service_instance_name: Option<String>,
    /// The ServiceSpec the component reads its instance's inputs from (attached only).
    pub service_spec: Option<String>,
    pub template_file: String,
    pub manifest: String,
    pub client_token: Option<String>,
}

/// Proton's `UpdateComponent`. `NONE` changes the description only; `CURRENT_VERSION`
/// redeploys with the given changes. `Some("")` for service and instance detaches.
#[derive(Debug, Clone, Default)]
pub struct UpdateComponent {
    pub redeploy: bool,
    pub description: Option<Option<String>>,
    pub service_name: Option<String>,
    pub service_instance_name: Option<String>,
    pub service_spec: Option<String>,
    pub template_file: Option<String>,
    pub manifest: Option<String>,
    pub client_token: Option<String>,
}

impl Deuteron {
    /// Checks a component's template and manifest, and where it is deployed: the environment,
    /// and the instance it attaches to (which must allow directly defined components).
    async fn check_component(&self, c: &NewComponent) -> Result<()> {
        if c.template_file.len() > MAX_TEMPLATE_FILE {
            return Err(ServiceError::validation(format!(
                "templateFile: {} characters; Proton's limit is {MAX_TEMPLATE_FILE}",
                c.template_file.len()
            )));
        }
        let template = ComponentTemplate::parse(&c.manifest).map_err(|e| ServiceError::validation(e.to_string()))?;
        if let ComponentTemplate::CloudFormation { file } = &template {
            self.renderer().check(file, &c.template_file).map_err(|e| ServiceError::validation(format!("templateFile: {e}")))?;
        }
        let env = match self.store.get_environment(&c.environment_name).await {
            Ok(e) => e,
            Err(StoreError::NotFound(_)) => {
                return Err(ServiceError::validation(format!("environmentName: environment {} does not exist", c.environment_name)));
            }
            Err(e) => return Err(e.into()),
        };
        if env.deployment.last_succeeded_deployment_id.is_none() {
            return Err(ServiceError::validation(format!(
                "environmentName: environment {} has not been deployed successfully yet ({})",
                env.name, env.deployment.status
            )));
        }
        if let (Some(service), Some(instance)) = (&c.service_name, &c.service_instance_name) {
            let inst = self.store.get_instance(service, instance).await?;
            let version = self.store.get_version(TemplateKind::Service, &inst.template_name, inst.version).await?;
            if !version.supported_component_sources.contains(&ComponentSource::DirectlyDefined) {
                return Err(ServiceError::validation(format!(
                    "serviceInstanceName: service instance {service}/{instance} runs service template {} version {}, which does not \
                     support directly defined components (supportedComponentSources lacks DIRECTLY_DEFINED)",
                    inst.template_name, inst.version
                )));
            }
            if let Some(spec) = &c.service_spec {
                self.component_instance_inputs(service, instance, Some(spec)).await?;
            }
        } else if c.service_spec.is_some() {
            return Err(ServiceError::validation("serviceSpec: only a component attached to a service instance takes a service spec"));
        }
        Ok(())
    }

    /// The inputs an attached component sees as `service_instance.inputs`: the instance's entry of
    /// the component's ServiceSpec validated against the instance's schema, or the instance's own.
    pub async fn component_instance_inputs(&self, service: &str, instance: &str, service_spec: Option<&str>) -> Result<Value> {
        let inst = self.store.get_instance(service, instance).await?;
        let Some(text) = service_spec.filter(|s| !s.trim().is_empty()) else {
            return Ok(serde_json::from_str(&inst.inputs).unwrap_or_else(|_| serde_json::json!({})));
        };
        let given = crate::resources::instance_spec_from(text, instance).map_err(|e| match e {
            ServiceError::Validation { message, details } => {
                ServiceError::Validation { message: format!("serviceSpec: {message}"), details }
            }
            other => other,
        })?;
        let version = self.store.get_version(TemplateKind::Service, &inst.template_name, inst.version).await?;
        let schema = self.compiled_schema(&version.schema)?;
        schema.validate(InputKind::ServiceInstance, &given, "$.serviceSpec").map_err(|e| ServiceError::Validation {
            message: format!("serviceSpec: the inputs of instance {instance} do not satisfy its template's schema"),
            details: crate::Detail::inputs(&e),
        })
    }

    /// The state a component deploys to: its fields and, when attached, the instance inputs it sees.
    async fn component_state(&self, c: &NewComponent) -> Result<ResourceState> {
        let mut state = ResourceState::of_component(c);
        if let (Some(s), Some(i)) = (&c.service_name, &c.service_instance_name) {
            state.inputs = self.component_instance_inputs(s, i, c.service_spec.as_deref()).await?;
        }
        Ok(state)
    }

    pub async fn create_component(&self, input: CreateComponent) -> Result<(ComponentRecord, String)> {
        ResourceName::parse(&input.name).map_err(|e| ServiceError::validation(format!("name: {e}")))?;
        if let Some(token) = &input.client_token
            && let Ok(existing) = self.store.get_component(&input.name).await
            && existing.last_client_request_token.as_deref() == Some(token)
        {
            // An idempotent retry of the same create.
            let id = existing.deployment.last_attempted_deployment_id.clone().unwrap_or_default();
            return Ok((existing, id));
        }
        let environment_name = match (&input.service_name, &input.service_instance_name) {
            (Some(s), Some(i)) => {
                let inst = self.store.get_instance(s, i).await?;
                if let Some(given) = &input.environment_name
                    && *given != inst.environment_name
                {
                    return Err(ServiceError::validation(format!(
                        "environmentName: service instance {s}/{i} runs in {}, not {given}",
                        inst.environment_name
                    )));
                }
                inst.environment_name
            }
            (None, None) => input.environment_name.clone().ok_or_else(|| {
                ServiceError::validation("environmentName: a component that is not attached to a service instance needs an environment")
            })?,
            _ => return Err(ServiceError::validation("serviceName and serviceInstanceName: give both to attach a component, or neither")),
        };
        let c = NewComponent {
            name: input.name.clone(),
            description: input.description,
            environment_name,
            service_name: input.service_name,
            service_instance_name: input.service_instance_name,
            service_spec: input.service_spec,
            template_file: input.template_file,
            manifest: input.manifest,
            client_token: input.client_token,
        };
        self.check_component(&c).await?;
        if let (Some(s), Some(i)) = (&c.service_name, &c.service_instance_name) {
            let inst = self.store.get_instance(s, i).await?;
            crate::resources::conflict_if_active(&format!("service instance {s}/{i}"), inst.deployment.status)?;
        }
        let d = NewDeployment {
            id: deuteron_store::new_deployment_id(),
            target: Target::Component(c.name.clone()),
            environment_name: Some(c.environment_name.clone()),
            action: DeploymentAction::Provision,
            initial_state: None,
            target_state: self.component_state(&c).await?,
        };
        let created = self.store.create_component(&c, &d).await?;
        tracing::info!(component = %created.name, environment = %created.environment_name, deployment = %d.id, "component created");
        Ok((created, d.id))
    }

    pub async fn get_component(&self, name: &str) -> Result<ComponentRecord> {
        Ok(self.store.get_component(name).await?)
    }

    pub async fn list_components(&self, filter: &ComponentFilter) -> Result<Vec<ComponentRecord>> {
        Ok(self.store.list_components(filter).await?)
    }

    /// Proton's `UpdateComponent`.
    pub async fn update_component(&self, name: &str, update: UpdateComponent) -> Result<(ComponentRecord, Option<DeploymentRecord>)> {
        let current = self.store.get_component(name).await?;
        let changes_deployment = update.service_name.is_some()
            || update.service_instance_name.is_some()
            || update.service_spec.is_some()
            || update.template_file.is_some()
            || update.manifest.is_some();
        if !update.redeploy {
            if changes_deployment {
                return Err(ServiceError::validation(
                    "deploymentType NONE changes the description only; pass CURRENT_VERSION to change the template, spec or attachment",
                ));
            }
            let mut c = NewComponent::from(&current);
            if let Some(d) = update.description {
                c.description = d;
            }
            return Ok((self.store.update_component(&c, None).await?, None));
        }
        crate::resources::conflict_if_active(&format!("component {name}"), current.deployment.status)?;
        let mut c = NewComponent::from(&current);
        c.client_token = update.client_token;
        if let Some(d) = update.description {
            c.description = d;
        }
        let blank = |v: Option<String>| v.filter(|s| !s.is_empty());
        match (update.service_name, update.service_instance_name) {
            (None, None) => {}
            (Some(s), Some(i)) => {
                c.service_name = blank(Some(s));
                c.service_instance_name = blank(Some(i));
                if c.service_name.is_some() != c.service_instance_name.is_some() {
                    return Err(ServiceError::validation(
                        "serviceName and serviceInstanceName: give both to attach, or both empty to detach",
                    ));
                }
            }
            _ => return Err(ServiceError::validation("serviceName and serviceInstanceName: give both to attach, or both empty to detach")),
        }
        if let Some(spec) = update.service_spec {
            c.service_spec = blank(Some(spec));
        }
        if c.service_name.is_none() {
            c.service_spec = None;
        }
        if let Some(t) = update.template_file {
            c.template_file = t;
        }
        if let Some(m) = update.manifest {
            c.manifest = m;
        }
        if let (Some(s), Some(i)) = (&c.service_name, &c.service_instance_name) {
            let inst = self.store.get_instance(s, i).await?;
            if inst.environment_name != c.environment_name {
                return Err(ServiceError::validation(format!(
                    "serviceInstanceName: service instance {s}/{i} runs in {}; component {name} is deployed in {}",
                    inst.environment_name, c.environment_name
                )));
            }
            crate::resources::conflict_if_active(&format!("service instance {s}/{i}"), inst.deployment.status)?;
        }
        self.check_component(&c).await?;
        let d = NewDeployment {
            id: deuteron_store::new_deployment_id(),
            target: Target::Component(name.to_string()),
            environment_name: Some(c.environment_name.clone()),
            action: DeploymentAction::Provision,
            initial_state: current
                .deployment
                .last_succeeded_deployment_id
                .as_ref()
                .map(|_| ResourceState::of_component(&NewComponent::from(&current))),
            target_state: self.component_state(&c).await?,
        };
        let updated = self.store.update_component(&c, Some(&d)).await?;
        let dep = self.store.get_deployment(&d.id).await?;
        tracing::info!(component = %name, deployment = %d.id, "component update enqueued");
        Ok((updated, Some(dep)))
    }

    /// Deletes a detached component by deprovisioning it.
    pub async fn delete_component(&self, name: &str) -> Result<DeploymentRecord> {
        let c = self.store.get_component(name).await?;
        if let (Some(s), Some(i)) = (&c.service_name, &c.service_instance_name) {
            return Err(ServiceError::Conflict(format!(
                "component {name} is attached to service instance {s}/{i}; detach it first (update it with an empty service and instance name)"
            )));
        }
        crate::resources::conflict_if_active(&format!("component {name}"), c.deployment.status)?;
        let current = ResourceState::of_component(&NewComponent::from(&c));
        let d = NewDeployment {
            id: deuteron_store::new_deployment_id(),
            target: Target::Component(name.to_string()),
            environment_name: Some(c.environment_name.clone()),
            action: DeploymentAction::Deprovision,
            initial_state: Some(current.clone()),
            target_state: current,
        };
        let dep = self.store.enqueue_deployment(&d, DeploymentStatus::DeleteInProgress).await?;
        tracing::info!(component = %name, deployment = %dep.id, "component deletion enqueued");
        Ok(dep)
    }
}
