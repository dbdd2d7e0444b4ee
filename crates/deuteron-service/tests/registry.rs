//! The template registry through the service layer, on a real SQLite store: every kind of bad
//! bundle, schema and version request is refused with a precise message and leaves the store
//! untouched.

use std::io::Write;
use std::sync::Arc;

use deuteron_bundle::{BundleFiles, Limits};
use deuteron_core::{TemplateKind, TemplateVersionStatus as S, VersionNumber};
use deuteron_service::registry::{CreateTemplate, RegisterOptions};
use deuteron_service::{Config, Deuteron, ServiceError};
use deuteron_store::SqliteStore;

const ENV_SCHEMA: &str = r#"schema:
  format:
    openapi: "3.0.0"
  environment_input_type: "EnvInput"
  types:
    EnvInput:
      type: object
      properties:
        vpc_cidr:
          type: string
          default: 10.0.0.0/16
"#;

const MANIFEST: &str = "infrastructure:\n  templates:\n    - file: \"cloudformation.yaml\"\n      rendering_engine: jinja\n      template_language: cloudformation\n";
const CFN: &str = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: {{ environment.name }}-{{ environment.inputs.vpc_cidr }}\n";

struct App {
    svc: Deuteron,
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

async fn app_with(limits: Limits) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("d.db")).await.unwrap();
    let svc = Deuteron::new(Arc::new(store.clone()), Config { bundle_limits: limits, ..Default::default() });
    for (kind, name) in [(TemplateKind::Environment, "net"), (TemplateKind::Service, "api")] {
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
    App { svc, store, _dir: dir }
}

async fn app() -> App {
    app_with(Limits::default()).await
}

fn env_files(extra: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("schema/schema.yaml".into(), ENV_SCHEMA.into()),
        ("infrastructure/manifest.yaml".into(), MANIFEST.into()),
        ("infrastructure/cloudformation.yaml".into(), CFN.into()),
    ];
    for (p, c) in extra {
        files.retain(|(q, _)| q != p);
        if !c.is_empty() {
            files.push(((*p).into(), c.as_bytes().to_vec()));
        }
    }
    files
}

fn bundle(files: Vec<(String, Vec<u8>)>) -> BundleFiles {
    BundleFiles::from_files(files, &Limits::default()).unwrap()
}

/// Asserts the error text and that the template still has no versions.
async fn refused(app: &App, files: Vec<(String, Vec<u8>)>, expected: &str) {
    let err = app.svc.register_version(TemplateKind::Environment, "net", bundle(files), RegisterOptions::default()).await.unwrap_err();
    assert_eq!(err.full_text(), expected);
    assert!(app.svc.list_versions(TemplateKind::Environment, "net", None).await.unwrap().is_empty(), "nothing may be stored");
}

#[tokio::test]
async fn a_valid_bundle_registers_publishes_and_becomes_recommended() {
    let app = app().await;
    let v = app.svc.register_version(TemplateKind::Environment, "net", bundle(env_files(&[])), RegisterOptions::default()).await.unwrap();
    assert_eq!((v.version, v.status), (VersionNumber::new(1, 0), S::Draft));
    assert_eq!(app.svc.get_template(TemplateKind::Environment, "net").await.unwrap().recommended, None);
    app.svc.publish_version(TemplateKind::Environment, "net", v.version).await.unwrap();
    assert_eq!(app.svc.get_template(TemplateKind::Environment, "net").await.unwrap().recommended, Some(VersionNumber::new(1, 0)));
    // A compatible minor (new optional input) is 1.1; the stored bundle round-trips.
    let schema2 = ENV_SCHEMA.replace("        vpc_cidr:", "        extra:\n          type: string\n        vpc_cidr:");
    let v2 = app
        .svc
        .register_version(
            TemplateKind::Environment,
            "net",
            bundle(env_files(&[("schema/schema.yaml", &schema2)])),
            RegisterOptions { major: Some(1), ..Default::default() },
        )
        .await
        .unwrap();
    assert_eq!(v2.version, VersionNumber::new(1, 1));
    let stored = app.svc.version_bundle(TemplateKind::Environment, "net", v2.version).await.unwrap();
    assert_eq!(stored.text("schema/schema.yaml").unwrap(), Some(schema2.as_str()));
}

#[tokio::test]
async fn bad_manifests_schemas_and_templates_are_refused() {
    let app = app().await;
    refused(&app, env_files(&[("schema/schema.yaml", "")]), "invalid bundle: bundle layout: schema/schema.yaml is missing").await;
    refused(
        &app,
        env_files(&[("infrastructure/manifest.yaml", "")]),
        "invalid bundle: bundle layout: infrastructure/manifest.yaml is missing",
    )
    .await;
    refused(
        &app,
        env_files(&[("infrastructure/manifest.yaml", "infrastructure:\n  templates:\n    - file: \"cloudformation.yaml\"\n      rendering_engine: jinja\n      template_language: terraform\n")]),
        "invalid bundle: infrastructure/manifest.yaml:5: infrastructure.templates[0].template_language is \"terraform\"; jinja templates must be cloudformation",
    )
    .await;
    refused(
        &app,
        env_files(&[("infrastructure/manifest.yaml", "infrastructure:\n  templates:\n    - file: \"main.yaml\"\n      rendering_engine: jinja\n      template_language: cloudformation\n")]),
        "invalid bundle: infrastructure/manifest.yaml:3: names template file \"main.yaml\", but infrastructure/main.yaml is not in the bundle",
    )
    .await;
    refused(&app, env_files(&[("infrastructure/manifest.yaml", "infrastructure: [\n")]), "invalid bundle: infrastructure/manifest.yaml:1: column 17: infrastructure: invalid type: sequence, expected struct RawInfrastructure").await;
    refused(
        &app,
        env_files(&[("schema/schema.yaml", &ENV_SCHEMA.replace("type: string", "type: text"))]),
        "invalid bundle: schema/schema.yaml:10: schema.types.EnvInput.properties.vpc_cidr.type: must be one of string, number, integer, boolean, array, object, got \"text\"",
    )
    .await;
    refused(
        &app,
        env_files(&[("schema/schema.yaml", &ENV_SCHEMA.replace("environment_input_type", "service_input_type"))]),
        "invalid bundle: schema/schema.yaml:1: an environment template's schema needs environment_input_type",
    )
    .await;
    refused(
        &app,
        env_files(&[("infrastructure/cloudformation.yaml", "Resources:\n  {% for x in y %}\n  A: 1\n")]),
        "invalid bundle: infrastructure/cloudformation.yaml:2: syntax error: unexpected end of input, expected end of block",
    )
    .await;
    refused(
        &app,
        env_files(&[("instance_infrastructure/manifest.yaml", MANIFEST)]),
        "invalid bundle: bundle layout: instance_infrastructure/ belongs in service template bundles, not environment bundles",
    )
    .await;
}

fn tar_gz(entries: &[(&str, tar::EntryType, &[u8], Option<&str>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    for (path, kind, data, link) in entries {
        let mut h = tar::Header::new_gnu();
        // Write the raw name so hostile paths reach the reader unchanged.
        let name = path.as_bytes();
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        h.set_entry_type(*kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_cksum();
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

fn zip_bytes(entries: &[(&str, &[u8], Option<u32>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (path, data, mode) in entries {
        let mut opts = zip::write::SimpleFileOptions::default();
        if let Some(m) = mode {
            opts = opts.unix_permissions(*m);
        }
        if *mode == Some(0o120777) {
            w.add_symlink(*path, std::str::from_utf8(data).unwrap(), opts).unwrap();
        } else {
            w.start_file(*path, opts).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn hostile_archives_are_refused() {
    use tar::EntryType::*;
    let l = Limits::default();
    let err = |bytes: Vec<u8>| BundleFiles::from_archive_bytes(&bytes, &l).unwrap_err().to_string();
    let ok = b"x".as_slice();
    assert_eq!(
        err(tar_gz(&[("../evil.yaml", Regular, ok, None)])),
        "refused \"../evil.yaml\": path traversal ('..') is not allowed in bundles"
    );
    assert_eq!(
        err(tar_gz(&[("schema/../../evil", Regular, ok, None)])),
        "refused \"schema/../../evil\": path traversal ('..') is not allowed in bundles"
    );
    assert_eq!(err(tar_gz(&[("/etc/passwd", Regular, ok, None)])), "refused \"/etc/passwd\": absolute paths are not allowed in bundles");
    assert_eq!(
        err(tar_gz(&[("schema/link", Symlink, b"", Some("/etc/passwd"))])),
        "refused \"schema/link\": links are not allowed in bundles"
    );
    assert_eq!(
        err(tar_gz(&[("schema/hard", Link, b"", Some("schema/schema.yaml"))])),
        "refused \"schema/hard\": links are not allowed in bundles"
    );
    assert_eq!(err(tar_gz(&[("dev/null", Char, b"", None)])), "refused \"dev/null\": device files and FIFOs are not allowed in bundles");
    assert_eq!(err(tar_gz(&[("fifo", Fifo, b"", None)])), "refused \"fifo\": device files and FIFOs are not allowed in bundles");
    assert_eq!(err(zip_bytes(&[("../../x", ok, None)])), "refused \"../../x\": path traversal ('..') is not allowed in bundles");
    assert_eq!(err(zip_bytes(&[("link", b"/etc/passwd", Some(0o120777))])), "refused \"link\": links are not allowed in bundles");
    assert_eq!(err(b"not an archive".to_vec()), "archive: not a gzip-compressed tar or a zip archive");
    assert!(err(vec![0x1f, 0x8b, 1, 2, 3]).starts_with("archive: corrupt tar.gz"));
    // Limits: archive size, unpacked size (decompression bombs), per-file size, file count.
    let small = Limits { max_archive_bytes: 100, ..Limits::default() };
    let big = tar_gz(&[("a", Regular, &[b'x'; 5000][..], None), ("b", Regular, &vec![7u8; 4000][..], None)]);
    let e = BundleFiles::from_archive_bytes(&big, &small).unwrap_err().to_string();
    assert!(e.starts_with("archive is ") && e.ends_with("bytes, over the limit of 100 bytes"), "{e}");
    let bomb = tar_gz(&[("a", Regular, &vec![0u8; 3_000_000][..], None)]);
    let e = BundleFiles::from_archive_bytes(&bomb, &Limits { max_unpacked_bytes: 1_000_000, ..Limits::default() }).unwrap_err().to_string();
    assert_eq!(e, "file a is 3000000 bytes, over the limit of 1000000 bytes".replace("file a", "unpacked bundle"));
    let e = BundleFiles::from_archive_bytes(&bomb, &Limits { max_file_bytes: 1000, ..Limits::default() }).unwrap_err().to_string();
    assert_eq!(e, "file a is 3000000 bytes, over the limit of 1000 bytes");
    let many: Vec<(String, Vec<u8>)> = (0..5).map(|i| (format!("f{i}"), vec![1])).collect();
    let e = BundleFiles::from_files(many, &Limits { max_files: 4, ..Limits::default() }).unwrap_err().to_string();
    assert_eq!(e, "the bundle holds more than 4 files");
}

#[cfg(unix)]
#[test]
fn symlinks_in_bundle_directories_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("schema")).unwrap();
    std::fs::write(dir.path().join("schema/schema.yaml"), ENV_SCHEMA).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("schema/secret")).unwrap();
    let e = BundleFiles::load(dir.path(), &Limits::default()).unwrap_err().to_string();
    assert_eq!(e, "refused \"schema/secret\": symbolic links are not allowed in bundles");
}

#[tokio::test]
async fn oversized_uploads_are_refused_before_anything_is_stored() {
    let app = app_with(Limits { max_archive_bytes: 64, ..Limits::default() }).await;
    let archive = bundle(env_files(&[])).to_tar_gz();
    let e = BundleFiles::from_archive_bytes(&archive, &app.svc.config().bundle_limits).unwrap_err();
    assert!(e.to_string().contains("over the limit of 64 bytes"), "{e}");
    assert!(app.svc.list_versions(TemplateKind::Environment, "net", None).await.unwrap().is_empty());
}

#[tokio::test]
async fn version_rules() {
    let app = app().await;
    let env = TemplateKind::Environment;
    // Unknown major, unknown version.
    let e = app
        .svc
        .register_version(env, "net", bundle(env_files(&[])), RegisterOptions { major: Some(3), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "environment template net: major version 3 does not exist; omit the major version to create 1.0");
    let e = app.svc.publish_version(env, "net", VersionNumber::new(9, 9)).await.unwrap_err();
    assert_eq!(e.to_string(), "environment template net version 9.9 not found");
    let e = app.svc.register_version(env, "nope", bundle(env_files(&[])), RegisterOptions::default()).await.unwrap_err();
    assert_eq!(e.to_string(), "environment template nope not found");

    app.svc.register_version(env, "net", bundle(env_files(&[])), RegisterOptions::default()).await.unwrap();
    // A breaking schema change cannot be a minor version.
    let breaking =
        ENV_SCHEMA.replace("      properties:", "      required: [name]\n      properties:\n        name:\n          type: string");
    let e = app
        .svc
        .register_version(
            env,
            "net",
            bundle(env_files(&[("schema/schema.yaml", &breaking)])),
            RegisterOptions { major: Some(1), ..Default::default() },
        )
        .await
        .unwrap_err();
    assert_eq!(
        e.full_text(),
        "schema/schema.yaml is not compatible with version 1.0; register it as a new major version (omit the major version) instead\n  - environment_input_type.EnvInput.name: input became required without a default"
    );
    assert_eq!(app.svc.list_versions(env, "net", None).await.unwrap().len(), 1);
    // ... but it can be the next major.
    let v2 = app
        .svc
        .register_version(env, "net", bundle(env_files(&[("schema/schema.yaml", &breaking)])), RegisterOptions::default())
        .await
        .unwrap();
    assert_eq!(v2.version, VersionNumber::new(2, 0));

    // Delete rules: in use, recommended minor, template with versions.
    app.svc.publish_version(env, "net", VersionNumber::new(1, 0)).await.unwrap();
    // The same files as 1.0 would change nothing: refused, naming the version, unless allowed.
    let e = app
        .svc
        .register_version(env, "net", bundle(env_files(&[])), RegisterOptions { major: Some(1), ..Default::default() })
        .await
        .unwrap_err();
    assert!(e.to_string().contains("this bundle has the same content as version 1.0 (PUBLISHED"), "{e}");
    assert_eq!(app.svc.list_versions(env, "net", None).await.unwrap().len(), 2, "nothing stored");
    let same = RegisterOptions { major: Some(1), allow_same_content: true, ..Default::default() };
    app.svc.register_version(env, "net", bundle(env_files(&[])), same).await.unwrap();
    app.store
        .execute_raw("INSERT INTO environments (name, template_name, template_major, template_minor, spec, inputs, provisioning, deployment_status, created_at, updated_at)
             VALUES ('prod', 'net', 2, 0, '', '{}', 'STANDARD', 'SUCCEEDED', 0, 0)")
        .await
        .unwrap();
    let e = app.svc.delete_version(env, "net", VersionNumber::new(2, 0)).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot delete environment template net version 2.0: version 2.0 is in use by environment prod (version 2.0)"
    );
    let e = app.svc.delete_version(env, "net", VersionNumber::new(1, 0)).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot delete environment template net version 1.0: version 1.0 is the recommended minor version of major 1; delete the other minor versions of major 1 (1.1) first"
    );
    let e = app.svc.delete_template(env, "net", false).await.unwrap_err();
    assert_eq!(e.to_string(), "environment template net still has versions 1.0, 1.1, 2.0; delete them first");
    let e = app.svc.delete_template(env, "net", true).await.unwrap_err();
    assert_eq!(e.to_string(), "environment template net is in use by environment prod (version 2.0)");
    assert_eq!(app.svc.list_versions(env, "net", None).await.unwrap().len(), 3, "a refused cascade deletes nothing");
    app.store.execute_raw("DELETE FROM environments").await.unwrap();
    app.svc.delete_template(env, "net", true).await.unwrap();
    assert!(matches!(app.svc.get_template(env, "net").await, Err(ServiceError::NotFound(_))));
}

#[tokio::test]
async fn concurrent_registrations_get_distinct_numbers() {
    let app = app().await;
    let tasks: Vec<_> = (0..6)
        .map(|n| {
            let svc = app.svc.clone();
            tokio::spawn(async move {
                // Each with content of its own: the same content would be refused.
                let note = format!("# bundle {n}\n");
                let files = bundle(env_files(&[("infrastructure/NOTES.txt", note.as_str())]));
                svc.register_version(TemplateKind::Environment, "net", files, RegisterOptions::default()).await.unwrap().version
            })
        })
        .collect();
    let mut got = Vec::new();
    for t in tasks {
        got.push(t.await.unwrap());
    }
    got.sort();
    assert_eq!(got, (1..=6).map(|m| VersionNumber::new(m, 0)).collect::<Vec<_>>());
    // Concurrent publish of one draft: both succeed (publishing is idempotent), state is PUBLISHED once.
    let (a, b) = tokio::join!(
        app.svc.publish_version(TemplateKind::Environment, "net", VersionNumber::new(6, 0)),
        app.svc.publish_version(TemplateKind::Environment, "net", VersionNumber::new(6, 0))
    );
    assert_eq!((a.unwrap().status, b.unwrap().status), (S::Published, S::Published));
}

#[tokio::test]
async fn asynchronous_registration_fails_with_file_line_and_reason() {
    let app = app().await;
    let env = TemplateKind::Environment;
    let bad = env_files(&[("infrastructure/cloudformation.yaml", "a: 1\nb: {{ environment.name }\n")]);
    let opts = RegisterOptions::default();
    let v = app.svc.begin_registration(env, "net", bundle(bad), &opts).await.unwrap();
    assert_eq!(v.status, S::RegistrationInProgress);
    let done = app.svc.complete_registration(env, "net", v.version, &opts).await.unwrap();
    assert_eq!(done.status, S::RegistrationFailed);
    let msg = done.status_message.unwrap();
    assert!(msg.starts_with("invalid bundle: infrastructure/cloudformation.yaml:2: syntax error"), "{msg}");
    let e = app.svc.publish_version(env, "net", v.version).await.unwrap_err();
    assert_eq!(e.to_string(), "version 1.0 is REGISTRATION_FAILED; only a DRAFT version can be published");
    // A second completion of the same registration is a conflict, not a silent overwrite.
    let e = app.svc.complete_registration(env, "net", v.version, &opts).await.unwrap_err();
    assert!(e.to_string().contains("is REGISTRATION_FAILED (expected REGISTRATION_IN_PROGRESS)"), "{e}");
    let good = app.svc.begin_registration(env, "net", bundle(env_files(&[])), &opts).await.unwrap();
    let done = app.svc.complete_registration(env, "net", good.version, &opts).await.unwrap();
    assert_eq!((done.version, done.status), (VersionNumber::new(2, 0), S::Draft));
    assert!(done.schema.contains("EnvInput"));
}

#[tokio::test]
async fn service_versions_need_existing_compatible_environments() {
    let app = app().await;
    let svc_schema = "schema:\n  format:\n    openapi: \"3.0.0\"\n  service_input_type: \"SvcInput\"\n  types:\n    SvcInput:\n      type: object\n      properties:\n        port:\n          type: number\n          default: 80\n";
    let instance_manifest = MANIFEST;
    let files = |compat: &str| -> Vec<(String, Vec<u8>)> {
        let mut f = vec![
            ("schema/schema.yaml".to_string(), svc_schema.as_bytes().to_vec()),
            ("instance_infrastructure/manifest.yaml".to_string(), instance_manifest.as_bytes().to_vec()),
            ("instance_infrastructure/cloudformation.yaml".to_string(), b"Port: {{ service_instance.inputs.port }}\n".to_vec()),
            ("pipeline_infrastructure/manifest.yaml".to_string(), MANIFEST.as_bytes().to_vec()),
            ("pipeline_infrastructure/cloudformation.yaml".to_string(), b"Name: {{ service.name }}\n".to_vec()),
        ];
        if !compat.is_empty() {
            f.push((".compatible-envs".to_string(), compat.as_bytes().to_vec()));
        }
        f
    };
    let svc = TemplateKind::Service;
    let e = app.svc.register_version(svc, "api", bundle(files("")), RegisterOptions::default()).await.unwrap_err();
    assert!(e.to_string().starts_with("a service template version needs at least one compatible environment template"), "{e}");
    let e = app.svc.register_version(svc, "api", bundle(files("net:1\n")), RegisterOptions::default()).await.unwrap_err();
    assert_eq!(e.to_string(), "compatible environment template net:1: environment template net has no registered major version 1");
    let e = app.svc.register_version(svc, "api", bundle(files("ghost:1\n")), RegisterOptions::default()).await.unwrap_err();
    assert_eq!(e.to_string(), "compatible environment template ghost:1: environment template ghost does not exist");
    let e = app.svc.register_version(svc, "api", bundle(files("net\n")), RegisterOptions::default()).await.unwrap_err();
    assert_eq!(e.to_string(), "invalid bundle: .compatible-envs:1: \"net\" is not of the form TEMPLATE:MAJOR");
    assert!(app.svc.list_versions(svc, "api", None).await.unwrap().is_empty());
    app.svc.register_version(TemplateKind::Environment, "net", bundle(env_files(&[])), RegisterOptions::default()).await.unwrap();
    let v = app.svc.register_version(svc, "api", bundle(files("net:1\n")), RegisterOptions::default()).await.unwrap();
    assert_eq!(v.compatible_environments.iter().map(ToString::to_string).collect::<Vec<_>>(), vec!["net:1"]);
}
