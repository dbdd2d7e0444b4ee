//! What operations return, serialised with Proton's field names (camelCase, ISO timestamps).

use serde::Serialize;

use deuteron_store::{Millis, TemplateRecord, VersionRecord};

pub fn iso(ms: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateView {
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `provisioning` of environment templates, `pipelineProvisioning` of service templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provisioning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_provisioning: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommended_version: Option<String>,
    /// The version the platform team chose as the recommended one, when it did (otherwise the
    /// recommended version is the highest published one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_recommended_version: Option<String>,
    pub created_at: String,
    pub last_modified_at: String,
}

impl From<&TemplateRecord> for TemplateView {
    fn from(t: &TemplateRecord) -> Self {
        let prov = t.provisioning.as_wire().map(str::to_string);
        let env = t.kind == deuteron_core::TemplateKind::Environment;
        Self {
            kind: t.kind.to_string(),
            name: t.name.clone(),
            display_name: t.display_name.clone(),
            description: t.description.clone(),
            provisioning: if env { prov.clone() } else { None },
            pipeline_provisioning: if env { None } else { prov },
            recommended_version: t.recommended.map(|v| v.to_string()),
            pinned_recommended_version: t.pinned.map(|v| v.to_string()),
            created_at: iso(t.created_at),
            last_modified_at: iso(t.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompatibleEnvironmentTemplateView {
    pub template_name: String,
    pub major_version: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionView {
    pub template_name: String,
    pub kind: String,
    pub major_version: String,
    pub minor_version: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommended_minor_version: Option<String>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub schema: String,
    pub bundle_digest: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compatible_environment_templates: Vec<CompatibleEnvironmentTemplateView>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supported_component_sources: Vec<String>,
    pub created_at: String,
    pub last_modified_at: String,
    /// Why the version is blocked (a rollout to it was rolled back): never recommended nor a
    /// default target until unblocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    /// In a publish's reply only: the rollout the template's automatic policy started for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_rollout: Option<String>,
}

impl From<&crate::registry::Published> for VersionView {
    fn from(p: &crate::registry::Published) -> Self {
        Self { started_rollout: p.rollout.clone(), ..Self::from(&p.version) }
    }
}

impl From<&VersionRecord> for VersionView {
    fn from(v: &VersionRecord) -> Self {
        Self {
            template_name: v.template_name.clone(),
            kind: v.kind.to_string(),
            major_version: v.version.major.to_string(),
            minor_version: v.version.minor.to_string(),
            version: v.version.to_string(),
            recommended_minor_version: v.recommended_minor.map(|m| m.to_string()),
            status: v.status.to_string(),
            status_message: v.status_message.clone(),
            description: v.description.clone(),
            schema: v.schema.clone(),
            bundle_digest: v.bundle_digest.clone(),
            compatible_environment_templates: v
                .compatible_environments
                .iter()
                .map(|c| CompatibleEnvironmentTemplateView {
                    template_name: c.template_name.clone(),
                    major_version: c.major_version.to_string(),
                })
                .collect(),
            supported_component_sources: v.supported_component_sources.iter().map(|s| s.as_str().to_string()).collect(),
            created_at: iso(v.created_at),
            last_modified_at: iso(v.updated_at),
            blocked: v.blocked.clone(),
            started_rollout: None,
        }
    }
}

use deuteron_store::{
    ComponentRecord, DeploymentFields, DeploymentRecord, EnvironmentRecord, InstanceRecord, LogLine, PipelineRecord, ServiceRecord,
};

fn iso_opt(ms: Option<Millis>) -> Option<String> {
    ms.map(iso)
}

/// Proton's `LAST*` deployment fields.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentFieldsView {
    pub deployment_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_status_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempted_deployment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_succeeded_deployment_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_deployment_attempted_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_deployment_succeeded_at: Option<String>,
}

impl From<&DeploymentFields> for DeploymentFieldsView {
    fn from(d: &DeploymentFields) -> Self {
        Self {
            deployment_status: d.status.to_string(),
            deployment_status_message: d.status_message.clone(),
            last_attempted_deployment_id: d.last_attempted_deployment_id.clone(),
            last_succeeded_deployment_id: d.last_succeeded_deployment_id.clone(),
            last_deployment_attempted_at: iso_opt(d.last_attempted_at),
            last_deployment_succeeded_at: iso_opt(d.last_succeeded_at),
        }
    }
}

/// Where a resource's version stands against its template's recommended version.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrencyView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommended_version: Option<String>,
    /// `UP_TO_DATE`, `BEHIND_MINOR` or `BEHIND_MAJOR`.
    pub template_version_status: String,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentView {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub template_name: String,
    pub template_major_version: String,
    pub template_minor_version: String,
    pub spec: String,
    #[serde(flatten)]
    pub deployment: DeploymentFieldsView,
    /// The template's recommended version and how this resource stands against it
    /// (`UP_TO_DATE`, `BEHIND_MINOR`, `BEHIND_MAJOR`), when looked up.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub currency: Option<CurrencyView>,
    pub created_at: String,
    pub last_modified_at: String,
}

impl From<&EnvironmentRecord> for EnvironmentView {
    fn from(e: &EnvironmentRecord) -> Self {
        Self {
            name: e.name.clone(),
            description: e.description.clone(),
            template_name: e.template_name.clone(),
            template_major_version: e.version.major.to_string(),
            template_minor_version: e.version.minor.to_string(),
            spec: e.spec.clone(),
            deployment: (&e.deployment).into(),
            currency: None,
            created_at: iso(e.created_at),
            last_modified_at: iso(e.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceView {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub template_name: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
    pub spec: String,
    pub created_at: String,
    pub last_modified_at: String,
}

impl From<&ServiceRecord> for ServiceView {
    fn from(s: &ServiceRecord) -> Self {
        Self {
            name: s.name.clone(),
            description: s.description.clone(),
            template_name: s.template_name.clone(),
            status: s.status.to_string(),
            status_message: s.status_message.clone(),
            spec: s.spec.clone(),
            created_at: iso(s.created_at),
            last_modified_at: iso(s.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstanceView {
    pub name: String,
    pub service_name: String,
    pub environment_name: String,
    pub template_name: String,
    pub template_major_version: String,
    pub template_minor_version: String,
    pub spec: String,
    #[serde(flatten)]
    pub deployment: DeploymentFieldsView,
    /// The template's recommended version and how this resource stands against it
    /// (`UP_TO_DATE`, `BEHIND_MINOR`, `BEHIND_MAJOR`), when looked up.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub currency: Option<CurrencyView>,
    pub created_at: String,
}

impl From<&InstanceRecord> for InstanceView {
    fn from(i: &InstanceRecord) -> Self {
        Self {
            name: i.name.clone(),
            service_name: i.service_name.clone(),
            environment_name: i.environment_name.clone(),
            template_name: i.template_name.clone(),
            template_major_version: i.version.major.to_string(),
            template_minor_version: i.version.minor.to_string(),
            spec: i.spec.clone(),
            deployment: (&i.deployment).into(),
            currency: None,
            created_at: iso(i.created_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineView {
    pub service_name: String,
    pub template_name: String,
    pub template_major_version: String,
    pub template_minor_version: String,
    pub spec: String,
    #[serde(flatten)]
    pub deployment: DeploymentFieldsView,
    /// The template's recommended version and how this resource stands against it
    /// (`UP_TO_DATE`, `BEHIND_MINOR`, `BEHIND_MAJOR`), when looked up.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub currency: Option<CurrencyView>,
    pub created_at: String,
}

impl From<&PipelineRecord> for PipelineView {
    fn from(p: &PipelineRecord) -> Self {
        Self {
            service_name: p.service_name.clone(),
            template_name: p.template_name.clone(),
            template_major_version: p.version.major.to_string(),
            template_minor_version: p.version.minor.to_string(),
            spec: p.spec.clone(),
            deployment: (&p.deployment).into(),
            currency: None,
            created_at: iso(p.created_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComponentView {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub environment_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_instance_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_spec: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_client_request_token: Option<String>,
    #[serde(flatten)]
    pub deployment: DeploymentFieldsView,
    pub created_at: String,
    pub last_modified_at: String,
}

impl From<&ComponentRecord> for ComponentView {
    fn from(c: &ComponentRecord) -> Self {
        Self {
            name: c.name.clone(),
            description: c.description.clone(),
            environment_name: c.environment_name.clone(),
            service_name: c.service_name.clone(),
            service_instance_name: c.service_instance_name.clone(),
            service_spec: c.service_spec.clone(),
            last_client_request_token: c.last_client_request_token.clone(),
            deployment: (&c.deployment).into(),
            created_at: iso(c.created_at),
            last_modified_at: iso(c.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentView {
    pub id: String,
    pub target_resource_type: String,
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_instance_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component_name: Option<String>,
    pub action: String,
    pub deployment_status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_status_message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub initial_state: Option<deuteron_store::ResourceState>,
    #[schema(value_type = Object)]
    pub target_state: deuteron_store::ResourceState,
    pub attempts: i64,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Milliseconds from start to completion, once both happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
}

impl From<&DeploymentRecord> for DeploymentView {
    fn from(d: &DeploymentRecord) -> Self {
        let (service, instance, component) = d.target.names(&d.target_state);
        Self {
            id: d.id.clone(),
            target_resource_type: d.target.target_type().to_string(),
            target: d.target.key(),
            environment_name: d.environment_name.clone(),
            service_name: service.map(str::to_string),
            service_instance_name: instance.map(str::to_string),
            component_name: component.map(str::to_string),
            action: d.action.as_str().to_string(),
            deployment_status: d.status.to_string(),
            deployment_status_message: d.status_message.clone(),
            initial_state: d.initial_state.clone(),
            target_state: d.target_state.clone(),
            attempts: d.attempts,
            created_at: iso(d.created_at),
            started_at: iso_opt(d.started_at),
            completed_at: iso_opt(d.completed_at),
            duration_ms: d.started_at.zip(d.completed_at).map(|(s, c)| (c - s).max(0)),
        }
    }
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct LogLineView {
    pub seq: i64,
    pub at: String,
    pub stream: String,
    pub line: String,
}

impl From<&LogLine> for LogLineView {
    fn from(l: &LogLine) -> Self {
        Self { seq: l.seq, at: iso(l.at), stream: l.stream.clone(), line: l.line.clone() }
    }
}

/// Outputs as Proton listed them: `{key, valueString}`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputView {
    pub key: String,
    pub value_string: String,
}
