//! A fleet rollout at scale: N service instances (command provisioner running `true`) move to a
//! new minor version with C deployments at a time, driven by the rollout driver and C workers in
//! this process, against the bare cost of spawning the same N `bash -c` processes C at a time.
//!
//! Usage: cargo bench -p deuteron-engine --bench rollout -- [N] [C] [sqlite|postgres]
//! PostgreSQL uses DEUTERON_TEST_POSTGRES_URL (default: the local server) for a fresh database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deuteron_bundle::{BundleFiles, Limits};
use deuteron_core::rollout::RolloutPolicy;
use deuteron_core::{DeploymentStatus, Provisioning, RolloutStatus, TemplateKind};
use deuteron_engine::{Engine, EngineConfig, Provisioners};
use deuteron_render::Renderer;
use deuteron_service::registry::{CreateTemplate, RegisterOptions};
use deuteron_service::resources::{CreateEnvironment, CreateService};
use deuteron_service::rollouts::{RolloutRequest, Selection};
use deuteron_service::{Config, Deuteron};
use deuteron_store::Store;

const MANIFEST: &str = "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n      settings:\n        provision:\n          - \"true\"\n        deprovision:\n          - \"true\"\n";
const ENV_SCHEMA: &str = "schema:\n  format:\n    openapi: \"3.0.0\"\n  environment_input_type: \"E\"\n  types:\n    E:\n      type: object\n      properties: {}\n";
const SVC_SCHEMA: &str = "schema:\n  format:\n    openapi: \"3.0.0\"\n  service_input_type: \"S\"\n  types:\n    S:\n      type: object\n      properties:\n        port:\n          type: number\n          default: 80\n";
const SERVICES: usize = 100;

async fn register(svc: &Deuteron, kind: TemplateKind, name: &str, files: Vec<(&str, &str)>, major: Option<u32>) {
    if svc.get_template(kind, name).await.is_err() {
        let provisioning = if kind == TemplateKind::Service { Provisioning::CustomerManaged } else { Provisioning::Standard };
        svc.create_template(CreateTemplate {
            kind,
            name: name.into(),
            display_name: None,
            description: None,
            provisioning,
            encryption_key: None,
        })
        .await
        .unwrap();
    }
    let files =
        BundleFiles::from_files(files.into_iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())), &Limits::default()).unwrap();
    let v = svc.register_version(kind, name, files, RegisterOptions { major, ..Default::default() }).await.unwrap();
    svc.publish_version(kind, name, v.version).await.unwrap();
}

/// Runs C workers and the rollout driver until `done` returns true.
async fn run_until<F, Fut>(svc: &Deuteron, store: &Arc<dyn Store>, dir: &std::path::Path, c: usize, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let (stop, rx) = tokio::sync::watch::channel(false);
    let mut cfg = EngineConfig::new(dir.to_path_buf());
    cfg.deployment_timeout = Duration::from_secs(60);
    cfg.wake = Some(svc.signals().enqueued.clone());
    cfg.finished = Some(svc.signals().rollouts.clone());
    cfg.handoff = Some(svc.signals().handoff.clone());
    let engine = Engine::new(store.clone(), Arc::new(Renderer::default()), Provisioners::standard("terraform"), cfg);
    let rx2 = rx.clone();
    let workers = tokio::spawn(async move { engine.run(c, rx2).await });
    let driver = {
        let svc = svc.clone();
        tokio::spawn(async move { svc.run_rollout_driver("bench".into(), Duration::from_millis(100), rx).await })
    };
    // Checked every 10 ms: the rollout's time is known to that, at the cost of one cheap read.
    while !done().await {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.send(true).unwrap();
    workers.await.unwrap();
    driver.await.unwrap();
}

/// CPU time of this process (all its threads) and of its reaped children, in ms, from
/// /proc/self/stat (clock ticks of 10 ms).
fn cpu_ms() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name: state is field 3, utime 14 .. cstime 17.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest.split_whitespace().map(|v| v.parse().unwrap_or(0.0)).collect();
    let tick = |i: usize| f.get(i - 3).copied().unwrap_or(0.0) * 10.0;
    (tick(14) + tick(15), tick(16) + tick(17))
}

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let c: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let backend = args.get(2).map(String::as_str).unwrap_or("sqlite");
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = match backend {
        "postgres" => Arc::new(deuteron_store::PostgresStore::open(&deuteron_store::testing::fresh_postgres_url().await).await.unwrap()),
        _ => Arc::new(deuteron_store::SqliteStore::open(&dir.path().join("bench.db")).await.unwrap()),
    };
    let svc = Deuteron::new(store.clone(), Config::default());
    register(
        &svc,
        TemplateKind::Environment,
        "net",
        vec![("schema/schema.yaml", ENV_SCHEMA), ("infrastructure/manifest.yaml", MANIFEST)],
        None,
    )
    .await;
    let svc_files =
        vec![("schema/schema.yaml", SVC_SCHEMA), ("instance_infrastructure/manifest.yaml", MANIFEST), (".compatible-envs", "net:1\n")];
    register(&svc, TemplateKind::Service, "web", svc_files.clone(), None).await;
    for env in ["dev", "staging", "prod"] {
        svc.create_environment(CreateEnvironment {
            name: env.into(),
            template_name: "net".into(),
            major: 1,
            spec: "proton: EnvironmentSpec\nspec: {}\n".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    run_until(&svc, &store, dir.path(), c, || async {
        svc.list_environments().await.unwrap().iter().all(|e| e.deployment.status == DeploymentStatus::Succeeded)
    })
    .await;
    // The fleet, deployed for real (not measured).
    let setup = Instant::now();
    let per = n.div_ceil(SERVICES);
    let mut total = 0;
    for s in 0..SERVICES {
        let count = per.min(n - total);
        if count == 0 {
            break;
        }
        let mut spec = String::from("proton: ServiceSpec\ninstances:\n");
        for i in 0..count {
            spec += &format!("  - name: i{i:04}\n    environment: {}\n", ["dev", "staging", "prod"][i % 3]);
        }
        total += count;
        svc.create_service(CreateService { name: format!("svc{s:03}"), template_name: "web".into(), major: 1, spec, ..Default::default() })
            .await
            .unwrap();
    }
    // Polled cheaply, so the bench itself does not compete with what it measures.
    let busy =
        |status: &'static str| deuteron_store::InstanceQuery { deployment_status: Some(status.into()), limit: 1, ..Default::default() };
    run_until(&svc, &store, dir.path(), c, || async { svc.query_instances(&busy("IN_PROGRESS")).await.unwrap().is_empty() }).await;
    assert!(svc.query_instances(&busy("FAILED")).await.unwrap().is_empty());
    eprintln!("setup: {total} instances deployed in {:.1} s", setup.elapsed().as_secs_f64());
    register(&svc, TemplateKind::Service, "web", svc_files, Some(1)).await;

    // The rollout: plan, start, and drive to the end.
    let start = Instant::now();
    let req = RolloutRequest {
        kind: TemplateKind::Service,
        template: "web".into(),
        major: None,
        minor: None,
        selection: Selection::default(),
        policy: RolloutPolicy { max_concurrency: c as u32, ..Default::default() },
        transform: None,
        created_by: None,
    };
    let cpu_before = cpu_ms();
    let (rollout, plan) = svc.start_rollout(req).await.unwrap();
    let planned = start.elapsed();
    assert_eq!(plan.moving(), total);
    let id = rollout.id.clone();
    run_until(&svc, &store, dir.path(), c, || async { store.get_rollout(&id).await.unwrap().status.is_final() }).await;
    let elapsed = start.elapsed();
    let cpu_rollout = cpu_ms();
    let done = svc.get_rollout(&id).await.unwrap();
    assert_eq!(done.rollout.status, RolloutStatus::Succeeded, "{:?}", done.rollout.status_message);
    // How full the C slots were: the deployments' running time over the rollout's time.
    let busy_ms: i64 = svc
        .rollout_items(&id)
        .await
        .unwrap()
        .iter()
        .filter_map(|i| i.deployment.as_ref())
        .map(|d| d.completed_at.unwrap_or(0) - d.started_at.unwrap_or(0))
        .sum();
    let mean_running = busy_ms as f64 / 1000.0 / elapsed.as_secs_f64();
    if std::env::var_os("BENCH_DETAIL").is_some() {
        let mut waits = Vec::new();
        for i in svc.rollout_items(&id).await.unwrap() {
            let d = store.get_deployment(&i.deployment.unwrap().id).await.unwrap();
            waits.push((d.created_at, d.started_at.unwrap(), d.completed_at.unwrap()));
        }
        waits.sort();
        let n = waits.len() as f64;
        let queue: i64 = waits.iter().map(|(c, s, _)| s - c).sum();
        let run: i64 = waits.iter().map(|(_, s, e)| e - s).sum();
        eprintln!("mean queue wait {:.2} ms, mean run {:.2} ms", queue as f64 / n, run as f64 / n);
    }

    // The bare cost: the same shell invocation, C at a time.
    let sem = Arc::new(tokio::sync::Semaphore::new(c));
    let cpu_bare_before = cpu_ms();
    let bare_start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..total {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let cwd = dir.path().to_path_buf();
        tasks.spawn(async move {
            let status = tokio::process::Command::new("bash")
                .arg("-c")
                .arg("set -e\ntrue\n")
                .current_dir(cwd)
                .process_group(0)
                .status()
                .await
                .unwrap();
            assert!(status.success());
            drop(permit);
        });
    }
    while tasks.join_next().await.is_some() {}
    let bare = bare_start.elapsed();
    let cpu_bare = cpu_ms();
    let per = |a: f64, b: f64| (b - a) / total as f64;
    eprintln!(
        "CPU per deployment: rollout {:.2} ms in this process + {:.2} ms in children; bare spawn {:.2} ms + {:.2} ms",
        per(cpu_before.0, cpu_rollout.0),
        per(cpu_before.1, cpu_rollout.1),
        per(cpu_bare_before.0, cpu_bare.0),
        per(cpu_bare_before.1, cpu_bare.1)
    );
    println!(
        "{backend}: {total} instances, concurrency {c}: rollout {:.2} s (plan {:.2} s), {:.0} deployments/s, {mean_running:.1} running on average; bare spawn {:.2} s; ratio {:.2}x; peak RSS {:.0} MB",
        elapsed.as_secs_f64(),
        planned.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        bare.as_secs_f64(),
        elapsed.as_secs_f64() / bare.as_secs_f64(),
        rss_mb()
    );
}
