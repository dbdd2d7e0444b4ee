//! Records of fleet rollouts: the rollout, its items (one per resource it considered) and the
//! changes the driver and operators make to it.

use deuteron_core::rollout::WaveCounts;
use deuteron_core::{DeploymentStatus, RolloutStatus, TemplateKind, VersionNumber};

use crate::Millis;
use crate::resources::Target;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRollout {
    pub id: String,
    pub template_kind: TemplateKind,
    pub template_name: String,
    pub target: VersionNumber,
    /// The policy as JSON (`deuteron_core::rollout::RolloutPolicy`).
    pub policy: String,
    /// What the operator selected, as JSON (kept for display).
    pub selection: String,
    /// The spec transform as JSON, when one was given.
    pub transform: Option<String>,
    pub status: RolloutStatus,
    pub status_message: Option<String>,
    pub current_wave: u32,
    pub wave_count: u32,
    pub created_by: Option<String>,
    pub items: Vec<NewRolloutItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRolloutItem {
    /// Plan order, from 0; items of a wave start in this order.
    pub seq: u32,
    /// `None` for items the plan skipped.
    pub wave: Option<u32>,
    pub target: Target,
    pub environment_name: String,
    pub from: VersionNumber,
    pub to: VersionNumber,
    /// The spec to go back to on rollback, and the spec to deploy (as the service layer's update
    /// takes them).
    pub from_spec: String,
    pub to_spec: String,
    pub skip_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutRecord {
    pub id: String,
    pub template_kind: TemplateKind,
    pub template_name: String,
    pub target: VersionNumber,
    pub policy: String,
    pub selection: String,
    pub transform: Option<String>,
    pub status: RolloutStatus,
    pub status_message: Option<String>,
    pub current_wave: u32,
    pub wave_count: u32,
    pub approved_wave: Option<u32>,
    pub not_before: Millis,
    pub created_by: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub finished_at: Option<Millis>,
}

/// A deployment an item started, as the item's progress shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemDeployment {
    pub id: String,
    pub status: DeploymentStatus,
    pub started_at: Option<Millis>,
    pub completed_at: Option<Millis>,
    /// The deployment's status message (why it failed).
    pub status_message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutItemRecord {
    pub seq: u32,
    pub wave: Option<u32>,
    pub target: Target,
    pub environment_name: String,
    pub from: VersionNumber,
    pub to: VersionNumber,
    pub from_spec: String,
    pub to_spec: String,
    pub skip_reason: Option<String>,
    /// Why the item's rollback could not be started.
    pub rollback_error: Option<String>,
    pub deployment: Option<ItemDeployment>,
    pub rollback: Option<ItemDeployment>,
}

/// Which items to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ItemSelector {
    #[default]
    All,
    /// Items of this wave not started nor skipped, in plan order; a service pipeline only once
    /// every instance of its service the rollout moves (up to this wave) has finished.
    PendingIn(u32),
    /// Items whose forward deployment ended (succeeded, failed or was cancelled) and that were
    /// not rolled back yet: what a rollback moves back or deploys again.
    ToRollBack,
    /// Items the plan skipped (no wave).
    SkippedByPlan,
}

/// A change to a rollout, applied only while it is in one of `expected` (compare-and-set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutChange {
    pub expected: Vec<RolloutStatus>,
    pub status: RolloutStatus,
    pub status_message: Option<String>,
    pub current_wave: Option<u32>,
    pub approved_wave: Option<u32>,
    pub not_before: Option<Millis>,
}

impl RolloutChange {
    pub fn status(expected: &[RolloutStatus], status: RolloutStatus, message: Option<String>) -> Self {
        Self { expected: expected.to_vec(), status, status_message: message, current_wave: None, approved_wave: None, not_before: None }
    }
}

/// Which item a deployment being enqueued belongs to; the link is written in the enqueue's
/// transaction and refused (nothing enqueued) if the item already has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutLink {
    pub rollout_id: String,
    pub seq: u32,
    pub rollback: bool,
    /// Insert the deployment already claimed by this worker (an idle worker of this process
    /// it is handed to, see [`crate::Handoff`]), instead of queued.
    pub claimed_by: Option<ClaimFor>,
}

/// One item's deployment for [`crate::Store::enqueue_rollout_deployments`].
#[derive(Debug, Clone)]
pub struct RolloutStart {
    pub deployment: crate::NewDeployment,
    pub status: DeploymentStatus,
    pub link: RolloutLink,
}

/// A worker and lease length a deployment is inserted claimed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimFor {
    pub worker: String,
    pub lease_ms: i64,
}

/// The counts the step rule needs, per wave; items skipped by the plan are left out.
pub type RolloutCounts = Vec<WaveCounts>;
