//! Commands on access keys and the event stream.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Everything, including templates, environments and keys.
    Admin,
    /// Services, instances, pipelines, components and their deployments; reads everything.
    Developer,
    /// Reads everything, changes nothing.
    Viewer,
}

impl From<RoleArg> for deuteron_core::Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::Admin => deuteron_core::Role::Admin,
            RoleArg::Developer => deuteron_core::Role::Developer,
            RoleArg::Viewer => deuteron_core::Role::Viewer,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// List status-change events, oldest first.
    List {
        /// Only events after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// Only this resource type (ENVIRONMENT, SERVICE, SERVICE_INSTANCE, SERVICE_PIPELINE,
        /// COMPONENT, ENVIRONMENT_TEMPLATE, SERVICE_TEMPLATE_VERSION, ...).
        #[arg(long = "type")]
        resource_type: Option<String>,
        /// Only this resource (`name`, `service/instance`, `template:M.m`).
        #[arg(long)]
        resource: Option<String>,
        /// At most this many, newest first.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Keep printing new events as they happen (Ctrl-C to stop).
        #[arg(long, short)]
        follow: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an access key; its secret is printed once and cannot be shown again.
    Create {
        /// What the key may do: admin (everything), developer (services and their parts; reads all), viewer (reads).
        #[arg(long, value_enum)]
        role: RoleArg,
        /// A description (at most 500 characters).
        #[arg(long)]
        description: Option<String>,
    },
    /// List access keys (never their secrets): people's keys, or with --deployment the keys
    /// issued to deployments.
    List {
        /// Keys issued to deployments instead (of one deployment when an id is given); only the
        /// ones still working unless --all.
        #[arg(long, value_name = "DEPLOYMENT_ID", num_args = 0..=1)]
        deployment: Option<Option<String>>,
        /// With --deployment: also revoked and expired keys (kept a week, then purged).
        #[arg(long, requires = "deployment")]
        all: bool,
    },
    /// Revoke an access key; requests signed with it are refused at once.
    Revoke {
        /// The key's id (AKID...).
        access_key_id: String,
    },
}
