//! Rollout commands over the REST API, with `--watch`.

use super::*;

pub(super) async fn rollout(r: &Remote, output: Output, cmd: RolloutCommand) -> Result<(), Failure> {
    let summary = |v: &Value| {
        show(
            output,
            v,
            &[
                ("rollout", s(v, "id")),
                ("template", format!("{} {} -> {}", s(v, "templateKind"), s(v, "templateName"), s(v, "targetVersion"))),
                ("status", s(v, "status")),
                ("message", s(v, "statusMessage")),
                ("wave", format!("{} of {}", s(v, "currentWave"), s(v, "waveCount"))),
            ],
        )
    };
    match cmd {
        RolloutCommand::Plan(args) => {
            let plan = r.json(Method::POST, "/api/v1/rollouts/plan", crate::rollout_cmd::request_json(args)?).await?;
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&plan).expect("JSON values serialise")),
                Output::Table => {
                    list(output, &plan["items"], &["WAVE", "RESOURCE", "ENVIRONMENT", "VERSION", "PLAN"], |i| {
                        let plan = match i["skipped"].as_str() {
                            Some(why) => format!("skipped: {why}"),
                            None => "moves".into(),
                        };
                        vec![s(i, "wave"), s(i, "resource"), s(i, "environment"), format!("{} -> {}", s(i, "from"), s(i, "to")), plan]
                    });
                    println!("{} resources move to {}; {} skipped", s(&plan, "moving"), s(&plan, "targetVersion"), s(&plan, "skipped"));
                }
            }
        }
        RolloutCommand::Start { args, watch } => {
            let v = r.json(Method::POST, "/api/v1/rollouts", crate::rollout_cmd::request_json(args)?).await?;
            if watch.watch {
                return watch_rollout(r, output, &s(&v, "id"), watch.wait_timeout).await;
            }
            summary(&v);
        }
        RolloutCommand::Status { id, items, watch } => {
            if watch.watch {
                return watch_rollout(r, output, &id, watch.wait_timeout).await;
            }
            if items {
                let v = r.get(&format!("/api/v1/rollouts/{}/items", enc(&id))).await?;
                crate::rollout_cmd::print_items(output, v["items"].as_array().map(Vec::as_slice).unwrap_or_default());
            } else {
                summary(&r.get(&format!("/api/v1/rollouts/{}", enc(&id))).await?);
            }
        }
        RolloutCommand::Pause { id } => summary(&r.json(Method::POST, &format!("/api/v1/rollouts/{}/pause", enc(&id)), Value::Null).await?),
        RolloutCommand::Resume { id } => {
            summary(&r.json(Method::POST, &format!("/api/v1/rollouts/{}/resume", enc(&id)), Value::Null).await?)
        }
        RolloutCommand::Approve { id } => {
            summary(&r.json(Method::POST, &format!("/api/v1/rollouts/{}/approve", enc(&id)), Value::Null).await?)
        }
        RolloutCommand::Cancel { id } => {
            summary(&r.json(Method::POST, &format!("/api/v1/rollouts/{}/cancel", enc(&id)), Value::Null).await?)
        }
        RolloutCommand::List { limit } => {
            let v = r.get(&format!("/api/v1/rollouts?limit={limit}")).await?;
            crate::rollout_cmd::print_rollouts(output, v["rollouts"].as_array().map(Vec::as_slice).unwrap_or_default());
        }
        RolloutCommand::Policy(p) => {
            let (k, template, method, body) = match p {
                crate::cli::PolicyCommand::Set { kind: k, template, policy, automatic } => {
                    let policy = crate::rollout_cmd::policy(policy)?;
                    (k, template, Method::PUT, json!({"policy": policy, "automatic": automatic}))
                }
                crate::cli::PolicyCommand::Show { kind: k, template } => (k, template, Method::GET, Value::Null),
                crate::cli::PolicyCommand::Clear { kind: k, template } => (k, template, Method::DELETE, Value::Null),
            };
            let path = format!("/api/v1/templates/{}/{}/rollout-policy", kind(k), enc(&template));
            let v = if body.is_null() {
                r.send(method, &path, "application/json", Vec::new()).await?
            } else {
                r.json(method, &path, body).await?
            };
            show(output, &v, &[("automatic", s(&v, "automatic")), ("policy", v["policy"].to_string())]);
        }
    }
    Ok(())
}

pub(super) async fn watch_rollout(r: &Remote, output: Output, id: &str, timeout: u64) -> Result<(), Failure> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let v = r.get(&format!("/api/v1/rollouts/{}", enc(id))).await?;
        let total = |k: &str| v["waves"].as_array().into_iter().flatten().map(|w| w[k].as_u64().unwrap_or(0)).sum::<u64>();
        let line = format!(
            "{} wave {}/{}: {} running, {} succeeded, {} failed, {} pending, {} rolled back",
            s(&v, "status"),
            s(&v, "currentWave"),
            s(&v, "waveCount"),
            total("running"),
            total("succeeded"),
            total("failed"),
            total("pending"),
            total("rolledBack")
        );
        if line != last {
            eprintln!("[{:>6.1}s] {line}", start.elapsed().as_secs_f64());
            last = line;
        }
        let status = s(&v, "status");
        if ["SUCCEEDED", "FAILED", "ROLLED_BACK", "CANCELLED"].contains(&status.as_str()) {
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&v).expect("JSON values serialise"));
            }
            if status != "SUCCEEDED" {
                return Err(Failure {
                    code: DEPLOYMENT_FAILED,
                    kind: "RolloutFailed",
                    message: format!("rollout {id} ended {status}: {}", s(&v, "statusMessage")),
                    details: Vec::new(),
                });
            }
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(timeout) {
            return Err(Failure {
                code: WAIT_TIMEOUT,
                kind: "WaitTimeout",
                message: format!("gave up watching rollout {id} after {timeout}s; it is {status}"),
                details: Vec::new(),
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
