//! Templates and the values attached to their versions.

use std::fmt;

use crate::version::VersionNumber;

/// Environment templates and service templates share most of their rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TemplateKind {
    Environment,
    Service,
}

impl TemplateKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKind::Environment => "environment",
            TemplateKind::Service => "service",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "environment" | "env" | "ENVIRONMENT" => Some(TemplateKind::Environment),
            "service" | "svc" | "SERVICE" => Some(TemplateKind::Service),
            _ => None,
        }
    }

    /// The ARN resource type Proton used: `environment-template` / `service-template`.
    pub fn arn_type(self) -> &'static str {
        match self {
            TemplateKind::Environment => "environment-template",
            TemplateKind::Service => "service-template",
        }
    }
}

impl fmt::Display for TemplateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `provisioning` of an environment template / `pipelineProvisioning` of a service template.
///
/// `CustomerManaged` environment templates carry only a schema (the infrastructure lives outside
/// Deuteron); `CustomerManaged` service templates have no pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Provisioning {
    #[default]
    Standard,
    CustomerManaged,
}

impl Provisioning {
    /// Proton's wire spelling; standard provisioning is the absence of the field.
    pub fn as_wire(self) -> Option<&'static str> {
        match self {
            Provisioning::Standard => None,
            Provisioning::CustomerManaged => Some("CUSTOMER_MANAGED"),
        }
    }

    pub fn as_str(self) -> &'static str {
        self.as_wire().unwrap_or("STANDARD")
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "CUSTOMER_MANAGED" => Some(Provisioning::CustomerManaged),
            "STANDARD" | "" => Some(Provisioning::Standard),
            _ => None,
        }
    }
}

/// An environment template major version a service template version can deploy into.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CompatibleEnvironmentTemplate {
    pub template_name: String,
    pub major_version: u32,
}

impl CompatibleEnvironmentTemplate {
    /// Parses `name:major`, the form of `.compatible-envs` lines and `compatible_environments`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (name, major) = raw.split_once(':').ok_or_else(|| format!("{raw:?} is not of the form TEMPLATE:MAJOR"))?;
        crate::ResourceName::parse(name).map_err(|e| e.to_string())?;
        let major_version = VersionNumber::parse_part(major).map_err(|e| e.to_string())?;
        Ok(Self { template_name: name.to_string(), major_version })
    }
}

impl fmt::Display for CompatibleEnvironmentTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.template_name, self.major_version)
    }
}

/// Where components attached to a service instance may come from. Proton knew one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentSource {
    DirectlyDefined,
}

impl ComponentSource {
    pub fn as_str(self) -> &'static str {
        "DIRECTLY_DEFINED"
    }

    pub fn parse(raw: &str) -> Option<Self> {
        (raw == "DIRECTLY_DEFINED").then_some(ComponentSource::DirectlyDefined)
    }
}

/// A resource that uses a template version: what a refused delete names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageRef {
    /// `environment`, `service instance` or `service pipeline`.
    pub kind: &'static str,
    /// The resource's name (`service/instance` for instances, `service` for pipelines).
    pub name: String,
    pub version: VersionNumber,
}

impl fmt::Display for UsageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (version {})", self.kind, self.name, self.version)
    }
}
