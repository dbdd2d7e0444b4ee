//! Fleet rollouts: the policy an operator gives, how resources are grouped into waves, and the
//! step rule that decides, from a rollout's counts, what to start next and when it is finished.
//!
//! The service layer gathers the facts (which resources, their versions, whether their specs fit
//! the target schema, how their deployments went) and applies the [`Step`] this module computes;
//! nothing here reads a clock or a database.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::status::RolloutStatus;

/// How a rollout proceeds. Every field has a default, so `{}` is a valid policy: one wave, ten
/// deployments at a time, stop at the first failure, no bake time, no approval, no rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolloutPolicy {
    pub waves: Waves,
    /// Deployments of the rollout running at the same time.
    pub max_concurrency: u32,
    /// Failures a wave tolerates; one more stops the rollout.
    pub wave_failure_tolerance: Tolerance,
    /// Failures the whole rollout tolerates (none: only the per-wave tolerance applies).
    pub total_failure_tolerance: Option<Tolerance>,
    /// Seconds to wait after a wave succeeded before the next one starts.
    pub bake_seconds: u64,
    /// Waves (numbered from 1) that start only once an operator approves them.
    pub approval_before: Vec<u32>,
    /// When a tolerance is crossed, move the resources already updated back to their previous
    /// version and spec.
    pub rollback_on_failure: bool,
}

impl Default for RolloutPolicy {
    fn default() -> Self {
        Self {
            waves: Waves::Count(1),
            max_concurrency: 10,
            wave_failure_tolerance: Tolerance::Count(0),
            total_failure_tolerance: None,
            bake_seconds: 0,
            approval_before: Vec::new(),
            rollback_on_failure: false,
        }
    }
}

/// How resources are split into waves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Waves {
    /// This many waves of (nearly) equal size.
    Count(u32),
    /// Waves holding these percentages of the resources, in order; they add up to 100.
    Percentages(Vec<u32>),
    /// One wave per group of environment names, in order (e.g. dev, then staging, then prod).
    Environments(Vec<Vec<String>>),
}

impl Waves {
    /// Parses the command-line form: `3` (count), `10%,40%,50%` (percentages) or
    /// `dev;staging;prod-eu,prod-us` (environment groups separated by `;`, names within a group by `,`).
    pub fn parse(raw: &str) -> Result<Self, PolicyError> {
        let raw = raw.trim();
        if let Ok(n) = raw.parse::<u32>() {
            return Ok(Waves::Count(n));
        }
        if raw.contains('%') {
            let parts: Result<Vec<u32>, _> = raw.split(',').map(|p| p.trim().trim_end_matches('%').parse::<u32>()).collect();
            return parts
                .map(Waves::Percentages)
                .map_err(|_| PolicyError(format!("waves: {raw:?} is not a list of percentages like 10%,40%,50%")));
        }
        let groups: Vec<Vec<String>> =
            raw.split(';').map(|g| g.split(',').map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect::<Vec<_>>()).collect();
        if groups.iter().any(Vec::is_empty) {
            return Err(PolicyError(format!("waves: {raw:?} has an empty environment group")));
        }
        Ok(Waves::Environments(groups))
    }
}

impl fmt::Display for Waves {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Waves::Count(n) => write!(f, "{n}"),
            Waves::Percentages(p) => f.write_str(&p.iter().map(|p| format!("{p}%")).collect::<Vec<_>>().join(",")),
            Waves::Environments(g) => f.write_str(&g.iter().map(|g| g.join(",")).collect::<Vec<_>>().join(";")),
        }
    }
}

/// How many failures are tolerated: a count, or a percentage of the resources concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tolerance {
    Count(u32),
    Percent(u32),
}

impl Tolerance {
    /// `2` or `10%`.
    pub fn parse(raw: &str) -> Result<Self, PolicyError> {
        let raw = raw.trim();
        let bad = || PolicyError(format!("failure tolerance {raw:?} is neither a count (2) nor a percentage (10%)"));
        match raw.strip_suffix('%') {
            Some(p) => p.trim().parse().map(Tolerance::Percent).map_err(|_| bad()),
            None => raw.parse().map(Tolerance::Count).map_err(|_| bad()),
        }
    }

    /// Whether `failed` failures out of `size` resources stay within the tolerance.
    pub fn allows(self, failed: u64, size: u64) -> bool {
        match self {
            Tolerance::Count(n) => failed <= u64::from(n),
            Tolerance::Percent(p) => failed * 100 <= u64::from(p) * size,
        }
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tolerance::Count(n) => write!(f, "{n}"),
            Tolerance::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// A policy that cannot run, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

impl RolloutPolicy {
    /// Checks the policy on its own; `Ok` gives the number of waves it asks for (environment and
    /// count waves; percentages give one wave per entry).
    pub fn validate(&self) -> Result<u32, PolicyError> {
        let err = |m: String| Err(PolicyError(m));
        if self.max_concurrency == 0 {
            return err("max_concurrency must be at least 1".into());
        }
        let waves = match &self.waves {
            Waves::Count(0) => return err("waves: the count must be at least 1".into()),
            Waves::Count(n) => *n,
            Waves::Percentages(p) => {
                if p.is_empty() || p.contains(&0) {
                    return err(format!("waves: every percentage must be above 0 (got {})", self.waves));
                }
                let sum: u32 = p.iter().sum();
                if sum != 100 {
                    return err(format!("waves: the percentages add up to {sum}, not 100"));
                }
                p.len() as u32
            }
            Waves::Environments(groups) => {
                if groups.is_empty() || groups.iter().any(Vec::is_empty) {
                    return err("waves: every environment group needs at least one environment".into());
                }
                let mut seen = std::collections::BTreeSet::new();
                for e in groups.iter().flatten() {
                    if !seen.insert(e) {
                        return err(format!("waves: environment {e} is listed in more than one wave"));
                    }
                }
                groups.len() as u32
            }
        };
        for t in [Some(self.wave_failure_tolerance), self.total_failure_tolerance].into_iter().flatten() {
            if let Tolerance::Percent(p) = t
                && p > 100
            {
                return err(format!("failure tolerance {t} is above 100%"));
            }
        }
        if let Some(w) = self.approval_before.iter().find(|w| **w == 0 || **w > waves) {
            return err(format!("approval_before: wave {w} does not exist (waves are numbered 1 to {waves})"));
        }
        Ok(waves)
    }
}

/// A resource a rollout may move, as the planner needs to see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The environment the resource runs in (an environment's own name for environments); `None`
    /// for a resource that runs in none (a service pipeline, which delivers to all of them).
    pub environment: Option<String>,
    /// Why it cannot move, found by the service layer (in progress, incompatible, spec invalid ...).
    pub blocked: Option<String>,
}

/// Where the planner put one candidate: a wave (from 0), or skipped with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    Wave(u32),
    Skipped(String),
}

/// Puts each candidate, in the order given (the service sorts them), into a wave. Count and
/// percentage waves split the movable candidates into consecutive groups; environment waves follow
/// the candidates' environments, and candidates in environments no wave names are skipped.
/// Candidates in no environment (pipelines) go to the last environment wave, after the
/// environments they deliver to.
pub fn assign_waves(policy: &RolloutPolicy, candidates: &[Candidate]) -> Result<Vec<Placement>, PolicyError> {
    let waves = policy.validate()?;
    let movable: Vec<usize> = (0..candidates.len()).filter(|i| candidates[*i].blocked.is_none()).collect();
    let mut out: Vec<Placement> = candidates.iter().map(|c| Placement::Skipped(c.blocked.clone().unwrap_or_default())).collect();
    let total = movable.len() as u64;
    // The first index of each wave after the first, for consecutive splits.
    let bounds: Vec<u64> = match &policy.waves {
        Waves::Count(_) => (1..u64::from(waves)).map(|w| (w * total).div_ceil(u64::from(waves))).collect(),
        Waves::Percentages(p) => p
            .iter()
            .scan(0u64, |cum, p| {
                *cum += u64::from(*p);
                Some((*cum * total).div_ceil(100))
            })
            .take(p.len() - 1)
            .collect(),
        Waves::Environments(groups) => {
            for i in movable {
                let Some(env) = &candidates[i].environment else {
                    out[i] = Placement::Wave(waves - 1);
                    continue;
                };
                out[i] = match groups.iter().position(|g| g.iter().any(|e| e == env)) {
                    Some(w) => Placement::Wave(w as u32),
                    None => Placement::Skipped(format!("environment {env} is not in any wave ({})", policy.waves)),
                };
            }
            return Ok(out);
        }
    };
    for (n, i) in movable.into_iter().enumerate() {
        let wave = bounds.iter().filter(|b| (n as u64) >= **b).count() as u32;
        out[i] = Placement::Wave(wave);
    }
    Ok(out)
}

/// A change an operator asks for on the inputs of every resource a rollout moves (for a major
/// version whose schema renamed, added or removed inputs). Applied in order: remove, rename, set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpecTransform {
    pub remove: Vec<String>,
    pub rename: BTreeMap<String, String>,
    pub set: BTreeMap<String, Value>,
}

impl SpecTransform {
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.rename.is_empty() && self.set.is_empty()
    }

    /// The inputs after the transform; inputs that are not a mapping are returned unchanged.
    pub fn apply(&self, inputs: &Value) -> Value {
        let Some(map) = inputs.as_object() else { return inputs.clone() };
        let mut map = map.clone();
        for k in &self.remove {
            map.remove(k);
        }
        for (from, to) in &self.rename {
            if let Some(v) = map.remove(from) {
                map.insert(to.clone(), v);
            }
        }
        for (k, v) in &self.set {
            map.insert(k.clone(), v.clone());
        }
        Value::Object(map)
    }
}

/// How the items of one wave stand (the store counts them from the items and their deployments).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WaveCounts {
    pub wave: u32,
    /// Not started yet.
    pub pending: u64,
    /// Skipped when their turn came (e.g. someone else was deploying them).
    pub skipped: u64,
    /// Forward deployment running.
    pub active: u64,
    pub succeeded: u64,
    /// Forward deployment failed or was cancelled.
    pub failed: u64,
    pub rollback_active: u64,
    pub rolled_back: u64,
    pub rollback_failed: u64,
}

impl WaveCounts {
    /// Items that take part (everything but the skipped).
    pub fn size(&self) -> u64 {
        self.pending + self.active + self.succeeded + self.failed + self.rollback_active + self.rolled_back + self.rollback_failed
    }
}

/// Which of a wave's counts one item adds to (at most one). The store keeps the counts per wave
/// and moves an item between them in the same transaction that changes the item or one of its
/// deployments, so stepping a rollout reads a handful of numbers instead of every item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemBucket {
    Pending,
    Skipped,
    Active,
    Succeeded,
    Failed,
    RollbackActive,
    RolledBack,
    RollbackFailed,
}

impl ItemBucket {
    /// The name of this count (as a [`WaveCounts`] field and a store column).
    pub fn column(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Skipped => "skipped",
            Self::Active => "active",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::RollbackActive => "rollback_active",
            Self::RolledBack => "rolled_back",
            Self::RollbackFailed => "rollback_failed",
        }
    }

    /// Adds `delta` to this count in `c`.
    pub fn add_to(self, c: &mut WaveCounts, delta: i64) {
        let field = match self {
            Self::Pending => &mut c.pending,
            Self::Skipped => &mut c.skipped,
            Self::Active => &mut c.active,
            Self::Succeeded => &mut c.succeeded,
            Self::Failed => &mut c.failed,
            Self::RollbackActive => &mut c.rollback_active,
            Self::RolledBack => &mut c.rolled_back,
            Self::RollbackFailed => &mut c.rollback_failed,
        };
        *field = field.saturating_add_signed(delta);
    }
}

/// What decides an item's [`ItemBucket`]: whether it was skipped, its forward and rollback
/// deployments (started or not, and their status), and whether its rollback could not start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemFacts {
    pub skipped: bool,
    /// The forward deployment, once started: its status.
    pub forward: Option<crate::status::DeploymentStatus>,
    pub rollback: Option<crate::status::DeploymentStatus>,
    pub rollback_error: bool,
}

impl ItemFacts {
    /// The count this item adds to.
    pub fn bucket(&self) -> Option<ItemBucket> {
        use crate::status::DeploymentStatus as D;
        let active = |s: D| matches!(s, D::InProgress | D::Cancelling);
        let failed = |s: D| matches!(s, D::Failed | D::Cancelled);
        if self.skipped {
            return Some(ItemBucket::Skipped);
        }
        let Some(forward) = self.forward else { return Some(ItemBucket::Pending) };
        if self.rollback_error {
            return Some(ItemBucket::RollbackFailed);
        }
        if let Some(r) = self.rollback {
            return match r {
                _ if active(r) => Some(ItemBucket::RollbackActive),
                D::Succeeded => Some(ItemBucket::RolledBack),
                _ if failed(r) => Some(ItemBucket::RollbackFailed),
                _ => None,
            };
        }
        match forward {
            _ if active(forward) => Some(ItemBucket::Active),
            D::Succeeded => Some(ItemBucket::Succeeded),
            _ if failed(forward) => Some(ItemBucket::Failed),
            _ => None,
        }
    }
}

/// A rollout's position, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub status: RolloutStatus,
    /// The wave in progress (from 0).
    pub current_wave: u32,
    pub wave_count: u32,
    /// The highest wave (from 0) an operator approved.
    pub approved_wave: Option<u32>,
    /// Milliseconds since the epoch before which the current wave does not start (bake time).
    pub not_before: i64,
}

/// What to do next. The service starts `start` pending items of the current wave (in plan order)
/// and `roll_back` updated items, then stores the new position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub start: u64,
    pub roll_back: u64,
    pub status: RolloutStatus,
    pub current_wave: u32,
    pub not_before: i64,
    pub message: Option<String>,
}

/// The step rule. `counts` holds one entry per wave that has items; `now` is milliseconds since
/// the epoch. Calling it again with the same facts gives the same step, which is what makes a
/// rollout safe to drive again after a restart.
pub fn step(policy: &RolloutPolicy, pos: &Position, counts: &[WaveCounts], now: i64) -> Step {
    let wave_of = |w: u32| counts.iter().find(|c| c.wave == w).copied().unwrap_or(WaveCounts { wave: w, ..Default::default() });
    let total = counts.iter().fold(WaveCounts::default(), |a, c| WaveCounts {
        wave: 0,
        pending: a.pending + c.pending,
        skipped: a.skipped + c.skipped,
        active: a.active + c.active,
        succeeded: a.succeeded + c.succeeded,
        failed: a.failed + c.failed,
        rollback_active: a.rollback_active + c.rollback_active,
        rolled_back: a.rolled_back + c.rolled_back,
        rollback_failed: a.rollback_failed + c.rollback_failed,
    });
    let keep = |message: Option<String>| Step {
        start: 0,
        roll_back: 0,
        status: pos.status,
        current_wave: pos.current_wave,
        not_before: pos.not_before,
        message,
    };
    let limit = u64::from(policy.max_concurrency);
    match pos.status {
        RolloutStatus::Running => {
            let w = wave_of(pos.current_wave);
            let wave_ok = policy.wave_failure_tolerance.allows(w.failed, w.size());
            let total_ok = policy.total_failure_tolerance.is_none_or(|t| t.allows(total.failed, total.size()));
            if !wave_ok || !total_ok {
                let why = if wave_ok {
                    format!(
                        "{} of {} deployments failed in the rollout, more than its tolerance ({})",
                        total.failed,
                        total.size(),
                        policy.total_failure_tolerance.map(|t| t.to_string()).unwrap_or_default()
                    )
                } else {
                    format!(
                        "{} of {} deployments failed in wave {}, more than its tolerance ({})",
                        w.failed,
                        w.size(),
                        pos.current_wave + 1,
                        policy.wave_failure_tolerance
                    )
                };
                if total.active > 0 {
                    return keep(Some(format!("{why}; waiting for {} running deployments before stopping", total.active)));
                }
                if policy.rollback_on_failure {
                    let mut s = step(policy, &Position { status: RolloutStatus::RollingBack, ..*pos }, counts, now);
                    s.message = Some(format!(
                        "{why}; rolling back: {} updated resources move back, {} failed ones are deployed again on their previous version",
                        total.succeeded, total.failed
                    ));
                    return s;
                }
                return Step { status: RolloutStatus::Failed, message: Some(format!("{why}; stopped")), ..keep(None) };
            }
            if now < pos.not_before {
                return keep(None);
            }
            let started = w.active + w.succeeded + w.failed + w.skipped;
            let needs_approval = policy.approval_before.contains(&(pos.current_wave + 1))
                && pos.approved_wave.is_none_or(|a| a < pos.current_wave)
                && started == 0
                && w.pending > 0;
            if needs_approval {
                return Step {
                    status: RolloutStatus::WaitingForApproval,
                    message: Some(format!("wave {} of {} waits for approval", pos.current_wave + 1, pos.wave_count)),
                    ..keep(None)
                };
            }
            if w.pending > 0 {
                let start = w.pending.min(limit.saturating_sub(total.active));
                return Step { start, ..keep(None) };
            }
            if w.active > 0 {
                return keep(None);
            }
            // The wave is done.
            let next = (pos.current_wave + 1..pos.wave_count).find(|n| wave_of(*n).pending > 0);
            match next {
                None => Step {
                    status: RolloutStatus::Succeeded,
                    message: Some(format!(
                        "{} resources updated, {} failed within tolerance, {} skipped",
                        total.succeeded, total.failed, total.skipped
                    )),
                    ..keep(None)
                },
                Some(n) => Step {
                    current_wave: n,
                    not_before: now + (policy.bake_seconds as i64) * 1000,
                    message: Some(if policy.bake_seconds > 0 {
                        format!("wave {} done; baking {} s before wave {}", pos.current_wave + 1, policy.bake_seconds, n + 1)
                    } else {
                        format!("wave {} done; starting wave {}", pos.current_wave + 1, n + 1)
                    }),
                    ..keep(None)
                },
            }
        }
        RolloutStatus::RollingBack => {
            let busy = total.active + total.rollback_active;
            // Updated items move back; failed ones are deployed again as they were.
            let to_roll_back = total.succeeded + total.failed;
            if to_roll_back > 0 {
                return Step { roll_back: to_roll_back.min(limit.saturating_sub(busy)), ..keep(None) };
            }
            if busy > 0 {
                return keep(None);
            }
            if total.rollback_failed > 0 {
                Step {
                    status: RolloutStatus::Failed,
                    message: Some(format!(
                        "rollback incomplete: {} resources rolled back, {} rollbacks failed",
                        total.rolled_back, total.rollback_failed
                    )),
                    ..keep(None)
                }
            } else {
                Step {
                    status: RolloutStatus::RolledBack,
                    message: Some(format!("{} resources back on their previous version and spec", total.rolled_back)),
                    ..keep(None)
                }
            }
        }
        _ => keep(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_item_adds_to_one_count() {
        use crate::status::DeploymentStatus as D;
        let f = |skipped, forward, rollback, rollback_error| ItemFacts { skipped, forward, rollback, rollback_error }.bucket();
        assert_eq!(f(false, None, None, false), Some(ItemBucket::Pending));
        assert_eq!(f(true, None, None, false), Some(ItemBucket::Skipped));
        assert_eq!(f(false, Some(D::InProgress), None, false), Some(ItemBucket::Active));
        assert_eq!(f(false, Some(D::Cancelling), None, false), Some(ItemBucket::Active));
        assert_eq!(f(false, Some(D::Succeeded), None, false), Some(ItemBucket::Succeeded));
        assert_eq!(f(false, Some(D::Failed), None, false), Some(ItemBucket::Failed));
        assert_eq!(f(false, Some(D::Cancelled), None, false), Some(ItemBucket::Failed));
        assert_eq!(f(false, Some(D::Succeeded), Some(D::InProgress), false), Some(ItemBucket::RollbackActive));
        assert_eq!(f(false, Some(D::Succeeded), Some(D::Succeeded), false), Some(ItemBucket::RolledBack));
        assert_eq!(f(false, Some(D::Succeeded), Some(D::Failed), false), Some(ItemBucket::RollbackFailed));
        assert_eq!(f(false, Some(D::Succeeded), None, true), Some(ItemBucket::RollbackFailed));
        let mut c = WaveCounts::default();
        ItemBucket::RolledBack.add_to(&mut c, 2);
        ItemBucket::RolledBack.add_to(&mut c, -1);
        ItemBucket::Pending.add_to(&mut c, -1);
        assert_eq!((c.rolled_back, c.pending, c.size()), (1, 0, 1));
        assert_eq!(ItemBucket::RollbackFailed.column(), "rollback_failed");
    }
    use RolloutStatus::*;

    fn cands(envs: &[&str]) -> Vec<Candidate> {
        envs.iter().map(|e| Candidate { environment: (!e.is_empty()).then(|| e.to_string()), blocked: None }).collect()
    }

    fn waves_of(p: &[Placement]) -> Vec<i64> {
        p.iter().map(|p| if let Placement::Wave(w) = p { *w as i64 } else { -1 }).collect()
    }

    #[test]
    fn parses_the_command_line_forms() {
        assert_eq!(Waves::parse("3"), Ok(Waves::Count(3)));
        assert_eq!(Waves::parse("10%, 40%,50%"), Ok(Waves::Percentages(vec![10, 40, 50])));
        assert_eq!(Waves::parse("dev;staging;prod-a,prod-b").unwrap().to_string(), "dev;staging;prod-a,prod-b");
        assert!(Waves::parse("dev;;prod").unwrap_err().0.contains("empty environment group"));
        assert_eq!(Tolerance::parse("10%"), Ok(Tolerance::Percent(10)));
        assert_eq!(Tolerance::parse("2"), Ok(Tolerance::Count(2)));
        assert!(Tolerance::parse("x").is_err());
        let p: RolloutPolicy = serde_json::from_str(r#"{"waves":{"percentages":[50,50]},"max_concurrency":3}"#).unwrap();
        assert_eq!(p.validate(), Ok(2));
        assert!(serde_json::from_str::<RolloutPolicy>(r#"{"wavez":1}"#).is_err());
    }

    #[test]
    fn rejects_policies_that_cannot_run() {
        let bad = |p: RolloutPolicy| p.validate().unwrap_err().0;
        assert_eq!(bad(RolloutPolicy { max_concurrency: 0, ..Default::default() }), "max_concurrency must be at least 1");
        assert_eq!(
            bad(RolloutPolicy { waves: Waves::Percentages(vec![10, 20]), ..Default::default() }),
            "waves: the percentages add up to 30, not 100"
        );
        assert!(bad(RolloutPolicy { approval_before: vec![3], ..Default::default() }).contains("wave 3 does not exist"));
        assert!(
            bad(RolloutPolicy { waves: Waves::Environments(vec![vec!["a".into()], vec!["a".into()]]), ..Default::default() })
                .contains("more than one wave")
        );
        assert!(bad(RolloutPolicy { wave_failure_tolerance: Tolerance::Percent(101), ..Default::default() }).contains("above 100%"));
    }

    #[test]
    fn splits_into_consecutive_waves() {
        let c = cands(&["e"; 10]);
        let p = RolloutPolicy { waves: Waves::Count(3), ..Default::default() };
        assert_eq!(waves_of(&assign_waves(&p, &c).unwrap()), vec![0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
        let p = RolloutPolicy { waves: Waves::Percentages(vec![10, 40, 50]), ..Default::default() };
        assert_eq!(waves_of(&assign_waves(&p, &c).unwrap()), vec![0, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
        let mut c = cands(&["e"; 4]);
        c[1].blocked = Some("spec invalid".into());
        let p = RolloutPolicy { waves: Waves::Count(2), ..Default::default() };
        let placed = assign_waves(&p, &c).unwrap();
        assert_eq!(placed[1], Placement::Skipped("spec invalid".into()));
        assert_eq!(waves_of(&placed), vec![0, -1, 0, 1]);
    }

    #[test]
    fn environment_waves_follow_the_order() {
        // "": a pipeline, in no environment: it moves in the last wave.
        let c = cands(&["prod", "dev", "staging", "qa", ""]);
        let p = RolloutPolicy { waves: Waves::parse("dev;staging;prod").unwrap(), ..Default::default() };
        let placed = assign_waves(&p, &c).unwrap();
        assert_eq!(waves_of(&placed), vec![2, 0, 1, -1, 2]);
        assert_eq!(placed[3], Placement::Skipped("environment qa is not in any wave (dev;staging;prod)".into()));
    }

    #[test]
    fn transforms_inputs() {
        let t: SpecTransform =
            serde_json::from_str(r#"{"remove":["old"],"rename":{"size":"instance_size"},"set":{"tier":"gold"}}"#).unwrap();
        let out = t.apply(&serde_json::json!({"old": 1, "size": "m", "keep": true}));
        assert_eq!(out, serde_json::json!({"keep": true, "instance_size": "m", "tier": "gold"}));
    }

    fn pos(status: RolloutStatus, wave: u32) -> Position {
        Position { status, current_wave: wave, wave_count: 3, approved_wave: None, not_before: 0 }
    }

    fn wc(wave: u32, pending: u64, active: u64, succeeded: u64, failed: u64) -> WaveCounts {
        WaveCounts { wave, pending, active, succeeded, failed, ..Default::default() }
    }

    #[test]
    fn starts_up_to_the_concurrency_limit() {
        let p = RolloutPolicy { max_concurrency: 10, ..Default::default() };
        let s = step(&p, &pos(Running, 0), &[wc(0, 50, 4, 3, 0), wc(1, 60, 0, 0, 0)], 1);
        assert_eq!((s.start, s.status, s.current_wave), (6, Running, 0));
        let s = step(&p, &pos(Running, 0), &[wc(0, 0, 2, 70, 0), wc(1, 60, 0, 0, 0)], 1);
        assert_eq!((s.start, s.status, s.current_wave), (0, Running, 0));
    }

    #[test]
    fn moves_to_the_next_wave_after_the_bake_time() {
        let p = RolloutPolicy { bake_seconds: 30, ..Default::default() };
        let s = step(&p, &pos(Running, 0), &[wc(0, 0, 0, 5, 0), wc(1, 5, 0, 0, 0)], 1_000);
        assert_eq!((s.current_wave, s.not_before, s.start), (1, 31_000, 0));
        let baking = Position { current_wave: 1, not_before: 31_000, ..pos(Running, 1) };
        assert_eq!(step(&p, &baking, &[wc(0, 0, 0, 5, 0), wc(1, 5, 0, 0, 0)], 30_999).start, 0);
        assert_eq!(step(&p, &baking, &[wc(0, 0, 0, 5, 0), wc(1, 5, 0, 0, 0)], 31_000).start, 5);
        let done = step(&p, &pos(Running, 2), &[wc(0, 0, 0, 5, 0), wc(1, 0, 0, 5, 0), wc(2, 0, 0, 5, 0)], 40_000);
        assert_eq!(done.status, Succeeded);
        assert_eq!(done.message.as_deref(), Some("15 resources updated, 0 failed within tolerance, 0 skipped"));
    }

    #[test]
    fn waits_for_approval_before_chosen_waves() {
        let p = RolloutPolicy { approval_before: vec![2], ..Default::default() };
        let counts = [wc(0, 0, 0, 5, 0), wc(1, 5, 0, 0, 0)];
        let s = step(&p, &pos(Running, 1), &counts, 1);
        assert_eq!((s.status, s.start), (WaitingForApproval, 0));
        let approved = Position { approved_wave: Some(1), ..pos(Running, 1) };
        assert_eq!(step(&p, &approved, &counts, 1).start, 5);
    }

    #[test]
    fn stops_at_the_failure_threshold_and_rolls_back() {
        let p = RolloutPolicy {
            wave_failure_tolerance: Tolerance::Count(1),
            rollback_on_failure: true,
            max_concurrency: 4,
            ..Default::default()
        };
        // One failure is tolerated: keep going.
        assert_eq!(step(&p, &pos(Running, 0), &[wc(0, 5, 1, 3, 1)], 1).start, 3);
        // Two: stop starting, wait for the running ones.
        let s = step(&p, &pos(Running, 0), &[wc(0, 5, 1, 3, 2)], 1);
        assert_eq!((s.start, s.status), (0, Running));
        assert!(s.message.unwrap().contains("2 of 11 deployments failed in wave 1, more than its tolerance (1); waiting for 1"));
        // Nothing running: roll back the updated ones and the failed ones, four at a time.
        let s = step(&p, &pos(Running, 0), &[wc(0, 5, 0, 6, 2), wc(1, 9, 0, 0, 0)], 1);
        assert_eq!((s.status, s.roll_back), (RollingBack, 4));
        assert!(
            s.message
                .unwrap()
                .ends_with("rolling back: 6 updated resources move back, 2 failed ones are deployed again on their previous version")
        );
        // The updated ones are back: the failed ones are deployed again, then it is done.
        let rb = WaveCounts { wave: 0, pending: 5, failed: 2, rolled_back: 6, ..Default::default() };
        assert_eq!((step(&p, &pos(RollingBack, 0), &[rb], 1).roll_back, step(&p, &pos(RollingBack, 0), &[rb], 1).status), (2, RollingBack));
        let busy = WaveCounts { rollback_active: 4, ..rb };
        assert_eq!(step(&p, &pos(RollingBack, 0), &[busy], 1).roll_back, 0, "four at a time");
        let done = WaveCounts { wave: 0, pending: 5, rolled_back: 8, ..Default::default() };
        assert_eq!(step(&p, &pos(RollingBack, 0), &[done], 1).status, RolledBack);
        let no_rb = RolloutPolicy { rollback_on_failure: false, ..p.clone() };
        let s = step(&no_rb, &pos(Running, 0), &[wc(0, 5, 0, 6, 2)], 1);
        assert_eq!(s.status, Failed);
        let total = RolloutPolicy {
            total_failure_tolerance: Some(Tolerance::Percent(10)),
            wave_failure_tolerance: Tolerance::Percent(50),
            ..no_rb
        };
        let s = step(&total, &pos(Running, 1), &[wc(0, 0, 0, 8, 2), wc(1, 10, 0, 0, 1)], 1);
        assert_eq!(s.status, Failed);
        assert!(s.message.unwrap().starts_with("3 of 21 deployments failed in the rollout"));
    }

    #[test]
    fn other_statuses_do_nothing() {
        let p = RolloutPolicy::default();
        for status in [Paused, WaitingForApproval, Succeeded, Cancelled, Pending] {
            let s = step(&p, &pos(status, 0), &[wc(0, 5, 0, 0, 0)], 1);
            assert_eq!((s.start, s.status), (0, status));
        }
    }
}
