//! How fast every console page answers with a large fleet in the store: N service instances
//! (default 10,000, in 100 services across three environments, deployed for real with the
//! command provisioner running `true`), then each page requested R times over HTTP from a
//! `deuteron` console router served in this process, signed in as an admin.
//!
//! Usage: cargo bench -p deuteron-console --bench pages -- [N] [R] [sqlite|postgres]

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use deuteron_bundle::{BundleFiles, Limits};
use deuteron_core::{DeploymentStatus, Provisioning, Role, TemplateKind};
use deuteron_engine::{Engine, EngineConfig, Provisioners};
use deuteron_render::Renderer;
use deuteron_service::registry::{CreateTemplate, RegisterOptions};
use deuteron_service::resources::{CreateEnvironment, CreateService};
use deuteron_service::{Config, Deuteron};
use deuteron_store::{DeploymentFilter, InstanceQuery, Store};

const MANIFEST: &str = "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n      settings:\n        provision:\n          - \"true\"\n        deprovision:\n          - \"true\"\n";
const ENV_SCHEMA: &str = "schema:\n  format:\n    openapi: \"3.0.0\"\n  environment_input_type: \"E\"\n  types:\n    E:\n      type: object\n      properties:\n        cidr:\n          type: string\n          default: 10.0.0.0/16\n";
const SVC_SCHEMA: &str = "schema:\n  format:\n    openapi: \"3.0.0\"\n  service_input_type: \"S\"\n  types:\n    S:\n      type: object\n      properties:\n        port:\n          type: number\n          default: 80\n          minimum: 1\n          maximum: 65535\n        greeting:\n          type: string\n          enum: [hello, hi]\n";
const SERVICES: usize = 100;

async fn register(svc: &Deuteron, kind: TemplateKind, name: &str, files: Vec<(&str, &str)>, major: Option<u32>) {
    if svc.get_template(kind, name).await.is_err() {
        let provisioning = if kind == TemplateKind::Service { Provisioning::CustomerManaged } else { Provisioning::Standard };
        let t = CreateTemplate { kind, name: name.into(), display_name: None, description: None, provisioning, encryption_key: None };
        svc.create_template(t).await.unwrap();
    }
    let files =
        BundleFiles::from_files(files.into_iter().map(|(p, c)| (p.to_string(), c.as_bytes().to_vec())), &Limits::default()).unwrap();
    let v = svc.register_version(kind, name, files, RegisterOptions { major, ..Default::default() }).await.unwrap();
    svc.publish_version(kind, name, v.version).await.unwrap();
}

/// Runs 2 deployment workers until nothing is in progress.
async fn deploy_all(svc: &Deuteron, store: &Arc<dyn Store>, dir: &std::path::Path) {
    let (stop, rx) = tokio::sync::watch::channel(false);
    let mut cfg = EngineConfig::new(dir.to_path_buf());
    cfg.wake = Some(svc.signals().enqueued.clone());
    let engine = Engine::new(store.clone(), Arc::new(Renderer::default()), Provisioners::standard("terraform"), cfg);
    let workers = tokio::spawn(async move { engine.run(4, rx).await });
    let busy = InstanceQuery { deployment_status: Some("IN_PROGRESS".into()), limit: 1, ..Default::default() };
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let envs_busy = svc.list_environments().await.unwrap().iter().any(|e| e.deployment.status != DeploymentStatus::Succeeded);
        if !envs_busy && svc.query_instances(&busy).await.unwrap().is_empty() {
            break;
        }
    }
    stop.send(true).unwrap();
    workers.await.unwrap();
}

/// One GET over a fresh connection; the status and the time to the last byte.
async fn get(port: u16, path: &str, cookie: &str) -> (u16, usize, Duration) {
    let start = Instant::now();
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: deuteron_session={cookie}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let took = start.elapsed();
    let status = String::from_utf8_lossy(&buf[9..12]).parse().unwrap_or(0);
    (status, buf.len(), took)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let reps: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(20);
    let backend = args.get(2).map(String::as_str).unwrap_or("sqlite");
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = match backend {
        "postgres" => Arc::new(deuteron_store::PostgresStore::open(&deuteron_store::testing::fresh_postgres_url().await).await.unwrap()),
        _ => Arc::new(deuteron_store::SqliteStore::open(&dir.path().join("bench.db")).await.unwrap()),
    };
    let key = deuteron_service::keys::ServerKey::load_or_create(dir.path()).unwrap();
    let svc = Deuteron::new(store.clone(), Config { server_key: Some(Arc::new(key)), ..Config::default() });
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
        let spec = "proton: EnvironmentSpec\nspec: {}\n".into();
        svc.create_environment(CreateEnvironment { name: env.into(), template_name: "net".into(), major: 1, spec, ..Default::default() })
            .await
            .unwrap();
    }
    let setup = Instant::now();
    deploy_all(&svc, &store, dir.path()).await;
    let per = n.div_ceil(SERVICES);
    let mut total = 0;
    for s in 0..SERVICES {
        let count = per.min(n - total);
        if count == 0 {
            break;
        }
        let mut spec = String::from("proton: ServiceSpec\ninstances:\n");
        for i in 0..count {
            spec +=
                &format!("  - name: i{i:04}\n    environment: {}\n    spec: {{port: {}}}\n", ["dev", "staging", "prod"][i % 3], 8000 + i);
        }
        total += count;
        svc.create_service(CreateService { name: format!("svc{s:03}"), template_name: "web".into(), major: 1, spec, ..Default::default() })
            .await
            .unwrap();
    }
    deploy_all(&svc, &store, dir.path()).await;
    // A newer minor, so every instance is behind and the "behind" lists are full.
    register(&svc, TemplateKind::Service, "web", svc_files, Some(1)).await;
    eprintln!("setup: {total} instances deployed in {:.1} s", setup.elapsed().as_secs_f64());

    let (key, secret) = svc.create_access_key(Role::Admin, None).await.unwrap();
    let cookie = deuteron_console::auth::cookie_value(&key.id, &secret, deuteron_console::now_seconds() + 3600);
    let app = deuteron_console::router(deuteron_console::Console::new(svc.clone(), Duration::from_millis(250)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let deployment = store.list_deployments(&DeploymentFilter { limit: Some(1), ..Default::default() }).await.unwrap()[0].id.clone();
    let pages = [
        "/".to_string(),
        "/templates".into(),
        "/templates/service/web".into(),
        "/environments".into(),
        "/environments/dev".into(),
        "/environments/new?template=net".into(),
        "/services".into(),
        "/services/svc000".into(),
        "/services/new?template=web".into(),
        "/services/svc050/instances/i0007".into(),
        "/instances".into(),
        "/instances?currency=BEHIND_MINOR&environment=prod&page=20".into(),
        "/pipelines".into(),
        "/components".into(),
        "/deployments".into(),
        "/deployments?status=SUCCEEDED&page=100".into(),
        format!("/deployments/{deployment}"),
    ];
    println!("{backend}: {total} instances, {reps} requests per page (time to last byte, one connection per request)");
    println!("{:<60} {:>8} {:>8} {:>8} {:>9}", "page", "median", "p95", "max", "bytes");
    let mut worst = Duration::ZERO;
    for p in &pages {
        let _ = get(port, p, &cookie).await; // warm-up
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..reps {
            let (status, bytes, t) = get(port, p, &cookie).await;
            assert_eq!(status, 200, "{p}");
            size = bytes;
            times.push(t);
        }
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let p95 = times[(times.len() * 95 / 100).min(times.len() - 1)];
        worst = worst.max(*times.last().unwrap());
        println!("{:<60} {:>6.1}ms {:>6.1}ms {:>6.1}ms {:>9}", p, ms(times[times.len() / 2]), ms(p95), ms(*times.last().unwrap()), size);
    }
    println!("slowest single response: {:.1} ms (target: every page under 100 ms)", worst.as_secs_f64() * 1000.0);
}
