//! Deployment workers. A worker claims a deployment from the store (a leased job), renders the
//! target's template version with the namespaces Proton gave it, runs the provisioner the
//! bundle's manifest names, streams the log, and records the outcome and outputs in one
//! transaction. A heartbeat keeps the lease and notices cancellation; a worker that dies loses
//! its lease and another worker takes the deployment over.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Map;

use deuteron_bundle::{Bundle, BundleFiles, ComponentTemplate, InfraFolder, Limits, TemplateEntry};
use deuteron_core::{ArnConfig, DeploymentAction, DeploymentStatus as D, ServiceStatus, TemplateKind, VersionNumber};
use deuteron_provision::{Cancel, LogSink, ProvisionError, ProvisionRequest, Provisioner, WorkFile};
use deuteron_render::{Renderer, ResourceMeta};
use deuteron_store::{DeploymentRecord, Finish, Finished, Heartbeat, NewDeployment, ResourceState, Store, StoreError, Target};

pub mod context;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Settings of a worker.
#[derive(Clone)]
pub struct EngineConfig {
    /// Names this worker in leases and logs.
    pub worker_id: String,
    /// How long a claim lasts without a heartbeat.
    pub lease: Duration,
    /// Working directories live under `<data_dir>/work`.
    pub data_dir: PathBuf,
    /// Longest a provisioner may run.
    pub deployment_timeout: Duration,
    pub arn: ArnConfig,
    pub bundle_limits: Limits,
    /// How often an idle worker looks for work.
    pub poll: Duration,
    /// Keep working directories after deployments (for debugging).
    pub keep_work_dirs: bool,
    /// Lets commands call NotifyResourceDeploymentStatusChange (set by `deuteron server`).
    pub api: Option<ApiAccess>,
    /// Wakes idle workers before their next poll (deployments were enqueued in this process).
    pub wake: Option<Arc<tokio::sync::Notify>>,
    /// Notified when a deployment ends (the rollout driver of this process waits on it).
    pub finished: Option<Arc<tokio::sync::Notify>>,
    /// Where idle workers offer themselves to be handed deployments already claimed (by the
    /// rollout driver of this process).
    pub handoff: Option<Arc<deuteron_store::Handoff>>,
    /// Turns true when a shutdown's drain time is over: running deployments are stopped (their
    /// processes killed) and released to other workers instead of being waited for.
    pub release: Option<tokio::sync::watch::Receiver<bool>>,
}

impl EngineConfig {
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            worker_id: format!("worker-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            lease: Duration::from_secs(30),
            data_dir,
            deployment_timeout: Duration::from_secs(3600),
            arn: ArnConfig::default(),
            bundle_limits: Limits::default(),
            poll: Duration::from_millis(200),
            keep_work_dirs: false,
            api: None,
            wake: None,
            finished: None,
            handoff: None,
            release: None,
        }
    }
}

/// Short-lived API credentials for a deployment's commands, so they can report outputs with
/// `aws proton notify-resource-deployment-status-change` as CodeBuild jobs did with Proton.
#[async_trait::async_trait]
pub trait DeploymentCredentials: Send + Sync {
    /// `(access key id, secret)` valid for this attempt of this deployment only, for `ttl` at
    /// most; the keys of its earlier attempts stop working.
    async fn issue(&self, deployment_id: &str, ttl: Duration) -> Result<(String, String), String>;
    /// Ends the credentials when the deployment ends.
    async fn revoke(&self, access_key_id: &str);
}

/// Where commands reach Deuteron's API, and with which credentials.
#[derive(Clone)]
pub struct ApiAccess {
    /// E.g. `http://127.0.0.1:8080`.
    pub endpoint: String,
    pub credentials: Arc<dyn DeploymentCredentials>,
}

/// The provisioners a worker can use.
#[derive(Clone)]
pub struct Provisioners {
    pub command: Arc<dyn Provisioner>,
    pub terraform: Arc<dyn Provisioner>,
    pub cloudformation: Arc<dyn Provisioner>,
}

impl Provisioners {
    /// The real provisioners: `bash` for commands, `terraform_bin` for HCL bundles, and the AWS
    /// SDK's standard configuration for CloudFormation.
    pub fn standard(terraform_bin: &str) -> Self {
        Self {
            command: Arc::new(deuteron_provision::command::CommandProvisioner::default()),
            terraform: Arc::new(deuteron_provision::terraform::TerraformProvisioner { binary: terraform_bin.to_string() }),
            cloudformation: Arc::new(deuteron_provision::cloudformation::CloudFormationProvisioner::default()),
        }
    }
}

/// Resolves once `rx` holds true; never without a receiver (or once its sender is gone).
async fn wait_true(rx: Option<&mut tokio::sync::watch::Receiver<bool>>) {
    match rx {
        Some(rx) => {
            if rx.wait_for(|v| *v).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// Parsed bundles by template version. Versions are immutable once registered, so a parsed
/// bundle stays valid; the cache is bounded and simply cleared when full.
type BundleCache = Arc<Mutex<std::collections::HashMap<(TemplateKind, String, VersionNumber), Arc<Bundle>>>>;
const BUNDLE_CACHE_MAX: usize = 256;

#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn Store>,
    renderer: Arc<Renderer>,
    provisioners: Provisioners,
    config: Arc<EngineConfig>,
    bundles: BundleCache,
    work_dirs: Arc<WorkDirs>,
}

/// This engine's working directories not in use. A deployment takes one (or makes one) and
/// gives it back when it ends; the provisioner clears what the previous deployment left, and
/// reusing directories and file names spares the file system two inode allocations and frees
/// per file, which cost more than the rest of a short deployment's file work.
#[derive(Default)]
struct WorkDirs {
    free: Mutex<Vec<PathBuf>>,
    made: std::sync::atomic::AtomicUsize,
}

/// A working directory in use; back to the pool when dropped (also when a deployment's future
/// is dropped mid-way).
struct WorkDir {
    path: PathBuf,
    pool: Option<Arc<WorkDirs>>,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.free.lock().expect("work dirs").push(std::mem::take(&mut self.path));
        }
    }
}

/// Collects log lines in memory; a task flushes them to the store in batches.
#[derive(Default)]
struct Buffered(Mutex<Vec<(String, String)>>);

impl LogSink for Buffered {
    fn line(&self, stream: &str, line: String) {
        self.0.lock().expect("log lock").push((stream.to_string(), line));
    }
}

impl Buffered {
    fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.0.lock().expect("log lock"))
    }
}

/// What rendering produced for a deployment.
struct Prepared {
    files: Vec<WorkFile>,
    role_arn: Option<String>,
    commands: Vec<String>,
    env: std::collections::BTreeMap<String, String>,
    engine: &'static str,
}

impl Engine {
    pub fn new(store: Arc<dyn Store>, renderer: Arc<Renderer>, provisioners: Provisioners, config: EngineConfig) -> Self {
        Self { store, renderer, provisioners, config: Arc::new(config), bundles: Arc::default(), work_dirs: Arc::default() }
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Runs `concurrency` worker loops until `shutdown` turns true; running deployments finish.
    pub async fn run(&self, concurrency: usize, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut loops = tokio::task::JoinSet::new();
        for i in 0..concurrency.max(1) {
            let engine = self.clone();
            let mut stop = shutdown.clone();
            loops.spawn(async move {
                // The deployment claimed with the finish of the one before.
                let mut next: Option<DeploymentRecord> = None;
                loop {
                    let dep = match next.take() {
                        Some(dep) => dep,
                        None if *stop.borrow() => break,
                        None => match engine.wait_for_work(i, &mut stop).await {
                            Some(dep) => dep,
                            None => continue,
                        },
                    };
                    // While running, the loop claims its next deployment with the finish (one
                    // write); once stopping, it claims no more.
                    let chain = !*stop.borrow();
                    match engine.execute(dep, chain).await {
                        Ok((_, claimed)) => next = claimed,
                        Err(e) => tracing::error!(worker = %engine.config.worker_id, slot = i, error = %e, "worker loop error"),
                    }
                }
            });
        }
        let _ = shutdown.changed().await;
        while loops.join_next().await.is_some() {}
        for dir in std::mem::take(&mut *self.work_dirs.free.lock().expect("work dirs")) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }

    /// One look for work by an idle loop: a deployment claimed from the queue or handed over
    /// by a starter, or none after a wake-up, the poll interval or a stop request.
    async fn wait_for_work(&self, slot: usize, stop: &mut tokio::sync::watch::Receiver<bool>) -> Option<DeploymentRecord> {
        let (worker, lease_ms) = (&self.config.worker_id, self.config.lease.as_millis() as i64);
        let wake = self.config.wake.clone().unwrap_or_default();
        // Listen before looking at the queue, so a deployment enqueued between an empty claim
        // and the wait still wakes this loop (and only while idle: a busy loop must not take a
        // wake-up an idle one needs).
        let woken = wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        match self.store.claim_deployment(worker, lease_ms).await {
            Ok(Some(dep)) => return Some(dep),
            Ok(None) => {}
            Err(e) => tracing::error!(%worker, slot, error = %e, "cannot claim a deployment"),
        }
        // Offered for hand-overs only once the queue is known empty, so a loop never holds a
        // handed deployment (its lease running) while it runs another one.
        let mut offer = self.config.handoff.as_ref().map(|h| (h.as_ref(), h.offer(worker, lease_ms)));
        let from_starter = async {
            match offer.as_mut() {
                Some((_, w)) => (&mut w.handed).await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            got = from_starter => return got,
            _ = tokio::time::sleep(self.config.poll) => {}
            _ = woken => {}
            _ = stop.changed() => {}
        }
        withdraw(offer).await
    }

    /// A working directory for `dep`: a fresh one named after it when they are kept for
    /// debugging, else one of this engine's reusable ones.
    fn work_dir(&self, dep: &DeploymentRecord) -> WorkDir {
        let work = self.config.data_dir.join("work");
        if self.config.keep_work_dirs {
            let path = work.join(&dep.id);
            let _ = std::fs::remove_dir_all(&path);
            return WorkDir { path, pool: None };
        }
        let reused = self.work_dirs.free.lock().expect("work dirs").pop();
        let path = reused.unwrap_or_else(|| {
            let n = self.work_dirs.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            work.join(format!("{}-{n}", self.config.worker_id))
        });
        WorkDir { path, pool: Some(self.work_dirs.clone()) }
    }

    /// Claims one deployment and runs it to the end; `None` when the queue is empty.
    pub async fn run_next(&self) -> Result<Option<DeploymentRecord>, EngineError> {
        let lease_ms = self.config.lease.as_millis() as i64;
        let Some(dep) = self.store.claim_deployment(&self.config.worker_id, lease_ms).await? else {
            return Ok(None);
        };
        Ok(Some(self.execute(dep, false).await?.0))
    }

    /// Runs a claimed deployment to the end; with `claim_next`, the finish also claims this
    /// worker's next deployment (returned second).
    async fn execute(&self, dep: DeploymentRecord, claim_next: bool) -> Result<(DeploymentRecord, Option<DeploymentRecord>), EngineError> {
        let worker = self.config.worker_id.clone();
        tracing::info!(deployment = %dep.id, target = %dep.target, action = dep.action.as_str(), attempt = dep.attempts, %worker, "deployment started");
        if dep.attempts > 1 {
            self.store
                .append_log(
                    &dep.id,
                    "deuteron",
                    &[format!("resumed by {worker} (attempt {}) after the previous worker's lease expired", dep.attempts)],
                )
                .await?;
        }
        let finish = if dep.cancel_requested {
            Finish {
                status: D::Cancelled,
                status_message: Some("cancelled before it started".into()),
                outputs: None,
                log: Vec::new(),
                resources: None,
            }
        } else {
            match self.prepare(&dep).await {
                Err(message) => Finish {
                    status: failed(dep.action),
                    status_message: Some(message.clone()),
                    outputs: None,
                    log: vec![("deuteron".into(), message)],
                    resources: None,
                },
                Ok(prepared) => match self.provision(&dep, prepared).await? {
                    None => return Ok((self.store.get_deployment(&dep.id).await?, None)),
                    Some(f) => f,
                },
            }
        };
        let claim = claim_next.then_some(self.config.lease.as_millis() as i64);
        let Finished { deployment: done, service_status, next } = match self.store.finish_and_claim(&dep, &worker, &finish, claim).await {
            Ok(f) => f,
            Err(StoreError::Conflict(m)) => {
                tracing::warn!(deployment = %dep.id, %worker, "lease lost before finishing: {m}");
                return Ok((self.store.get_deployment(&dep.id).await?, None));
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(deployment = %done.id, target = %done.target, status = %done.status, message = done.status_message.as_deref().unwrap_or(""), "deployment finished");
        if let Some(f) = &self.config.finished {
            f.notify_one();
        }
        if let Err(e) = self.after(&done, service_status).await {
            tracing::error!(deployment = %done.id, error = %e, "follow-up of a finished deployment failed");
        }
        Ok((done, next))
    }

    /// Runs the provisioner with a heartbeat; `None` if the lease was lost meanwhile.
    async fn provision(&self, dep: &DeploymentRecord, p: Prepared) -> Result<Option<Finish>, EngineError> {
        if p.engine == "import" {
            return Ok(Some(imported(dep)));
        }
        let engine = p.engine;
        let provisioner = match p.engine {
            "codebuild" => self.provisioners.command.clone(),
            "hcl" => self.provisioners.terraform.clone(),
            _ => self.provisioners.cloudformation.clone(),
        };
        let work_dir = self.work_dir(dep);
        let mut env = p.env;
        let mut issued = None;
        if p.engine == "codebuild" {
            env.insert("DEUTERON_DEPLOYMENT_ID".into(), dep.id.clone());
            if let Some(api) = &self.config.api {
                match api.credentials.issue(&dep.id, self.config.deployment_timeout + self.config.lease).await {
                    Ok((id, secret)) => {
                        env.insert("AWS_ENDPOINT_URL_PROTON".into(), api.endpoint.clone());
                        env.insert("DEUTERON_ENDPOINT_URL".into(), api.endpoint.clone());
                        env.insert("DEUTERON_ACCESS_KEY_ID".into(), id.clone());
                        env.insert("DEUTERON_SECRET_ACCESS_KEY".into(), secret.clone());
                        // Scripts written for Proton call `aws proton ...` with the ambient
                        // credentials; give them these unless the server has AWS credentials of its own.
                        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() && std::env::var_os("AWS_PROFILE").is_none() {
                            env.insert("AWS_ACCESS_KEY_ID".into(), id.clone());
                            env.insert("AWS_SECRET_ACCESS_KEY".into(), secret);
                        }
                        if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none() {
                            env.insert("AWS_REGION".into(), self.config.arn.region.clone());
                            env.insert("AWS_DEFAULT_REGION".into(), self.config.arn.region.clone());
                        }
                        issued = Some((api.credentials.clone(), id));
                    }
                    Err(e) => {
                        tracing::warn!(deployment = %dep.id, error = %e, "cannot issue API credentials for the deployment's commands")
                    }
                }
            }
        }
        let req = ProvisionRequest {
            deployment_id: dep.id.clone(),
            action: dep.action,
            resource_arn: self.arn(&dep.target),
            stack_name: stack_name(&dep.target),
            files: p.files,
            work_dir: work_dir.path.clone(),
            resource_dir: self.config.data_dir.join("resources").join(stack_name(&dep.target)),
            role_arn: p.role_arn,
            env,
            commands: p.commands,
            timeout: self.config.deployment_timeout,
        };
        let log = Arc::new(Buffered::default());
        let (cancel_tx, cancel) = Cancel::new();
        let lost = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let released = cancel.release_flag();
        // The heartbeat flushes the log and renews the lease until told to stop; it is stopped
        // (and awaited) rather than aborted, so a write it has begun ends before the last lines
        // are taken and no line it took is lost.
        let (stop_beat, mut beat_stopped) = tokio::sync::watch::channel(false);
        let beat = {
            let store = self.store.clone();
            let id = dep.id.clone();
            let worker = self.config.worker_id.clone();
            let lease = self.config.lease;
            let log = log.clone();
            let lost = lost.clone();
            let released = released.clone();
            let mut release = self.config.release.clone();
            tokio::spawn(async move {
                let every = (lease / 3).min(Duration::from_millis(500)).max(Duration::from_millis(50));
                let mut releasing = false;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = beat_stopped.changed() => return,
                        // The shutdown's drain time is over: stop the provisioner, keep the lease
                        // until it has stopped, then release it.
                        _ = wait_true(release.as_mut()), if !releasing => {
                            releasing = true;
                            released.store(true, std::sync::atomic::Ordering::SeqCst);
                            let _ = cancel_tx.send(true);
                        }
                    }
                    let lines = log.take();
                    for (stream, chunk) in group_by_stream(lines) {
                        if let Err(e) = store.append_log(&id, &stream, &chunk).await {
                            tracing::warn!(deployment = %id, error = %e, "cannot write the deployment log");
                        }
                    }
                    match store.heartbeat(&id, &worker, lease.as_millis() as i64).await {
                        Ok(Heartbeat::Held { cancel_requested: true }) => {
                            let _ = cancel_tx.send(true);
                        }
                        Ok(Heartbeat::Held { .. }) => {}
                        Ok(Heartbeat::Lost) => {
                            lost.store(true, std::sync::atomic::Ordering::SeqCst);
                            let _ = cancel_tx.send(true);
                            return;
                        }
                        Err(e) => tracing::warn!(deployment = %id, error = %e, "heartbeat failed"),
                    }
                }
            })
        };
        let mut guard = AbortOnDrop(Some(beat));
        let result = provisioner.run(&req, log.as_ref(), cancel).await;
        let _ = stop_beat.send(true);
        guard.finish().await;
        if let Some((creds, id)) = issued {
            creds.revoke(&id).await;
        }
        drop(work_dir);
        // The last lines are written with the outcome, in the finish transaction.
        let mut tail = log.take();
        if released.load(std::sync::atomic::Ordering::SeqCst) && matches!(result, Err(ProvisionError::Cancelled)) {
            tail.push((
                "deuteron".into(),
                format!("worker {} stopped before this deployment ended; another worker takes it over", self.config.worker_id),
            ));
            for (stream, chunk) in group_by_stream(tail) {
                self.store.append_log(&dep.id, &stream, &chunk).await?;
            }
            let ours = self.store.release_deployment(&dep.id, &self.config.worker_id).await?;
            tracing::warn!(deployment = %dep.id, worker = %self.config.worker_id, released = ours, "deployment released at shutdown");
            return Ok(None);
        }
        if lost.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::warn!(deployment = %dep.id, worker = %self.config.worker_id, "lease lost; another worker owns the deployment");
            for (stream, chunk) in group_by_stream(tail) {
                self.store.append_log(&dep.id, &stream, &chunk).await?;
            }
            return Ok(None);
        }
        let finish = match result {
            // Outputs the deployment reported through the API join these in the finish
            // transaction (the provisioner's own win on a clash).
            Ok(outcome) => {
                Finish {
                    status: if dep.action == DeploymentAction::Deprovision { D::DeleteComplete } else { D::Succeeded },
                    status_message: None,
                    outputs: Some(outcome.outputs),
                    log: tail,
                    // Commands report no infrastructure: keep the (empty) list as it is.
                    resources: (engine != "codebuild").then_some(
                        outcome
                            .resources
                            .into_iter()
                            .map(|r| deuteron_store::ProvisionedResource {
                                name: r.name,
                                identifier: r.identifier,
                                engine: r.engine.to_string(),
                            })
                            .collect(),
                    ),
                }
            }
            Err(e) => {
                let (status, message) = match e {
                    ProvisionError::Cancelled => (D::Cancelled, "cancelled by request".to_string()),
                    other => (failed(dep.action), other.to_string()),
                };
                tail.push(("deuteron".into(), message.clone()));
                Finish { status, status_message: Some(message), outputs: None, log: tail, resources: None }
            }
        };
        Ok(Some(finish))
    }

    fn arn(&self, target: &Target) -> String {
        target.arn(&self.config.arn)
    }

    /// Loads the bundle, builds the namespaces and renders the target's folder.
    async fn prepare(&self, dep: &DeploymentRecord) -> Result<Prepared, String> {
        let state = &dep.target_state;
        let (kind, folder) = match dep.target {
            Target::Environment(_) => (TemplateKind::Environment, InfraFolder::Infrastructure),
            Target::ServiceInstance { .. } => (TemplateKind::Service, InfraFolder::InstanceInfrastructure),
            Target::ServicePipeline(_) => (TemplateKind::Service, InfraFolder::PipelineInfrastructure),
            Target::Component(_) => return self.prepare_component(dep).await,
        };
        let version = state.version().ok_or_else(|| format!("deployment {} has no valid target version", dep.id))?;
        let bundle = self.bundle(kind, &state.template_name, version).await?;
        if folder == InfraFolder::Infrastructure && !bundle.manifests.contains_key(&folder) {
            // A CUSTOMER_MANAGED environment: its infrastructure lives outside Deuteron and its
            // spec gives the outputs service templates read (Proton's customer-managed model).
            return Ok(Prepared { files: Vec::new(), role_arn: None, commands: Vec::new(), env: Default::default(), engine: "import" });
        }
        let ctx = context::build(self.store.as_ref(), &self.config.arn, &dep.target, state)
            .await
            .map_err(|e| format!("cannot build the render context: {e}"))?;
        let meta = ResourceMeta { arn: self.arn(&dep.target), proton_tags: Map::new() };
        let rendered = self.renderer.render_folder(&bundle, folder, &ctx, &meta).map_err(|e| format!("render failed: {e}"))?;
        let manifest = bundle.manifests.get(&folder).ok_or_else(|| format!("the bundle has no {}/", folder.dir()))?;
        let (commands, env) = match &manifest.templates[0] {
            TemplateEntry::Codebuild(s) => {
                let cmds = if dep.action == DeploymentAction::Deprovision { s.deprovision.clone() } else { s.provision.clone() };
                (cmds, s.env_variables.clone())
            }
            _ => (Vec::new(), Default::default()),
        };
        // Only CloudFormation stacks take a role; other engines skip the lookup.
        let env_name = match &dep.target {
            Target::Environment(n) => Some(n.as_str()),
            Target::ServiceInstance { .. } | Target::Component(_) => dep.environment_name.as_deref(),
            Target::ServicePipeline(_) => None,
        };
        let role_arn = match env_name {
            Some(n) if manifest.engine() == "jinja" => self.store.get_environment(n).await.ok().and_then(|e| e.role_arn),
            _ => None,
        };
        Ok(Prepared {
            files: rendered.into_iter().map(|f| WorkFile { path: f.path, contents: f.contents }).collect(),
            role_arn,
            commands,
            env,
            engine: manifest.engine(),
        })
    }

    /// A directly defined component: its one template file, rendered (CloudFormation) or with
    /// the generated variable files (Terraform); CloudFormation stacks take the environment's
    /// component role.
    async fn prepare_component(&self, dep: &DeploymentRecord) -> Result<Prepared, String> {
        let state = &dep.target_state;
        let comp = state.component.as_ref().ok_or_else(|| format!("deployment {} carries no component state", dep.id))?;
        let template = ComponentTemplate::parse(&comp.manifest).map_err(|e| e.to_string())?;
        let ctx = context::build(self.store.as_ref(), &self.config.arn, &dep.target, state)
            .await
            .map_err(|e| format!("cannot build the render context: {e}"))?;
        let meta = ResourceMeta { arn: self.arn(&dep.target), proton_tags: Map::new() };
        let env_name = dep.environment_name.as_deref().ok_or_else(|| format!("deployment {} names no environment", dep.id))?;
        let (files, engine, role_arn) = match &template {
            ComponentTemplate::CloudFormation { file } => {
                let out = self.renderer.render_str(file, &comp.template_file, &ctx).map_err(|e| format!("render failed: {e}"))?;
                let role = self.store.get_environment(env_name).await.ok().and_then(|e| e.component_role_arn);
                (vec![WorkFile { path: file.clone(), contents: out.into_bytes() }], "jinja", role)
            }
            ComponentTemplate::Terraform { file } => {
                let mut files = vec![WorkFile { path: file.clone(), contents: comp.template_file.clone().into_bytes() }];
                let generated = deuteron_render::terraform::component_files(&ctx, &meta).map_err(|e| format!("render failed: {e}"))?;
                files.extend(generated.into_iter().map(|f| WorkFile { path: f.path, contents: f.contents }));
                (files, "hcl", None)
            }
        };
        Ok(Prepared { files, role_arn, commands: Vec::new(), env: Default::default(), engine })
    }

    async fn bundle(&self, kind: TemplateKind, name: &str, version: VersionNumber) -> Result<Arc<Bundle>, String> {
        let key = (kind, name.to_string(), version);
        if let Some(b) = self.bundles.lock().expect("bundle cache").get(&key) {
            return Ok(b.clone());
        }
        let template = self.store.get_template(kind, name).await.map_err(|e| e.to_string())?;
        let bytes = self.store.get_version_bundle(kind, name, version).await.map_err(|e| e.to_string())?;
        let files = BundleFiles::from_archive_bytes(&bytes, &self.config.bundle_limits).map_err(|e| format!("stored bundle: {e}"))?;
        let bundle = Arc::new(Bundle::parse(files, kind, template.provisioning).map_err(|e| format!("stored bundle: {e}"))?);
        let mut cache = self.bundles.lock().expect("bundle cache");
        if cache.len() >= BUNDLE_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, bundle.clone());
        Ok(bundle)
    }

    /// Service orchestration after an instance or pipeline deployment ends; `service_status`:
    /// its service's status as the finish left it (none: the service is gone).
    async fn after(&self, done: &DeploymentRecord, service_status: Option<ServiceStatus>) -> Result<(), StoreError> {
        let service = match &done.target {
            Target::ServiceInstance { service, .. } | Target::ServicePipeline(service) => service.clone(),
            Target::Environment(_) | Target::Component(_) => return Ok(()),
        };
        // A settled service (e.g. an instance updated on its own, or by a rollout) needs nothing:
        // skip reading its instances and pipeline. A failed one is looked at again when one of
        // its deployments succeeds: fixing the instance that failed finishes what was left.
        let Some(status) = service_status.filter(|s| {
            matches!(s, ServiceStatus::DeleteInProgress | ServiceStatus::CreateInProgress | ServiceStatus::UpdateInProgress)
                || (matches!(s, ServiceStatus::CreateFailed | ServiceStatus::UpdateFailed) && done.status == D::Succeeded)
        }) else {
            return Ok(());
        };
        let instances = self.store.list_instances(Some(&service), None).await?;
        let pipeline = match self.store.get_pipeline(&service).await {
            Ok(p) => Some(p),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        match status {
            ServiceStatus::DeleteInProgress => {
                if done.status == D::DeleteFailed {
                    self.store.set_service_status(&service, ServiceStatus::DeleteFailed, done.status_message.as_deref()).await?;
                } else if instances.is_empty() && pipeline.is_none() {
                    self.store.delete_service(&service).await?;
                    tracing::info!(%service, "service deleted");
                }
            }
            ServiceStatus::CreateInProgress | ServiceStatus::UpdateInProgress => {
                let creating = status == ServiceStatus::CreateInProgress;
                let failed_status = if creating { ServiceStatus::CreateFailed } else { ServiceStatus::UpdateFailed };
                if matches!(done.target, Target::ServicePipeline(_)) {
                    let (status, msg) = if done.status == D::Succeeded {
                        (ServiceStatus::Active, None)
                    } else {
                        (failed_status, Some(format!("pipeline deployment {} {}", done.id, done.status)))
                    };
                    self.store.set_service_status(&service, status, msg.as_deref()).await?;
                    return Ok(());
                }
                if instances.iter().any(|i| i.deployment.status.is_active()) {
                    return Ok(());
                }
                if done.status == D::DeleteFailed {
                    let msg = format!("removing {} failed: {}", done.target, done.status_message.clone().unwrap_or_default());
                    self.store.set_service_status(&service, failed_status, Some(&msg)).await?;
                    return Ok(());
                }
                let failed: Vec<_> =
                    instances.iter().filter(|i| !matches!(i.deployment.status, D::Succeeded)).map(|i| i.name.clone()).collect();
                if !failed.is_empty() {
                    let msg = format!("instance(s) {} failed to deploy", failed.join(", "));
                    self.store.set_service_status(&service, failed_status, Some(&msg)).await?;
                    // A pipeline waiting for its first deployment does not wait in progress: it
                    // is held until the instances succeed (or the service is deleted).
                    if pipeline.as_ref().is_some_and(|p| p.deployment.last_attempted_deployment_id.is_none()) {
                        let held = format!("not deployed: {msg}; it deploys once they succeed");
                        self.store.hold_undeployed_pipeline(&service, &held).await?;
                    }
                } else if let Some(p) = pipeline {
                    self.enqueue_pipeline(&service, &p).await?;
                } else {
                    self.store.set_service_status(&service, ServiceStatus::Active, None).await?;
                }
            }
            ServiceStatus::CreateFailed | ServiceStatus::UpdateFailed => {
                let settled = instances.iter().all(|i| i.deployment.status == D::Succeeded);
                match pipeline {
                    _ if !settled => {}
                    // The pipeline was held while an instance failed: deploy it now, as the
                    // create (or update) would have.
                    Some(p) if p.deployment.last_attempted_deployment_id.is_none() => {
                        let resumed = if status == ServiceStatus::CreateFailed {
                            ServiceStatus::CreateInProgress
                        } else {
                            ServiceStatus::UpdateInProgress
                        };
                        self.store.set_service_status(&service, resumed, None).await?;
                        tracing::info!(%service, "every instance succeeded; deploying the held pipeline");
                        self.enqueue_pipeline(&service, &p).await?;
                    }
                    Some(p) if p.deployment.status != D::Succeeded => {}
                    _ => {
                        self.store.set_service_status(&service, ServiceStatus::Active, None).await?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Enqueues a deployment of a service's pipeline at its stored version, spec and inputs (a
    /// deployment already active for it is left to run).
    async fn enqueue_pipeline(&self, service: &str, p: &deuteron_store::PipelineRecord) -> Result<(), StoreError> {
        let state = ResourceState::stored(&p.template_name, p.version, &p.spec, &p.inputs);
        let d = NewDeployment {
            id: deuteron_store::new_deployment_id(),
            target: Target::ServicePipeline(service.to_string()),
            environment_name: None,
            action: DeploymentAction::Provision,
            initial_state: p.deployment.last_succeeded_deployment_id.as_ref().map(|_| state.clone()),
            target_state: state,
        };
        match self.store.enqueue_deployment(&d, D::InProgress).await {
            Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Withdraws an idle loop's offer; if a starter took it meanwhile, waits for what it hands over
/// (none if it dropped the offer).
async fn withdraw(offer: Option<(&deuteron_store::Handoff, deuteron_store::handoff::Waiting)>) -> Option<DeploymentRecord> {
    match offer {
        Some((h, w)) if !h.withdraw(&w) => w.handed.await.ok(),
        _ => None,
    }
}

/// Stops the heartbeat when the deployment's future ends or is dropped (a worker shutting down
/// or dying must stop renewing its lease, so another worker can take over).
/// A task aborted if it is still running when this is dropped (the deployment's future was
/// dropped); [`AbortOnDrop::finish`] waits for it to end instead.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl AbortOnDrop {
    async fn finish(&mut self) {
        if let Some(task) = self.0.take() {
            let _ = task.await;
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

/// The outcome of deploying a CUSTOMER_MANAGED environment: nothing is provisioned; its inputs
/// become its outputs (strings as given, other values as JSON).
fn imported(dep: &DeploymentRecord) -> Finish {
    if dep.action == DeploymentAction::Deprovision {
        let line = "customer-managed environment: nothing to deprovision (its infrastructure is managed outside Deuteron)";
        return Finish {
            status: D::DeleteComplete,
            status_message: None,
            outputs: None,
            log: vec![("deuteron".into(), line.into())],
            resources: None,
        };
    }
    let outputs: Vec<(String, String)> = dep
        .target_state
        .inputs
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect())
        .unwrap_or_default();
    let line = format!(
        "customer-managed environment: recorded {} output(s) from the spec ({}); nothing was provisioned",
        outputs.len(),
        outputs.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>().join(", ")
    );
    Finish { status: D::Succeeded, status_message: None, outputs: Some(outputs), log: vec![("deuteron".into(), line)], resources: None }
}

fn failed(action: DeploymentAction) -> D {
    if action == DeploymentAction::Deprovision { D::DeleteFailed } else { D::Failed }
}

/// The name of a resource's infrastructure (CloudFormation stack, command `STACK_NAME`).
pub fn stack_name(target: &Target) -> String {
    match target {
        Target::Environment(n) => format!("deuteron-env-{n}"),
        Target::ServiceInstance { service, instance } => format!("deuteron-svc-{service}-{instance}"),
        Target::ServicePipeline(s) => format!("deuteron-pipeline-{s}"),
        Target::Component(n) => format!("deuteron-component-{n}"),
    }
}

fn group_by_stream(lines: Vec<(String, String)>) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for (stream, line) in lines {
        match out.last_mut() {
            Some((s, chunk)) if *s == stream => chunk.push(line),
            _ => out.push((stream, vec![line])),
        }
    }
    out
}
