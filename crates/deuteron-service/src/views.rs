//! What operations return, serialised with Proton's field names (camelCase, ISO timestamps).

use serde::Serialize;

use deuteron_store::{Millis, TemplateRecord, VersionRecord};

fn iso(ms: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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
            created_at: iso(t.created_at),
            last_modified_at: iso(t.updated_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CompatibleEnvironmentTemplateView {
    pub template_name: String,
    pub major_version: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub compatible_environment_templates: Vec<CompatibleEnvironmentTemplateView>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub supported_component_sources: Vec<String>,
    pub created_at: String,
    pub last_modified_at: String,
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
        }
    }
}
