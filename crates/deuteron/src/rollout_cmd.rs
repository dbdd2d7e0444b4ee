//! `deuteron rollout plan|start|status|pause|resume|approve|cancel|list`: fleet rollouts.

use std::time::{Duration, Instant};

use serde_json::Value;

use deuteron_core::RolloutStatus;
use deuteron_core::rollout::{RolloutPolicy, SpecTransform, Tolerance, Waves};
use deuteron_service::Deuteron;
use deuteron_service::rollouts::{RolloutProgress, RolloutRequest, Selection, item_json, plan_json, rollout_json, rollout_summary_json};

use crate::cli::{Output, PolicyArgs, PolicyCommand, RolloutArgs, RolloutCommand, RolloutWatch};
use crate::exit::{DEPLOYMENT_FAILED, Failure, WAIT_TIMEOUT};
use crate::output::table;

fn read_yaml<T: serde::de::DeserializeOwned>(what: &str, path: &std::path::Path) -> Result<T, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::invalid(format!("{what} {}: {e}", path.display())))?;
    serde_norway::from_str(&text).map_err(|e| Failure::invalid(format!("{what} {}: {e}", path.display())))
}

pub(crate) fn policy(args: PolicyArgs) -> Result<RolloutPolicy, Failure> {
    Ok(match &args.policy_file {
        Some(path) => read_yaml::<RolloutPolicy>("policy file", path)?,
        None => RolloutPolicy {
            waves: Waves::parse(&args.waves).map_err(|e| Failure::invalid(format!("--waves: {e}")))?,
            max_concurrency: args.max_concurrency,
            wave_failure_tolerance: Tolerance::parse(&args.wave_failure_tolerance)
                .map_err(|e| Failure::invalid(format!("--wave-failure-tolerance: {e}")))?,
            total_failure_tolerance: args
                .total_failure_tolerance
                .as_deref()
                .map(Tolerance::parse)
                .transpose()
                .map_err(|e| Failure::invalid(format!("--total-failure-tolerance: {e}")))?,
            bake_seconds: args.bake_seconds,
            approval_before: args.approve_before,
            rollback_on_failure: args.rollback_on_failure,
        },
    })
}

/// A rollout request as the REST API takes it (for `--server`).
pub(crate) fn request_json(args: RolloutArgs) -> Result<Value, Failure> {
    let r = request(args)?;
    let target = match (r.major, r.minor) {
        (Some(a), Some(b)) => Some(format!("{a}.{b}")),
        (Some(a), None) => Some(a.to_string()),
        _ => None,
    };
    Ok(serde_json::json!({
        "templateKind": r.kind.as_str(),
        "templateName": r.template,
        "targetVersion": target,
        "selection": r.selection,
        "policy": r.policy,
        "specTransform": r.transform,
    }))
}

fn request(args: RolloutArgs) -> Result<RolloutRequest, Failure> {
    let (major, minor) = match args.to.as_deref() {
        None => (None, None),
        Some(v) => match v.split_once('.') {
            None => (Some(v.parse::<u32>().map_err(|_| Failure::invalid(format!("--to {v:?}: expected 2 or 1.3")))?), None),
            Some(_) => {
                let n: deuteron_core::VersionNumber = v.parse().map_err(|e| Failure::invalid(format!("--to {v:?}: {e}")))?;
                (Some(n.major), Some(n.minor))
            }
        },
    };
    let policy = policy(args.policy)?;
    let transform = args.spec_transform.as_deref().map(|p| read_yaml::<SpecTransform>("spec transform", p)).transpose()?;
    Ok(RolloutRequest {
        kind: args.kind.into(),
        template: args.template,
        major,
        minor,
        selection: Selection {
            versions: args.from_versions,
            environments: args.environments,
            services: args.services,
            resources: args.resources,
        },
        policy,
        transform,
        created_by: Some(format!("cli:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()))),
    })
}

fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).expect("JSON values serialise"));
}

fn wave_rows(p: &RolloutProgress) -> String {
    let rows: Vec<Vec<String>> = p
        .waves
        .iter()
        .map(|w| {
            let marker = if w.wave == p.rollout.current_wave && !p.rollout.status.is_final() { " <" } else { "" };
            vec![
                format!("{}{marker}", w.wave + 1),
                w.pending.to_string(),
                w.active.to_string(),
                w.succeeded.to_string(),
                w.failed.to_string(),
                w.skipped.to_string(),
                (w.rollback_active + w.rolled_back + w.rollback_failed).to_string(),
            ]
        })
        .collect();
    table(&["WAVE", "PENDING", "RUNNING", "SUCCEEDED", "FAILED", "SKIPPED", "ROLLED BACK"], &rows)
}

fn summary_line(p: &RolloutProgress) -> String {
    let r = &p.rollout;
    let sum = |f: fn(&deuteron_core::rollout::WaveCounts) -> u64| p.waves.iter().map(f).sum::<u64>();
    format!(
        "{} wave {}/{}: {} running, {} succeeded, {} failed, {} pending, {} rolled back{}",
        r.status,
        r.current_wave + 1,
        r.wave_count,
        sum(|w| w.active + w.rollback_active),
        sum(|w| w.succeeded),
        sum(|w| w.failed),
        sum(|w| w.pending),
        sum(|w| w.rolled_back),
        r.status_message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default()
    )
}

fn show(p: &RolloutProgress, output: Output) {
    match output {
        Output::Json => print_json(&rollout_json(p)),
        Output::Table => {
            let r = &p.rollout;
            println!("rollout:  {}", r.id);
            println!("template: {} {} -> {}", r.template_kind.as_str(), r.template_name, r.target);
            println!("status:   {}", r.status);
            if let Some(m) = &r.status_message {
                println!("message:  {m}");
            }
            println!("wave:     {} of {}", r.current_wave + 1, r.wave_count);
            if p.skipped_in_plan > 0 {
                println!("skipped by the plan: {} (deuteron rollout status {} --items)", p.skipped_in_plan, r.id);
            }
            print!("{}", wave_rows(p));
        }
    }
}

/// Follows a rollout until it ends; a line on stderr whenever its progress changes.
async fn watch(svc: &Deuteron, id: &str, opts: &RolloutWatch, output: Output) -> Result<RolloutProgress, Failure> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let p = svc.get_rollout(id).await?;
        let line = summary_line(&p);
        if line != last {
            eprintln!("[{:>6.1}s] {line}", start.elapsed().as_secs_f64());
            last = line;
        }
        if p.rollout.status.is_final() {
            show(&p, output);
            if p.rollout.status != RolloutStatus::Succeeded {
                return Err(Failure {
                    code: DEPLOYMENT_FAILED,
                    kind: "RolloutFailed",
                    message: format!("rollout {id} ended {}: {}", p.rollout.status, p.rollout.status_message.clone().unwrap_or_default()),
                    details: Vec::new(),
                });
            }
            return Ok(p);
        }
        if start.elapsed() > Duration::from_secs(opts.wait_timeout) {
            return Err(Failure {
                code: WAIT_TIMEOUT,
                kind: "WaitTimeout",
                message: format!("gave up watching rollout {id} after {}s; it is {}", opts.wait_timeout, p.rollout.status),
                details: Vec::new(),
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// `rollout list`, local or remote, from each rollout's summary JSON: ids in the shortest form
/// that tells them apart (any unique prefix is accepted back).
pub fn print_rollouts(output: Output, list: &[Value]) {
    if output == Output::Json {
        return print_json(&Value::Array(list.to_vec()));
    }
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let ids = deuteron_core::ids::short_forms(&list.iter().map(|r| r["id"].as_str().unwrap_or_default()).collect::<Vec<_>>(), 8);
    let rows: Vec<Vec<String>> = list
        .iter()
        .zip(ids)
        .map(|(r, id)| {
            vec![
                id,
                format!("{} {}", text(&r["templateKind"]), text(&r["templateName"])),
                text(&r["targetVersion"]),
                text(&r["status"]),
                format!("{}/{}", r["currentWave"], r["waveCount"]),
                text(&r["createdAt"]),
            ]
        })
        .collect();
    print!("{}", table(&["ID", "TEMPLATE", "TARGET", "STATUS", "WAVE", "CREATED"], &rows));
}

/// `rollout status --items`, local or remote: one row per item from its JSON (`item_json`).
pub fn print_items(output: Output, items: &[Value]) {
    if output == Output::Json {
        return print_json(&Value::Array(items.to_vec()));
    }
    let text = |v: &Value| v.as_str().map(str::to_string);
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|i| {
            let forward = text(&i["deployment"]["id"]).unwrap_or_else(|| "-".into());
            let deployments = match text(&i["rollbackDeployment"]["id"]) {
                Some(rb) => format!("{forward}, rollback {rb}"),
                None => forward,
            };
            vec![
                i["wave"].as_u64().map_or_else(|| "-".into(), |w| w.to_string()),
                text(&i["resource"]).unwrap_or_default(),
                format!("{} -> {}", text(&i["from"]).unwrap_or_default(), text(&i["to"]).unwrap_or_default()),
                text(&i["state"]).unwrap_or_default(),
                deployments,
                text(&i["reason"]).unwrap_or_default(),
            ]
        })
        .collect();
    print!("{}", table(&["WAVE", "RESOURCE", "VERSION", "STATE", "DEPLOYMENT", "REASON"], &rows));
}

pub async fn run(svc: &Deuteron, output: Output, cmd: RolloutCommand) -> Result<(), Failure> {
    match cmd {
        RolloutCommand::Plan(args) => {
            let plan = svc.plan_rollout(&request(args)?).await?;
            match output {
                Output::Json => print_json(&plan_json(&plan)),
                Output::Table => {
                    let rows: Vec<Vec<String>> = plan
                        .items
                        .iter()
                        .map(|i| {
                            vec![
                                i.wave.map(|w| w.to_string()).unwrap_or_else(|| "-".into()),
                                i.resource.clone(),
                                i.environment.clone().unwrap_or_else(|| "-".into()),
                                format!("{} -> {}", i.from, i.to),
                                i.skipped.as_ref().map(|s| format!("skipped: {s}")).unwrap_or_else(|| "moves".into()),
                            ]
                        })
                        .collect();
                    print!("{}", table(&["WAVE", "RESOURCE", "ENVIRONMENT", "VERSION", "PLAN"], &rows));
                    println!(
                        "{} of {} resources move to {} in {} waves; {} skipped",
                        plan.moving(),
                        plan.items.len(),
                        plan.target,
                        plan.wave_count,
                        plan.items.len() - plan.moving()
                    );
                }
            }
        }
        RolloutCommand::Start { args, watch: w } => {
            let (rec, plan) = svc.start_rollout(request(args)?).await?;
            if output == Output::Table || w.watch {
                eprintln!("rollout {} started: {} resources move to {} in {} waves", rec.id, plan.moving(), plan.target, plan.wave_count);
            }
            if w.watch {
                watch(svc, &rec.id, &w, output).await?;
            } else {
                show(&svc.get_rollout(&rec.id).await?, output);
            }
        }
        RolloutCommand::Status { id, items, watch: w } => {
            if w.watch {
                watch(svc, &id, &w, output).await?;
            } else if items {
                let items: Vec<Value> = svc.rollout_items(&id).await?.iter().map(item_json).collect();
                print_items(output, &items);
            } else {
                show(&svc.get_rollout(&id).await?, output);
            }
        }
        RolloutCommand::Pause { id } => show(&progress_after(svc, svc.pause_rollout(&id).await?.id).await?, output),
        RolloutCommand::Resume { id } => show(&progress_after(svc, svc.resume_rollout(&id).await?.id).await?, output),
        RolloutCommand::Approve { id } => show(&progress_after(svc, svc.approve_rollout(&id).await?.id).await?, output),
        RolloutCommand::Cancel { id } => show(&progress_after(svc, svc.cancel_rollout(&id).await?.id).await?, output),
        RolloutCommand::Policy(cmd) => {
            let (kind, template, found) = match cmd {
                PolicyCommand::Set { kind, template, policy: p, automatic } => {
                    let found = svc.set_template_rollout_policy(kind.into(), &template, Some((policy(p)?, automatic))).await?;
                    (kind, template, found)
                }
                PolicyCommand::Show { kind, template } => {
                    let found = svc.template_rollout_policy(kind.into(), &template).await?;
                    (kind, template, found)
                }
                PolicyCommand::Clear { kind, template } => {
                    svc.set_template_rollout_policy(kind.into(), &template, None).await?;
                    (kind, template, None)
                }
            };
            let kind: deuteron_core::TemplateKind = kind.into();
            match (output, found) {
                (Output::Json, Some(p)) => print_json(&serde_json::json!({"policy": p.policy, "automatic": p.automatic})),
                (Output::Json, None) => print_json(&Value::Null),
                (Output::Table, Some(p)) => {
                    println!("template:  {} {template}", kind.as_str());
                    println!("automatic: {}", if p.automatic { "yes: a new minor version starts a rollout" } else { "no" });
                    println!("waves:     {}", p.policy.waves);
                    println!("max concurrency: {}", p.policy.max_concurrency);
                    println!("wave failure tolerance: {}", p.policy.wave_failure_tolerance);
                    if let Some(t) = p.policy.total_failure_tolerance {
                        println!("total failure tolerance: {t}");
                    }
                    println!("bake seconds: {}", p.policy.bake_seconds);
                    if !p.policy.approval_before.is_empty() {
                        println!("approval before waves: {:?}", p.policy.approval_before);
                    }
                    println!("rollback on failure: {}", p.policy.rollback_on_failure);
                }
                (Output::Table, None) => println!("{} template {template} has no rollout policy", kind.as_str()),
            }
        }
        RolloutCommand::List { limit } => {
            let list: Vec<Value> = svc.list_rollouts(limit).await?.iter().map(rollout_summary_json).collect();
            print_rollouts(output, &list);
        }
    }
    Ok(())
}

async fn progress_after(svc: &Deuteron, id: String) -> Result<RolloutProgress, Failure> {
    Ok(svc.get_rollout(&id).await?)
}
