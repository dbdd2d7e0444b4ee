//! Fleet rollouts driven end to end: the service layer's driver, real workers and the command
//! provisioner running real child processes, on SQLite (and PostgreSQL for the failure story).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deuteron_bundle::{BundleFiles, Limits};
use deuteron_core::rollout::{RolloutPolicy, SpecTransform, Tolerance, Waves};
use deuteron_core::{DeploymentStatus as D, Provisioning, RolloutStatus, TemplateKind, VersionNumber};
use deuteron_engine::{Engine, EngineConfig, Provisioners};
use deuteron_render::Renderer;
use deuteron_service::registry::{CreateTemplate, RegisterOptions};
use deuteron_service::resources::{CreateEnvironment, CreateService};
use deuteron_service::rollouts::{RolloutRequest, Selection};
use deuteron_service::{Config, Deuteron};
use deuteron_store::{DeploymentFilter, DeploymentRecord, Store, Target};

const MANIFEST: &str = "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n      settings:\n        provision:\n          - bash provision.sh\n        deprovision:\n          - \"true\"\n";

const ENV_SCHEMA: &str = "schema:\n  format:\n    openapi: \"3.0.0\"\n  environment_input_type: \"EnvInput\"\n  types:\n    EnvInput:\n      type: object\n      properties:\n        tier:\n          type: string\n          default: standard\n";

fn svc_schema(port_max: u32) -> String {
    format!(
        "schema:\n  format:\n    openapi: \"3.0.0\"\n  service_input_type: \"SvcInput\"\n  types:\n    SvcInput:\n      type: object\n      properties:\n        port:\n          type: number\n          default: 80\n          maximum: {port_max}\n"
    )
}

/// A service bundle whose provision script fails for instances named `bad-*` when `failing`.
fn svc_bundle(schema: String, failing: bool) -> Vec<(String, Vec<u8>)> {
    let script = if failing {
        "case \"$RESOURCE_ARN\" in */bad-*) echo \"this version refuses $RESOURCE_ARN\" >&2; exit 3;; esac\necho ok\n"
    } else {
        "echo ok\n"
    };
    vec![
        ("schema/schema.yaml".into(), schema.into_bytes()),
        ("instance_infrastructure/manifest.yaml".into(), MANIFEST.into()),
        ("instance_infrastructure/provision.sh".into(), script.into()),
        (".compatible-envs".into(), b"net:1\n".to_vec()),
    ]
}

struct World {
    svc: Deuteron,
    store: Arc<dyn Store>,
    dir: tempfile::TempDir,
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl World {
    async fn new(store: Arc<dyn Store>) -> World {
        let svc = Deuteron::new(store.clone(), Config::default());
        let (stop, _) = tokio::sync::watch::channel(false);
        let w = World { svc, store, dir: tempfile::tempdir().unwrap(), stop, tasks: Vec::new() };
        w.register(
            TemplateKind::Environment,
            "net",
            vec![
                ("schema/schema.yaml".into(), ENV_SCHEMA.into()),
                ("infrastructure/manifest.yaml".into(), MANIFEST.into()),
                ("infrastructure/provision.sh".into(), b"echo env ok\n".to_vec()),
            ],
            None,
        )
        .await;
        w.register(TemplateKind::Service, "web", svc_bundle(svc_schema(65535), false), None).await;
        w
    }

    async fn create_template(&self, kind: TemplateKind, name: &str, provisioning: Provisioning) {
        let t = CreateTemplate { kind, name: name.into(), display_name: None, description: None, provisioning, encryption_key: None };
        self.svc.create_template(t).await.unwrap();
    }

    async fn register(&self, kind: TemplateKind, name: &str, files: Vec<(String, Vec<u8>)>, major: Option<u32>) -> VersionNumber {
        if self.svc.get_template(kind, name).await.is_err() {
            // The service template has no pipeline.
            let provisioning = if kind == TemplateKind::Service { Provisioning::CustomerManaged } else { Provisioning::Standard };
            self.create_template(kind, name, provisioning).await;
        }
        let files = BundleFiles::from_files(files, &Limits::default()).unwrap();
        // Rollout tests move resources to versions whose files may be the same.
        let opts = RegisterOptions { major, allow_same_content: true, ..Default::default() };
        let v = self.svc.register_version(kind, name, files, opts).await.unwrap();
        self.svc.publish_version(kind, name, v.version).await.unwrap();
        v.version
    }

    /// Starts `workers` deployment workers and a rollout driver, as `deuteron server` does.
    fn start(&mut self, workers: usize) {
        let (stop, rx) = tokio::sync::watch::channel(false);
        self.stop = stop;
        let mut cfg = EngineConfig::new(self.dir.path().to_path_buf());
        cfg.deployment_timeout = Duration::from_secs(120);
        cfg.poll = Duration::from_millis(100);
        cfg.wake = Some(self.svc.signals().enqueued.clone());
        cfg.finished = Some(self.svc.signals().rollouts.clone());
        cfg.handoff = Some(self.svc.signals().handoff.clone());
        let engine = Engine::new(self.store.clone(), Arc::new(Renderer::default()), Provisioners::standard("terraform"), cfg);
        let rx2 = rx.clone();
        self.tasks.push(tokio::spawn(async move { engine.run(workers, rx2).await }));
        let svc = self.svc.clone();
        self.tasks.push(tokio::spawn(async move { svc.run_rollout_driver("driver-1".into(), Duration::from_millis(100), rx).await }));
    }

    async fn stop(&mut self) {
        let _ = self.stop.send(true);
        for t in self.tasks.drain(..) {
            t.await.unwrap();
        }
    }

    /// Environments dev, staging and prod; `services` services with instances in each
    /// environment (two in prod), instance names given by `name(service, env, n)`.
    async fn fleet(&self, services: usize, name: impl Fn(usize, &str, usize) -> String) -> usize {
        for env in ["dev", "staging", "prod"] {
            self.svc
                .create_environment(CreateEnvironment {
                    name: env.into(),
                    template_name: "net".into(),
                    major: 1,
                    spec: "proton: EnvironmentSpec\nspec: {}\n".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        wait_until("environments deployed", || async {
            self.svc.list_environments().await.unwrap().iter().all(|e| e.deployment.status == D::Succeeded)
        })
        .await;
        let mut count = 0;
        for s in 0..services {
            let mut spec = String::from("proton: ServiceSpec\ninstances:\n");
            for (env, n) in [("dev", 1), ("staging", 1), ("prod", 2)] {
                for i in 0..n {
                    spec += &format!("  - name: {}\n    environment: {env}\n    spec:\n      port: {}\n", name(s, env, i), 8000 + s);
                    count += 1;
                }
            }
            self.svc
                .create_service(CreateService {
                    name: format!("svc{s:03}"),
                    template_name: "web".into(),
                    major: 1,
                    spec,
                    ..Default::default()
                })
                .await
                .unwrap();
        }
        wait_until("instances deployed", || async {
            let list = self.svc.list_instances(None, None).await.unwrap();
            list.len() == count && list.iter().all(|i| i.deployment.status == D::Succeeded)
        })
        .await;
        count
    }

    async fn wait_final(&self, id: &str) -> RolloutStatus {
        let start = Instant::now();
        loop {
            let r = self.svc.get_rollout(id).await.unwrap().rollout;
            if r.status.is_final() {
                return r.status;
            }
            assert!(start.elapsed() < Duration::from_secs(300), "rollout {id} still {} after 300 s: {:?}", r.status, r.status_message);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn deployments_of(&self, service: &str, instance: &str) -> Vec<DeploymentRecord> {
        let target = Target::ServiceInstance { service: service.into(), instance: instance.into() };
        let mut list = self.store.list_deployments(&DeploymentFilter { target: Some(target), ..Default::default() }).await.unwrap();
        list.reverse();
        list
    }
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < Duration::from_secs(300), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn request(major: Option<u32>, policy: RolloutPolicy) -> RolloutRequest {
    RolloutRequest {
        kind: TemplateKind::Service,
        template: "web".into(),
        major,
        minor: None,
        selection: Selection::default(),
        policy,
        transform: None,
        created_by: Some("test".into()),
    }
}

fn env_waves() -> Waves {
    Waves::parse("dev;staging;prod").unwrap()
}

fn sqlite(dir: &std::path::Path) -> impl std::future::Future<Output = Arc<dyn Store>> {
    let path = dir.join("rollout.db");
    async move { Arc::new(deuteron_store::SqliteStore::open(&path).await.unwrap()) as Arc<dyn Store> }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_instances_in_three_waves_with_ten_at_a_time() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = World::new(sqlite(tmp.path()).await).await;
    w.start(16);
    let count = w.fleet(50, |s, env, i| format!("{env}-{s}-{i}")).await;
    assert_eq!(count, 200);
    w.register(TemplateKind::Service, "web", svc_bundle(svc_schema(65535), false), Some(1)).await;
    let fleet = w.svc.template_fleet(Some(TemplateKind::Service), Some("web")).await.unwrap();
    assert_eq!(fleet[0].behind_minor, 200);

    let policy = RolloutPolicy { waves: env_waves(), max_concurrency: 10, ..Default::default() };
    let plan = w.svc.plan_rollout(&request(None, policy.clone())).await.unwrap();
    assert_eq!(plan.target, VersionNumber::new(1, 1));
    assert_eq!(plan.moving(), 200);
    let per_wave = |n: u32| plan.items.iter().filter(|i| i.wave == Some(n)).count();
    assert_eq!((per_wave(1), per_wave(2), per_wave(3)), (50, 50, 100));
    assert!(plan.items.iter().all(|i| (i.wave == Some(1)) == (i.environment.as_deref() == Some("dev"))));

    let (rollout, _) = w.svc.start_rollout(request(None, policy)).await.unwrap();
    assert_eq!(w.wait_final(&rollout.id).await, RolloutStatus::Succeeded);
    w.stop().await;
    assert_counts_match_items(&w, &rollout.id).await;

    // Every instance moved once, by a deployment of its own wave.
    let items = w.svc.rollout_items(&rollout.id).await.unwrap();
    assert_eq!(items.len(), 200);
    let mut spans: HashMap<u32, Vec<(i64, i64)>> = HashMap::new();
    for item in &items {
        let d = item.deployment.as_ref().unwrap_or_else(|| panic!("item {} never started", item.seq));
        assert_eq!(d.status, D::Succeeded);
        spans.entry(item.wave.unwrap()).or_default().push((d.started_at.unwrap(), d.completed_at.unwrap()));
        let Target::ServiceInstance { service, instance } = &item.target else { panic!("not an instance") };
        let inst = w.svc.get_instance(service, instance).await.unwrap();
        assert_eq!(inst.version, VersionNumber::new(1, 1));
        assert_eq!(w.deployments_of(service, instance).await.len(), 2, "{service}/{instance}: one create, one update");
    }
    // Waves in order: each wave's first start comes after the previous wave's last completion.
    for wave in 1..3u32 {
        let prev_end = spans[&(wave - 1)].iter().map(|s| s.1).max().unwrap();
        let start = spans[&wave].iter().map(|s| s.0).min().unwrap();
        assert!(start >= prev_end, "wave {} started at {start}, before wave {} ended at {prev_end}", wave + 1, wave);
    }
    // Never more than ten at once, from the deployment records' timestamps.
    let mut edges: Vec<(i64, i32)> = spans.values().flatten().flat_map(|(s, e)| [(*s, 1), (*e, -1)]).collect();
    edges.sort_by_key(|(t, d)| (*t, *d));
    let (mut running, mut peak) = (0, 0);
    for (_, d) in edges {
        running += d;
        peak = peak.max(running);
    }
    assert!(peak <= 10, "{peak} deployments ran at once");
    // With idle workers on offer, the driver hands items over claimed: they start as they are
    // inserted, not after a worker claims them from the queue.
    let mut handed = 0;
    for item in &items {
        let d = w.store.get_deployment(&item.deployment.as_ref().unwrap().id).await.unwrap();
        handed += usize::from(d.started_at == Some(d.created_at));
    }
    assert!(handed >= 100, "only {handed} of 200 deployments were handed to idle workers");
    assert!(peak >= 2, "the rollout never ran deployments in parallel (peak {peak})");
    let fleet = w.svc.template_fleet(Some(TemplateKind::Service), Some("web")).await.unwrap();
    assert_eq!((fleet[0].behind_minor, fleet[0].behind_major, fleet[0].up_to_date), (0, 0, 200));
    let events = w
        .svc
        .list_events(&deuteron_store::EventFilter { resource_type: Some("ROLLOUT".into()), limit: 100, ..Default::default() })
        .await
        .unwrap();
    let statuses: Vec<&str> = events.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(statuses.first(), Some(&"RUNNING"));
    assert_eq!(statuses.last(), Some(&"SUCCEEDED"));
}

/// The counts the store keeps per wave equal the ones derived from every item and its
/// deployments.
async fn assert_counts_match_items(w: &World, id: &str) {
    use deuteron_core::rollout::{ItemFacts, WaveCounts};
    let mut derived: std::collections::BTreeMap<u32, WaveCounts> = Default::default();
    for item in w.svc.rollout_items(id).await.unwrap() {
        let Some(wave) = item.wave else { continue };
        let facts = ItemFacts {
            skipped: item.skip_reason.is_some(),
            forward: item.deployment.as_ref().map(|d| d.status),
            rollback: item.rollback.as_ref().map(|d| d.status),
            rollback_error: item.rollback_error.is_some(),
        };
        let c = derived.entry(wave).or_insert_with(|| WaveCounts { wave, ..Default::default() });
        facts.bucket().expect("every item counts").add_to(c, 1);
    }
    let kept = w.svc.get_rollout(id).await.unwrap().waves;
    assert_eq!(kept, derived.into_values().collect::<Vec<_>>(), "kept counts vs counts derived from the items");
}

async fn failing_wave_rolls_back(store: Arc<dyn Store>) {
    let mut w = World::new(store).await;
    w.start(8);
    // Two staging instances are named bad-*; version 1.1 refuses them.
    let count = w.fleet(10, |s, env, i| if env == "staging" && s < 2 { format!("bad-{s}") } else { format!("{env}-{s}-{i}") }).await;
    assert_eq!(count, 40);
    w.register(TemplateKind::Service, "web", svc_bundle(svc_schema(65535), true), Some(1)).await;
    let policy = RolloutPolicy {
        waves: env_waves(),
        max_concurrency: 4,
        wave_failure_tolerance: Tolerance::Count(1),
        rollback_on_failure: true,
        ..Default::default()
    };
    let (rollout, _) = w.svc.start_rollout(request(None, policy)).await.unwrap();
    assert_eq!(w.wait_final(&rollout.id).await, RolloutStatus::RolledBack);
    w.stop().await;
    let r = w.svc.get_rollout(&rollout.id).await.unwrap();
    assert_eq!(r.rollout.current_wave, 1, "stopped in the staging wave");
    let total = |f: fn(&deuteron_core::rollout::WaveCounts) -> u64| r.waves.iter().map(f).sum::<u64>();
    assert_eq!(total(|c| c.failed + c.succeeded), 0, "every item that moved, updated or failed, is back");
    assert!(total(|c| c.rolled_back) >= 12, "at least the dev wave and the two failed instances: {:?}", r.waves);
    assert_eq!(r.waves.iter().find(|c| c.wave == 2).unwrap().pending, 20, "prod was not touched");
    assert_counts_match_items(&w, &rollout.id).await;
    // What `rollout status --items` shows: a failed item carries its deployment's message, a
    // rolled-back one its rollback deployment beside the forward one.
    for item in w.svc.rollout_items(&rollout.id).await.unwrap() {
        let j = deuteron_service::rollouts::item_json(&item);
        match item.deployment.as_ref().map(|d| d.status) {
            Some(D::Failed) => {
                let message = w.store.get_deployment(&item.deployment.as_ref().unwrap().id).await.unwrap().status_message.unwrap();
                assert!(!message.is_empty());
                assert_eq!(j["reason"].as_str(), Some(message.as_str()), "{j}");
                assert_eq!(j["deployment"]["statusMessage"].as_str(), Some(message.as_str()), "{j}");
                // Deployed again on 1.0 by the rollback.
                assert_eq!(j["state"], "ROLLBACK_SUCCEEDED", "{j}");
                assert!(j["rollbackDeployment"]["id"].is_string(), "{j}");
            }
            Some(D::Succeeded) => {
                assert_eq!(j["state"], "ROLLBACK_SUCCEEDED", "{j}");
                assert!(j["rollbackDeployment"]["id"].is_string() && j["deployment"]["id"] != j["rollbackDeployment"]["id"], "{j}");
                assert!(j["reason"].is_null(), "{j}");
            }
            _ => assert!(item.deployment.is_none(), "{j}"),
        }
    }

    for inst in w.svc.list_instances(None, None).await.unwrap() {
        assert_eq!(inst.version, VersionNumber::new(1, 0), "{}/{} is back on 1.0", inst.service_name, inst.name);
        let deps = w.deployments_of(&inst.service_name, &inst.name).await;
        let versions: Vec<String> = deps
            .iter()
            .map(|d| format!("{}.{}:{}", d.target_state.template_major_version, d.target_state.template_minor_version, d.status))
            .collect();
        match inst.environment_name.as_str() {
            "prod" => assert_eq!(versions, ["1.0:SUCCEEDED"], "prod {} untouched", inst.name),
            _ if inst.name.starts_with("bad-") => {
                assert_eq!(versions, ["1.0:SUCCEEDED", "1.1:FAILED", "1.0:SUCCEEDED"], "{} deployed again on 1.0", inst.name);
                assert_eq!(inst.deployment.status, D::Succeeded, "the failed instance is not left FAILED");
            }
            "dev" => assert_eq!(versions, ["1.0:SUCCEEDED", "1.1:SUCCEEDED", "1.0:SUCCEEDED"], "dev {} rolled back", inst.name),
            _ => assert!(
                versions == ["1.0:SUCCEEDED", "1.1:SUCCEEDED", "1.0:SUCCEEDED"] || versions == ["1.0:SUCCEEDED"],
                "staging {}: {versions:?}",
                inst.name
            ),
        }
        // The rollback restored the spec as it was.
        assert_eq!(serde_json::from_str::<serde_json::Value>(&inst.spec).unwrap()["spec"]["port"].as_u64().unwrap() / 100, 80);
    }

    // 1.1 is blocked: not recommended, not offered, not a rollout's target until unblocked.
    let v11 = w.svc.get_version(TemplateKind::Service, "web", VersionNumber::new(1, 1)).await.unwrap();
    let why = v11.blocked.clone().expect("the rolled-back version is blocked");
    assert!(why.starts_with(&format!("rollout {} to it was rolled back: ", rollout.id)) && why.contains("failed in wave 2"), "{why}");
    assert_eq!(w.svc.get_template(TemplateKind::Service, "web").await.unwrap().recommended, Some(VersionNumber::new(1, 0)));
    let fleet = w.svc.template_fleet(Some(TemplateKind::Service), Some("web")).await.unwrap();
    assert_eq!(fleet[0].behind_minor, 0, "nothing offers 1.1");
    let mut again = request(Some(1), RolloutPolicy::default());
    again.minor = Some(1);
    let e = w.svc.plan_rollout(&again).await.unwrap_err().to_string();
    assert!(e.contains("version 1.1 is blocked (rollout") && e.contains("template version unblock service web 1.1"), "{e}");
    let update = deuteron_service::resources::UpdateResource {
        update_type: deuteron_core::UpdateType::MinorVersion,
        spec: None,
        major: None,
        minor: Some(1),
    };
    let e = w.svc.update_instance("svc000", "dev-0-0", update).await.unwrap_err().to_string();
    assert!(e.contains("service instance svc000/dev-0-0: service template web version 1.1 is blocked"), "{e}");
    let default_minor = deuteron_service::resources::UpdateResource {
        update_type: deuteron_core::UpdateType::MinorVersion,
        spec: None,
        major: None,
        minor: None,
    };
    // The default minor is 1.0 again, not the blocked 1.1.
    let redeploy = w.svc.update_instance("svc000", "dev-0-0", default_minor).await.unwrap().expect("a deployment");
    assert_eq!(redeploy.target_state.version(), Some(VersionNumber::new(1, 0)));
    w.svc.unblock_version(TemplateKind::Service, "web", VersionNumber::new(1, 1)).await.unwrap();
    assert_eq!(w.svc.get_template(TemplateKind::Service, "web").await.unwrap().recommended, Some(VersionNumber::new(1, 1)));
}

deuteron_store::on_both_stores!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    failing_wave_stops_and_rolls_back_on_sqlite,
    failing_wave_stops_and_rolls_back_on_postgres,
    |store, _dir| failing_wave_rolls_back(store).await
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn major_rollout_skips_specs_the_new_schema_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = World::new(sqlite(tmp.path()).await).await;
    w.start(6);
    // Ports are 8000 + service number: services 0-4 have 8000-8004, 5-9 have 8005-8009.
    w.fleet(10, |s, env, i| format!("{env}-{s}-{i}")).await;
    // Major 2 allows ports up to 8004 only.
    w.register(TemplateKind::Service, "web", svc_bundle(svc_schema(8004), false), None).await;
    let fleet = w.svc.template_fleet(Some(TemplateKind::Service), Some("web")).await.unwrap();
    assert_eq!(fleet[0].behind_major, 40);

    let policy = RolloutPolicy { waves: Waves::Count(2), max_concurrency: 5, ..Default::default() };
    let plan = w.svc.plan_rollout(&request(Some(2), policy.clone())).await.unwrap();
    assert_eq!(plan.target, VersionNumber::new(2, 0));
    assert_eq!(plan.moving(), 20);
    let skipped: Vec<_> = plan.items.iter().filter(|i| i.skipped.is_some()).collect();
    assert_eq!(skipped.len(), 20);
    for s in &skipped {
        let why = s.skipped.as_deref().unwrap();
        assert!(why.starts_with("spec does not fit the schema of 2.0: $.spec.port"), "{}: {why}", s.resource);
        assert!(why.contains("maximum"), "{why}");
    }

    let (rollout, _) = w.svc.start_rollout(request(Some(2), policy)).await.unwrap();
    assert_eq!(w.wait_final(&rollout.id).await, RolloutStatus::Succeeded);
    w.stop().await;
    assert_counts_match_items(&w, &rollout.id).await;
    for inst in w.svc.list_instances(None, None).await.unwrap() {
        let port = serde_json::from_str::<serde_json::Value>(&inst.spec).unwrap()["spec"]["port"].as_u64().unwrap();
        let want = if port <= 8004 { VersionNumber::new(2, 0) } else { VersionNumber::new(1, 0) };
        assert_eq!(inst.version, want, "{}/{} (port {port})", inst.service_name, inst.name);
    }

    // With a spec transform setting the port, the rest can move too.
    let mut req = request(Some(2), RolloutPolicy::default());
    req.transform = Some(serde_json::from_str::<SpecTransform>(r#"{"set": {"port": 8000}}"#).unwrap());
    let plan = w.svc.plan_rollout(&req).await.unwrap();
    assert_eq!(plan.moving(), 20, "{:?}", plan.items.iter().filter(|i| i.skipped.is_some()).take(3).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_pause_resume_and_cancel() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = World::new(sqlite(tmp.path()).await).await;
    w.start(4);
    w.fleet(3, |s, env, i| format!("{env}-{s}-{i}")).await;
    w.register(TemplateKind::Service, "web", svc_bundle(svc_schema(65535), false), Some(1)).await;
    let policy = RolloutPolicy { waves: env_waves(), approval_before: vec![2, 3], ..Default::default() };
    let (rollout, _) = w.svc.start_rollout(request(None, policy)).await.unwrap();
    let id = rollout.id.clone();
    let status = |w: &World| {
        let svc = w.svc.clone();
        let id = id.clone();
        async move { svc.get_rollout(&id).await.unwrap().rollout }
    };
    wait_until("wave 2 waits for approval", || async { status(&w).await.status == RolloutStatus::WaitingForApproval }).await;
    let r = status(&w).await;
    assert_eq!(r.current_wave, 1);
    let staging_started = w.svc.rollout_items(&id).await.unwrap().iter().filter(|i| i.wave == Some(1) && i.deployment.is_some()).count();
    assert_eq!(staging_started, 0, "nothing in staging starts before approval");
    // Resume is refused while waiting for approval; approve lets wave 2 run.
    let err = w.svc.resume_rollout(&id).await.unwrap_err().to_string();
    assert!(err.contains("is WAITING_FOR_APPROVAL; only a rollout that is PAUSED can be resumed"), "{err}");
    w.svc.approve_rollout(&id).await.unwrap();
    wait_until("wave 3 waits for approval", || async {
        let r = status(&w).await;
        r.status == RolloutStatus::WaitingForApproval && r.current_wave == 2
    })
    .await;
    w.svc.pause_rollout(&id).await.unwrap();
    assert!(w.svc.approve_rollout(&id).await.is_err(), "a paused rollout is resumed, not approved");
    w.svc.resume_rollout(&id).await.unwrap();
    let r = w.svc.cancel_rollout(&id).await.unwrap();
    assert_eq!(r.status, RolloutStatus::Cancelled);
    assert!(w.svc.resume_rollout(&id).await.is_err());
    tokio::time::sleep(Duration::from_millis(500)).await;
    w.stop().await;
    let items = w.svc.rollout_items(&id).await.unwrap();
    assert!(items.iter().filter(|i| i.wave == Some(2)).all(|i| i.deployment.is_none()), "prod never started");
    assert!(items.iter().filter(|i| i.wave != Some(2)).all(|i| i.deployment.as_ref().is_some_and(|d| d.status == D::Succeeded)));
    assert_counts_match_items(&w, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_and_store_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = World::new(sqlite(tmp.path()).await).await;
    w.start(4);
    w.fleet(1, |s, env, i| format!("{env}-{s}-{i}")).await;
    w.stop().await;
    let err = |r: deuteron_service::Result<_>| match r {
        Ok(_) => panic!("accepted"),
        Err(e) => e.full_text(),
    };
    // Nothing newer than what runs.
    assert!(
        err(w.svc.start_rollout(request(None, RolloutPolicy::default())).await.map(|_| ()))
            .starts_with("nothing to roll out: none of the 4")
    );
    let bad_policy = RolloutPolicy { waves: Waves::Percentages(vec![50, 20]), ..Default::default() };
    assert_eq!(
        err(w.svc.plan_rollout(&request(None, bad_policy)).await.map(|_| ())),
        "policy: waves: the percentages add up to 70, not 100"
    );
    let mut req = request(None, RolloutPolicy::default());
    req.selection.resources = vec!["svc000/nope".into()];
    assert_eq!(
        err(w.svc.plan_rollout(&req).await.map(|_| ())),
        "selection.resources: svc000/nope is not a resource of service template web"
    );
    let mut req = request(Some(1), RolloutPolicy::default());
    req.minor = Some(7);
    assert_eq!(err(w.svc.plan_rollout(&req).await.map(|_| ())), "version 1.7 not found");
    let mut req = request(None, RolloutPolicy::default());
    req.selection.versions = vec!["x.y".into()];
    assert!(err(w.svc.plan_rollout(&req).await.map(|_| ())).contains("selection.versions: \"x.y\""));
    assert!(w.svc.list_rollouts(10).await.unwrap().is_empty());
    assert!(matches!(w.svc.pause_rollout("nope").await, Err(deuteron_service::ServiceError::NotFound(_))));
}

/// A service template with a pipeline: rollouts move pipelines too, after the environments they
/// deliver to (the last environment wave), keeping their inputs, and only once every instance of
/// their service has finished (a pipeline reads their outputs); a selection can name one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_move_in_the_last_wave() {
    let tmp = tempfile::tempdir().unwrap();
    let mut w = World::new(sqlite(tmp.path()).await).await;
    w.start(4);
    w.fleet(0, |_, _, _| String::new()).await;
    let schema = "schema:\n  format:\n    openapi: \"3.0.0\"\n  service_input_type: \"SvcInput\"\n  pipeline_input_type: \"PipeInput\"\n  types:\n    SvcInput:\n      type: object\n      properties:\n        port:\n          type: number\n          default: 80\n    PipeInput:\n      type: object\n      properties:\n        branch:\n          type: string\n          default: main\n";
    let mut bundle = svc_bundle(schema.into(), false);
    // Instances take a moment: a pipeline started beside them would not see their outputs.
    bundle.retain(|(path, _)| path != "instance_infrastructure/provision.sh");
    bundle.push(("instance_infrastructure/provision.sh".into(), b"sleep 0.5\necho ok\n".to_vec()));
    bundle.push(("pipeline_infrastructure/manifest.yaml".into(), MANIFEST.into()));
    bundle.push(("pipeline_infrastructure/provision.sh".into(), b"echo pipeline ok\n".to_vec()));
    w.create_template(TemplateKind::Service, "app", Provisioning::Standard).await;
    w.register(TemplateKind::Service, "app", bundle.clone(), None).await;
    for s in ["a0", "a1"] {
        let spec = "proton: ServiceSpec\npipeline:\n  branch: release\ninstances:\n  - name: d\n    environment: dev\n  - name: p\n    environment: prod\n";
        w.svc
            .create_service(CreateService {
                name: s.into(),
                template_name: "app".into(),
                major: 1,
                spec: spec.into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    wait_until("services active", || async {
        w.svc.list_services().await.unwrap().iter().all(|s| s.status == deuteron_core::ServiceStatus::Active)
    })
    .await;
    w.register(TemplateKind::Service, "app", bundle, Some(1)).await;

    let mut req = request(None, RolloutPolicy { waves: env_waves(), max_concurrency: 4, ..Default::default() });
    req.template = "app".into();
    let plan = w.svc.plan_rollout(&req).await.unwrap();
    let rows: Vec<(&str, &str, Option<&str>, Option<u32>)> =
        plan.items.iter().map(|i| (i.resource_type, i.resource.as_str(), i.environment.as_deref(), i.wave)).collect();
    assert_eq!(
        rows,
        [
            ("SERVICE_INSTANCE", "a0/d", Some("dev"), Some(1)),
            ("SERVICE_INSTANCE", "a1/d", Some("dev"), Some(1)),
            ("SERVICE_INSTANCE", "a0/p", Some("prod"), Some(3)),
            ("SERVICE_INSTANCE", "a1/p", Some("prod"), Some(3)),
            ("SERVICE_PIPELINE", "a0", None, Some(3)),
            ("SERVICE_PIPELINE", "a1", None, Some(3)),
        ]
    );
    // A selection by name picks one pipeline; one by environment leaves pipelines out.
    let mut one = req.clone();
    one.selection.resources = vec!["a1".into()];
    one.policy.waves = Waves::Count(1);
    let plan = w.svc.plan_rollout(&one).await.unwrap();
    assert_eq!(plan.items.iter().map(|i| i.resource.as_str()).collect::<Vec<_>>(), ["a1"]);
    let mut dev = one.clone();
    dev.selection = Selection { environments: vec!["dev".into()], ..Default::default() };
    let plan = w.svc.plan_rollout(&dev).await.unwrap();
    assert!(plan.items.iter().all(|i| i.resource_type == "SERVICE_INSTANCE"), "{:?}", plan.items);

    let (rollout, _) = w.svc.start_rollout(req).await.unwrap();
    assert_eq!(w.wait_final(&rollout.id).await, RolloutStatus::Succeeded);
    w.stop().await;
    assert_counts_match_items(&w, &rollout.id).await;
    for s in ["a0", "a1"] {
        let p = w.svc.get_pipeline(s).await.unwrap();
        assert_eq!((p.version, p.deployment.status), (VersionNumber::new(1, 1), D::Succeeded), "pipeline of {s}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&p.spec).unwrap(), serde_json::json!({"branch": "release"}));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&p.inputs).unwrap()["branch"], "release", "the inputs are kept");
    }
    // Pipelines started only after the dev wave had ended.
    let items = w.svc.rollout_items(&rollout.id).await.unwrap();
    let dev_end = items.iter().filter(|i| i.wave == Some(0)).map(|i| i.deployment.as_ref().unwrap().completed_at.unwrap()).max().unwrap();
    for i in items.iter().filter(|i| matches!(i.target, Target::ServicePipeline(_))) {
        let started = i.deployment.as_ref().unwrap().started_at.unwrap();
        assert!(started >= dev_end, "{:?}", i.target);
        assert_eq!(i.environment_name, "");
        // In the last wave too, after its own service's instances (the other service's may run).
        let Target::ServicePipeline(service) = &i.target else { unreachable!() };
        for inst in items.iter().filter(|o| matches!(&o.target, Target::ServiceInstance { service: s, .. } if s == service)) {
            let done = inst.deployment.as_ref().unwrap().completed_at.unwrap();
            assert!(started >= done, "pipeline {service} started at {started}, before {:?} finished at {done}", inst.target);
        }
    }
    let fleet = w.svc.template_fleet(Some(TemplateKind::Service), Some("app")).await.unwrap();
    assert_eq!((fleet[0].behind_minor, fleet[0].up_to_date), (0, 6));
}
