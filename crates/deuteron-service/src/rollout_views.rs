//! Rollouts as every transport shows them (CLI, REST, console): plans, rollouts with their
//! per-wave progress, and items with their state, reason and deployments, as JSON.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use deuteron_core::DeploymentStatus;
use deuteron_core::rollout::WaveCounts;
use deuteron_store::{RolloutItemRecord, RolloutRecord};

use crate::rollouts::{RolloutPlan, RolloutProgress};

/// A plan as the transports show it.
pub fn plan_json(plan: &RolloutPlan) -> Value {
    let mut per_wave: BTreeMap<u32, usize> = BTreeMap::new();
    for w in plan.items.iter().filter_map(|i| i.wave) {
        *per_wave.entry(w).or_default() += 1;
    }
    json!({
        "templateKind": plan.kind.as_str(),
        "templateName": plan.template,
        "targetVersion": plan.target.to_string(),
        "waveCount": plan.wave_count,
        "policy": plan.policy,
        "moving": plan.moving(),
        "skipped": plan.items.len() - plan.moving(),
        "waves": per_wave.iter().map(|(w, n)| json!({"wave": w, "resources": n})).collect::<Vec<_>>(),
        "items": plan.items,
    })
}

fn wave_json(c: &WaveCounts) -> Value {
    json!({
        "wave": c.wave + 1,
        "pending": c.pending,
        "running": c.active,
        "succeeded": c.succeeded,
        "failed": c.failed,
        "skipped": c.skipped,
        "rollingBack": c.rollback_active,
        "rolledBack": c.rolled_back,
        "rollbackFailed": c.rollback_failed,
    })
}

/// A rollout without counts (lists).
pub fn rollout_summary_json(r: &RolloutRecord) -> Value {
    json!({
        "id": r.id,
        "templateKind": r.template_kind.as_str(),
        "templateName": r.template_name,
        "targetVersion": r.target.to_string(),
        "status": r.status.as_str(),
        "statusMessage": r.status_message,
        "currentWave": r.current_wave + 1,
        "waveCount": r.wave_count,
        "createdAt": crate::views::iso(r.created_at),
        "finishedAt": r.finished_at.map(crate::views::iso),
    })
}

/// A rollout with its policy and per-wave progress, as the transports show it.
pub fn rollout_json(p: &RolloutProgress) -> Value {
    let r = &p.rollout;
    let mut v = rollout_summary_json(r);
    let more = json!({
        "approvedWave": r.approved_wave.map(|w| w + 1),
        "notBefore": (r.not_before > r.updated_at).then(|| crate::views::iso(r.not_before)),
        "policy": p.policy,
        "selection": serde_json::from_str::<Value>(&r.selection).unwrap_or(Value::Null),
        "specTransform": r.transform.as_deref().and_then(|t| serde_json::from_str::<Value>(t).ok()),
        "createdBy": r.created_by,
        "updatedAt": crate::views::iso(r.updated_at),
        "skippedInPlan": p.skipped_in_plan,
        "waves": p.waves.iter().map(wave_json).collect::<Vec<_>>(),
    });
    if let (Some(obj), Value::Object(extra)) = (v.as_object_mut(), more) {
        obj.extend(extra);
    }
    v
}

/// Where one item stands, in words: `PENDING`, `SKIPPED`, the forward deployment's status, or
/// `ROLLBACK_<status>` once its rollback started.
pub fn item_state(i: &RolloutItemRecord) -> String {
    if let Some(rb) = &i.rollback {
        return format!("ROLLBACK_{}", rb.status.as_str());
    }
    if i.rollback_error.is_some() {
        return "ROLLBACK_NOT_STARTED".into();
    }
    match (&i.deployment, &i.skip_reason) {
        (Some(d), _) => d.status.as_str().to_string(),
        (None, Some(_)) => "SKIPPED".into(),
        (None, None) => "PENDING".into(),
    }
}

/// Why an item is where it is, when it did not simply succeed: the skip reason, why its
/// rollback could not start, or the status message of its failed (or cancelled) deployment.
pub fn item_reason(i: &RolloutItemRecord) -> Option<String> {
    let unsuccessful = |d: &&deuteron_store::ItemDeployment| matches!(d.status, DeploymentStatus::Failed | DeploymentStatus::Cancelled);
    i.skip_reason
        .clone()
        .or_else(|| i.rollback_error.clone())
        .or_else(|| i.rollback.as_ref().filter(unsuccessful).and_then(|d| d.status_message.clone()))
        .or_else(|| i.deployment.as_ref().filter(unsuccessful).and_then(|d| d.status_message.clone()))
}

pub fn item_json(i: &RolloutItemRecord) -> Value {
    let dep = |d: &Option<deuteron_store::ItemDeployment>| {
        d.as_ref().map(|d| {
            json!({
                "id": d.id,
                "status": d.status.as_str(),
                "startedAt": d.started_at.map(crate::views::iso),
                "completedAt": d.completed_at.map(crate::views::iso),
                "statusMessage": d.status_message,
            })
        })
    };
    json!({
        "seq": i.seq,
        "wave": i.wave.map(|w| w + 1),
        "resourceType": i.target.target_type().as_str(),
        "resource": i.target.key(),
        "environment": (!i.environment_name.is_empty()).then_some(&i.environment_name),
        "from": i.from.to_string(),
        "to": i.to.to_string(),
        "state": item_state(i),
        "skipReason": i.skip_reason,
        "rollbackError": i.rollback_error,
        "reason": item_reason(i),
        "deployment": dep(&i.deployment),
        "rollbackDeployment": dep(&i.rollback),
    })
}
