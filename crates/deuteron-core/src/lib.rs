//! Deuteron's domain: names, template versions, statuses and the rules Proton applied to them.
//!
//! This crate does no IO. It knows nothing of SQL, HTTP, processes or files; every other crate
//! builds on the types and rules defined here.

pub mod arn;
pub mod deploy;
pub mod ids;
pub mod name;
pub mod registry;
pub mod rollout;
pub mod status;
pub mod template;
pub mod version;

pub use arn::ArnConfig;
pub use deploy::{DeploymentAction, TargetType, UpdateType};
pub use name::{NameError, ResourceName};
pub use status::{DeploymentStatus, Role, RolloutStatus, ServiceStatus, TemplateVersionStatus};
pub use template::{CompatibleEnvironmentTemplate, ComponentSource, Provisioning, TemplateKind, UsageRef};
pub use version::{VersionError, VersionNumber};
