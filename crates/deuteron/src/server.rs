//! `deuteron server`: serves the Proton-compatible endpoint (`POST /`), `/healthz`, `/readyz`
//! and `/metrics` on one address, runs the deployment workers, and shuts down gracefully. The
//! REST API and the console are mounted here as they land.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use deuteron_core::{TemplateKind, TemplateVersionStatus};
use deuteron_service::Deuteron;

use crate::cli::{Global, ServerArgs, WorkerArgs};
use crate::exit::Failure;

#[derive(Clone)]
struct AppState {
    svc: Deuteron,
    started: Instant,
    requests: Arc<Mutex<BTreeMap<(String, u16), u64>>>,
}

/// Short-lived `deployment` access keys for a deployment's commands.
struct IssuedKeys(Deuteron);

#[async_trait::async_trait]
impl deuteron_engine::DeploymentCredentials for IssuedKeys {
    async fn issue(&self, deployment_id: &str, ttl: std::time::Duration) -> Result<(String, String), String> {
        let (rec, secret) = self.0.issue_deployment_key(deployment_id, ttl).await.map_err(|e| e.to_string())?;
        Ok((rec.id, secret))
    }

    async fn revoke(&self, access_key_id: &str) {
        if let Err(e) = self.0.revoke_access_key(access_key_id).await {
            tracing::warn!(access_key = %access_key_id, error = %e, "cannot revoke a deployment's access key");
        }
    }
}

/// The deployment workers of this process.
fn engine(
    global: &Global,
    svc: &Deuteron,
    args: &WorkerArgs,
    release: Option<tokio::sync::watch::Receiver<bool>>,
) -> deuteron_engine::Engine {
    let data_dir = std::fs::canonicalize(&global.data_dir).unwrap_or_else(|_| global.data_dir.clone());
    let mut cfg = deuteron_engine::EngineConfig::new(data_dir);
    cfg.deployment_timeout = std::time::Duration::from_secs(args.deployment_timeout);
    cfg.lease = std::time::Duration::from_secs(args.lease_seconds.max(1));
    cfg.bundle_limits = global.limits.limits();
    cfg.arn = global.identity.arn();
    cfg.api = args.api_url.as_ref().map(|url| deuteron_engine::ApiAccess {
        endpoint: url.trim_end_matches('/').to_string(),
        credentials: Arc::new(IssuedKeys(svc.clone())),
    });
    cfg.wake = Some(svc.signals().enqueued.clone());
    cfg.finished = Some(svc.signals().rollouts.clone());
    cfg.handoff = Some(svc.signals().handoff.clone());
    cfg.release = release;
    let provisioners = deuteron_engine::Provisioners::standard(&args.terraform_bin);
    deuteron_engine::Engine::new(svc.store().clone(), Arc::new(deuteron_render::Renderer::default()), provisioners, cfg)
}

/// The workers and rollout driver of this process, until [`Workers::drain`].
struct Workers {
    stop: tokio::sync::watch::Sender<bool>,
    release: tokio::sync::watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
    drain: std::time::Duration,
}

impl Workers {
    /// Stops them: nothing more is claimed; running deployments get the drain time to finish,
    /// then (or at once on a second signal) their processes are stopped and their leases
    /// released, so another worker resumes them. A third signal exits without waiting.
    async fn drain(mut self) {
        let _ = self.stop.send(true);
        tracing::info!(
            drain_seconds = self.drain.as_secs(),
            "waiting for running deployments to finish; after the drain time (or a second signal) they are released to other workers"
        );
        tokio::select! {
            _ = &mut self.handle => return,
            _ = tokio::time::sleep(self.drain) => tracing::warn!("drain time over: stopping running deployments and releasing them to other workers"),
            _ = shutdown_signal() => tracing::warn!("second signal: stopping running deployments and releasing them to other workers"),
        }
        let _ = self.release.send(true);
        tokio::select! {
            _ = &mut self.handle => {}
            _ = shutdown_signal() => {
                tracing::error!("third signal: exiting without waiting for running deployments");
                std::process::exit(130);
            }
        }
    }
}

/// Starts the workers and the rollout driver.
fn start_workers(global: &Global, svc: &Deuteron, args: &WorkerArgs) -> Workers {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let engine = engine(global, svc, args, Some(release_rx));
    let n = args.workers;
    let worker = engine.config().worker_id.clone();
    tracing::info!(%worker, concurrency = n, "deployment workers and rollout driver started");
    let driver = {
        let (svc, stop) = (svc.clone(), stop_rx.clone());
        tokio::spawn(async move { svc.run_rollout_driver(worker, std::time::Duration::from_millis(250), stop).await })
    };
    let handle = tokio::spawn(async move {
        if n > 0 {
            engine.run(n, stop_rx).await;
        }
        let _ = driver.await;
    });
    Workers { stop: stop_tx, release: release_tx, handle, drain: std::time::Duration::from_secs(args.drain_seconds) }
}

/// `deuteron worker`: deployment workers without the HTTP server.
pub async fn run_worker(global: &Global, args: WorkerArgs) -> Result<(), Failure> {
    let svc = crate::service(global).await?;
    crate::data_dir::warn_if_open(&global.data_dir);
    if args.workers == 0 {
        return Err(Failure::invalid("--workers must be at least 1 for `deuteron worker`"));
    }
    let workers = start_workers(global, &svc, &args);
    shutdown_signal().await;
    workers.drain().await;
    tracing::info!("deuteron worker stopped");
    Ok(())
}

pub async fn run(global: &Global, args: ServerArgs) -> Result<(), Failure> {
    let started = Instant::now();
    let svc = crate::service(global).await?;
    crate::data_dir::warn_if_open(&global.data_dir);
    if !args.no_examples {
        crate::examples::register_if_empty(&svc)
            .await
            .map_err(|e| Failure::internal(format!("cannot register the example templates: {e}")))?;
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| Failure::internal(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener.local_addr().map_err(|e| Failure::internal(e.to_string()))?;
    let backend = format!("{:?}", svc.store().backend()).to_lowercase();
    bootstrap_admin_key(&svc, addr).await?;
    let mut worker_args = args.workers;
    if worker_args.api_url.is_none() {
        let ip = if addr.ip().is_unspecified() { std::net::IpAddr::from([127, 0, 0, 1]) } else { addr.ip() };
        worker_args.api_url = Some(format!("http://{}", std::net::SocketAddr::new(ip, addr.port())));
    }
    let workers = start_workers(global, &svc, &worker_args);
    let proton = deuteron_api::proton::ProtonApi {
        svc: svc.clone(),
        arn: global.identity.arn(),
        max_body: args.max_request_bytes,
        bundles: Some(Arc::new(S3Bundles::from_env().await)),
    };
    let state = AppState { svc, started, requests: Arc::default() };
    let app = router(state, proton);
    tracing::info!(%addr, store = %backend, startup_ms = started.elapsed().as_millis() as u64, "deuteron server listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| Failure::internal(format!("server error: {e}")))?;
    workers.drain().await;
    tracing::info!("deuteron server stopped");
    Ok(())
}

fn router(state: AppState, proton: deuteron_api::proton::ProtonApi) -> Router {
    let rest =
        deuteron_api::rest::router(deuteron_api::rest::RestApi { svc: state.svc.clone(), poll: std::time::Duration::from_millis(250) });
    let proton = Router::new().route("/", post(deuteron_api::proton::handle)).with_state(Arc::new(proton));
    let console = deuteron_console::router(deuteron_console::Console::new(state.svc.clone(), std::time::Duration::from_millis(250)));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state.clone())
        .merge(proton)
        .merge(rest)
        .merge(console)
        .layer(middleware::from_fn_with_state(state, count_requests))
}

/// On a store without active keys: an admin key from `DEUTERON_ADMIN_ACCESS_KEY_ID` and
/// `DEUTERON_ADMIN_SECRET_ACCESS_KEY` when both are set, otherwise a generated one whose secret is
/// printed once (to the terminal, never to the log).
async fn bootstrap_admin_key(svc: &Deuteron, addr: std::net::SocketAddr) -> Result<(), Failure> {
    let id = std::env::var("DEUTERON_ADMIN_ACCESS_KEY_ID").ok().filter(|v| !v.is_empty());
    let secret = std::env::var("DEUTERON_ADMIN_SECRET_ACCESS_KEY").ok().filter(|v| !v.is_empty());
    let given = match (id, secret) {
        (Some(i), Some(s)) => Some((i, s)),
        (None, None) => None,
        _ => {
            return Err(Failure::invalid("set both DEUTERON_ADMIN_ACCESS_KEY_ID and DEUTERON_ADMIN_SECRET_ACCESS_KEY, or neither"));
        }
    };
    match svc.ensure_admin_key(given).await? {
        None => {}
        Some((id, None)) => tracing::info!(access_key = %id, "created the admin access key given in the environment"),
        Some((id, Some(secret))) => {
            tracing::info!(access_key = %id, "generated an admin access key (its secret was printed once)");
            let ip = if addr.ip().is_unspecified() { std::net::IpAddr::from([127, 0, 0, 1]) } else { addr.ip() };
            let url = format!("http://{}", std::net::SocketAddr::new(ip, addr.port()));
            eprintln!(
                "\nDeuteron created an admin access key. The secret is shown only now:\n\n  \
                 {id}:{secret}\n\n\
                 Sign in to the console at {url}/ with it, or use it from the CLI and the AWS tools:\n\n  \
                 export DEUTERON_SERVER={url} DEUTERON_ACCESS_KEY={id}:{secret}\n  \
                 export AWS_ACCESS_KEY_ID={id} AWS_SECRET_ACCESS_KEY={secret} AWS_ENDPOINT_URL_PROTON={url}\n\n\
                 Create more with `deuteron key create --role developer`.\n"
            );
        }
    }
    Ok(())
}

/// Template bundles named by `source.s3`, read with aws-sdk-s3 and the AWS SDK's standard
/// configuration (`AWS_REGION`, the credential chain, `AWS_ENDPOINT_URL_S3`).
struct S3Bundles(aws_sdk_s3::Client);

impl S3Bundles {
    async fn from_env() -> Self {
        let aws = deuteron_provision::aws::setup().await;
        tracing::info!("{}", aws.describe());
        // Path-style addressing works with S3-compatible stores (MinIO, moto) as with AWS.
        let s3 = aws_sdk_s3::config::Builder::from(&aws.config).force_path_style(true).build();
        Self(aws_sdk_s3::Client::from_conf(s3))
    }
}

#[async_trait::async_trait]
impl deuteron_api::proton::BundleSource for S3Bundles {
    async fn fetch(&self, bucket: &str, key: &str, max_bytes: u64) -> Result<Vec<u8>, String> {
        use aws_sdk_s3::error::ProvideErrorMetadata;
        let out = self.0.get_object().bucket(bucket).key(key).send().await.map_err(|e| match e.as_service_error() {
            Some(se) => format!("{}: {}", se.code().unwrap_or("S3 error"), se.message().unwrap_or("no message")),
            None => aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
        })?;
        if out.content_length().is_some_and(|n| n as u64 > max_bytes) {
            return Err(format!("the object is {} bytes, over the bundle limit of {max_bytes} bytes", out.content_length().unwrap_or(0)));
        }
        let bytes = out.body.collect().await.map_err(|e| format!("reading the object: {e}"))?.into_bytes();
        if bytes.len() as u64 > max_bytes {
            return Err(format!("the object is {} bytes, over the bundle limit of {max_bytes} bytes", bytes.len()));
        }
        Ok(bytes.to_vec())
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

async fn count_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let resp = next.run(req).await;
    let mut counts = state.requests.lock().expect("metrics lock");
    *counts.entry((path, resp.status().as_u16())).or_default() += 1;
    resp
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.svc.list_templates(Some(TemplateKind::Environment)).await {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, format!("store unavailable: {e}\n")).into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP deuteron_build_info Build information.\n# TYPE deuteron_build_info gauge");
    let _ = writeln!(out, "deuteron_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(out, "# HELP deuteron_uptime_seconds Seconds since the server started.\n# TYPE deuteron_uptime_seconds gauge");
    let _ = writeln!(out, "deuteron_uptime_seconds {:.3}", state.started.elapsed().as_secs_f64());
    match registry_gauges(&state.svc).await {
        Ok(text) => out.push_str(&text),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the registry"),
    }
    let _ = writeln!(
        out,
        "# HELP deuteron_http_requests_total HTTP requests served, by route and status.\n# TYPE deuteron_http_requests_total counter"
    );
    for ((path, status), n) in state.requests.lock().expect("metrics lock").iter() {
        let _ = writeln!(out, "deuteron_http_requests_total{{route=\"{path}\",status=\"{status}\"}} {n}");
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response()
}

async fn registry_gauges(svc: &Deuteron) -> Result<String, deuteron_service::ServiceError> {
    let templates = svc.list_templates(None).await?;
    let mut out = String::new();
    let _ = writeln!(out, "# HELP deuteron_templates Registered templates, by kind.\n# TYPE deuteron_templates gauge");
    for kind in [TemplateKind::Environment, TemplateKind::Service] {
        let _ = writeln!(out, "deuteron_templates{{kind=\"{kind}\"}} {}", templates.iter().filter(|t| t.kind == kind).count());
    }
    let mut versions: BTreeMap<(TemplateKind, &'static str), usize> = BTreeMap::new();
    for t in &templates {
        for v in svc.list_versions(t.kind, &t.name, None).await? {
            *versions.entry((t.kind, v.status.as_str())).or_default() += 1;
        }
    }
    let _ =
        writeln!(out, "# HELP deuteron_template_versions Template versions, by kind and status.\n# TYPE deuteron_template_versions gauge");
    for kind in [TemplateKind::Environment, TemplateKind::Service] {
        for status in TemplateVersionStatus::ALL {
            let n = versions.get(&(kind, status.as_str())).copied().unwrap_or(0);
            let _ = writeln!(out, "deuteron_template_versions{{kind=\"{kind}\",status=\"{status}\"}} {n}");
        }
    }
    Ok(out)
}
