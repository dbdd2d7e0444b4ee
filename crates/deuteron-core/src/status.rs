//! Status enums with Proton's wire spelling.

use std::fmt;

macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling Proton used on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses Proton's spelling; `None` for anything else.
            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// Where a template version is in its life.
    TemplateVersionStatus {
        RegistrationInProgress = "REGISTRATION_IN_PROGRESS",
        RegistrationFailed = "REGISTRATION_FAILED",
        Draft = "DRAFT",
        Published = "PUBLISHED",
    }
);

wire_enum!(
    /// Deployment status of environments, instances, pipelines, components and deployments.
    DeploymentStatus {
        InProgress = "IN_PROGRESS",
        Failed = "FAILED",
        Succeeded = "SUCCEEDED",
        DeleteInProgress = "DELETE_IN_PROGRESS",
        DeleteFailed = "DELETE_FAILED",
        DeleteComplete = "DELETE_COMPLETE",
        Cancelling = "CANCELLING",
        Cancelled = "CANCELLED",
    }
);

impl DeploymentStatus {
    /// A deployment in this status is still running (or being cancelled).
    pub fn is_active(self) -> bool {
        matches!(self, DeploymentStatus::InProgress | DeploymentStatus::DeleteInProgress | DeploymentStatus::Cancelling)
    }
}

wire_enum!(
    /// Status of a service as a whole.
    ServiceStatus {
        CreateInProgress = "CREATE_IN_PROGRESS",
        CreateFailedCleanupInProgress = "CREATE_FAILED_CLEANUP_IN_PROGRESS",
        CreateFailedCleanupComplete = "CREATE_FAILED_CLEANUP_COMPLETE",
        CreateFailedCleanupFailed = "CREATE_FAILED_CLEANUP_FAILED",
        CreateFailed = "CREATE_FAILED",
        Active = "ACTIVE",
        DeleteInProgress = "DELETE_IN_PROGRESS",
        DeleteFailed = "DELETE_FAILED",
        UpdateInProgress = "UPDATE_IN_PROGRESS",
        UpdateFailedCleanupInProgress = "UPDATE_FAILED_CLEANUP_IN_PROGRESS",
        UpdateFailedCleanupComplete = "UPDATE_FAILED_CLEANUP_COMPLETE",
        UpdateFailedCleanupFailed = "UPDATE_FAILED_CLEANUP_FAILED",
        UpdateFailed = "UPDATE_FAILED",
        UpdateCompleteCleanupFailed = "UPDATE_COMPLETE_CLEANUP_FAILED",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_spelling() {
        for s in TemplateVersionStatus::ALL {
            assert_eq!(TemplateVersionStatus::parse(s.as_str()), Some(*s));
        }
        for s in DeploymentStatus::ALL {
            assert_eq!(DeploymentStatus::parse(s.as_str()), Some(*s));
        }
        assert_eq!(TemplateVersionStatus::parse("DEPLOYED"), None);
    }
}

wire_enum!(
    /// What an access key may do: `admin` everything, `developer` services, instances,
    /// pipelines, components and deployments, `viewer` read only, `deployment` (short-lived keys
    /// given to a running deployment's commands) only report the deployment's status and outputs.
    Role {
        Admin = "admin",
        Developer = "developer",
        Viewer = "viewer",
        Deployment = "deployment",
    }
);

impl Role {
    /// Whether this role may call a Proton operation (by its name, e.g. `CreateService`).
    pub fn may_call(self, operation: &str) -> bool {
        let read = ["Get", "List"].iter().any(|p| operation.starts_with(p));
        match self {
            Role::Admin => true,
            Role::Viewer => read,
            // Issued to one running deployment's commands, to report outputs and status.
            Role::Deployment => operation == "NotifyResourceDeploymentStatusChange",
            Role::Developer => {
                read || !["Template", "Environment", "Repository", "AccountSettings", "SyncConfig", "SyncBlocker", "Rollout"]
                    .iter()
                    .any(|w| operation.contains(w))
            }
        }
    }
}

#[cfg(test)]
mod role_tests {
    use super::Role;

    #[test]
    fn roles() {
        assert!(Role::Viewer.may_call("ListServiceInstances") && !Role::Viewer.may_call("CreateService"));
        assert!(Role::Developer.may_call("CreateService") && Role::Developer.may_call("UpdateServiceInstance"));
        assert!(Role::Developer.may_call("CreateComponent") && Role::Developer.may_call("NotifyResourceDeploymentStatusChange"));
        assert!(!Role::Developer.may_call("CreateEnvironmentTemplateVersion") && !Role::Developer.may_call("DeleteEnvironment"));
        assert!(Role::Admin.may_call("DeleteEnvironmentTemplate"));
    }
}

wire_enum!(
    /// Where a fleet rollout is in its life.
    RolloutStatus {
        Pending = "PENDING",
        Running = "RUNNING",
        Paused = "PAUSED",
        WaitingForApproval = "WAITING_FOR_APPROVAL",
        Succeeded = "SUCCEEDED",
        Failed = "FAILED",
        RollingBack = "ROLLING_BACK",
        RolledBack = "ROLLED_BACK",
        Cancelled = "CANCELLED",
    }
);

impl RolloutStatus {
    /// A rollout in this status will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, RolloutStatus::Succeeded | RolloutStatus::Failed | RolloutStatus::RolledBack | RolloutStatus::Cancelled)
    }
}
