//! Provisioned resources and their deployments: target types, actions, update types and the
//! rules that pick the version an update moves a resource to.

use std::fmt;

use crate::status::TemplateVersionStatus;
use crate::template::CompatibleEnvironmentTemplate;
use crate::version::VersionNumber;

/// What a deployment provisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TargetType {
    Environment,
    ServiceInstance,
    ServicePipeline,
    Component,
}

impl TargetType {
    pub const ALL: [TargetType; 4] =
        [TargetType::Environment, TargetType::ServiceInstance, TargetType::ServicePipeline, TargetType::Component];

    /// Proton's `DeploymentTargetResourceType` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Environment => "ENVIRONMENT",
            TargetType::ServiceInstance => "SERVICE_INSTANCE",
            TargetType::ServicePipeline => "SERVICE_PIPELINE",
            TargetType::Component => "COMPONENT",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    /// A noun for messages: `environment`, `service instance`, ...
    pub fn noun(self) -> &'static str {
        match self {
            TargetType::Environment => "environment",
            TargetType::ServiceInstance => "service instance",
            TargetType::ServicePipeline => "service pipeline",
            TargetType::Component => "component",
        }
    }
}

impl fmt::Display for TargetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a deployment creates/updates its target or removes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeploymentAction {
    Provision,
    Deprovision,
}

impl DeploymentAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentAction::Provision => "PROVISION",
            DeploymentAction::Deprovision => "DEPROVISION",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "PROVISION" => Some(DeploymentAction::Provision),
            "DEPROVISION" => Some(DeploymentAction::Deprovision),
            _ => None,
        }
    }
}

/// Proton's `deploymentType` of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateType {
    /// Metadata only; nothing is deployed.
    None,
    /// Redeploy the same version with a new spec.
    CurrentVersion,
    /// A newer (or given) minor version of the same major.
    MinorVersion,
    /// A different major version; the spec must fit its schema.
    MajorVersion,
}

impl UpdateType {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateType::None => "NONE",
            UpdateType::CurrentVersion => "CURRENT_VERSION",
            UpdateType::MinorVersion => "MINOR_VERSION",
            UpdateType::MajorVersion => "MAJOR_VERSION",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "NONE" => Some(UpdateType::None),
            "CURRENT_VERSION" => Some(UpdateType::CurrentVersion),
            "MINOR_VERSION" => Some(UpdateType::MinorVersion),
            "MAJOR_VERSION" => Some(UpdateType::MajorVersion),
            _ => None,
        }
    }
}

/// Why an update cannot pick a target version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    #[error("{0} updates must not name a template version")]
    VersionNotAllowed(&'static str),
    #[error("MINOR_VERSION updates stay in major version {current}; use MAJOR_VERSION to move to major {requested}")]
    MajorChangeNeedsMajorUpdate { current: u32, requested: u32 },
    #[error("version {0} does not exist")]
    UnknownVersion(VersionNumber),
    #[error("version {version} is {status}; only PUBLISHED versions can be deployed")]
    NotPublished { version: VersionNumber, status: TemplateVersionStatus },
    #[error("major version {0} has no published version")]
    NoPublishedMinor(u32),
    #[error("the template has no published version")]
    NoPublishedVersion,
    #[error("the resource already runs major version {0}; use MINOR_VERSION to move within a major")]
    SameMajor(u32),
}

/// The version an update of `update_type` moves a resource from `current` to, given the
/// template's versions, following Proton: MINOR_VERSION defaults to the recommended (highest
/// published) minor of the current major; MAJOR_VERSION to the template's recommended version.
pub fn update_target(
    update_type: UpdateType,
    current: VersionNumber,
    major: Option<u32>,
    minor: Option<u32>,
    versions: &[(VersionNumber, TemplateVersionStatus)],
) -> Result<VersionNumber, UpdateError> {
    let published = |v: VersionNumber| -> Result<VersionNumber, UpdateError> {
        match versions.iter().find(|(n, _)| *n == v) {
            None => Err(UpdateError::UnknownVersion(v)),
            Some((_, TemplateVersionStatus::Published)) => Ok(v),
            Some((_, status)) => Err(UpdateError::NotPublished { version: v, status: *status }),
        }
    };
    let best_minor = |m: u32| {
        crate::registry::recommended_minor(versions, m).map(|minor| VersionNumber::new(m, minor)).ok_or(UpdateError::NoPublishedMinor(m))
    };
    match update_type {
        UpdateType::None | UpdateType::CurrentVersion => {
            if major.is_some() || minor.is_some() {
                return Err(UpdateError::VersionNotAllowed(update_type.as_str()));
            }
            Ok(current)
        }
        UpdateType::MinorVersion => {
            if let Some(m) = major.filter(|m| *m != current.major) {
                return Err(UpdateError::MajorChangeNeedsMajorUpdate { current: current.major, requested: m });
            }
            match minor {
                Some(m) => published(VersionNumber::new(current.major, m)),
                None => best_minor(current.major),
            }
        }
        UpdateType::MajorVersion => {
            let target_major = match major {
                Some(m) => m,
                None => crate::registry::recommended_version(versions).ok_or(UpdateError::NoPublishedVersion)?.major,
            };
            if target_major == current.major {
                return Err(UpdateError::SameMajor(current.major));
            }
            match minor {
                Some(m) => published(VersionNumber::new(target_major, m)),
                None => best_minor(target_major),
            }
        }
    }
}

/// Whether an environment on `env_template` major `env_major` accepts a service version
/// compatible with `compatible`.
pub fn environment_is_compatible(compatible: &[CompatibleEnvironmentTemplate], env_template: &str, env_major: u32) -> bool {
    compatible.iter().any(|c| c.template_name == env_template && c.major_version == env_major)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TemplateVersionStatus::*;

    fn v(a: u32, b: u32) -> VersionNumber {
        VersionNumber::new(a, b)
    }

    #[test]
    fn update_targets_follow_proton() {
        let vs = [(v(1, 0), Published), (v(1, 1), Published), (v(1, 2), Draft), (v(2, 0), Published), (v(3, 0), Draft)];
        assert_eq!(update_target(UpdateType::CurrentVersion, v(1, 0), None, None, &vs), Ok(v(1, 0)));
        assert_eq!(update_target(UpdateType::None, v(1, 0), Some(1), None, &vs), Err(UpdateError::VersionNotAllowed("NONE")));
        assert_eq!(update_target(UpdateType::MinorVersion, v(1, 0), None, None, &vs), Ok(v(1, 1)));
        assert_eq!(update_target(UpdateType::MinorVersion, v(1, 1), None, Some(0), &vs), Ok(v(1, 0)));
        assert_eq!(
            update_target(UpdateType::MinorVersion, v(1, 0), None, Some(2), &vs).unwrap_err().to_string(),
            "version 1.2 is DRAFT; only PUBLISHED versions can be deployed"
        );
        assert_eq!(
            update_target(UpdateType::MinorVersion, v(1, 0), Some(2), None, &vs).unwrap_err().to_string(),
            "MINOR_VERSION updates stay in major version 1; use MAJOR_VERSION to move to major 2"
        );
        assert_eq!(update_target(UpdateType::MajorVersion, v(1, 0), None, None, &vs), Ok(v(2, 0)));
        assert_eq!(update_target(UpdateType::MajorVersion, v(2, 0), Some(1), None, &vs), Ok(v(1, 1)));
        assert_eq!(update_target(UpdateType::MajorVersion, v(2, 0), None, None, &vs), Err(UpdateError::SameMajor(2)));
        assert_eq!(update_target(UpdateType::MajorVersion, v(1, 0), Some(3), None, &vs), Err(UpdateError::NoPublishedMinor(3)));
        assert_eq!(update_target(UpdateType::MajorVersion, v(1, 0), Some(9), Some(0), &vs), Err(UpdateError::UnknownVersion(v(9, 0))));
    }

    #[test]
    fn compatibility() {
        let c = vec![CompatibleEnvironmentTemplate { template_name: "net".into(), major_version: 1 }];
        assert!(environment_is_compatible(&c, "net", 1));
        assert!(!environment_is_compatible(&c, "net", 2));
        assert!(!environment_is_compatible(&c, "other", 1));
    }
}
