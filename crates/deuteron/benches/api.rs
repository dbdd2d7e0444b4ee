//! Proton API latency and throughput on loopback with a large fleet in the store: N service
//! instances (1,000 services of N/1,000 instances), a real `deuteron server` (release build),
//! and C concurrent aws-sdk-proton clients signing every request with SigV4.
//!
//! Usage: cargo bench -p deuteron --bench api -- [N] [sqlite|postgres] [concurrency] [requests]
//! PostgreSQL uses DEUTERON_TEST_POSTGRES_URL (default: the local server) for a fresh database.
#![allow(deprecated)] // aws-sdk-proton marks every operation deprecated

use std::sync::Arc;
use std::time::{Duration, Instant};

use deuteron_core::VersionNumber;
use deuteron_store::{NewInstance, NewService, Store};

const KEY_ID: &str = "AKIDBENCHMARKKEY0001";
const SECRET: &str = "benchmark-secret-benchmark-secret-000000";
const SERVICES: usize = 1000;

async fn seed(store: &dyn Store, n: usize) {
    let per = n.div_ceil(SERVICES);
    for s in 0..SERVICES {
        let name = format!("svc{s:04}");
        let instances: Vec<NewInstance> = (0..per)
            .map(|i| NewInstance {
                service_name: name.clone(),
                name: format!("inst{i:04}"),
                environment_name: format!("env{}", i % 3),
                template_name: "web".into(),
                version: VersionNumber::new(1, 0),
                spec: "{}".into(),
                inputs: "{}".into(),
            })
            .collect();
        let svc = NewService {
            name: name.clone(),
            description: None,
            template_name: "web".into(),
            spec: "proton: ServiceSpec\ninstances: []\n".into(),
            repository_connection_arn: None,
            repository_id: None,
            branch_name: None,
        };
        store.create_service(&svc, &instances, None, &[]).await.unwrap();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn load<F, Fut>(name: &str, concurrency: usize, requests: usize, call: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let call = Arc::new(call);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (call, next) = (call.clone(), next.clone());
        tasks.spawn(async move {
            let mut lat = Vec::new();
            loop {
                let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if k >= requests {
                    return lat;
                }
                let t = Instant::now();
                call(k).await;
                lat.push(t.elapsed());
            }
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.unwrap());
    }
    let total = start.elapsed();
    all.sort();
    println!(
        "{name:<44} p50 {:6.2} ms  p99 {:6.2} ms  {:7.0} req/s  ({} requests, concurrency {concurrency})",
        percentile(&all, 0.50),
        percentile(&all, 0.99),
        requests as f64 / total.as_secs_f64(),
        all.len()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let backend = args.get(1).cloned().unwrap_or_else(|| "sqlite".into());
    let concurrency: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(8);
    let requests: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(5000);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let url = match backend.as_str() {
        "postgres" => deuteron_store::testing::fresh_postgres_url().await,
        _ => format!("sqlite://{}", data.join("deuteron.db").display()),
    };
    let store = deuteron_store::open(&url).await.unwrap();
    let t = Instant::now();
    seed(store.as_ref(), n).await;
    println!("seeded {n} instances in {SERVICES} services on {backend} in {:.1} s", t.elapsed().as_secs_f64());
    let server_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let svc = deuteron_service::Deuteron::new(
        store.clone(),
        deuteron_service::Config {
            server_key: Some(Arc::new(deuteron_service::keys::ServerKey::from_base64(server_key).unwrap())),
            ..Default::default()
        },
    );
    svc.import_access_key(KEY_ID, SECRET, deuteron_core::Role::Viewer, None).await.unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let spawned = Instant::now();
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_deuteron"))
        .args(["--data-dir", data.to_str().unwrap(), "--database-url", &url, "server", "--no-examples", "--workers", "0"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("DEUTERON_SERVER_KEY", server_key)
        .env("DEUTERON_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    println!("cold start on the existing store: {:.0} ms (spawn to accepting connections)", spawned.elapsed().as_secs_f64() * 1000.0);
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_proton::config::Credentials::new(KEY_ID, SECRET, None, None, "bench"))
        .load()
        .await;
    let client = aws_sdk_proton::Client::new(&conf);
    let per = n.div_ceil(SERVICES);
    // Warm up connections and caches.
    for _ in 0..50 {
        client.get_service_instance().service_name("svc0000").name("inst0000").send().await.unwrap();
    }
    let c = client.clone();
    load("GetServiceInstance", concurrency, requests, move |k| {
        let c = c.clone();
        async move {
            let (s, i) = ((k * 7919) % SERVICES, (k * 104_729) % per);
            c.get_service_instance().service_name(format!("svc{s:04}")).name(format!("inst{i:04}")).send().await.unwrap();
        }
    })
    .await;
    let c = client.clone();
    load("ListServiceInstances (one service, 100/page)", concurrency, requests, move |k| {
        let c = c.clone();
        async move {
            let out =
                c.list_service_instances().service_name(format!("svc{:04}", (k * 7919) % SERVICES)).max_results(100).send().await.unwrap();
            assert!(!out.service_instances().is_empty());
        }
    })
    .await;
    let c = client.clone();
    load("ListServiceInstances (whole fleet, 100/page)", concurrency, requests, move |_| {
        let c = c.clone();
        async move {
            let out = c.list_service_instances().max_results(100).send().await.unwrap();
            assert_eq!(out.service_instances().len(), 100);
        }
    })
    .await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.id())).unwrap_or_default();
    let field = |k: &str| status.lines().find(|l| l.starts_with(k)).map(|l| l[k.len()..].trim().to_string()).unwrap_or_default();
    println!("server memory after the load: RSS {}, peak {}", field("VmRSS:"), field("VmHWM:"));
    let _ = server.kill();
    let _ = server.wait();
}
