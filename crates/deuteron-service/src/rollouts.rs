//! Fleet rollouts: plan which resources of a template move to a target version and in which
//! wave, then drive the plan with the deployment engine's jobs, within the operator's policy.
//!
//! A rollout is durable: its items are stored with the plan, each item's deployment is linked in
//! the transaction that enqueues it (so an item never starts twice, whatever restarts), and the
//! driver ([`Deuteron::drive_rollouts`]) leases the rollouts that are due, holds each lease while
//! the rollout stays due, and on every pass reads their counts and applies the step rule of
//! `deuteron_core::rollout`. Any number of servers and workers may drive.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use deuteron_bundle::{InputKind, SpecFile};
use deuteron_core::deploy::environment_is_compatible;
use deuteron_core::rollout::{Candidate, Placement, Position, RolloutPolicy, SpecTransform, WaveCounts, assign_waves, step};
use deuteron_core::{DeploymentStatus, RolloutStatus, TemplateKind, TemplateVersionStatus, UpdateType, VersionNumber};
use deuteron_store::handoff::Taken;
use deuteron_store::{
    DeploymentRecord, EnvironmentRecord, InstanceQuery, InstanceRecord, ItemSelector, NewDeployment, NewRollout, NewRolloutItem,
    RolloutChange, RolloutItemRecord, RolloutLink, RolloutRecord, RolloutStart, StoreError, Target, VersionRecord, now_millis,
};

use crate::resources::{Lookups, UpdateResource};
use crate::{Deuteron, Result, ServiceError};

/// Which resources of the template a rollout considers; empty lists select everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Selection {
    /// Only resources running these versions: `1` (any minor of major 1) or `1.2`.
    pub versions: Vec<String>,
    /// Only resources in these environments.
    pub environments: Vec<String>,
    /// Only the instances and pipelines of these services (service templates only).
    pub services: Vec<String>,
    /// Only these resources: environment names, `service/instance`, or a service's name for its
    /// pipeline.
    pub resources: Vec<String>,
}

/// What an operator asks a rollout to do.
#[derive(Debug, Clone)]
pub struct RolloutRequest {
    pub kind: TemplateKind,
    pub template: String,
    /// The target major; default: the major the selected resources run.
    pub major: Option<u32>,
    /// The target minor; default: the template's recommended version when the platform team
    /// chose one in this major, else the major's highest published minor.
    pub minor: Option<u32>,
    pub selection: Selection,
    pub policy: RolloutPolicy,
    pub transform: Option<SpecTransform>,
    pub created_by: Option<String>,
}

/// One resource in a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanItem {
    /// `ENVIRONMENT`, `SERVICE_INSTANCE` or `SERVICE_PIPELINE`.
    pub resource_type: &'static str,
    /// The environment's name, `service/instance`, or the service's name for its pipeline.
    pub resource: String,
    /// None for a pipeline.
    pub environment: Option<String>,
    pub from: String,
    pub to: String,
    /// The wave it moves in, numbered from 1; none when skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// What a rollout will do, before anything runs.
#[derive(Debug, Clone)]
pub struct RolloutPlan {
    pub kind: TemplateKind,
    pub template: String,
    pub target: VersionNumber,
    pub wave_count: u32,
    pub policy: RolloutPolicy,
    pub items: Vec<PlanItem>,
    stored: Vec<NewRolloutItem>,
}

impl RolloutPlan {
    pub fn moving(&self) -> usize {
        self.items.iter().filter(|i| i.wave.is_some()).count()
    }
}

/// A rollout with its per-wave counts.
#[derive(Debug, Clone)]
pub struct RolloutProgress {
    pub rollout: RolloutRecord,
    pub policy: RolloutPolicy,
    pub waves: Vec<WaveCounts>,
    /// Items the plan skipped.
    pub skipped_in_plan: u64,
}

/// How long a driver's lease on a rollout lasts without renewal.
const DRIVE_LEASE_MS: i64 = 30_000;
/// How often a driver renews the leases it holds.
const DRIVE_RENEW: Duration = Duration::from_millis(DRIVE_LEASE_MS as u64 / 3);

/// How long a driver reuses the template versions and environments it read for a rollout's
/// steps (see [`HeldRollout`]).
const LOOKUPS_FOR: Duration = Duration::from_secs(1);
/// How often a driver that holds rollouts looks for more to lease.
const LOOK_FOR_MORE: Duration = Duration::from_secs(1);

/// A rollout a driver holds leased between its passes, with the template versions and
/// environments its steps read: kept for [`LOOKUPS_FOR`], so steps that start one item each (one
/// per finished deployment) do not read them again every time. An environment changed meanwhile
/// is seen at most that much later.
#[derive(Debug)]
struct HeldRollout {
    id: String,
    renewed: Instant,
    lookups: Lookups,
    looked_up: Instant,
}

impl HeldRollout {
    fn new(id: String) -> Self {
        Self { id, renewed: Instant::now(), lookups: Lookups::default(), looked_up: Instant::now() }
    }

    /// The lookups for a step, fresh once they are [`LOOKUPS_FOR`] old.
    fn lookups(&mut self) -> &Lookups {
        if self.looked_up.elapsed() >= LOOKUPS_FOR {
            (self.lookups, self.looked_up) = (Lookups::default(), Instant::now());
        }
        &self.lookups
    }
}

/// A driver's rollouts between passes: those it holds, and when it last looked for more.
#[derive(Debug, Default)]
pub struct DriverState {
    held: Vec<HeldRollout>,
    looked: Option<Instant>,
}

/// Whether a driver has a step to take for `r` now.
fn is_due(r: &RolloutRecord) -> bool {
    matches!(r.status, RolloutStatus::Running | RolloutStatus::RollingBack) && r.not_before <= now_millis()
}

fn version_matches(pattern: &str, v: VersionNumber) -> Result<bool> {
    let bad = || ServiceError::validation(format!("selection.versions: {pattern:?} is neither a major (1) nor a version (1.2)"));
    match pattern.split_once('.') {
        None => Ok(pattern.trim().parse::<u32>().map_err(|_| bad())? == v.major),
        Some(_) => Ok(pattern.trim().parse::<VersionNumber>().map_err(|_| bad())? == v),
    }
}

fn policy_error(e: deuteron_core::rollout::PolicyError) -> ServiceError {
    ServiceError::validation(format!("policy: {e}"))
}

/// A resource of the template, as the planner reads it.
struct Resource {
    target: Target,
    key: String,
    /// None for a pipeline.
    environment: Option<String>,
    version: VersionNumber,
    status: DeploymentStatus,
    /// The inputs as given (without defaults), and the spec text an update takes back.
    given: Value,
    from_spec: String,
}

impl Deuteron {
    /// The resources of a template the selection picks, sorted by environment and name, pipelines
    /// last (a selection by environment leaves pipelines out: they run in none).
    async fn selected_resources(&self, kind: TemplateKind, template: &str, sel: &Selection) -> Result<Vec<Resource>> {
        let mut out = Vec::new();
        match kind {
            TemplateKind::Environment => {
                if !sel.services.is_empty() {
                    return Err(ServiceError::validation("selection.services: environment templates have no services"));
                }
                for e in self.store.list_environments().await? {
                    if e.template_name != template {
                        continue;
                    }
                    let given = match SpecFile::parse("spec", &e.spec) {
                        Ok(SpecFile::Environment(s)) => s.spec,
                        _ => json!({}),
                    };
                    out.push(Resource {
                        target: Target::Environment(e.name.clone()),
                        key: e.name.clone(),
                        environment: Some(e.name.clone()),
                        version: e.version,
                        status: e.deployment.status,
                        given,
                        from_spec: e.spec.clone(),
                    });
                }
            }
            TemplateKind::Service => {
                let q = InstanceQuery { template: Some(template.to_string()), limit: i64::MAX, ..Default::default() };
                for i in self.store.query_instances(&q).await? {
                    let given =
                        serde_json::from_str::<Value>(&i.spec).ok().and_then(|v| v.get("spec").cloned()).unwrap_or_else(|| json!({}));
                    out.push(Resource {
                        target: Target::ServiceInstance { service: i.service_name.clone(), instance: i.name.clone() },
                        key: format!("{}/{}", i.service_name, i.name),
                        environment: Some(i.environment_name.clone()),
                        version: i.version,
                        status: i.deployment.status,
                        from_spec: given.to_string(),
                        given,
                    });
                }
                for p in self.store.list_pipelines().await? {
                    if p.template_name != template {
                        continue;
                    }
                    let given = serde_json::from_str::<Value>(&p.spec).unwrap_or_else(|_| json!({}));
                    out.push(Resource {
                        target: Target::ServicePipeline(p.service_name.clone()),
                        key: p.service_name.clone(),
                        environment: None,
                        version: p.version,
                        status: p.deployment.status,
                        from_spec: given.to_string(),
                        given,
                    });
                }
            }
        }
        for r in &sel.resources {
            if !out.iter().any(|o| &o.key == r) {
                return Err(ServiceError::validation(format!(
                    "selection.resources: {r} is not a resource of {} template {template}",
                    kind.as_str()
                )));
            }
        }
        let mut kept = Vec::with_capacity(out.len());
        for r in out {
            let mut version_ok = sel.versions.is_empty();
            for p in &sel.versions {
                version_ok |= version_matches(p, r.version)?;
            }
            let service = match &r.target {
                Target::ServiceInstance { service, .. } | Target::ServicePipeline(service) => Some(service.as_str()),
                _ => None,
            };
            if version_ok
                && (sel.environments.is_empty() || r.environment.as_ref().is_some_and(|e| sel.environments.contains(e)))
                && (sel.services.is_empty() || service.is_some_and(|s| sel.services.iter().any(|x| x == s)))
                && (sel.resources.is_empty() || sel.resources.contains(&r.key))
            {
                kept.push(r);
            }
        }
        kept.sort_by(|a, b| (a.environment.is_none(), &a.environment, &a.key).cmp(&(b.environment.is_none(), &b.environment, &b.key)));
        Ok(kept)
    }

    /// The version a rollout moves to: as asked (never a blocked one), else the recommended
    /// version when the platform team chose one in the major run, else that major's highest
    /// published minor that is not blocked.
    fn rollout_target(
        req: &RolloutRequest,
        versions: &[VersionRecord],
        pinned: Option<VersionNumber>,
        resources: &[Resource],
    ) -> Result<VersionNumber> {
        let major = match req.major {
            Some(m) => m,
            None => {
                let mut majors: Vec<u32> = resources.iter().map(|r| r.version.major).collect();
                majors.sort_unstable();
                majors.dedup();
                match majors.as_slice() {
                    [m] => *m,
                    [] => return Err(ServiceError::validation("the selection matches no resources; nothing to roll out")),
                    many => {
                        return Err(ServiceError::validation(format!(
                            "the selected resources run major versions {}; name the target version",
                            many.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
                        )));
                    }
                }
            }
        };
        let published =
            |v: &&VersionRecord| v.version.major == major && v.status == TemplateVersionStatus::Published && v.blocked.is_none();
        let target = match req.minor {
            Some(minor) => {
                let v = VersionNumber::new(major, minor);
                let rec = versions.iter().find(|r| r.version == v).ok_or_else(|| ServiceError::NotFound(format!("version {v}")))?;
                if rec.status != TemplateVersionStatus::Published {
                    return Err(ServiceError::validation(format!(
                        "version {v} is {}; only PUBLISHED versions can be rolled out",
                        rec.status
                    )));
                }
                if let Some(why) = &rec.blocked {
                    return Err(ServiceError::Conflict(format!(
                        "version {v} is blocked ({why}); unblock it with `deuteron template version unblock {} {} {v}` to roll it out again",
                        req.kind, req.template
                    )));
                }
                v
            }
            None => match pinned.filter(|p| p.major == major && versions.iter().any(|r| r.version == *p && r.blocked.is_none())) {
                Some(p) => p,
                None => versions
                    .iter()
                    .filter(published)
                    .map(|r| r.version)
                    .max()
                    .ok_or_else(|| ServiceError::validation(format!("major version {major} has no published version")))?,
            },
        };
        Ok(target)
    }

    /// Plans a rollout: which resources move, from which version to which, in which wave, and
    /// which are skipped and why. Nothing is stored.
    pub async fn plan_rollout(&self, req: &RolloutRequest) -> Result<RolloutPlan> {
        let wave_count = req.policy.validate().map_err(policy_error)?;
        let template = self.store.get_template(req.kind, &req.template).await?;
        let versions = self.store.list_versions(req.kind, &req.template, None).await?;
        // The pin counts only while it is published (then it is the recommended version).
        let pinned = template.pinned.filter(|p| template.recommended == Some(*p));
        let resources = self.selected_resources(req.kind, &req.template, &req.selection).await?;
        let target = Self::rollout_target(req, &versions, pinned, &resources)?;
        let target_rec = versions.iter().find(|v| v.version == target).expect("the target is one of the versions");
        let schema = self.compiled_schema(&target_rec.schema)?;
        let mut envs: HashMap<String, Option<EnvironmentRecord>> = HashMap::new();
        let mut candidates = Vec::with_capacity(resources.len());
        let mut stored = Vec::with_capacity(resources.len());
        for r in &resources {
            let given = req.transform.as_ref().map_or_else(|| r.given.clone(), |t| t.apply(&r.given));
            let (kind, base) = match r.target {
                Target::Environment(_) => (InputKind::Environment, "$.spec"),
                Target::ServicePipeline(_) => (InputKind::Pipeline, "$.pipeline"),
                _ => (InputKind::ServiceInstance, "$.spec"),
            };
            let mut blocked = if r.version == target {
                Some(format!("already runs {target}"))
            } else if r.version > target {
                Some(format!("runs {}, newer than the target {target}", r.version))
            } else if r.status.is_active() {
                Some(format!("a deployment is in progress ({})", r.status))
            } else {
                None
            };
            if blocked.is_none()
                && let (Target::ServiceInstance { .. }, Some(env_name)) = (&r.target, &r.environment)
            {
                if !envs.contains_key(env_name) {
                    let env = match self.store.get_environment(env_name).await {
                        Ok(e) => Some(e),
                        Err(StoreError::NotFound(_)) => None,
                        Err(e) => return Err(e.into()),
                    };
                    envs.insert(env_name.clone(), env);
                }
                blocked = match &envs[env_name] {
                    None => Some(format!("environment {env_name} does not exist")),
                    Some(env) if !environment_is_compatible(&target_rec.compatible_environments, &env.template_name, env.version.major) => {
                        Some(format!(
                            "environment {} runs {}:{}, which {target} is not compatible with",
                            env.name, env.template_name, env.version.major
                        ))
                    }
                    Some(_) => None,
                };
            }
            if blocked.is_none()
                && let Err(errors) = schema.validate(kind, &given, base)
            {
                blocked = Some(format!(
                    "spec does not fit the schema of {target}: {}",
                    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                ));
            }
            let to_spec = match r.target {
                Target::Environment(_) => json!({"proton": "EnvironmentSpec", "spec": given}).to_string(),
                _ => given.to_string(),
            };
            candidates.push(Candidate { environment: r.environment.clone(), blocked });
            stored.push(NewRolloutItem {
                seq: stored.len() as u32,
                wave: None,
                target: r.target.clone(),
                // Stored empty for a pipeline.
                environment_name: r.environment.clone().unwrap_or_default(),
                from: r.version,
                to: target,
                from_spec: r.from_spec.clone(),
                to_spec,
                skip_reason: None,
            });
        }
        let placements = assign_waves(&req.policy, &candidates).map_err(policy_error)?;
        let mut items = Vec::with_capacity(stored.len());
        for ((item, placement), r) in stored.iter_mut().zip(placements).zip(&resources) {
            match placement {
                Placement::Wave(w) => item.wave = Some(w),
                Placement::Skipped(why) => item.skip_reason = Some(why),
            }
            items.push(PlanItem {
                resource_type: r.target.target_type().as_str(),
                resource: r.key.clone(),
                environment: r.environment.clone(),
                from: r.version.to_string(),
                to: target.to_string(),
                wave: item.wave.map(|w| w + 1),
                skipped: item.skip_reason.clone(),
            });
        }
        Ok(RolloutPlan { kind: req.kind, template: req.template.clone(), target, wave_count, policy: req.policy.clone(), items, stored })
    }

    /// Plans and starts a rollout; the driver takes it from there.
    pub async fn start_rollout(&self, req: RolloutRequest) -> Result<(RolloutRecord, RolloutPlan)> {
        let plan = self.plan_rollout(&req).await?;
        let Some(first) = plan.stored.iter().filter_map(|i| i.wave).min() else {
            return Err(ServiceError::validation(format!(
                "nothing to roll out: none of the {} selected resources can move to {} (see the plan for why)",
                plan.items.len(),
                plan.target
            )));
        };
        let rollout = NewRollout {
            id: uuid::Uuid::new_v4().to_string(),
            template_kind: req.kind,
            template_name: req.template.clone(),
            target: plan.target,
            policy: serde_json::to_string(&req.policy).expect("policies serialise"),
            selection: serde_json::to_string(&req.selection).expect("selections serialise"),
            transform: req.transform.as_ref().filter(|t| !t.is_empty()).map(|t| serde_json::to_string(t).expect("transforms serialise")),
            status: RolloutStatus::Running,
            status_message: Some(format!("{} resources to move to {} in {} waves", plan.moving(), plan.target, plan.wave_count)),
            current_wave: first,
            wave_count: plan.wave_count,
            created_by: req.created_by.clone(),
            items: plan.stored.clone(),
        };
        let rec = self.store.create_rollout(&rollout).await?;
        tracing::info!(rollout = %rec.id, template = %req.template, to = %plan.target, resources = plan.moving(), "rollout started");
        self.signals.rollouts.notify_one();
        Ok((rec, plan))
    }

    pub async fn get_rollout(&self, id: &str) -> Result<RolloutProgress> {
        let id = self.resolve_id(deuteron_store::IdTable::Rollouts, id).await?;
        let rollout = self.store.get_rollout(&id).await?;
        self.progress(rollout).await
    }

    async fn progress(&self, rollout: RolloutRecord) -> Result<RolloutProgress> {
        let policy: RolloutPolicy =
            serde_json::from_str(&rollout.policy).map_err(|e| ServiceError::Internal(format!("rollout {} policy: {e}", rollout.id)))?;
        let waves = self.store.rollout_counts(&rollout.id).await?;
        let skipped_in_plan = self.store.rollout_items(&rollout.id, ItemSelector::SkippedByPlan, i64::MAX).await?.len() as u64;
        Ok(RolloutProgress { rollout, policy, waves, skipped_in_plan })
    }

    pub async fn list_rollouts(&self, limit: i64) -> Result<Vec<RolloutRecord>> {
        Ok(self.store.list_rollouts(limit).await?)
    }

    pub async fn rollout_items(&self, id: &str) -> Result<Vec<RolloutItemRecord>> {
        let id = self.resolve_id(deuteron_store::IdTable::Rollouts, id).await?;
        self.store.get_rollout(&id).await?;
        Ok(self.store.rollout_items(&id, ItemSelector::All, i64::MAX).await?)
    }

    async fn change(&self, id: &str, change: RolloutChange, verb: &str) -> Result<RolloutRecord> {
        let id = &self.resolve_id(deuteron_store::IdTable::Rollouts, id).await?;
        match self.store.change_rollout(id, &change).await {
            Ok(r) => {
                tracing::info!(rollout = %id, status = %r.status, "rollout {verb}");
                self.signals.rollouts.notify_one();
                Ok(r)
            }
            Err(StoreError::Conflict(_)) => {
                let now = self.store.get_rollout(id).await?;
                Err(ServiceError::Conflict(format!(
                    "rollout {id} is {}; only a rollout that is {} can be {verb}",
                    now.status,
                    change.expected.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" or ")
                )))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Stops starting deployments; running ones finish.
    pub async fn pause_rollout(&self, id: &str) -> Result<RolloutRecord> {
        let msg = Some("paused by an operator; running deployments finish, no new ones start".to_string());
        self.change(
            id,
            RolloutChange::status(&[RolloutStatus::Running, RolloutStatus::WaitingForApproval], RolloutStatus::Paused, msg),
            "paused",
        )
        .await
    }

    pub async fn resume_rollout(&self, id: &str) -> Result<RolloutRecord> {
        self.change(id, RolloutChange::status(&[RolloutStatus::Paused], RolloutStatus::Running, Some("resumed".into())), "resumed").await
    }

    /// Lets the wave waiting for approval start.
    pub async fn approve_rollout(&self, id: &str) -> Result<RolloutRecord> {
        let id = &self.resolve_id(deuteron_store::IdTable::Rollouts, id).await?;
        let r = self.store.get_rollout(id).await?;
        let mut change = RolloutChange::status(
            &[RolloutStatus::WaitingForApproval],
            RolloutStatus::Running,
            Some(format!("wave {} approved", r.current_wave + 1)),
        );
        change.approved_wave = Some(r.current_wave);
        self.change(id, change, "approved").await
    }

    /// Ends the rollout: items not started stay as they are; running deployments finish.
    pub async fn cancel_rollout(&self, id: &str) -> Result<RolloutRecord> {
        let active = [RolloutStatus::Pending, RolloutStatus::Running, RolloutStatus::Paused, RolloutStatus::WaitingForApproval];
        let msg = Some("cancelled by an operator; resources not yet updated were left as they are".to_string());
        self.change(id, RolloutChange::status(&active, RolloutStatus::Cancelled, msg), "cancelled").await
    }

    /// Steps every rollout that is due, once each: first the ones `held` (this driver's leases
    /// from earlier passes), then any it can newly lease, which join `held`. Returns how many
    /// moved (changed status, wave or bake time, or skipped items), so a caller knows to step
    /// again at once; starting deployments alone does not count: the next step waits for one of
    /// them to finish.
    ///
    /// Holding a lease across passes spares each pass two writes (lease and release), which the
    /// driver used to wait for behind every worker's claims and finishes. A held lease is renewed
    /// once a third of it has passed and given up when the rollout stops being due (it finished,
    /// was paused or waits for approval or its bake time); [`Deuteron::release_rollouts`] gives up
    /// the rest.
    pub async fn drive_rollouts(&self, worker: &str, state: &mut DriverState) -> Result<usize> {
        let mut progressed = 0;
        let held = &mut state.held;
        let mut kept = Vec::with_capacity(held.len());
        for mut h in std::mem::take(held) {
            let fresh = if h.renewed.elapsed() >= DRIVE_RENEW {
                self.store.renew_rollout(&h.id, worker, DRIVE_LEASE_MS).await.map(|r| r.inspect(|_| h.renewed = Instant::now()))
            } else {
                self.store.get_rollout(&h.id).await.map(Some)
            };
            let r = match fresh {
                Ok(Some(r)) if is_due(&r) => r,
                // Another driver took it over after the lease expired.
                Ok(None) => continue,
                Ok(Some(_)) => {
                    self.store.release_rollout(&h.id, worker).await?;
                    continue;
                }
                Err(e) => {
                    tracing::error!(rollout = %h.id, error = %e, "cannot read a held rollout; giving up its lease");
                    let _ = self.store.release_rollout(&h.id, worker).await;
                    continue;
                }
            };
            progressed += self.step_logged(&r, h.lookups()).await;
            kept.push(h);
        }
        *held = kept;
        // While busy with rollouts of its own, a driver looks for more now and then, not at
        // every pass (each pass follows a finished deployment).
        if !held.is_empty() && state.looked.is_some_and(|t| t.elapsed() < LOOK_FOR_MORE) {
            return Ok(progressed);
        }
        state.looked = Some(Instant::now());
        loop {
            let Some(r) = self.store.claim_rollout(worker, DRIVE_LEASE_MS).await? else { break };
            // A lease of ours that expired and came back: it had its step in this pass.
            if held.iter().any(|h| h.id == r.id) {
                break;
            }
            let mut h = HeldRollout::new(r.id.clone());
            progressed += self.step_logged(&r, h.lookups()).await;
            held.push(h);
        }
        Ok(progressed)
    }

    /// Gives up the leases of `held` (a driver stopping).
    pub async fn release_rollouts(&self, worker: &str, state: &mut DriverState) {
        for h in state.held.drain(..) {
            if let Err(e) = self.store.release_rollout(&h.id, worker).await {
                tracing::warn!(rollout = %h.id, error = %e, "cannot release a rollout lease; it expires by itself");
            }
        }
    }

    async fn step_logged(&self, r: &RolloutRecord, lookups: &Lookups) -> usize {
        match self.step_rollout(r, lookups).await {
            Ok(true) => 1,
            Ok(false) => 0,
            Err(e) => {
                tracing::error!(rollout = %r.id, error = %e.full_text(), "cannot step rollout");
                0
            }
        }
    }

    /// Runs [`Deuteron::drive_rollouts`] until `shutdown` turns true, waking when a deployment
    /// finishes, a rollout changes, or after `poll`; then releases the rollouts it holds.
    pub async fn run_rollout_driver(&self, worker: String, poll: Duration, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut held = DriverState::default();
        loop {
            if *shutdown.borrow() {
                break;
            }
            let again = match self.drive_rollouts(&worker, &mut held).await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::error!(%worker, error = %e.full_text(), "rollout driver error");
                    false
                }
            };
            if again {
                continue;
            }
            tokio::select! {
                _ = self.signals.rollouts.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => {}
            }
        }
        self.release_rollouts(&worker, &mut held).await;
    }

    /// Blocks the version a rollout rolls back from, so that nothing offers it again; run at
    /// every step while rolling back, so a driver that died right after the decision still does.
    async fn block_rolled_back_target(&self, r: &RolloutRecord, why: Option<&str>) -> Result<()> {
        let reason = format!("rollout {} to it was rolled back: {}", r.id, why.unwrap_or("it failed"));
        self.block_version(r.template_kind, &r.template_name, r.target, &reason).await?;
        Ok(())
    }

    async fn step_rollout(&self, r: &RolloutRecord, lookups: &Lookups) -> Result<bool> {
        if r.status == RolloutStatus::RollingBack {
            self.block_rolled_back_target(r, r.status_message.as_deref()).await?;
        }
        let policy: RolloutPolicy =
            serde_json::from_str(&r.policy).map_err(|e| ServiceError::Internal(format!("rollout {} policy: {e}", r.id)))?;
        let counts = self.store.rollout_counts(&r.id).await?;
        let pos = Position {
            status: r.status,
            current_wave: r.current_wave,
            wave_count: r.wave_count,
            approved_wave: r.approved_wave,
            not_before: r.not_before,
        };
        let s = step(&policy, &pos, &counts, now_millis());
        let mut progressed = false;
        // The items of one step start together: their reads overlap, the template version and
        // environments come from `lookups`, and only the enqueue transactions take turns.
        for (n, selector, rollback) in
            [(s.start, ItemSelector::PendingIn(r.current_wave), false), (s.roll_back, ItemSelector::ToRollBack, true)]
        {
            if n == 0 {
                continue;
            }
            let items = self.store.rollout_items(&r.id, selector, n as i64).await?;
            lookups.new_step();
            // The step's instances in one read.
            let keys: Vec<(String, String)> = items
                .iter()
                .filter_map(|i| match &i.target {
                    Target::ServiceInstance { service, instance } => Some((service.clone(), instance.clone())),
                    _ => None,
                })
                .collect();
            let instances: HashMap<(String, String), InstanceRecord> =
                self.store.get_instances(&keys).await?.into_iter().map(|i| ((i.service_name.clone(), i.name.clone()), i)).collect();
            let prepared =
                futures_util::future::join_all(items.iter().map(|item| self.prepare_item(item, rollback, &instances, lookups))).await;
            // The deployments that could be prepared start in one write; an idle worker of
            // this process, where one is on offer, gets each claimed.
            let mut starts = Vec::new();
            let mut handed = Vec::new();
            for (item, p) in items.iter().zip(&prepared) {
                if let Ok(d) = p {
                    let taken = self.signals.handoff.take();
                    let claimed_by = taken.as_ref().map(|t| t.claim.clone());
                    let link = RolloutLink { rollout_id: r.id.clone(), seq: item.seq, rollback, claimed_by };
                    starts.push(RolloutStart { deployment: d.clone(), status: DeploymentStatus::InProgress, link });
                    handed.push(taken);
                }
            }
            let mut results = self.store.enqueue_rollout_deployments(&starts).await.into_iter().zip(handed);
            for (item, p) in items.iter().zip(prepared) {
                let outcome = match p {
                    Ok(_) => {
                        let (result, taken) = results.next().expect("one result per start");
                        match result {
                            Ok(dep) => Ok((dep, taken)),
                            // Another driver started it first (after a lease expired): nothing to do.
                            Err(StoreError::Conflict(m)) if m.contains("already started") => continue,
                            Err(e) => Err(e.into()),
                        }
                    }
                    Err(e) => Err(e),
                };
                progressed |= self.item_started(r, item, rollback, outcome).await? == ItemStart::Skipped;
            }
        }
        let moved = s.status != r.status || s.current_wave != r.current_wave || s.not_before != r.not_before;
        if moved || (s.message.is_some() && s.message != r.status_message) {
            let change = RolloutChange {
                expected: vec![r.status],
                status: s.status,
                status_message: s.message.clone(),
                current_wave: Some(s.current_wave),
                approved_wave: None,
                not_before: Some(s.not_before),
            };
            match self.store.change_rollout(&r.id, &change).await {
                Ok(now) => {
                    tracing::info!(rollout = %r.id, status = %now.status, wave = now.current_wave + 1, message = ?now.status_message, "rollout moved");
                    if now.status == RolloutStatus::RollingBack && r.status != RolloutStatus::RollingBack {
                        self.block_rolled_back_target(&now, now.status_message.as_deref()).await?;
                    }
                    progressed |= moved;
                }
                // An operator paused or cancelled it meanwhile; their change stands.
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(progressed)
    }

    /// The deployment that moves one item (forward, or back to its previous version and spec);
    /// `instances`: the step's instances as just read.
    async fn prepare_item(
        &self,
        item: &RolloutItemRecord,
        rollback: bool,
        instances: &HashMap<(String, String), InstanceRecord>,
        lookups: &Lookups,
    ) -> Result<NewDeployment> {
        // A rollback moves an updated item back to where it was, and deploys a failed one again on
        // the version and spec it kept (a failed update leaves both as they were).
        let forward_failed =
            item.deployment.as_ref().is_some_and(|d| matches!(d.status, DeploymentStatus::Failed | DeploymentStatus::Cancelled));
        let (to, spec, current) = match (rollback, forward_failed) {
            (false, _) => (item.to, &item.to_spec, item.from),
            (true, false) => (item.from, &item.from_spec, item.to),
            (true, true) => (item.from, &item.from_spec, item.from),
        };
        let update = match to {
            _ if to == current => {
                UpdateResource { update_type: UpdateType::CurrentVersion, spec: Some(spec.clone()), major: None, minor: None }
            }
            _ => {
                let update_type = if to.major != current.major { UpdateType::MajorVersion } else { UpdateType::MinorVersion };
                UpdateResource { update_type, spec: Some(spec.clone()), major: Some(to.major), minor: Some(to.minor) }
            }
        };
        // A resource someone moved since the plan is left alone: the rollout only moves
        // resources from the version it planned for.
        let drifted = |now: VersionNumber| {
            (now != current).then(|| ServiceError::Conflict(format!("it runs {now} now, not {current} as when the rollout planned it")))
        };
        let prepared = match &item.target {
            Target::Environment(name) => {
                let env = self.store.get_environment(name).await?;
                match drifted(env.version) {
                    Some(e) => Err(e),
                    None => self.prepare_environment_update(&env, &update, lookups).await,
                }
            }
            Target::ServiceInstance { service, instance } => {
                let inst = instances
                    .get(&(service.clone(), instance.clone()))
                    .ok_or_else(|| ServiceError::NotFound(format!("service instance {service}/{instance}")))?;
                match drifted(inst.version) {
                    Some(e) => Err(e),
                    None => self.prepare_instance_update(inst, &update, lookups).await,
                }
            }
            Target::ServicePipeline(service) => {
                let p = self.store.get_pipeline(service).await?;
                match drifted(p.version) {
                    Some(e) => Err(e),
                    None => self.prepare_pipeline_update(&p, &update, lookups).await,
                }
            }
            other => Err(ServiceError::Internal(format!("rollouts do not move {other}"))),
        };
        prepared?.ok_or_else(|| ServiceError::Internal("the update deploys nothing".into()))
    }

    /// Records what became of an item's start: its deployment, handed to the worker that was
    /// taken for it or announced to idle ones; or, when it could not start (someone else is
    /// deploying the resource, its spec no longer fits), the item is recorded as skipped with
    /// the reason, and the rollout goes on.
    async fn item_started(
        &self,
        r: &RolloutRecord,
        item: &RolloutItemRecord,
        rollback: bool,
        outcome: Result<(DeploymentRecord, Option<Taken>)>,
    ) -> Result<ItemStart> {
        match outcome {
            Ok((dep, taken)) => {
                let to = dep.target_state.version().map(|v| v.to_string()).unwrap_or_default();
                tracing::info!(rollout = %r.id, item = item.seq, target = %item.target, deployment = %dep.id, %to, rollback, handed = taken.is_some(), "rollout item started");
                match taken {
                    Some(t) => {
                        if !t.give(dep) {
                            tracing::warn!(rollout = %r.id, item = item.seq, "the worker it was handed to is gone; another takes it over when the lease expires");
                        }
                    }
                    // One deployment: one idle worker is enough (a stored permit if none waits).
                    None => self.signals.enqueued.notify_one(),
                }
                Ok(ItemStart::Enqueued)
            }
            Err(ServiceError::Internal(m)) => Err(ServiceError::Internal(m)),
            Err(e) => {
                let why = format!("could not start when its turn came: {}", e.full_text().replace('\n', " "));
                tracing::warn!(rollout = %r.id, item = item.seq, target = %item.target, reason = %why, rollback, "rollout item skipped");
                self.store.skip_rollout_item(&r.id, item.seq, &why, rollback).await?;
                Ok(ItemStart::Skipped)
            }
        }
    }
}

/// What became of an item the driver started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemStart {
    Enqueued,
    /// It could not start and was recorded as skipped: its wave's counts changed at once.
    Skipped,
}

/// A template's default rollout policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplatePolicy {
    pub policy: RolloutPolicy,
    /// Start a rollout with this policy whenever a new minor version is published.
    pub automatic: bool,
}

impl Deuteron {
    pub async fn template_rollout_policy(&self, kind: TemplateKind, name: &str) -> Result<Option<TemplatePolicy>> {
        self.store.get_template(kind, name).await?;
        let Some((text, automatic)) = self.store.template_rollout_policy(kind, name).await? else { return Ok(None) };
        let policy = serde_json::from_str(&text).map_err(|e| ServiceError::Internal(format!("stored rollout policy of {name}: {e}")))?;
        Ok(Some(TemplatePolicy { policy, automatic }))
    }

    /// Sets a template's default rollout policy (`None` removes it).
    pub async fn set_template_rollout_policy(
        &self,
        kind: TemplateKind,
        name: &str,
        policy: Option<(RolloutPolicy, bool)>,
    ) -> Result<Option<TemplatePolicy>> {
        self.store.get_template(kind, name).await?;
        if let Some((p, _)) = &policy {
            p.validate().map_err(policy_error)?;
        }
        let text = policy.as_ref().map(|(p, a)| (serde_json::to_string(p).expect("policies serialise"), *a));
        self.store.set_template_rollout_policy(kind, name, text.as_ref().map(|(t, a)| (t.as_str(), *a))).await?;
        tracing::info!(kind = %kind, template = %name, automatic = policy.as_ref().is_some_and(|p| p.1), "template rollout policy set");
        Ok(policy.map(|(policy, automatic)| TemplatePolicy { policy, automatic }))
    }

    /// Automatic mode: after `version` (a new minor) was published, starts a rollout of the
    /// resources on its major with the template's policy. Never fails the publish; says in the
    /// log what it did, and returns the rollout's id when it started one.
    pub(crate) async fn auto_rollout(&self, kind: TemplateKind, name: &str, version: VersionNumber) -> Option<String> {
        let policy = match self.template_rollout_policy(kind, name).await {
            Ok(Some(TemplatePolicy { policy, automatic: true })) => policy,
            Ok(_) => return None,
            Err(e) => {
                tracing::error!(template = %name, error = %e.full_text(), "cannot read the template's rollout policy");
                return None;
            }
        };
        let req = RolloutRequest {
            kind,
            template: name.to_string(),
            major: Some(version.major),
            minor: Some(version.minor),
            selection: Selection { versions: vec![version.major.to_string()], ..Default::default() },
            policy,
            transform: None,
            created_by: Some(format!("automatic: {version} published")),
        };
        match self.start_rollout(req).await {
            Ok((r, plan)) => {
                tracing::info!(rollout = %r.id, template = %name, %version, resources = plan.moving(), "automatic rollout started");
                Some(r.id)
            }
            Err(e) => {
                tracing::info!(template = %name, %version, reason = %e.full_text(), "no automatic rollout");
                None
            }
        }
    }
}

/// Between the parts of one process: wake-ups for deployments enqueued (for idle workers) and
/// for anything a rollout driver should look at (a deployment finished, a rollout changed), and
/// the idle workers rollout deployments are handed to.
#[derive(Debug, Default)]
pub struct Signals {
    pub enqueued: Arc<tokio::sync::Notify>,
    pub rollouts: Arc<tokio::sync::Notify>,
    /// Idle workers of this process that rollout items are handed to, claimed.
    pub handoff: Arc<deuteron_store::Handoff>,
}

pub use crate::rollout_views::{item_json, item_reason, item_state, plan_json, rollout_json, rollout_summary_json};
