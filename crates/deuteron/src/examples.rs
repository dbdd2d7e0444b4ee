//! The example template set registered into an empty store, so a newcomer can deploy an
//! environment and a service on a fresh machine. The bundles use the command provisioner and
//! touch nothing outside their working directories; their sources are in `examples/templates`.

use deuteron_bundle::BundleFiles;
use deuteron_core::TemplateKind;
use deuteron_service::Deuteron;
use deuteron_service::registry::{CreateTemplate, RegisterOptions};

macro_rules! files {
    ($base:literal: $($path:literal),+ $(,)?) => {
        &[$(($path, include_bytes!(concat!("../../../examples/templates/", $base, "/v1/", $path)).as_slice())),+]
    };
}

type Files = &'static [(&'static str, &'static [u8])];

const EXAMPLES: &[(TemplateKind, &str, &str, Files)] = &[
    (
        TemplateKind::Environment,
        "example-env",
        "Example environment (local, command provisioner)",
        files!("example-env": "schema/schema.yaml", "infrastructure/manifest.yaml", "infrastructure/provision.py"),
    ),
    (
        TemplateKind::Service,
        "example-svc",
        "Example web service with a pipeline (local, command provisioner)",
        files!("example-svc":
            "schema/schema.yaml",
            ".compatible-envs",
            "instance_infrastructure/manifest.yaml",
            "instance_infrastructure/provision.py",
            "pipeline_infrastructure/manifest.yaml",
            "pipeline_infrastructure/provision.py",
        ),
    ),
];

/// Registers and publishes the examples when the store has no templates at all.
pub async fn register_if_empty(svc: &Deuteron) -> Result<bool, deuteron_service::ServiceError> {
    if !svc.list_templates(None).await?.is_empty() {
        return Ok(false);
    }
    for (kind, name, display, files) in EXAMPLES {
        svc.create_template(CreateTemplate {
            kind: *kind,
            name: (*name).into(),
            display_name: Some((*display).into()),
            description: Some("Registered by `deuteron server` into an empty store; see examples/ in the repository.".into()),
            provisioning: Default::default(),
            encryption_key: None,
        })
        .await?;
        let bundle = BundleFiles::from_files(files.iter().map(|(p, c)| (*p, c.to_vec())), &svc.config().bundle_limits)?;
        let v = svc.register_version(*kind, name, bundle, RegisterOptions::default()).await?;
        svc.publish_version(*kind, name, v.version).await?;
    }
    tracing::info!("registered the example templates example-env and example-svc (start with --no-examples to skip)");
    Ok(true)
}
