//! Records of provisioned resources and deployments.

use deuteron_core::{DeploymentAction, DeploymentStatus, Provisioning, ServiceStatus, TargetType, VersionNumber};

use crate::Millis;

/// Deployment bookkeeping every provisioned resource carries (Proton's `LAST*` fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentFields {
    pub status: DeploymentStatus,
    pub status_message: Option<String>,
    pub last_attempted_deployment_id: Option<String>,
    pub last_succeeded_deployment_id: Option<String>,
    pub last_attempted_at: Option<Millis>,
    pub last_succeeded_at: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentRecord {
    pub name: String,
    pub description: Option<String>,
    pub template_name: String,
    /// The version last deployed successfully (the target version while the first deploys).
    pub version: VersionNumber,
    /// The spec as given (YAML or JSON text).
    pub spec: String,
    /// The validated inputs with defaults, as JSON.
    pub inputs: String,
    pub provisioning: Provisioning,
    pub role_arn: Option<String>,
    pub codebuild_role_arn: Option<String>,
    pub component_role_arn: Option<String>,
    pub deployment: DeploymentFields,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEnvironment {
    pub name: String,
    pub description: Option<String>,
    pub template_name: String,
    pub version: VersionNumber,
    pub spec: String,
    pub inputs: String,
    pub provisioning: Provisioning,
    pub role_arn: Option<String>,
    pub codebuild_role_arn: Option<String>,
    pub component_role_arn: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRecord {
    pub name: String,
    pub description: Option<String>,
    pub template_name: String,
    pub spec: String,
    pub status: ServiceStatus,
    pub status_message: Option<String>,
    pub repository_connection_arn: Option<String>,
    pub repository_id: Option<String>,
    pub branch_name: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewService {
    pub name: String,
    pub description: Option<String>,
    pub template_name: String,
    pub spec: String,
    pub repository_connection_arn: Option<String>,
    pub repository_id: Option<String>,
    pub branch_name: Option<String>,
}

/// What [`crate::Store::finish_and_claim`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    pub deployment: DeploymentRecord,
    /// The status of the deployment's service as the finish left it (instance and pipeline
    /// deployments of a service that exists).
    pub service_status: Option<deuteron_core::ServiceStatus>,
    /// The deployment claimed next, if one was asked for and claimable.
    pub next: Option<DeploymentRecord>,
}

/// See [`crate::Store::instance_context`]; outputs are ordered by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceContext {
    pub environment_name: String,
    pub environment_outputs: Vec<(String, String)>,
    pub branch_name: Option<String>,
    pub repository_connection_arn: Option<String>,
    pub repository_id: Option<String>,
    pub has_pipeline: bool,
    /// The attached component's name and outputs.
    pub component: Option<(String, Vec<(String, String)>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceRecord {
    pub service_name: String,
    pub name: String,
    pub environment_name: String,
    pub template_name: String,
    pub version: VersionNumber,
    pub spec: String,
    pub inputs: String,
    pub deployment: DeploymentFields,
    /// The `clientToken` of the last Proton request that created or updated it.
    pub last_client_request_token: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstance {
    pub service_name: String,
    pub name: String,
    pub environment_name: String,
    pub template_name: String,
    pub version: VersionNumber,
    pub spec: String,
    pub inputs: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineRecord {
    pub service_name: String,
    pub template_name: String,
    pub version: VersionNumber,
    pub spec: String,
    pub inputs: String,
    pub deployment: DeploymentFields,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPipeline {
    pub service_name: String,
    pub template_name: String,
    pub version: VersionNumber,
    pub spec: String,
    pub inputs: String,
}

/// A directly defined component: its own template file and manifest, deployed in an
/// environment and optionally attached to one service instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentRecord {
    pub name: String,
    pub description: Option<String>,
    pub environment_name: String,
    pub service_name: Option<String>,
    pub service_instance_name: Option<String>,
    /// The ServiceSpec the component reads its instance's inputs from (attached components).
    pub service_spec: Option<String>,
    pub template_file: String,
    pub manifest: String,
    pub last_client_request_token: Option<String>,
    pub deployment: DeploymentFields,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A component's fields as written by a create or an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewComponent {
    pub name: String,
    pub description: Option<String>,
    pub environment_name: String,
    pub service_name: Option<String>,
    pub service_instance_name: Option<String>,
    pub service_spec: Option<String>,
    pub template_file: String,
    pub manifest: String,
    pub client_token: Option<String>,
}

impl From<&ComponentRecord> for NewComponent {
    fn from(c: &ComponentRecord) -> Self {
        NewComponent {
            name: c.name.clone(),
            description: c.description.clone(),
            environment_name: c.environment_name.clone(),
            service_name: c.service_name.clone(),
            service_instance_name: c.service_instance_name.clone(),
            service_spec: c.service_spec.clone(),
            template_file: c.template_file.clone(),
            manifest: c.manifest.clone(),
            client_token: None,
        }
    }
}

/// Filters of component lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentFilter {
    pub environment_name: Option<String>,
    pub service_name: Option<String>,
    pub service_instance_name: Option<String>,
}

/// Names a provisioned resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Environment(String),
    ServiceInstance { service: String, instance: String },
    ServicePipeline(String),
    Component(String),
}

impl Target {
    pub fn target_type(&self) -> TargetType {
        match self {
            Target::Environment(_) => TargetType::Environment,
            Target::ServiceInstance { .. } => TargetType::ServiceInstance,
            Target::ServicePipeline(_) => TargetType::ServicePipeline,
            Target::Component(_) => TargetType::Component,
        }
    }

    /// The key stored with deployments and outputs: `env`, `service/instance`, `service`, `component`.
    pub fn key(&self) -> String {
        match self {
            Target::Environment(n) | Target::ServicePipeline(n) | Target::Component(n) => n.clone(),
            Target::ServiceInstance { service, instance } => format!("{service}/{instance}"),
        }
    }

    pub fn from_parts(target_type: TargetType, key: &str) -> Option<Self> {
        match target_type {
            TargetType::Environment => Some(Target::Environment(key.to_string())),
            TargetType::ServicePipeline => Some(Target::ServicePipeline(key.to_string())),
            TargetType::ServiceInstance => {
                let (s, i) = key.split_once('/')?;
                Some(Target::ServiceInstance { service: s.into(), instance: i.into() })
            }
            TargetType::Component => Some(Target::Component(key.to_string())),
        }
    }
}

impl Target {
    /// The resource's ARN.
    pub fn arn(&self, arn: &deuteron_core::ArnConfig) -> String {
        match self {
            Target::Environment(n) => arn.environment(n),
            Target::ServiceInstance { service, instance } => arn.service_instance(service, instance),
            Target::ServicePipeline(s) => arn.service_pipeline(s),
            Target::Component(n) => arn.component(n),
        }
    }

    /// `(service, instance, component)` a deployment of this target names; a component's
    /// attachment comes from the deployment's target state.
    pub fn names<'a>(&'a self, state: &'a ResourceState) -> (Option<&'a str>, Option<&'a str>, Option<&'a str>) {
        match self {
            Target::ServiceInstance { service, instance } => (Some(service), Some(instance), None),
            Target::ServicePipeline(s) => (Some(s), None, None),
            Target::Environment(_) => (None, None, None),
            Target::Component(c) => {
                let a = state.component.as_ref();
                (a.and_then(|a| a.service_name.as_deref()), a.and_then(|a| a.service_instance_name.as_deref()), Some(c))
            }
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Environment(n) => write!(f, "environment {n}"),
            Target::ServiceInstance { service, instance } => write!(f, "service instance {service}/{instance}"),
            Target::ServicePipeline(s) => write!(f, "pipeline of service {s}"),
            Target::Component(n) => write!(f, "component {n}"),
        }
    }
}

/// The state a deployment starts from or moves to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceState {
    pub template_name: String,
    pub template_major_version: String,
    pub template_minor_version: String,
    /// The spec as given.
    pub spec: String,
    /// Validated inputs with defaults (JSON).
    pub inputs: serde_json::Value,
    /// Components only: what a component deploys (components have no template version; their
    /// `spec` is the ServiceSpec they read instance inputs from, empty when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentState>,
}

/// The part of a component's state that templates version for other resources.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentState {
    pub service_name: Option<String>,
    pub service_instance_name: Option<String>,
    pub template_file: String,
    pub manifest: String,
}

impl ResourceState {
    /// The state of a versioned resource; `inputs` is the stored JSON text.
    pub fn versioned(template: &str, version: VersionNumber, spec: &str, inputs: serde_json::Value) -> Self {
        Self {
            template_name: template.to_string(),
            template_major_version: version.major.to_string(),
            template_minor_version: version.minor.to_string(),
            spec: spec.to_string(),
            inputs,
            component: None,
        }
    }

    /// The state of a stored versioned resource (its inputs kept as JSON text).
    pub fn stored(template: &str, version: VersionNumber, spec: &str, inputs: &str) -> Self {
        Self::versioned(template, version, spec, serde_json::from_str(inputs).unwrap_or_else(|_| serde_json::json!({})))
    }

    /// The state of a component with fields `c`.
    pub fn of_component(c: &NewComponent) -> Self {
        Self {
            template_name: String::new(),
            template_major_version: String::new(),
            template_minor_version: String::new(),
            spec: c.service_spec.clone().unwrap_or_default(),
            inputs: serde_json::json!({}),
            component: Some(ComponentState {
                service_name: c.service_name.clone(),
                service_instance_name: c.service_instance_name.clone(),
                template_file: c.template_file.clone(),
                manifest: c.manifest.clone(),
            }),
        }
    }

    pub fn version(&self) -> Option<VersionNumber> {
        Some(VersionNumber::new(self.template_major_version.parse().ok()?, self.template_minor_version.parse().ok()?))
    }
}

/// Where a deployment's job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Queued,
    Running,
    Done,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "QUEUED",
            JobState::Running => "RUNNING",
            JobState::Done => "DONE",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "QUEUED" => Some(JobState::Queued),
            "RUNNING" => Some(JobState::Running),
            "DONE" => Some(JobState::Done),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRecord {
    pub id: String,
    pub target: Target,
    pub environment_name: Option<String>,
    pub action: DeploymentAction,
    pub status: DeploymentStatus,
    pub status_message: Option<String>,
    pub initial_state: Option<ResourceState>,
    pub target_state: ResourceState,
    pub job_state: JobState,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<Millis>,
    pub attempts: i64,
    pub cancel_requested: bool,
    pub created_at: Millis,
    pub started_at: Option<Millis>,
    pub completed_at: Option<Millis>,
    /// The rollout and the item (by sequence number) this deployment moves, if a rollout's.
    pub rollout_item: Option<(String, i64)>,
}

/// A deployment to enqueue with a state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeployment {
    pub id: String,
    pub target: Target,
    pub environment_name: Option<String>,
    pub action: DeploymentAction,
    pub initial_state: Option<ResourceState>,
    pub target_state: ResourceState,
}

/// How a deployment ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    pub status: DeploymentStatus,
    pub status_message: Option<String>,
    /// Outputs replacing the resource's outputs (successful provisions only).
    pub outputs: Option<Vec<(String, String)>>,
    /// Last `(stream, line)` log lines, written in the same transaction.
    pub log: Vec<(String, String)>,
    /// What the provisioner created (successful provisions only), replacing the resource's list.
    pub resources: Option<Vec<ProvisionedResource>>,
}

/// One piece of infrastructure behind a resource (Proton's `ProvisionedResource`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedResource {
    pub name: String,
    pub identifier: String,
    /// `CLOUDFORMATION` or `TERRAFORM`.
    pub engine: String,
}

/// What a running job learns from a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Heartbeat {
    /// The lease was extended.
    Held { cancel_requested: bool },
    /// Another worker owns the job now (this one's lease expired).
    Lost,
}

/// One line of a deployment's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub seq: i64,
    pub at: Millis,
    pub stream: String,
    pub line: String,
}

/// Filters of deployment lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentFilter {
    pub target: Option<Target>,
    pub environment_name: Option<String>,
    pub service_name: Option<String>,
    /// Only deployments in this status (`IN_PROGRESS`, `FAILED`, ...).
    pub status: Option<String>,
    pub limit: Option<i64>,
    /// Skip this many of the newest (paging).
    pub offset: i64,
}

/// An API access key; the secret stays sealed under the server key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKeyRecord {
    pub id: String,
    pub secret_sealed: String,
    pub role: deuteron_core::Role,
    pub description: Option<String>,
    pub created_at: Millis,
    pub revoked_at: Option<Millis>,
    /// For a `deployment` key: the deployment it was issued to (revoked when it finishes).
    pub deployment_id: Option<String>,
    /// Refused from this time on, whether revoked or not.
    pub expires_at: Option<Millis>,
}

/// A status change, as recorded with it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    pub seq: i64,
    pub at: Millis,
    /// `ENVIRONMENT_TEMPLATE`, `SERVICE_TEMPLATE_VERSION`, `ENVIRONMENT`, `SERVICE`,
    /// `SERVICE_INSTANCE`, `SERVICE_PIPELINE`, `COMPONENT`, ...
    pub resource_type: String,
    /// The resource's key: `name`, `service/instance`, `template:M.m`.
    pub resource: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<String>,
    /// The new status; `DELETED` once a resource is gone.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// How many resources of one kind are in one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusCount {
    /// `environment`, `service`, `service_instance`, `pipeline`, `component` or `deployment`.
    pub resource: String,
    pub status: String,
    pub count: i64,
}

/// Which events to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events after this sequence number.
    pub after: i64,
    pub resource_type: Option<String>,
    pub resource: Option<String>,
    pub limit: i64,
}

/// The event type of a template kind's templates and versions.
pub fn template_event_type(kind: deuteron_core::TemplateKind, version: bool) -> String {
    format!("{}_TEMPLATE{}", kind.as_str().to_uppercase(), if version { "_VERSION" } else { "" })
}

/// A reply kept for an idempotency token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentReply {
    pub request_hash: String,
    pub response: String,
    pub created_at: Millis,
}

/// One page of service instances in `(service, name)` order, after a key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceQuery {
    pub service: Option<String>,
    pub environment: Option<String>,
    pub template: Option<String>,
    pub deployment_status: Option<String>,
    pub name: Option<String>,
    /// Only instances running one of these `(template, version)` pairs (none when empty).
    pub versions: Option<Vec<(String, VersionNumber)>>,
    /// Only instances after this `(service, name)`.
    pub after: Option<(String, String)>,
    pub limit: i64,
    /// Skip this many (paging by position).
    pub offset: i64,
}

/// How many resources of one kind run one version of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionCount {
    /// `environment`, `service_instance` or `pipeline`.
    pub resource: String,
    pub template: String,
    pub version: VersionNumber,
    pub count: i64,
}

/// A linked source repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRecord {
    /// `GITHUB`, `GITHUB_ENTERPRISE` or `BITBUCKET`.
    pub provider: String,
    /// `owner/repo`.
    pub name: String,
    pub connection_arn: String,
    pub encryption_key: Option<String>,
    pub created_at: Millis,
}
