//! The Proton scenario through aws-sdk-proton, the Rust SDK teams' tools are built on: bundles
//! uploaded with aws-sdk-s3 to a local moto server, template versions registered from S3 and
//! published, an environment and a service with two instances (SDK waiters), paginated lists, an
//! instance moved to a new minor version, deployments listed, typed errors, everything deleted.
#![allow(deprecated)] // every aws-sdk-proton operation is marked deprecated (Proton's end of support)

use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_proton::Client;
use aws_sdk_proton::client::Waiters;
use aws_sdk_proton::types::{
    CompatibleEnvironmentTemplateInput, DeploymentStatus, DeploymentUpdateType, S3ObjectSource, ServiceStatus, TemplateVersionSourceInput,
    TemplateVersionStatus,
};

mod common;
use common::*;

async fn sdk_config(endpoint: &str, key: &str, secret: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_proton::config::Credentials::new(key, secret, None, None, "test"))
        .load()
        .await
}

fn bundle(name: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/templates").join(name).join("v1");
    deuteron_bundle::BundleFiles::load(&dir, &Default::default()).unwrap().to_tar_gz()
}

/// The example bundle `name` with a comment added to its schema: another version's content.
fn revised_bundle(name: &str, revision: u32) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/templates").join(name).join("v1");
    let files = deuteron_bundle::BundleFiles::load(&dir, &Default::default()).unwrap();
    let revised = files.iter().map(|(path, data)| {
        let mut data = data.to_vec();
        if path == "schema/schema.yaml" {
            data.extend(format!("# revision {revision}\n").into_bytes());
        }
        (path.to_string(), data)
    });
    deuteron_bundle::BundleFiles::from_files(revised.collect::<Vec<_>>(), &Default::default()).unwrap().to_tar_gz()
}

fn s3_source(key: &str) -> TemplateVersionSourceInput {
    TemplateVersionSourceInput::S3(S3ObjectSource::builder().bucket("bundles").key(key).build().unwrap())
}

async fn until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_sdk_proton_against_deuteron() {
    let moto = moto();
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir.path().join("data"), &moto.endpoint, &[]);

    let s3_conf = sdk_config(&moto.endpoint, "testing", "testing").await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&s3_conf).force_path_style(true).build());
    s3.create_bucket().bucket("bundles").send().await.unwrap();
    for (name, key) in [("example-env", "net.tar.gz"), ("example-svc", "web.tar.gz")] {
        s3.put_object().bucket("bundles").key(key).body(bundle(name).into()).send().await.unwrap();
    }
    s3.put_object().bucket("bundles").key("web-1.1.tar.gz").body(revised_bundle("example-svc", 1).into()).send().await.unwrap();
    let proton = Client::new(&sdk_config(&server.url, ADMIN_ID, ADMIN_SECRET).await);

    // Templates from S3: registration is asynchronous; the SDK's waiter sees DRAFT.
    proton.create_environment_template().name("net").send().await.unwrap();
    let v = proton.create_environment_template_version().template_name("net").source(s3_source("net.tar.gz")).send().await.unwrap();
    assert_eq!(v.environment_template_version().unwrap().major_version(), "1");
    proton
        .wait_until_environment_template_version_registered()
        .template_name("net")
        .major_version("1")
        .minor_version("0")
        .wait(Duration::from_secs(60))
        .await
        .unwrap();
    proton
        .update_environment_template_version()
        .template_name("net")
        .major_version("1")
        .minor_version("0")
        .status(TemplateVersionStatus::Published)
        .send()
        .await
        .unwrap();
    proton.create_service_template().name("web").send().await.unwrap();
    let compat = CompatibleEnvironmentTemplateInput::builder().template_name("net").major_version("1").build().unwrap();
    for minor in ["0", "1"] {
        let mut req = proton
            .create_service_template_version()
            .template_name("web")
            .source(s3_source(if minor == "1" { "web-1.1.tar.gz" } else { "web.tar.gz" }))
            .compatible_environment_templates(compat.clone());
        if minor == "1" {
            req = req.major_version("1");
            // The bundle of 1.0 again would change nothing: refused, naming the version.
            let same = proton
                .create_service_template_version()
                .template_name("web")
                .major_version("1")
                .source(s3_source("web.tar.gz"))
                .compatible_environment_templates(compat.clone())
                .send()
                .await
                .unwrap_err();
            let e = same.into_service_error();
            assert!(e.is_conflict_exception() && e.meta().message().unwrap().contains("same content as version 1.0"), "{e:?}");
        }
        req.send().await.unwrap();
        proton
            .wait_until_service_template_version_registered()
            .template_name("web")
            .major_version("1")
            .minor_version(minor)
            .wait(Duration::from_secs(60))
            .await
            .unwrap();
        if minor == "0" {
            proton
                .update_service_template_version()
                .template_name("web")
                .major_version("1")
                .minor_version("0")
                .status(TemplateVersionStatus::Published)
                .send()
                .await
                .unwrap();
        }
    }

    // An environment and a service with two instances.
    for env in ["dev", "prod"] {
        proton
            .create_environment()
            .name(env)
            .template_name("net")
            .template_major_version("1")
            .spec("proton: EnvironmentSpec\nspec:\n  tier: development\n")
            .send()
            .await
            .unwrap();
    }
    for env in ["dev", "prod"] {
        proton.wait_until_environment_deployed().name(env).wait(Duration::from_secs(60)).await.unwrap();
    }
    let spec = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/specs/web.yaml")).unwrap();
    proton.create_service().name("web").template_name("web").template_major_version("1").spec(spec).send().await.unwrap();
    proton.wait_until_service_created().name("web").wait(Duration::from_secs(60)).await.unwrap();
    let svc = proton.get_service().name("web").send().await.unwrap().service.unwrap();
    assert_eq!(svc.status(), &ServiceStatus::Active);
    assert_eq!(svc.pipeline().unwrap().deployment_status(), &DeploymentStatus::Succeeded);

    // Pagination through the SDK's paginator, one item per page.
    let pages: Vec<_> = proton
        .list_service_instances()
        .service_name("web")
        .max_results(1)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(pages.len(), 2, "{pages:?}");
    let names: Vec<&str> = pages.iter().flat_map(|p| p.service_instances()).map(|i| i.name()).collect();
    assert_eq!(names, ["web-dev", "web-prod"]);

    // The new minor version, published, and one instance moved to it.
    proton
        .update_service_template_version()
        .template_name("web")
        .major_version("1")
        .minor_version("1")
        .status(TemplateVersionStatus::Published)
        .send()
        .await
        .unwrap();
    proton
        .update_service_instance()
        .service_name("web")
        .name("web-dev")
        .deployment_type(DeploymentUpdateType::MinorVersion)
        .send()
        .await
        .unwrap();
    proton.wait_until_service_instance_deployed().service_name("web").name("web-dev").wait(Duration::from_secs(60)).await.unwrap();
    let inst = proton.get_service_instance().service_name("web").name("web-dev").send().await.unwrap().service_instance.unwrap();
    assert_eq!((inst.template_major_version(), inst.template_minor_version()), ("1", "1"));
    let deps = proton.list_deployments().service_name("web").send().await.unwrap();
    assert!(
        deps.deployments().len() >= 4 && deps.deployments().iter().all(|d| d.deployment_status() == &DeploymentStatus::Succeeded),
        "{deps:?}"
    );

    // Typed errors.
    let e = proton.get_environment().name("nope").send().await.unwrap_err().into_service_error();
    assert!(e.is_resource_not_found_exception(), "{e:?}");
    let e = proton.create_environment_template().name("net").send().await.unwrap_err().into_service_error();
    assert!(e.is_conflict_exception(), "{e:?}");
    let e = proton
        .update_service_instance()
        .service_name("web")
        .name("web-dev")
        .deployment_type(DeploymentUpdateType::MajorVersion)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_validation_exception(), "{e:?}");

    // Delete everything.
    proton.delete_service().name("web").send().await.unwrap();
    proton.wait_until_service_deleted().name("web").wait(Duration::from_secs(60)).await.unwrap();
    for env in ["dev", "prod"] {
        proton.delete_environment().name(env).send().await.unwrap();
    }
    until("the environments to be deleted", || async { proton.list_environments().send().await.unwrap().environments().is_empty() }).await;
    for minor in ["0", "1"] {
        proton.delete_service_template_version().template_name("web").major_version("1").minor_version(minor).send().await.unwrap();
    }
    proton.delete_service_template().name("web").send().await.unwrap();
    proton.delete_environment_template_version().template_name("net").major_version("1").minor_version("0").send().await.unwrap();
    proton.delete_environment_template().name("net").send().await.unwrap();
    assert!(proton.list_environment_templates().send().await.unwrap().templates().is_empty(), "{}", server.log_tail(20));
}
