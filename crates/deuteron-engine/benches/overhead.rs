//! Control-plane overhead per deployment: N environments whose provision command is `true`,
//! run by one worker, against the bare cost of spawning the same `bash -c` N times.
//!
//! Usage: cargo bench -p deuteron-engine --bench overhead -- [N] [sqlite|postgres] [ROUNDS]
//! Each round measures the bare spawns next to the deployments; the median round is the figure.
//! PostgreSQL uses DEUTERON_TEST_POSTGRES_URL (default: the local server) for a fresh database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use deuteron_bundle::{BundleFiles, Limits};
use deuteron_core::TemplateKind;
use deuteron_engine::{Engine, EngineConfig, Provisioners};
use deuteron_render::Renderer;
use deuteron_service::registry::{CreateTemplate, RegisterOptions};
use deuteron_service::resources::CreateEnvironment;
use deuteron_service::{Config, Deuteron};
use deuteron_store::Store;

const SCHEMA: &str = "schema:\n  format:\n    openapi: \"3.0.0\"\n  environment_input_type: \"In\"\n  types:\n    In:\n      type: object\n      properties:\n        x:\n          type: string\n          default: a\n";
const MANIFEST: &str = "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n      settings:\n        provision:\n          - \"true\"\n        deprovision:\n          - \"true\"\n";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(300);
    let backend = args.get(1).map(String::as_str).unwrap_or("sqlite");
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = match backend {
        "postgres" => Arc::new(deuteron_store::PostgresStore::open(&deuteron_store::testing::fresh_postgres_url().await).await.unwrap()),
        _ => Arc::new(deuteron_store::SqliteStore::open(&dir.path().join("bench.db")).await.unwrap()),
    };
    let svc = Deuteron::new(store.clone(), Config::default());
    svc.create_template(CreateTemplate {
        kind: TemplateKind::Environment,
        name: "t".into(),
        display_name: None,
        description: None,
        provisioning: Default::default(),
        encryption_key: None,
    })
    .await
    .unwrap();
    let files = BundleFiles::from_files(
        [("schema/schema.yaml", SCHEMA.as_bytes().to_vec()), ("infrastructure/manifest.yaml", MANIFEST.as_bytes().to_vec())],
        &Limits::default(),
    )
    .unwrap();
    let v = svc.register_version(TemplateKind::Environment, "t", files, RegisterOptions::default()).await.unwrap();
    svc.publish_version(TemplateKind::Environment, "t", v.version).await.unwrap();

    let mut cfg = EngineConfig::new(dir.path().to_path_buf());
    cfg.deployment_timeout = Duration::from_secs(60);
    let engine = Engine::new(store.clone(), Arc::new(Renderer::default()), Provisioners::standard("terraform"), cfg);
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / n as f64;
    let mut overheads = Vec::new();
    for round in 0..rounds {
        // Bare process cost: the same shell invocation the command provisioner makes, measured
        // in each round next to what it is compared with (the machine is shared and noisy).
        let spawn_start = Instant::now();
        for _ in 0..n {
            let status = tokio::process::Command::new("bash")
                .arg("-c")
                .arg("set -e\ntrue\n")
                .current_dir(dir.path())
                .process_group(0)
                .status()
                .await
                .unwrap();
            assert!(status.success());
        }
        let spawn = spawn_start.elapsed();

        // Enqueue N environment creations, then let one worker drain the queue.
        let spec = "proton: EnvironmentSpec\nspec:\n  x: b\n";
        let enqueue_start = Instant::now();
        for i in 0..n {
            svc.create_environment(CreateEnvironment {
                name: format!("env{round}-{i}"),
                template_name: "t".into(),
                major: 1,
                spec: spec.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        }
        let enqueue = enqueue_start.elapsed();
        let run_start = Instant::now();
        let mut done = 0;
        while engine.run_next().await.unwrap().is_some() {
            done += 1;
        }
        let run = run_start.elapsed();
        assert_eq!(done, n);
        let overhead = per(enqueue) + per(run) - per(spawn);
        println!(
            "{backend} round {}: {n} deployments; enqueue {:.3} ms each; run {:.3} ms each; bare spawn {:.3} ms each; control-plane overhead {overhead:.3} ms per deployment (enqueue + run - spawn)",
            round + 1,
            per(enqueue),
            per(run),
            per(spawn),
        );
        overheads.push(overhead);
    }
    let envs = svc.list_environments().await.unwrap();
    assert_eq!(envs.len(), n * rounds);
    assert!(envs.iter().all(|e| e.deployment.status == deuteron_core::DeploymentStatus::Succeeded));
    overheads.sort_by(f64::total_cmp);
    println!(
        "{backend}: control-plane overhead per deployment over {rounds} rounds: median {:.3} ms, best {:.3} ms, worst {:.3} ms",
        overheads[overheads.len() / 2],
        overheads[0],
        overheads[overheads.len() - 1]
    );
}
