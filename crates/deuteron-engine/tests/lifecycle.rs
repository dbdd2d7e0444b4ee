//! The whole resource lifecycle through the service layer and real workers, with the command
//! provisioner running real child processes, on SQLite and PostgreSQL.

use std::sync::Arc;
use std::time::Duration;

use deuteron_bundle::{BundleFiles, Limits};
use deuteron_core::{DeploymentStatus as D, ServiceStatus, TemplateKind, UpdateType, VersionNumber};
use deuteron_engine::{Engine, EngineConfig, Provisioners};
use deuteron_render::Renderer;
use deuteron_service::registry::{CreateTemplate, RegisterOptions};
use deuteron_service::resources::{CreateEnvironment, CreateService, UpdateResource};
use deuteron_service::{Config, Deuteron, ServiceError};
use deuteron_store::{DeploymentFilter, Store, Target};

const ENV_SCHEMA: &str = "schema:\n  format:\n    openapi: \"3.0.0\"\n  environment_input_type: \"EnvInput\"\n  types:\n    EnvInput:\n      type: object\n      properties:\n        cidr:\n          type: string\n          default: 10.0.0.0/16\n";

fn manifest() -> &'static str {
    "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n      settings:\n        image: aws/codebuild/standard:7.0\n        runtimes:\n          python: 3.11\n        env:\n          variables:\n            STAGE: test\n        provision:\n          - bash provision.sh\n        deprovision:\n          - bash deprovision.sh\n"
}

const READ: &str = "py() { python3 -c \"import json,sys; d=json.load(open('proton-inputs.json')); print($1)\"; }\n";

fn env_bundle() -> Vec<(String, Vec<u8>)> {
    vec![
        ("schema/schema.yaml".into(), ENV_SCHEMA.into()),
        ("infrastructure/manifest.yaml".into(), manifest().into()),
        (
            "infrastructure/provision.sh".into(),
            format!("{READ}NAME=$(py 'd[\"environment\"][\"name\"]')\nCIDR=$(py 'd[\"environment\"][\"inputs\"][\"cidr\"]')\necho \"provisioning $NAME ($CIDR) for $RESOURCE_ARN\"\necho \"{{\\\"VpcId\\\": \\\"vpc-$NAME\\\", \\\"Cidr\\\": \\\"$CIDR\\\"}}\" > proton-outputs.json\n").into_bytes(),
        ),
        ("infrastructure/deprovision.sh".into(), b"echo deprovisioning environment\n".to_vec()),
    ]
}

fn svc_schema(extra: &str, required: &str) -> String {
    format!(
        "schema:\n  format:\n    openapi: \"3.0.0\"\n  service_input_type: \"SvcInput\"\n  pipeline_input_type: \"PipeInput\"\n  types:\n    SvcInput:\n      type: object\n{required}      properties:\n        port:\n          type: number\n          default: 80\n        message:\n          type: string\n          default: hello\n{extra}    PipeInput:\n      type: object\n      properties:\n        branch:\n          type: string\n          default: main\n"
    )
}

fn svc_bundle(schema: String, marker: &str) -> Vec<(String, Vec<u8>)> {
    vec![
        ("schema/schema.yaml".into(), schema.into_bytes()),
        ("instance_infrastructure/manifest.yaml".into(), manifest().into()),
        (
            "instance_infrastructure/provision.sh".into(),
            format!(
                "{READ}if [ \"$(py 'd[\"service_instance\"][\"inputs\"].get(\"fail\", \"no\")')\" = yes ]; then echo 'refusing: fail was set' >&2; exit 7; fi\nsleep \"$(py 'd[\"service_instance\"][\"inputs\"].get(\"sleep\", 0)')\"\nVPC=$(py 'd[\"environment\"][\"outputs\"][\"VpcId\"]')\nNAME=$(py 'd[\"service_instance\"][\"name\"]')\nPORT=$(py 'd[\"service_instance\"][\"inputs\"][\"port\"]')\nMSG=$(py 'd[\"service_instance\"][\"inputs\"][\"message\"]')\necho \"message is: $MSG\"\npython3 - \"$VPC\" \"$NAME\" \"$PORT\" \"$MSG\" <<'PY'\nimport json, sys\nvpc, name, port, msg = sys.argv[1:]\njson.dump([{{\"key\": \"Endpoint\", \"valueString\": f\"http://{{name}}.{{vpc}}:{{port}}\"}}, {{\"key\": \"Message\", \"valueString\": msg}}, {{\"key\": \"Marker\", \"valueString\": \"{marker}\"}}], open(\"proton-outputs.json\", \"w\"))\nPY\n"
            )
            .into_bytes(),
        ),
        ("instance_infrastructure/deprovision.sh".into(), b"echo deprovisioning instance\n".to_vec()),
        ("pipeline_infrastructure/manifest.yaml".into(), manifest().into()),
        (
            "pipeline_infrastructure/provision.sh".into(),
            format!("{READ}EP=$(py '\",\".join(i[\"outputs\"][\"Endpoint\"] for i in d[\"service_instances\"])')\necho \"{{\\\"Endpoints\\\": \\\"$EP\\\"}}\" > proton-outputs.json\n").into_bytes(),
        ),
        ("pipeline_infrastructure/deprovision.sh".into(), b"echo deprovisioning pipeline\n".to_vec()),
        (".compatible-envs".into(), b"net:1\n".to_vec()),
    ]
}

struct World {
    svc: Deuteron,
    store: Arc<dyn Store>,
    dir: tempfile::TempDir,
}

impl World {
    fn engine(&self, worker: &str, timeout: Duration, lease: Duration) -> Engine {
        let mut cfg = EngineConfig::new(self.dir.path().to_path_buf());
        cfg.worker_id = worker.into();
        cfg.deployment_timeout = timeout;
        cfg.lease = lease;
        Engine::new(self.store.clone(), Arc::new(Renderer::default()), Provisioners::standard("terraform"), cfg)
    }

    async fn drain(&self) {
        let engine = self.engine("w1", Duration::from_secs(60), Duration::from_secs(30));
        while engine.run_next().await.unwrap().is_some() {}
    }
}

async fn register(svc: &Deuteron, kind: TemplateKind, name: &str, files: Vec<(String, Vec<u8>)>, major: Option<u32>) -> VersionNumber {
    if svc.get_template(kind, name).await.is_err() {
        svc.create_template(CreateTemplate {
            kind,
            name: name.into(),
            display_name: None,
            description: None,
            provisioning: Default::default(),
            encryption_key: None,
        })
        .await
        .unwrap();
    }
    let files = BundleFiles::from_files(files, &Limits::default()).unwrap();
    let v = svc.register_version(kind, name, files, RegisterOptions { major, ..Default::default() }).await.unwrap();
    svc.publish_version(kind, name, v.version).await.unwrap();
    v.version
}

async fn world(store: Arc<dyn Store>, dir: tempfile::TempDir) -> World {
    let svc = Deuteron::new(store.clone(), Config::default());
    register(&svc, TemplateKind::Environment, "net", env_bundle(), None).await;
    register(&svc, TemplateKind::Service, "web", svc_bundle(svc_schema("", ""), "v1.0"), None).await;
    World { svc, store, dir }
}

fn outputs(pairs: Vec<(String, String)>) -> std::collections::BTreeMap<String, String> {
    pairs.into_iter().collect()
}

const SERVICE_SPEC: &str = "proton: ServiceSpec\npipeline:\n  branch: release\ninstances:\n  - name: api-dev\n    environment: dev\n    spec:\n      port: 8080\n      message: \"$(touch pwned); `touch pwned2`; echo hi\"\n  - name: api-prod\n    environment: prod\n";

async fn lifecycle(w: World) {
    let svc = &w.svc;
    // Environments.
    for env in ["dev", "prod"] {
        let (rec, _) = svc
            .create_environment(CreateEnvironment {
                name: env.into(),
                template_name: "net".into(),
                major: 1,
                spec: format!("proton: EnvironmentSpec\nspec:\n  cidr: 10.{}.0.0/16\n", env.len()),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(rec.deployment.status, D::InProgress);
    }
    // A service cannot target an environment that has not deployed yet.
    let e = svc
        .create_service(CreateService {
            name: "api".into(),
            template_name: "web".into(),
            major: 1,
            spec: SERVICE_SPEC.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("environment dev has not been deployed successfully yet (IN_PROGRESS)"), "{e}");
    w.drain().await;
    let dev = svc.get_environment("dev").await.unwrap();
    assert_eq!(dev.deployment.status, D::Succeeded);
    assert_eq!(outputs(svc.outputs(&Target::Environment("dev".into())).await.unwrap())["VpcId"], "vpc-dev");
    let log = svc.deployment_log(dev.deployment.last_succeeded_deployment_id.as_deref().unwrap(), 0).await.unwrap();
    assert!(
        log.iter().any(|l| l.line == "provisioning dev (10.3.0.0/16) for arn:aws:proton:us-east-1:123456789012:environment/dev"),
        "{log:?}"
    );

    // Bad specs change nothing.
    let bad = SERVICE_SPEC.replace("port: 8080", "port: eighty");
    let e = svc
        .create_service(CreateService { name: "api".into(), template_name: "web".into(), major: 1, spec: bad, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(
        e.full_text(),
        "the service spec does not satisfy the template's schema\n  - $.instances[0].spec.port: must be of type number (rule: type, value: \"eighty\")"
    );
    assert!(svc.list_services().await.unwrap().is_empty());

    // A service with two instances and a pipeline: outputs flow env -> instance -> pipeline.
    let created = svc
        .create_service(CreateService {
            name: "api".into(),
            template_name: "web".into(),
            major: 1,
            spec: SERVICE_SPEC.into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(created.status, ServiceStatus::CreateInProgress);
    w.drain().await;
    assert_eq!(svc.get_service("api").await.unwrap().status, ServiceStatus::Active);
    let dev_out = outputs(svc.outputs(&Target::ServiceInstance { service: "api".into(), instance: "api-dev".into() }).await.unwrap());
    assert_eq!(dev_out["Endpoint"], "http://api-dev.vpc-dev:8080");
    assert_eq!(dev_out["Message"], "$(touch pwned); `touch pwned2`; echo hi", "spec values arrive as data");
    // Nothing the values would have created exists in any working directory (they are reused).
    let mut dirs = vec![w.dir.path().join("work")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            assert!(!e.file_name().to_string_lossy().starts_with("pwned"), "{} was created", e.path().display());
            if e.file_type().unwrap().is_dir() {
                dirs.push(e.path());
            }
        }
    }
    let pipe_out = outputs(svc.outputs(&Target::ServicePipeline("api".into())).await.unwrap());
    assert_eq!(pipe_out["Endpoints"], "http://api-dev.vpc-dev:8080,http://api-prod.vpc-prod:80");
    let pipeline = svc.get_pipeline("api").await.unwrap();
    assert_eq!((pipeline.deployment.status, pipeline.inputs.as_str()), (D::Succeeded, "{\"branch\":\"release\"}"));

    // Minor update: 1.1 adds an optional input; the instance moves to the recommended minor.
    let v11 = register(
        svc,
        TemplateKind::Service,
        "web",
        svc_bundle(svc_schema("        replicas:\n          type: number\n          default: 2\n", ""), "v1.1"),
        Some(1),
    )
    .await;
    assert_eq!(v11, VersionNumber::new(1, 1));
    let dep = svc
        .update_instance("api", "api-dev", UpdateResource { update_type: UpdateType::MinorVersion, spec: None, major: None, minor: None })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dep.initial_state.as_ref().unwrap().template_minor_version, "0");
    assert_eq!(dep.target_state.template_minor_version, "1");
    // A second update while one is queued is a conflict.
    let e = svc
        .update_instance("api", "api-dev", UpdateResource { update_type: UpdateType::CurrentVersion, spec: None, major: None, minor: None })
        .await
        .unwrap_err();
    assert!(matches!(&e, ServiceError::Conflict(m) if m.contains("has a deployment in progress")), "{e}");
    w.drain().await;
    let inst = svc.get_instance("api", "api-dev").await.unwrap();
    assert_eq!((inst.version, inst.deployment.status), (VersionNumber::new(1, 1), D::Succeeded));
    assert!(inst.inputs.contains("\"replicas\":2"), "{}", inst.inputs);
    assert_eq!(
        outputs(svc.outputs(&Target::ServiceInstance { service: "api".into(), instance: "api-dev".into() }).await.unwrap())["Marker"],
        "v1.1"
    );

    // Major update: 2.0 requires `tier`; without it the spec is refused, with it the move happens.
    register(
        svc,
        TemplateKind::Service,
        "web",
        svc_bundle(
            svc_schema("        tier:\n          type: string\n          enum: [gold, silver]\n", "      required: [tier]\n"),
            "v2.0",
        ),
        None,
    )
    .await;
    let e = svc
        .update_instance(
            "api",
            "api-prod",
            UpdateResource { update_type: UpdateType::MajorVersion, spec: None, major: Some(2), minor: None },
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.full_text(),
        "the spec of instance api-prod does not satisfy the template's schema\n  - $.spec.tier: required input \"tier\" is missing (rule: required, value: null)"
    );
    let spec = "proton: ServiceSpec\ninstances:\n  - name: api-prod\n    environment: prod\n    spec:\n      tier: gold\n";
    svc.update_instance(
        "api",
        "api-prod",
        UpdateResource { update_type: UpdateType::MajorVersion, spec: Some(spec.into()), major: Some(2), minor: None },
    )
    .await
    .unwrap()
    .unwrap();
    w.drain().await;
    let prod = svc.get_instance("api", "api-prod").await.unwrap();
    assert_eq!((prod.version, prod.deployment.status), (VersionNumber::new(2, 0), D::Succeeded));

    // A failing command: FAILED with the command's reason, the deployed version stays.
    let fail_schema = svc_schema(
        "        replicas:\n          type: number\n          default: 2\n        fail:\n          type: string\n          default: \"no\"\n        sleep:\n          type: number\n          default: 0\n",
        "",
    );
    register(svc, TemplateKind::Service, "web", svc_bundle(fail_schema, "v1.2"), Some(1)).await;
    svc.update_instance(
        "api",
        "api-dev",
        UpdateResource { update_type: UpdateType::MinorVersion, spec: Some("fail: \"yes\"\n".into()), major: None, minor: None },
    )
    .await
    .unwrap();
    w.drain().await;
    let inst = svc.get_instance("api", "api-dev").await.unwrap();
    assert_eq!(
        (inst.deployment.status, inst.deployment.status_message.as_deref(), inst.version),
        (D::Failed, Some("command exited with status 7: refusing: fail was set"), VersionNumber::new(1, 1))
    );

    // A command that hangs past the timeout fails as timed out.
    svc.update_instance(
        "api",
        "api-dev",
        UpdateResource { update_type: UpdateType::MinorVersion, spec: Some("sleep: 30\n".into()), major: None, minor: None },
    )
    .await
    .unwrap();
    let short = w.engine("w-short", Duration::from_millis(500), Duration::from_secs(30));
    let d = short.run_next().await.unwrap().unwrap();
    assert_eq!((d.status, d.status_message.as_deref()), (D::Failed, Some("timed out after 0s")));

    // Cancelling a running deployment stops it: CANCELLED.
    let dep = svc
        .update_instance(
            "api",
            "api-dev",
            UpdateResource { update_type: UpdateType::MinorVersion, spec: Some("sleep: 30\n".into()), major: None, minor: None },
        )
        .await
        .unwrap()
        .unwrap();
    let engine = w.engine("w-cancel", Duration::from_secs(60), Duration::from_secs(3));
    let running = tokio::spawn(async move { engine.run_next().await.unwrap().unwrap() });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(svc.cancel_deployment(&dep.id).await.unwrap().status, D::Cancelling);
    let done = tokio::time::timeout(Duration::from_secs(15), running).await.unwrap().unwrap();
    assert_eq!(done.status, D::Cancelled);
    assert_eq!(svc.get_instance("api", "api-dev").await.unwrap().deployment.status, D::Cancelled);

    // A worker that dies mid-deployment: its lease expires and another worker finishes the job.
    let dep = svc
        .update_instance(
            "api",
            "api-dev",
            UpdateResource { update_type: UpdateType::MinorVersion, spec: Some("sleep: 1\n".into()), major: None, minor: None },
        )
        .await
        .unwrap()
        .unwrap();
    let doomed = w.engine("w-doomed", Duration::from_secs(60), Duration::from_millis(300));
    let task = tokio::spawn(async move { doomed.run_next().await });
    tokio::time::sleep(Duration::from_millis(150)).await;
    task.abort();
    tokio::time::sleep(Duration::from_millis(600)).await;
    let rescuer = w.engine("w-rescuer", Duration::from_secs(60), Duration::from_secs(30));
    let done = rescuer.run_next().await.unwrap().unwrap();
    assert_eq!((done.id.as_str(), done.status, done.attempts), (dep.id.as_str(), D::Succeeded, 2));
    let log = svc.deployment_log(&dep.id, 0).await.unwrap();
    assert!(log.iter().any(|l| l.line.starts_with("resumed by w-rescuer (attempt 2)")), "{log:?}");
    assert_eq!(svc.get_instance("api", "api-dev").await.unwrap().version, VersionNumber::new(1, 2));

    // Adding and removing instances: a ServiceSpec without api-prod and with a new api-dev2.
    let e = svc
        .create_service(CreateService {
            name: "api2".into(),
            template_name: "web".into(),
            major: 1,
            spec: SERVICE_SPEC.replace("environment: prod", "environment: other"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "$.instances[1].environment: environment other does not exist");
    register(svc, TemplateKind::Environment, "net2", env_bundle(), None).await;
    svc.create_environment(CreateEnvironment {
        name: "odd".into(),
        template_name: "net2".into(),
        major: 1,
        spec: "proton: EnvironmentSpec\n".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    w.drain().await;
    let e = svc
        .create_service(CreateService {
            name: "api2".into(),
            template_name: "web".into(),
            major: 1,
            spec: SERVICE_SPEC.replace("environment: prod", "environment: odd"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "$.instances[1].environment: environment odd runs net2:1, which service template web version 1.2 is not compatible with (compatible: net:1)"
    );
    assert!(matches!(svc.get_service("api2").await, Err(ServiceError::NotFound(_))), "nothing was stored");
    let spec = "proton: ServiceSpec\ninstances:\n  - name: api-dev\n    environment: dev\n  - name: api-dev2\n    environment: dev\n    spec:\n      port: 9090\n";
    let s = svc.update_service("api", None, Some(spec.into())).await.unwrap();
    assert_eq!(s.status, ServiceStatus::UpdateInProgress);
    w.drain().await;
    let s = svc.get_service("api").await.unwrap();
    assert_eq!(s.status, ServiceStatus::Active, "{:?}", s.status_message);
    let names: Vec<String> = svc.list_instances(Some("api"), None).await.unwrap().into_iter().map(|i| i.name).collect();
    assert_eq!(names, vec!["api-dev", "api-dev2"]);
    let pipe_out = outputs(svc.outputs(&Target::ServicePipeline("api".into())).await.unwrap());
    assert_eq!(
        pipe_out["Endpoints"], "http://api-dev.vpc-dev:80,http://api-dev2.vpc-dev:9090",
        "the pipeline was redeployed with the new set"
    );

    // Deleting an environment in use is refused; deleting the service removes instances and pipeline.
    let e = svc.delete_environment("dev").await.unwrap_err();
    assert_eq!(e.to_string(), "environment dev still has service instances: api/api-dev, api/api-dev2; delete them first");
    let history = svc.list_deployments(&DeploymentFilter { service_name: Some("api".into()), ..Default::default() }).await.unwrap().len();
    svc.delete_service("api").await.unwrap();
    assert_eq!(svc.get_service("api").await.unwrap().status, ServiceStatus::DeleteInProgress);
    w.drain().await;
    assert!(matches!(svc.get_service("api").await, Err(ServiceError::NotFound(_))));
    assert!(svc.list_instances(None, None).await.unwrap().is_empty());
    let after = svc.list_deployments(&DeploymentFilter { service_name: Some("api".into()), ..Default::default() }).await.unwrap();
    assert_eq!(after.len(), history + 3, "deployment history is kept after the resources are gone");
    svc.delete_environment("dev").await.unwrap();
    w.drain().await;
    assert!(matches!(svc.get_environment("dev").await, Err(ServiceError::NotFound(_))));
}

deuteron_store::on_both_stores!(
    #[tokio::test]
    lifecycle_on_sqlite,
    lifecycle_on_postgres,
    |store, dir| lifecycle(world(store, dir).await).await
);

/// Proton's component rules, checked before anything is stored.
#[tokio::test]
async fn component_rules() {
    use deuteron_service::components::{CreateComponent, UpdateComponent};
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(deuteron_store::SqliteStore::open(&dir.path().join("d.db")).await.unwrap());
    let w = world(store, dir).await;
    let svc = &w.svc;
    for env in ["dev", "stage"] {
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
    w.drain().await;
    svc.create_service(CreateService {
        name: "api".into(),
        template_name: "web".into(),
        major: 1,
        spec: "proton: ServiceSpec\ninstances:\n  - name: api-dev\n    environment: dev\n".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    w.drain().await;
    let cfn = "infrastructure:\n  templates:\n    - file: c.yaml\n      rendering_engine: jinja\n      template_language: cloudformation\n";
    let base = CreateComponent {
        name: "c".into(),
        environment_name: Some("dev".into()),
        template_file: "Resources: {}\n".into(),
        manifest: cfn.into(),
        ..Default::default()
    };
    let refused = |r: Result<(deuteron_store::ComponentRecord, String), ServiceError>| match r {
        Err(ServiceError::Validation { message, .. }) => message,
        other => panic!("expected a validation error, got {other:?}"),
    };
    let m = refused(
        svc.create_component(CreateComponent {
            service_name: Some("api".into()),
            service_instance_name: Some("api-dev".into()),
            environment_name: None,
            ..base.clone()
        })
        .await,
    );
    assert!(
        m.contains(
            "service instance api/api-dev runs service template web version 1.0, which does not support directly defined components"
        ),
        "{m}"
    );
    let m = refused(svc.create_component(CreateComponent { manifest: manifest().into(), ..base.clone() }).await);
    assert!(m.contains("codebuild provisioning is not available for components"), "{m}");
    let m = refused(svc.create_component(CreateComponent { service_name: Some("api".into()), ..base.clone() }).await);
    assert_eq!(m, "serviceName and serviceInstanceName: give both to attach a component, or neither");
    let m = refused(svc.create_component(CreateComponent { environment_name: None, ..base.clone() }).await);
    assert!(m.starts_with("environmentName: a component that is not attached"), "{m}");
    let m = refused(svc.create_component(CreateComponent { environment_name: Some("ghost".into()), ..base.clone() }).await);
    assert_eq!(m, "environmentName: environment ghost does not exist");
    let m = refused(svc.create_component(CreateComponent { template_file: "a: 1\nb: {{ x \n".into(), ..base.clone() }).await);
    assert!(m.starts_with("templateFile: c.yaml:2: syntax error"), "{m}");
    let m = refused(svc.create_component(CreateComponent { name: "bad name".into(), ..base.clone() }).await);
    assert!(m.starts_with("name: "), "{m}");
    assert!(svc.list_components(&Default::default()).await.unwrap().is_empty(), "nothing was stored");

    // A valid component is stored with its deployment queued; rules that depend on it hold.
    let (c, dep) = svc.create_component(CreateComponent { environment_name: Some("stage".into()), ..base.clone() }).await.unwrap();
    assert_eq!((c.deployment.status, c.deployment.last_attempted_deployment_id.as_deref()), (D::InProgress, Some(dep.as_str())));
    let e = svc.delete_environment("stage").await.unwrap_err();
    assert_eq!(e.to_string(), "environment stage still has components: c; delete them first");
    let e = svc
        .update_component("c", UpdateComponent { template_file: Some("Resources: {}\n".into()), ..Default::default() })
        .await
        .unwrap_err();
    assert!(e.to_string().starts_with("deploymentType NONE changes the description only"), "{e}");
    let e = svc
        .update_component("c", UpdateComponent { redeploy: true, template_file: Some("Resources: {}\n".into()), ..Default::default() })
        .await
        .unwrap_err();
    assert!(matches!(e, ServiceError::Conflict(ref m) if m.starts_with("component c has a deployment in progress")), "{e}");
    let e = svc.delete_component("c").await.unwrap_err();
    assert!(matches!(e, ServiceError::Conflict(_)), "{e}");
    let (c, none) =
        svc.update_component("c", UpdateComponent { description: Some(Some("cache".into())), ..Default::default() }).await.unwrap();
    assert_eq!((c.description.as_deref(), none.is_none()), (Some("cache"), true), "NONE updates the description only");
}

/// A CUSTOMER_MANAGED environment: its template holds only a schema describing infrastructure
/// managed elsewhere; the spec's values become the environment's outputs for service templates.
#[tokio::test]
async fn customer_managed_environment() {
    use deuteron_core::{CompatibleEnvironmentTemplate, Provisioning};
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(deuteron_store::SqliteStore::open(&dir.path().join("d.db")).await.unwrap());
    let w = world(store, dir).await;
    let svc = &w.svc;
    svc.create_template(CreateTemplate {
        kind: TemplateKind::Environment,
        name: "byo".into(),
        display_name: None,
        description: None,
        provisioning: Provisioning::CustomerManaged,
        encryption_key: None,
    })
    .await
    .unwrap();
    let schema = "schema:\n  format:\n    openapi: \"3.0.0\"\n  environment_input_type: \"Existing\"\n  types:\n    Existing:\n      type: object\n      required: [VpcId]\n      properties:\n        VpcId:\n          type: string\n        Zones:\n          type: number\n          default: 3\n";
    let files = BundleFiles::from_files(vec![("schema/schema.yaml", schema.as_bytes().to_vec())], &Limits::default()).unwrap();
    let v = svc.register_version(TemplateKind::Environment, "byo", files, RegisterOptions::default()).await.unwrap();
    svc.publish_version(TemplateKind::Environment, "byo", v.version).await.unwrap();
    let opts = RegisterOptions {
        compatible_environments: vec![CompatibleEnvironmentTemplate { template_name: "byo".into(), major_version: 1 }],
        ..Default::default()
    };
    let files = BundleFiles::from_files(svc_bundle(svc_schema("", ""), "byo"), &Limits::default()).unwrap();
    let web2 = svc.register_version(TemplateKind::Service, "web", files, opts).await.unwrap();
    svc.publish_version(TemplateKind::Service, "web", web2.version).await.unwrap();

    let bad = svc
        .create_environment(CreateEnvironment {
            name: "shared".into(),
            template_name: "byo".into(),
            major: 1,
            spec: "proton: EnvironmentSpec\nspec:\n  Zones: 2\n".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(bad.full_text().contains("VpcId"), "{}", bad.full_text());
    let (_, dep) = svc
        .create_environment(CreateEnvironment {
            name: "shared".into(),
            template_name: "byo".into(),
            major: 1,
            spec: "proton: EnvironmentSpec\nspec:\n  VpcId: vpc-0abc\n".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    w.drain().await;
    let env = svc.get_environment("shared").await.unwrap();
    assert_eq!(env.deployment.status, D::Succeeded);
    assert_eq!(
        outputs(svc.outputs(&Target::Environment("shared".into())).await.unwrap()),
        outputs(vec![("VpcId".into(), "vpc-0abc".into()), ("Zones".into(), "3".into())])
    );
    let log = svc.deployment_log(&dep, 0).await.unwrap();
    assert!(
        log.iter().any(|l| l.line.contains("customer-managed environment: recorded 2 output(s) from the spec (VpcId, Zones)")),
        "{log:?}"
    );

    // A service instance in it reads those outputs like any environment's.
    svc.create_service(CreateService {
        name: "api".into(),
        template_name: "web".into(),
        major: web2.version.major,
        spec: "proton: ServiceSpec\npipeline: {}\ninstances:\n  - name: api-shared\n    environment: shared\n".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    w.drain().await;
    assert_eq!(svc.get_service("api").await.unwrap().status, ServiceStatus::Active);
    let inst = outputs(svc.outputs(&Target::ServiceInstance { service: "api".into(), instance: "api-shared".into() }).await.unwrap());
    assert_eq!(inst["Endpoint"], "http://api-shared.vpc-0abc:80");

    svc.delete_service("api").await.unwrap();
    w.drain().await;
    let gone = svc.delete_environment("shared").await.unwrap();
    w.drain().await;
    assert_eq!(svc.get_deployment(&gone.id).await.unwrap().status, D::DeleteComplete);
    assert!(matches!(svc.get_environment("shared").await, Err(ServiceError::NotFound(_))));
}

/// A service whose instance fails while it is created: the service is CREATE_FAILED and its
/// pipeline, never deployed, is CANCELLED (not IN_PROGRESS for ever); fixing the instance deploys
/// the pipeline and makes the service ACTIVE; a CREATE_FAILED service can be deleted, its
/// never-deployed pipeline without a deprovision.
async fn failed_instance_holds_the_pipeline(w: World) {
    let svc = &w.svc;
    for env in ["dev", "prod"] {
        let spec = "proton: EnvironmentSpec\nspec:\n  cidr: 10.1.0.0/16\n".to_string();
        svc.create_environment(CreateEnvironment { name: env.into(), template_name: "net".into(), major: 1, spec, ..Default::default() })
            .await
            .unwrap();
    }
    let flaky = svc_schema("        fail:\n          type: string\n          default: \"no\"\n", "");
    register(svc, TemplateKind::Service, "flaky", svc_bundle(flaky, "f1.0"), None).await;
    w.drain().await;
    let spec = |name: &str| {
        format!(
            "proton: ServiceSpec\npipeline:\n  branch: main\ninstances:\n  - name: {name}-dev\n    environment: dev\n    spec:\n      fail: \"yes\"\n  - name: {name}-prod\n    environment: prod\n"
        )
    };
    for name in ["shop", "broken"] {
        svc.create_service(CreateService {
            name: name.into(),
            template_name: "flaky".into(),
            major: 1,
            spec: spec(name),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    w.drain().await;
    for name in ["shop", "broken"] {
        let s = svc.get_service(name).await.unwrap();
        assert_eq!(
            (s.status, s.status_message.clone()),
            (ServiceStatus::CreateFailed, Some(format!("instance(s) {name}-dev failed to deploy")))
        );
        let p = svc.get_pipeline(name).await.unwrap();
        assert_eq!(
            (p.deployment.status, p.deployment.status_message.as_deref()),
            (D::Cancelled, Some(format!("not deployed: instance(s) {name}-dev failed to deploy; it deploys once they succeed").as_str()))
        );
        assert!(p.deployment.last_attempted_deployment_id.is_none());
    }
    let active = svc.list_deployments(&DeploymentFilter::default()).await.unwrap();
    assert!(active.iter().all(|d| !d.status.is_active()), "nothing is left queued or running");

    // Fixing the failed instance deploys the held pipeline, which sees both instances.
    svc.update_instance(
        "shop",
        "shop-dev",
        UpdateResource { update_type: UpdateType::CurrentVersion, spec: Some("fail: \"no\"\n".into()), major: None, minor: None },
    )
    .await
    .unwrap();
    w.drain().await;
    assert_eq!(svc.get_instance("shop", "shop-dev").await.unwrap().deployment.status, D::Succeeded);
    assert_eq!(svc.get_pipeline("shop").await.unwrap().deployment.status, D::Succeeded);
    assert_eq!(svc.get_service("shop").await.unwrap().status, ServiceStatus::Active);
    let pipe_out = outputs(svc.outputs(&Target::ServicePipeline("shop".into())).await.unwrap());
    assert_eq!(pipe_out["Endpoints"], "http://shop-dev.vpc-dev:80,http://shop-prod.vpc-prod:80");

    // A CREATE_FAILED service is deleted; its never-deployed pipeline is not deprovisioned.
    let started = svc.delete_service("broken").await.unwrap();
    assert_eq!(started.len(), 2, "one deprovision per instance, none for the pipeline");
    assert!(started.iter().all(|d| matches!(d.target, Target::ServiceInstance { .. })));
    w.drain().await;
    assert!(matches!(svc.get_service("broken").await, Err(ServiceError::NotFound(_))));
    assert!(matches!(svc.get_pipeline("broken").await, Err(ServiceError::NotFound(_))));
}

deuteron_store::on_both_stores!(
    #[tokio::test]
    failed_instance_holds_the_pipeline_on_sqlite,
    failed_instance_holds_the_pipeline_on_postgres,
    |store, dir| failed_instance_holds_the_pipeline(world(store, dir).await).await
);
