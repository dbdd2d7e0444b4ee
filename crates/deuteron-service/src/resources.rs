//! Environments, services, service instances and pipelines: creating, updating and deleting
//! them enqueues deployments in the same transaction as the state change; workers (the engine)
//! carry them out.

use serde_json::{Value, json};

use deuteron_bundle::{InputKind, SpecFile, TemplateSchema};
use deuteron_core::deploy::{environment_is_compatible, update_target};
use deuteron_core::{
    DeploymentAction, DeploymentStatus, Provisioning, ResourceName, ServiceStatus, TemplateKind, TemplateVersionStatus, UpdateType,
    VersionNumber,
};
use deuteron_store::{
    ComponentFilter, ComponentRecord, DeploymentFilter, DeploymentRecord, EnvironmentRecord, InstanceRecord, LogLine, NewDeployment,
    NewEnvironment, NewInstance, NewPipeline, NewService, PipelineRecord, ResourceState, ServiceRecord, StoreError, Target, VersionRecord,
};

use crate::{Deuteron, Result, ServiceError};

/// Values read once per key: concurrent askers of a key wait for the one read.
type Shared<K, V> = std::sync::Mutex<std::collections::HashMap<K, std::sync::Arc<tokio::sync::OnceCell<std::sync::Arc<V>>>>>;

/// Template versions and environments read while preparing updates, each read once per
/// [`Lookups`]: a single API call uses a fresh one; a rollout driver shares one across the items
/// its steps start for a second (they all move to one template version, in a few environments).
/// The components attached to a service's instances are read once per step (see
/// [`Lookups::new_step`]): whether one is being deployed must be current.
#[derive(Default)]
pub(crate) struct Lookups {
    versions: Shared<(TemplateKind, String), Vec<VersionState>>,
    records: Shared<(TemplateKind, String, VersionNumber), VersionRecord>,
    environments: Shared<String, EnvironmentRecord>,
    attached: Shared<String, Vec<ComponentRecord>>,
}

/// A version's number, status and why it is blocked: what an update's target is chosen from.
type VersionState = (VersionNumber, TemplateVersionStatus, Option<String>);

impl std::fmt::Debug for Lookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookups").finish_non_exhaustive()
    }
}

impl Lookups {
    async fn cached<K, V, F>(map: &Shared<K, V>, key: K, read: F) -> Result<std::sync::Arc<V>>
    where
        K: std::hash::Hash + Eq,
        F: std::future::Future<Output = Result<V>>,
    {
        let cell = map.lock().expect("lookups").entry(key).or_default().clone();
        // A failed read leaves the cell empty: the next asker reads again.
        cell.get_or_try_init(|| async { Ok(std::sync::Arc::new(read.await?)) }).await.cloned()
    }

    /// Forgets what a rollout step read that must be current at the next one.
    pub(crate) fn new_step(&self) {
        self.attached.lock().expect("lookups").clear();
    }

    /// The components attached to instances of `service`.
    async fn attached(&self, svc: &Deuteron, service: &str) -> Result<std::sync::Arc<Vec<ComponentRecord>>> {
        Self::cached(&self.attached, service.to_string(), svc.attached_components(service, None)).await
    }

    /// The version an update of `what` (on `current`) moves it to: Proton's rule over the
    /// template's versions that are not blocked; naming a blocked version is refused with why.
    async fn update_target(
        &self,
        svc: &Deuteron,
        (kind, template): (TemplateKind, &str),
        what: &str,
        current: VersionNumber,
        update: &UpdateResource,
    ) -> Result<VersionNumber> {
        let all = Self::cached(&self.versions, (kind, template.to_string()), svc.version_list(kind, template)).await?;
        let explicit = update.minor.map(|m| VersionNumber::new(update.major.unwrap_or(current.major), m));
        if let Some((v, _, Some(why))) = all.iter().find(|(v, _, blocked)| Some(*v) == explicit && blocked.is_some()) {
            return Err(ServiceError::Conflict(format!(
                "{what}: {kind} template {template} version {v} is blocked ({why}); unblock it with `deuteron template version unblock {kind} {template} {v}`"
            )));
        }
        let open: Vec<(VersionNumber, TemplateVersionStatus)> =
            all.iter().filter(|(_, _, b)| b.is_none()).map(|(v, s, _)| (*v, *s)).collect();
        update_target(update.update_type, current, update.major, update.minor, &open)
            .map_err(|e| ServiceError::validation(format!("{what}: {e}")))
    }

    async fn version(&self, svc: &Deuteron, kind: TemplateKind, template: &str, v: VersionNumber) -> Result<std::sync::Arc<VersionRecord>> {
        Self::cached(&self.records, (kind, template.to_string(), v), async { Ok(svc.store.get_version(kind, template, v).await?) }).await
    }

    async fn environment(&self, svc: &Deuteron, name: &str) -> Result<std::sync::Arc<EnvironmentRecord>> {
        Self::cached(&self.environments, name.to_string(), async { Ok(svc.store.get_environment(name).await?) }).await
    }
}

#[derive(Debug, Clone, Default)]
pub struct CreateEnvironment {
    pub name: String,
    pub template_name: String,
    pub major: u32,
    /// Default: the major's recommended minor.
    pub minor: Option<u32>,
    /// A Proton `EnvironmentSpec` (YAML or JSON).
    pub spec: String,
    pub description: Option<String>,
    pub role_arn: Option<String>,
    pub codebuild_role_arn: Option<String>,
    pub component_role_arn: Option<String>,
}

#[derive(Debug, Clone)]
pub struct UpdateResource {
    pub update_type: UpdateType,
    /// A new spec; default: the current one.
    pub spec: Option<String>,
    pub major: Option<u32>,
    pub minor: Option<u32>,
}

#[derive(Debug, Clone, Default)]
pub struct CreateService {
    pub name: String,
    pub template_name: String,
    pub major: u32,
    pub minor: Option<u32>,
    /// A Proton `ServiceSpec`.
    pub spec: String,
    pub description: Option<String>,
    pub repository_connection_arn: Option<String>,
    pub repository_id: Option<String>,
    pub branch_name: Option<String>,
}

fn invalid_inputs(what: &str, errors: Vec<deuteron_bundle::InputError>) -> ServiceError {
    ServiceError::Validation { message: format!("{what} does not satisfy the template's schema"), details: crate::Detail::inputs(&errors) }
}

fn state(version: &VersionRecord, spec: &str, inputs: Value) -> ResourceState {
    ResourceState::versioned(&version.template_name, version.version, spec, inputs)
}

fn current_state(template: &str, version: VersionNumber, spec: &str, inputs: &str) -> ResourceState {
    ResourceState::stored(template, version, spec, inputs)
}

fn new_id() -> String {
    deuteron_store::new_deployment_id()
}

pub(crate) fn conflict_if_active(what: &str, status: DeploymentStatus) -> Result<()> {
    if status.is_active() {
        return Err(ServiceError::Conflict(format!("{what} has a deployment in progress ({status}); wait for it to finish or cancel it")));
    }
    Ok(())
}

impl Deuteron {
    /// A published version to deploy: `major.minor`, or the major's recommended minor.
    async fn deployable_version(&self, kind: TemplateKind, template: &str, major: u32, minor: Option<u32>) -> Result<VersionRecord> {
        let v = self.resolve_version(kind, template, major, minor).await?;
        if v.status != TemplateVersionStatus::Published {
            return Err(ServiceError::validation(format!(
                "{kind} template {template} version {} is {}; only PUBLISHED versions can be deployed",
                v.version, v.status
            )));
        }
        Ok(v)
    }

    fn schema_of(&self, v: &VersionRecord) -> Result<std::sync::Arc<TemplateSchema>> {
        self.compiled_schema(&v.schema)
    }

    pub async fn create_environment(&self, input: CreateEnvironment) -> Result<(EnvironmentRecord, String)> {
        ResourceName::parse(&input.name).map_err(|e| ServiceError::validation(format!("environment name: {e}")))?;
        let template = self.store.get_template(TemplateKind::Environment, &input.template_name).await?;
        let version = self.deployable_version(TemplateKind::Environment, &input.template_name, input.major, input.minor).await?;
        let inputs = environment_inputs(self, &version, &input.spec)?;
        let d = NewDeployment {
            id: new_id(),
            target: Target::Environment(input.name.clone()),
            environment_name: Some(input.name.clone()),
            action: DeploymentAction::Provision,
            initial_state: None,
            target_state: state(&version, &input.spec, inputs.clone()),
        };
        let env = self
            .store
            .create_environment(
                &NewEnvironment {
                    name: input.name.clone(),
                    description: input.description,
                    template_name: input.template_name,
                    version: version.version,
                    spec: input.spec,
                    inputs: inputs.to_string(),
                    provisioning: template.provisioning,
                    role_arn: input.role_arn,
                    codebuild_role_arn: input.codebuild_role_arn,
                    component_role_arn: input.component_role_arn,
                },
                &d,
            )
            .await?;
        tracing::info!(environment = %env.name, deployment = %d.id, "environment created");
        Ok((env, d.id))
    }

    pub async fn get_environment(&self, name: &str) -> Result<EnvironmentRecord> {
        self.named(crate::lookup::Named::Environment(name), self.store.get_environment(name)).await
    }

    pub async fn list_environments(&self) -> Result<Vec<EnvironmentRecord>> {
        Ok(self.store.list_environments().await?)
    }

    /// Proton's `UpdateEnvironment`: `NONE` changes the description only; the other update
    /// types enqueue a deployment to the chosen version with the (new) spec.
    pub async fn update_environment(
        &self,
        name: &str,
        description: Option<Option<String>>,
        update: UpdateResource,
    ) -> Result<(EnvironmentRecord, Option<DeploymentRecord>)> {
        let env = self.store.get_environment(name).await?;
        if let Some(d) = description {
            self.store.set_environment_description(name, d.as_deref()).await?;
        }
        let Some(d) = self.prepare_environment_update(&env, &update, &Lookups::default()).await? else {
            return Ok((self.store.get_environment(name).await?, None));
        };
        let dep = self.store.enqueue_deployment(&d, DeploymentStatus::InProgress).await?;
        tracing::info!(environment = %name, deployment = %dep.id, to = %format_args!("{}.{}", d.target_state.template_major_version, d.target_state.template_minor_version), "environment update enqueued");
        Ok((self.store.get_environment(name).await?, Some(dep)))
    }

    /// Checks an environment update and builds its deployment (`None` for `NONE` updates).
    pub(crate) async fn prepare_environment_update(
        &self,
        env: &EnvironmentRecord,
        update: &UpdateResource,
        lookups: &Lookups,
    ) -> Result<Option<NewDeployment>> {
        let name = &env.name;
        let what = format!("environment {name}");
        let target = lookups.update_target(self, (TemplateKind::Environment, &env.template_name), &what, env.version, update).await?;
        if update.update_type == UpdateType::None {
            if update.spec.is_some() {
                return Err(ServiceError::validation(
                    "NONE updates change metadata only; pass a spec with CURRENT_VERSION, MINOR_VERSION or MAJOR_VERSION",
                ));
            }
            return Ok(None);
        }
        conflict_if_active(&format!("environment {name}"), env.deployment.status)?;
        let version = lookups.version(self, TemplateKind::Environment, &env.template_name, target).await?;
        let spec = update.spec.clone().unwrap_or_else(|| env.spec.clone());
        let inputs = environment_inputs(self, &version, &spec)?;
        Ok(Some(NewDeployment {
            id: new_id(),
            target: Target::Environment(name.to_string()),
            environment_name: Some(name.to_string()),
            action: DeploymentAction::Provision,
            initial_state: Some(current_state(&env.template_name, env.version, &env.spec, &env.inputs)),
            target_state: state(&version, &spec, inputs),
        }))
    }

    /// Deletes an environment nothing runs in, by deprovisioning it.
    pub async fn delete_environment(&self, name: &str) -> Result<DeploymentRecord> {
        let env = self.store.get_environment(name).await?;
        let users = self.store.list_instances(None, Some(name)).await?;
        if !users.is_empty() {
            return Err(ServiceError::Conflict(format!(
                "environment {name} still has service instances: {}; delete them first",
                users.iter().map(|i| format!("{}/{}", i.service_name, i.name)).collect::<Vec<_>>().join(", ")
            )));
        }
        let components =
            self.store.list_components(&ComponentFilter { environment_name: Some(name.to_string()), ..Default::default() }).await?;
        if !components.is_empty() {
            return Err(ServiceError::Conflict(format!(
                "environment {name} still has components: {}; delete them first",
                components.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        conflict_if_active(&format!("environment {name}"), env.deployment.status)?;
        let current = current_state(&env.template_name, env.version, &env.spec, &env.inputs);
        let d = NewDeployment {
            id: new_id(),
            target: Target::Environment(name.to_string()),
            environment_name: Some(name.to_string()),
            action: DeploymentAction::Deprovision,
            initial_state: Some(current.clone()),
            target_state: current,
        };
        Ok(self.store.enqueue_deployment(&d, DeploymentStatus::DeleteInProgress).await?)
    }

    async fn attached_components(&self, service: &str, instance: Option<&str>) -> Result<Vec<ComponentRecord>> {
        let filter = ComponentFilter {
            service_name: Some(service.to_string()),
            service_instance_name: instance.map(str::to_string),
            ..Default::default()
        };
        Ok(self.store.list_components(&filter).await?)
    }

    /// Refuses to remove instances of `service` that have a component attached (Proton's rule).
    async fn refuse_attached<'a>(&self, service: &str, instances: impl Iterator<Item = &'a str>) -> Result<()> {
        let attached = self.attached_components(service, None).await?;
        let names: Vec<&str> = instances.collect();
        let blocking: Vec<String> = attached
            .iter()
            .filter(|c| c.service_instance_name.as_deref().is_some_and(|i| names.contains(&i)))
            .map(|c| format!("component {} on instance {}", c.name, c.service_instance_name.as_deref().unwrap_or_default()))
            .collect();
        if !blocking.is_empty() {
            return Err(ServiceError::Conflict(format!(
                "service {service}: {} attached; detach or delete the component(s) first",
                blocking.join(", ")
            )));
        }
        Ok(())
    }

    async fn version_list(
        &self,
        kind: TemplateKind,
        template: &str,
    ) -> Result<Vec<(VersionNumber, TemplateVersionStatus, Option<String>)>> {
        Ok(self.store.list_versions(kind, template, None).await?.into_iter().map(|v| (v.version, v.status, v.blocked)).collect())
    }

    /// Checks each instance's environment exists, is deployed and is compatible with `version`.
    async fn check_environments(&self, version: &VersionRecord, instances: &[deuteron_bundle::ServiceSpecInstance]) -> Result<()> {
        for (i, inst) in instances.iter().enumerate() {
            let env = match self.store.get_environment(&inst.environment).await {
                Ok(e) => e,
                Err(StoreError::NotFound(_)) => {
                    return Err(ServiceError::validation(format!(
                        "$.instances[{i}].environment: environment {} does not exist",
                        inst.environment
                    )));
                }
                Err(e) => return Err(e.into()),
            };
            if !environment_is_compatible(&version.compatible_environments, &env.template_name, env.version.major) {
                return Err(ServiceError::validation(format!(
                    "$.instances[{i}].environment: environment {} runs {}:{}, which service template {} version {} is not compatible with (compatible: {})",
                    env.name,
                    env.template_name,
                    env.version.major,
                    version.template_name,
                    version.version,
                    version.compatible_environments.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                )));
            }
            if env.deployment.last_succeeded_deployment_id.is_none() {
                return Err(ServiceError::validation(format!(
                    "$.instances[{i}].environment: environment {} has not been deployed successfully yet ({})",
                    env.name, env.deployment.status
                )));
            }
        }
        Ok(())
    }

    pub async fn create_service(&self, input: CreateService) -> Result<ServiceRecord> {
        ResourceName::parse(&input.name).map_err(|e| ServiceError::validation(format!("service name: {e}")))?;
        let template = self.store.get_template(TemplateKind::Service, &input.template_name).await?;
        let version = self.deployable_version(TemplateKind::Service, &input.template_name, input.major, input.minor).await?;
        let spec = match SpecFile::parse("spec", &input.spec).map_err(|e| ServiceError::validation(e.to_string()))? {
            SpecFile::Service(s) => s,
            SpecFile::Environment(_) => {
                return Err(ServiceError::validation("a service needs a ServiceSpec (proton: ServiceSpec), not an EnvironmentSpec"));
            }
        };
        let schema = self.schema_of(&version)?;
        let (pipeline_inputs, instance_inputs) = spec.validate(&schema).map_err(|e| invalid_inputs("the service spec", e))?;
        self.check_environments(&version, &spec.instances).await?;
        let has_pipeline = template.provisioning == Provisioning::Standard;
        let mut instances = Vec::new();
        let mut deployments = Vec::new();
        for (inst, inputs) in spec.instances.iter().zip(instance_inputs) {
            let inst_spec = json!({"name": inst.name, "environment": inst.environment, "spec": inst.spec}).to_string();
            instances.push(NewInstance {
                service_name: input.name.clone(),
                name: inst.name.clone(),
                environment_name: inst.environment.clone(),
                template_name: input.template_name.clone(),
                version: version.version,
                spec: inst_spec.clone(),
                inputs: inputs.to_string(),
            });
            deployments.push(NewDeployment {
                id: new_id(),
                target: Target::ServiceInstance { service: input.name.clone(), instance: inst.name.clone() },
                environment_name: Some(inst.environment.clone()),
                action: DeploymentAction::Provision,
                initial_state: None,
                target_state: state(&version, &inst_spec, inputs),
            });
        }
        let pipeline = has_pipeline.then(|| {
            let p = pipeline_inputs.unwrap_or_else(|| json!({}));
            NewPipeline {
                service_name: input.name.clone(),
                template_name: input.template_name.clone(),
                version: version.version,
                spec: json!(spec.pipeline.clone().unwrap_or_else(|| json!({}))).to_string(),
                inputs: p.to_string(),
            }
        });
        let svc = self
            .store
            .create_service(
                &NewService {
                    name: input.name.clone(),
                    description: input.description,
                    template_name: input.template_name,
                    spec: input.spec,
                    repository_connection_arn: input.repository_connection_arn,
                    repository_id: input.repository_id,
                    branch_name: input.branch_name,
                },
                &instances,
                pipeline.as_ref(),
                &deployments,
            )
            .await?;
        tracing::info!(service = %svc.name, instances = instances.len(), pipeline = has_pipeline, "service created");
        Ok(svc)
    }

    pub async fn get_service(&self, name: &str) -> Result<ServiceRecord> {
        self.named(crate::lookup::Named::Service(name), self.store.get_service(name)).await
    }

    pub async fn list_services(&self) -> Result<Vec<ServiceRecord>> {
        Ok(self.store.list_services().await?)
    }

    /// Deletes a service: deprovisions every instance and the pipeline; the service goes when
    /// they are gone.
    pub async fn delete_service(&self, name: &str) -> Result<Vec<DeploymentRecord>> {
        let svc = self.store.get_service(name).await?;
        let instances = self.store.list_instances(Some(name), None).await?;
        let mut pipeline = self.store.get_pipeline(name).await.ok();
        self.refuse_attached(name, instances.iter().map(|i| i.name.as_str())).await?;
        for i in &instances {
            conflict_if_active(&format!("service instance {name}/{}", i.name), i.deployment.status)?;
        }
        // A pipeline no deployment was ever enqueued for (its instances failed first) has no
        // infrastructure: it goes without a deprovision.
        if pipeline.as_ref().is_some_and(|p| p.deployment.last_attempted_deployment_id.is_none())
            && self.store.remove_undeployed_pipeline(name).await?
        {
            pipeline = None;
        }
        if let Some(p) = &pipeline {
            conflict_if_active(&format!("pipeline of service {name}"), p.deployment.status)?;
        }
        self.store.set_service_status(name, ServiceStatus::DeleteInProgress, None).await?;
        if instances.is_empty() && pipeline.is_none() {
            self.store.delete_service(name).await?;
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for i in instances {
            let current = current_state(&svc.template_name, i.version, &i.spec, &i.inputs);
            let d = NewDeployment {
                id: new_id(),
                target: Target::ServiceInstance { service: name.to_string(), instance: i.name.clone() },
                environment_name: Some(i.environment_name.clone()),
                action: DeploymentAction::Deprovision,
                initial_state: Some(current.clone()),
                target_state: current,
            };
            out.push(self.store.enqueue_deployment(&d, DeploymentStatus::DeleteInProgress).await?);
        }
        if let Some(p) = pipeline {
            let current = current_state(&p.template_name, p.version, &p.spec, &p.inputs);
            let d = NewDeployment {
                id: new_id(),
                target: Target::ServicePipeline(name.to_string()),
                environment_name: None,
                action: DeploymentAction::Deprovision,
                initial_state: Some(current.clone()),
                target_state: current,
            };
            out.push(self.store.enqueue_deployment(&d, DeploymentStatus::DeleteInProgress).await?);
        }
        Ok(out)
    }

    /// Proton's `UpdateService`: a new description, and/or a ServiceSpec that adds instances
    /// (new entries) and removes instances (entries left out). Remaining instances and the
    /// pipeline keep their specs; the pipeline is redeployed once the instances are settled, so
    /// its `service_instances` loop sees the new set.
    pub async fn update_service(&self, name: &str, description: Option<Option<String>>, spec: Option<String>) -> Result<ServiceRecord> {
        self.change_service(name, description, spec, None).await
    }

    /// `update_service`; `pin` chooses the version new instances deploy at (a major, and a minor
    /// or its recommended one) instead of the recommended minor of the major the others run.
    async fn change_service(
        &self,
        name: &str,
        description: Option<Option<String>>,
        spec: Option<String>,
        pin: Option<(u32, Option<u32>)>,
    ) -> Result<ServiceRecord> {
        let svc = self.store.get_service(name).await?;
        if let Some(d) = description {
            self.store.set_service_description(name, d.as_deref()).await?;
        }
        let Some(spec_text) = spec else { return Ok(self.store.get_service(name).await?) };
        if matches!(svc.status, ServiceStatus::CreateInProgress | ServiceStatus::UpdateInProgress | ServiceStatus::DeleteInProgress) {
            return Err(ServiceError::Conflict(format!("service {name} is {}; wait for it to settle", svc.status)));
        }
        let parsed = match SpecFile::parse("spec", &spec_text).map_err(|e| ServiceError::validation(e.to_string()))? {
            SpecFile::Service(s) => s,
            SpecFile::Environment(_) => return Err(ServiceError::validation("a service update needs a ServiceSpec")),
        };
        let current = self.store.list_instances(Some(name), None).await?;
        for i in &current {
            conflict_if_active(&format!("service instance {name}/{}", i.name), i.deployment.status)?;
        }
        let added: Vec<(usize, &deuteron_bundle::ServiceSpecInstance)> =
            parsed.instances.iter().enumerate().filter(|(_, i)| !current.iter().any(|c| c.name == i.name)).collect();
        let removed: Vec<&InstanceRecord> = current.iter().filter(|c| !parsed.instances.iter().any(|i| i.name == c.name)).collect();
        for (i, inst) in parsed.instances.iter().enumerate() {
            if let Some(c) = current.iter().find(|c| c.name == inst.name)
                && c.environment_name != inst.environment
            {
                return Err(ServiceError::validation(format!(
                    "$.instances[{i}].environment: instance {} runs in {}; an update may not move it (remove it and add a new one)",
                    inst.name, c.environment_name
                )));
            }
        }
        self.refuse_attached(name, removed.iter().map(|r| r.name.as_str())).await?;
        if added.is_empty() && removed.is_empty() {
            return Err(ServiceError::validation("the spec neither adds nor removes an instance; update instances with `instance update`"));
        }
        // New instances deploy at the version of the template's recommended minor of the major the
        // service's instances run (Proton adds them at the service's current version).
        let (major, minor) = pin.unwrap_or((current.first().map(|c| c.version.major).unwrap_or(1), None));
        let version = self.deployable_version(TemplateKind::Service, &svc.template_name, major, minor).await?;
        let schema = self.schema_of(&version)?;
        let mut errors = Vec::new();
        let mut instances = Vec::new();
        let mut deployments = Vec::new();
        for (i, inst) in &added {
            match schema.validate(InputKind::ServiceInstance, &inst.spec, &format!("$.instances[{i}].spec")) {
                Err(e) => errors.extend(e),
                Ok(inputs) => {
                    let inst_spec = json!({"name": inst.name, "environment": inst.environment, "spec": inst.spec}).to_string();
                    instances.push(NewInstance {
                        service_name: name.to_string(),
                        name: inst.name.clone(),
                        environment_name: inst.environment.clone(),
                        template_name: svc.template_name.clone(),
                        version: version.version,
                        spec: inst_spec.clone(),
                        inputs: inputs.to_string(),
                    });
                    deployments.push(NewDeployment {
                        id: new_id(),
                        target: Target::ServiceInstance { service: name.to_string(), instance: inst.name.clone() },
                        environment_name: Some(inst.environment.clone()),
                        action: DeploymentAction::Provision,
                        initial_state: None,
                        target_state: state(&version, &inst_spec, inputs),
                    });
                }
            }
        }
        if !errors.is_empty() {
            return Err(invalid_inputs("the service spec", errors));
        }
        let new_instances: Vec<_> = added.iter().map(|(_, i)| (*i).clone()).collect();
        self.check_environments(&version, &new_instances).await?;
        if parsed.instances.is_empty() {
            return Err(ServiceError::validation("a service keeps at least one instance; delete the service instead"));
        }
        self.store.set_service_status(name, ServiceStatus::UpdateInProgress, None).await?;
        self.store.add_instances(name, &spec_text, &instances, &deployments).await?;
        for r in removed {
            let current = current_state(&r.template_name, r.version, &r.spec, &r.inputs);
            let d = NewDeployment {
                id: new_id(),
                target: Target::ServiceInstance { service: name.to_string(), instance: r.name.clone() },
                environment_name: Some(r.environment_name.clone()),
                action: DeploymentAction::Deprovision,
                initial_state: Some(current.clone()),
                target_state: current,
            };
            self.store.enqueue_deployment(&d, DeploymentStatus::DeleteInProgress).await?;
        }
        tracing::info!(service = %name, added = instances.len(), "service update enqueued");
        Ok(self.store.get_service(name).await?)
    }

    /// Proton's `CreateServiceInstance`: adds one instance, named in `spec` (a ServiceSpec whose
    /// `instances` has an entry for it), to an existing service; the service's spec gains the entry
    /// and the pipeline is redeployed, as with [`Deuteron::update_service`].
    /// Proton's `CreateServiceInstance`: adds one instance (its entry in `spec`) at `version`
    /// (a major and optionally a minor; default: the recommended minor of the major the service's
    /// instances run).
    pub async fn create_instance(
        &self,
        service: &str,
        name: &str,
        spec: &str,
        version: Option<(u32, Option<u32>)>,
    ) -> Result<ServiceRecord> {
        ResourceName::parse(name).map_err(|e| ServiceError::validation(format!("name: {e}")))?;
        let svc = self.store.get_service(service).await?;
        let given = match SpecFile::parse("spec", spec).map_err(|e| ServiceError::validation(e.to_string()))? {
            SpecFile::Service(s) => s,
            SpecFile::Environment(_) => return Err(ServiceError::validation("spec: a service instance needs a ServiceSpec")),
        };
        let entry = given
            .instances
            .iter()
            .find(|i| i.name == name)
            .ok_or_else(|| ServiceError::validation(format!("spec: the ServiceSpec has no entry for instance {name}")))?;
        if self.store.get_instance(service, name).await.is_ok() {
            return Err(ServiceError::Conflict(format!("service instance {service}/{name} already exists")));
        }
        let mut current: Value =
            serde_norway::from_str(&svc.spec).map_err(|e| ServiceError::Internal(format!("stored spec of {service}: {e}")))?;
        let list = current
            .get_mut("instances")
            .and_then(Value::as_array_mut)
            .ok_or_else(|| ServiceError::Internal(format!("stored spec of {service} has no instances")))?;
        list.push(json!({"name": entry.name, "environment": entry.environment, "spec": entry.spec}));
        let merged = serde_norway::to_string(&current).map_err(|e| ServiceError::Internal(e.to_string()))?;
        self.change_service(service, None, Some(merged), version).await
    }

    /// Records the Proton `clientToken` of the request that created or updated an instance.
    pub async fn record_instance_client_token(&self, service: &str, name: &str, token: &str) -> Result<()> {
        Ok(self.store.set_instance_client_token(service, name, token).await?)
    }

    /// A page of instances in `(service, name)` order.
    pub async fn query_instances(&self, query: &deuteron_store::InstanceQuery) -> Result<Vec<InstanceRecord>> {
        Ok(self.store.query_instances(query).await?)
    }

    pub async fn get_instance(&self, service: &str, name: &str) -> Result<InstanceRecord> {
        self.named(crate::lookup::Named::Instance(service, name), self.store.get_instance(service, name)).await
    }

    pub async fn list_instances(&self, service: Option<&str>, environment: Option<&str>) -> Result<Vec<InstanceRecord>> {
        Ok(self.store.list_instances(service, environment).await?)
    }

    /// Proton's `UpdateServiceInstance`. The spec is a ServiceSpec naming the instance, or a
    /// mapping of the instance's inputs.
    pub async fn update_instance(&self, service: &str, name: &str, update: UpdateResource) -> Result<Option<DeploymentRecord>> {
        let inst = self.store.get_instance(service, name).await?;
        let Some(d) = self.prepare_instance_update(&inst, &update, &Lookups::default()).await? else { return Ok(None) };
        let dep = self.store.enqueue_deployment(&d, DeploymentStatus::InProgress).await?;
        tracing::info!(instance = %format!("{service}/{name}"), deployment = %dep.id, to = %format_args!("{}.{}", d.target_state.template_major_version, d.target_state.template_minor_version), "instance update enqueued");
        Ok(Some(dep))
    }

    /// Checks a service instance update and builds its deployment (`None` for `NONE` updates).
    pub(crate) async fn prepare_instance_update(
        &self,
        inst: &InstanceRecord,
        update: &UpdateResource,
        lookups: &Lookups,
    ) -> Result<Option<NewDeployment>> {
        let (service, name) = (inst.service_name.as_str(), inst.name.as_str());
        let what = format!("service instance {service}/{name}");
        let target = lookups.update_target(self, (TemplateKind::Service, &inst.template_name), &what, inst.version, update).await?;
        if update.update_type == UpdateType::None {
            return Ok(None);
        }
        conflict_if_active(&format!("service instance {service}/{name}"), inst.deployment.status)?;
        for c in lookups.attached(self, service).await?.iter().filter(|c| c.service_instance_name.as_deref() == Some(name)) {
            conflict_if_active(&format!("component {} attached to service instance {service}/{name}", c.name), c.deployment.status)?;
        }
        let version = lookups.version(self, TemplateKind::Service, &inst.template_name, target).await?;
        let env = lookups.environment(self, &inst.environment_name).await?;
        if !environment_is_compatible(&version.compatible_environments, &env.template_name, env.version.major) {
            return Err(ServiceError::validation(format!(
                "service template {} version {} is not compatible with environment {} ({}:{})",
                version.template_name, version.version, env.name, env.template_name, env.version.major
            )));
        }
        let given: Value = match &update.spec {
            None => serde_json::from_str::<Value>(&inst.spec).ok().and_then(|v| v.get("spec").cloned()).unwrap_or_else(|| json!({})),
            Some(text) => instance_spec_from(text, name)?,
        };
        let schema = self.schema_of(&version)?;
        let inputs = schema
            .validate(InputKind::ServiceInstance, &given, "$.spec")
            .map_err(|e| invalid_inputs(&format!("the spec of instance {name}"), e))?;
        let inst_spec = json!({"name": name, "environment": inst.environment_name, "spec": given}).to_string();
        Ok(Some(NewDeployment {
            id: new_id(),
            target: Target::ServiceInstance { service: service.to_string(), instance: name.to_string() },
            environment_name: Some(inst.environment_name.clone()),
            action: DeploymentAction::Provision,
            initial_state: Some(current_state(&inst.template_name, inst.version, &inst.spec, &inst.inputs)),
            target_state: state(&version, &inst_spec, inputs),
        }))
    }

    pub async fn list_pipelines(&self) -> Result<Vec<PipelineRecord>> {
        Ok(self.store.list_pipelines().await?)
    }

    pub async fn get_pipeline(&self, service: &str) -> Result<PipelineRecord> {
        Ok(self.store.get_pipeline(service).await?)
    }

    /// Proton's `UpdateServicePipeline`; the spec is a ServiceSpec whose `pipeline` is used.
    pub async fn update_pipeline(&self, service: &str, update: UpdateResource) -> Result<Option<DeploymentRecord>> {
        let p = self.store.get_pipeline(service).await?;
        match self.prepare_pipeline_update(&p, &update, &Lookups::default()).await? {
            None => Ok(None),
            Some(d) => Ok(Some(self.store.enqueue_deployment(&d, DeploymentStatus::InProgress).await?)),
        }
    }

    /// The deployment that moves a pipeline as `update` asks (`None`: nothing to deploy); its
    /// spec is a ServiceSpec whose `pipeline` is used, or a mapping of the pipeline's inputs.
    pub(crate) async fn prepare_pipeline_update(
        &self,
        p: &PipelineRecord,
        update: &UpdateResource,
        lookups: &Lookups,
    ) -> Result<Option<NewDeployment>> {
        let service = p.service_name.as_str();
        let what = format!("pipeline of service {service}");
        let target = lookups.update_target(self, (TemplateKind::Service, &p.template_name), &what, p.version, update).await?;
        if update.update_type == UpdateType::None {
            return Ok(None);
        }
        conflict_if_active(&format!("pipeline of service {service}"), p.deployment.status)?;
        let version = lookups.version(self, TemplateKind::Service, &p.template_name, target).await?;
        let given: Value = match &update.spec {
            None => serde_json::from_str(&p.spec).unwrap_or_else(|_| json!({})),
            Some(text) => pipeline_spec_from(text)?,
        };
        let schema = self.schema_of(&version)?;
        let inputs = schema.validate(InputKind::Pipeline, &given, "$.pipeline").map_err(|e| invalid_inputs("the pipeline spec", e))?;
        Ok(Some(NewDeployment {
            id: new_id(),
            target: Target::ServicePipeline(service.to_string()),
            environment_name: None,
            action: DeploymentAction::Provision,
            initial_state: Some(current_state(&p.template_name, p.version, &p.spec, &p.inputs)),
            target_state: state(&version, &given.to_string(), inputs),
        }))
    }

    /// The deployment a resource is going through (`None` when none is in progress).
    pub async fn active_deployment(&self, target: &Target) -> Result<Option<String>> {
        let fields = match target {
            Target::Environment(n) => self.store.get_environment(n).await?.deployment,
            Target::ServiceInstance { service, instance } => self.store.get_instance(service, instance).await?.deployment,
            Target::ServicePipeline(s) => self.store.get_pipeline(s).await?.deployment,
            Target::Component(n) => self.store.get_component(n).await?.deployment,
        };
        Ok(fields.last_attempted_deployment_id.filter(|_| fields.status.is_active()))
    }

    /// Proton's `NotifyResourceDeploymentStatusChange` from a running deployment's commands (or
    /// pipeline): records the outputs it reports, applied with the provisioner's own when the
    /// deployment succeeds. The provisioner's result decides the deployment's status, as the
    /// CodeBuild job's did in Proton; a reported status and message go into the log.
    pub async fn notify_deployment(
        &self,
        target: &Target,
        deployment_id: Option<&str>,
        status: Option<&str>,
        outputs: Vec<(String, String)>,
        message: Option<&str>,
    ) -> Result<DeploymentRecord> {
        if outputs.len() > 50 {
            return Err(ServiceError::validation(format!("outputs: {} given; at most 50 per call", outputs.len())));
        }
        for (i, (k, v)) in outputs.iter().enumerate() {
            if !(1..=1024).contains(&k.chars().count()) || !(1..=1024).contains(&v.chars().count()) {
                return Err(ServiceError::validation(format!("outputs[{i}]: key and valueString must be 1 to 1024 characters")));
            }
        }
        let current = self
            .active_deployment(target)
            .await?
            .ok_or_else(|| ServiceError::Conflict(format!("{target} has no deployment in progress to report on")))?;
        if let Some(given) = deployment_id
            && given != current
        {
            return Err(ServiceError::validation(format!(
                "deploymentId: {given} is not the deployment in progress for {target} ({current})"
            )));
        }
        let mut line = format!("NotifyResourceDeploymentStatusChange: status {}", status.unwrap_or("IN_PROGRESS"));
        if !outputs.is_empty() {
            line.push_str(&format!(", outputs {}", outputs.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")));
        }
        if let Some(m) = message {
            line.push_str(&format!(": {m}"));
        }
        let d = self.store.report_outputs(&current, &outputs, &line).await?;
        tracing::info!(deployment = %current, target = %target, outputs = outputs.len(), "deployment reported outputs");
        Ok(d)
    }

    /// Status-change events after `filter.after`, oldest first.
    pub async fn list_events(&self, filter: &deuteron_store::EventFilter) -> Result<Vec<deuteron_store::EventRecord>> {
        Ok(self.store.list_events(filter).await?)
    }

    /// The infrastructure behind a resource (a CloudFormation stack, Terraform-managed resources).
    pub async fn provisioned_resources(&self, target: &Target) -> Result<Vec<deuteron_store::ProvisionedResource>> {
        Ok(self.store.provisioned_resources(target).await?)
    }

    pub async fn outputs(&self, target: &Target) -> Result<Vec<(String, String)>> {
        Ok(self.store.outputs(target).await?)
    }

    pub async fn get_deployment(&self, id: &str) -> Result<DeploymentRecord> {
        let id = self.resolve_id(deuteron_store::IdTable::Deployments, id).await?;
        Ok(self.store.get_deployment(&id).await?)
    }

    pub async fn list_deployments(&self, filter: &DeploymentFilter) -> Result<Vec<DeploymentRecord>> {
        Ok(self.store.list_deployments(filter).await?)
    }

    pub async fn deployment_log(&self, id: &str, after_seq: i64) -> Result<Vec<LogLine>> {
        let id = self.resolve_id(deuteron_store::IdTable::Deployments, id).await?;
        self.store.get_deployment(&id).await?;
        Ok(self.store.read_log(&id, after_seq).await?)
    }

    /// Cancels a queued or running deployment (best effort, as in Proton).
    pub async fn cancel_deployment(&self, id: &str) -> Result<DeploymentRecord> {
        let id = self.resolve_id(deuteron_store::IdTable::Deployments, id).await?;
        let d = self.store.request_cancel(&id).await?;
        tracing::info!(deployment = %id, target = %d.target, "deployment cancellation requested");
        Ok(d)
    }
}

/// Inputs from an EnvironmentSpec, validated against the version's schema.
fn environment_inputs(svc: &Deuteron, version: &VersionRecord, spec: &str) -> Result<Value> {
    let parsed = match SpecFile::parse("spec", spec).map_err(|e| ServiceError::validation(e.to_string()))? {
        SpecFile::Environment(e) => e,
        SpecFile::Service(_) => {
            return Err(ServiceError::validation("an environment needs an EnvironmentSpec (proton: EnvironmentSpec), not a ServiceSpec"));
        }
    };
    let schema = svc.schema_of(version)?;
    parsed.validate(&schema).map_err(|e| invalid_inputs("the environment spec", e))
}

/// An instance's inputs from a ServiceSpec entry named `name`, or a plain mapping of inputs.
pub(crate) fn instance_spec_from(text: &str, name: &str) -> Result<Value> {
    if let Ok(SpecFile::Service(s)) = SpecFile::parse("spec", text) {
        return s
            .instances
            .into_iter()
            .find(|i| i.name == name)
            .map(|i| i.spec)
            .ok_or_else(|| ServiceError::validation(format!("the ServiceSpec has no entry for instance {name}")));
    }
    let v: Value = serde_norway::from_str(text).map_err(|e| ServiceError::validation(format!("spec: {e}")))?;
    if !v.is_object() {
        return Err(ServiceError::validation("spec: must be a ServiceSpec or a mapping of the instance's inputs"));
    }
    Ok(v)
}

/// A pipeline's inputs from an update's spec: a ServiceSpec (its `pipeline`), or a mapping of
/// the pipeline's inputs (what a rollout stores).
pub(crate) fn pipeline_spec_from(text: &str) -> Result<Value> {
    let v: Value = serde_norway::from_str(text).map_err(|e| ServiceError::validation(format!("spec: {e}")))?;
    if v.get("proton").is_some() {
        return match SpecFile::parse("spec", text).map_err(|e| ServiceError::validation(e.to_string()))? {
            SpecFile::Service(s) => Ok(s.pipeline.unwrap_or_else(|| json!({}))),
            SpecFile::Environment(_) => Err(ServiceError::validation("a pipeline update needs a ServiceSpec")),
        };
    }
    if !v.is_object() {
        return Err(ServiceError::validation("spec: must be a ServiceSpec or a mapping of the pipeline's inputs"));
    }
    Ok(v)
}
