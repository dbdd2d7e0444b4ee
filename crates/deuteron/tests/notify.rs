//! Outputs reported the way Proton's CodeBuild provisioning reported them: the provision
//! command calls `aws proton notify-resource-deployment-status-change` (the real AWS CLI) with
//! the short-lived key and endpoint Deuteron gives each deployment, unchanged from a Proton script.

use std::process::{Command, Stdio};

mod common;
use common::*;

const MANIFEST: &str = "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n      settings:\n        image: aws/codebuild/standard:7.0\n        provision:\n          - bash provision.sh\n        deprovision:\n          - echo bye\n";

const PROVISION: &str = r#"set -e
cat > outputs.json <<JSON
[{"key": "Reported", "valueString": "from-notify"}, {"key": "Shared", "valueString": "notified"}]
JSON
aws proton notify-resource-deployment-status-change --resource-arn "$RESOURCE_ARN" --status IN_PROGRESS --outputs file://outputs.json
echo '{"Shared": "from-file"}' > proton-outputs.json
"#;

/// A `deuteron server` on SQLite in `data` whose environment has no AWS credentials: scripts get
/// the deployment's key as the ambient credentials, and the AWS CLI finds Deuteron through
/// AWS_ENDPOINT_URL_PROTON. Returns the process and its port.
fn notify_server(data: &std::path::Path, log_path: &std::path::Path, extra: &[&str]) -> (Killed, u16) {
    let path = format!("{}:{}", venv_bin("aws").parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let log = std::fs::File::create(log_path).unwrap();
    let mut server = Killed(
        Command::new(env!("CARGO_BIN_EXE_deuteron"))
            .arg("--data-dir")
            .arg(data)
            .args(["server", "--no-examples", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("DEUTERON_DATABASE_URL")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_PROFILE")
            .env("DEUTERON_ADMIN_ACCESS_KEY_ID", ADMIN_ID)
            .env("DEUTERON_ADMIN_SECRET_ACCESS_KEY", ADMIN_SECRET)
            .env("PATH", path)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let port = listening_port(log_path, &mut server.0);
    (server, port)
}

/// A bundle at `dir/bundle` whose provision command is `provision.sh` with `script`.
fn codebuild_bundle(dir: &std::path::Path, script: &str) -> std::path::PathBuf {
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(bundle.join("infrastructure")).unwrap();
    std::fs::create_dir_all(bundle.join("schema")).unwrap();
    std::fs::write(bundle.join("schema/schema.yaml"), "schema:\n  format:\n    openapi: \"3.0.0\"\n  environment_input_type: \"In\"\n  types:\n    In:\n      type: object\n      properties:\n        x:\n          type: string\n          default: y\n").unwrap();
    std::fs::write(bundle.join("infrastructure/manifest.yaml"), MANIFEST).unwrap();
    std::fs::write(bundle.join("infrastructure/provision.sh"), script).unwrap();
    bundle
}

#[test]
fn commands_report_outputs_through_the_proton_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bundle = codebuild_bundle(dir.path(), PROVISION);
    let deuteron = |args: &[&str]| deuteron(&data, args);
    let ok = |args: &[&str]| deuteron_ok(&data, args);
    ok(&["template", "create", "env", "net"]);
    ok(&["template", "version", "register", "env", "net", bundle.to_str().unwrap(), "--publish"]);

    let log_path = dir.path().join("server.log");
    let (_server, port) = notify_server(&data, &log_path, &[]);
    let spec = dir.path().join("dev.yaml");
    std::fs::write(&spec, "proton: EnvironmentSpec\nspec: {}\n").unwrap();
    let (code, out, err) =
        // No --major: the recommended version's (1).
        deuteron(&["env", "create", "dev", "--template", "net", "--spec", spec.to_str().unwrap(), "--wait", "-o", "json"]);
    let server_log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert_eq!(code, Some(0), "{err}\n--- server log\n{server_log}");
    let env: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!((env["deploymentStatus"].as_str(), env["templateMajorVersion"].as_str()), (Some("SUCCEEDED"), Some("1")), "{env}");

    let outputs: serde_json::Value = serde_json::from_str(&ok(&["env", "outputs", "dev", "-o", "json"])).unwrap();
    let get = |k: &str| outputs.as_array().unwrap().iter().find(|o| o["key"] == k).map(|o| o["valueString"].as_str().unwrap().to_string());
    assert_eq!(get("Reported").as_deref(), Some("from-notify"), "{outputs}");
    assert_eq!(get("Shared").as_deref(), Some("from-file"), "proton-outputs.json wins over a reported value: {outputs}");
    let logs = ok(&["deployment", "logs", env["lastSucceededDeploymentId"].as_str().unwrap()]);
    assert!(logs.contains("NotifyResourceDeploymentStatusChange: status IN_PROGRESS, outputs Reported, Shared"), "{logs}");

    // The deployment's key was revoked when it ended: listed only with --deployment --all.
    let people: serde_json::Value = serde_json::from_str(&ok(&["key", "list", "-o", "json"])).unwrap();
    assert!(people.as_array().unwrap().iter().all(|k| k["role"] != "deployment"), "{people}");
    let live: serde_json::Value = serde_json::from_str(&ok(&["key", "list", "--deployment", "-o", "json"])).unwrap();
    assert_eq!(live.as_array().unwrap().len(), 0, "{live}");
    let keys: serde_json::Value = serde_json::from_str(&ok(&["key", "list", "--deployment", "--all", "-o", "json"])).unwrap();
    let issued = keys.as_array().unwrap();
    assert_eq!(issued.len(), 1, "{keys}");
    assert!(issued[0]["revokedAt"].is_string() && issued[0]["state"] == "revoked", "{keys}");
    assert_eq!(issued[0]["deploymentId"], env["lastSucceededDeploymentId"], "{keys}");
    let table = ok(&["key", "list", "--deployment", "--all"]);
    assert!(table.contains("DEPLOYMENT") && table.contains(env["lastSucceededDeploymentId"].as_str().unwrap()), "{table}");

    // No deployment in progress: a report is a conflict.
    let out = Command::new(venv_bin("aws"))
        .args([
            "proton",
            "notify-resource-deployment-status-change",
            "--resource-arn",
            "arn:aws:proton:us-east-1:123456789012:environment/dev",
            "--status",
            "SUCCEEDED",
        ])
        .args(["--endpoint-url", &format!("http://127.0.0.1:{port}"), "--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", ADMIN_ID)
        .env("AWS_SECRET_ACCESS_KEY", ADMIN_SECRET)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("ConflictException") && err.contains("has no deployment in progress"), "{err}");
}

/// What a deployment's key gets from each API: `(REST status, Proton API error code or "")`.
fn key_reception(port: u16, id: &str, secret: &str) -> (u16, String) {
    let (rest, _) = raw(port, &format!("GET /api/v1/environments HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {id}:{secret}\r\n"), b"");
    let out = Command::new(venv_bin("aws"))
        .args(["proton", "get-environment", "--name", "dev"])
        .args(["--endpoint-url", &format!("http://127.0.0.1:{port}"), "--region", "us-east-1"])
        .env("AWS_ACCESS_KEY_ID", id)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let code = ["UnrecognizedClientException", "AccessDeniedException"].iter().find(|c| err.contains(**c)).map_or("", |c| c);
    (rest, code.to_string())
}

/// A worker killed mid-deployment: the next server takes the deployment over once the lease
/// expires, and the dead attempt's key (readable from the dead process's environment) stops
/// working on both APIs; the second attempt's key ends with the deployment.
#[test]
fn a_killed_attempts_key_is_refused_after_the_takeover() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    // Each attempt writes the credentials it was given; the first then hangs until it is killed.
    let script = format!(
        "set -e\nn=$(ls {k} | wc -l)\necho \"$AWS_ACCESS_KEY_ID $AWS_SECRET_ACCESS_KEY\" > {k}/attempt-$n.tmp\nmv {k}/attempt-$n.tmp {k}/attempt-$n\nif [ \"$n\" = 0 ]; then sleep 20; exit 1; fi\n",
        k = keys.display()
    );
    let bundle = codebuild_bundle(dir.path(), &script);
    let ok = |args: &[&str]| deuteron_ok(&data, args);
    ok(&["template", "create", "env", "net"]);
    ok(&["template", "version", "register", "env", "net", bundle.to_str().unwrap(), "--publish"]);
    let log_path = dir.path().join("server.log");
    let lease = ["--lease-seconds", "2"];
    let (mut first, port) = notify_server(&data, &log_path, &lease);
    let spec = dir.path().join("dev.yaml");
    std::fs::write(&spec, "proton: EnvironmentSpec\nspec: {}\n").unwrap();
    ok(&["env", "create", "dev", "--template", "net", "--major", "1", "--spec", spec.to_str().unwrap()]);

    let read_key = |n: usize| -> (String, String) {
        let path = keys.join(format!("attempt-{n}"));
        for _ in 0..600 {
            if let Ok(text) = std::fs::read_to_string(&path) {
                let (id, secret) = text.trim().split_once(' ').unwrap();
                return (id.to_string(), secret.to_string());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("attempt {n} never started; server log:\n{}", std::fs::read_to_string(&log_path).unwrap_or_default());
    };
    let (id1, secret1) = read_key(0);
    assert_eq!(key_reception(port, &id1, &secret1), (403, "AccessDeniedException".into()), "the live key authenticates");
    first.0.kill().unwrap();
    first.0.wait().unwrap();

    let second_log = dir.path().join("server-2.log");
    let (_second, port) = notify_server(&data, &second_log, &lease);
    let (id2, secret2) = read_key(1);
    assert_ne!(id1, id2);
    let mut status = String::new();
    for _ in 0..300 {
        let env: serde_json::Value = serde_json::from_str(&ok(&["env", "show", "dev", "-o", "json"])).unwrap();
        status = env["deploymentStatus"].as_str().unwrap_or_default().to_string();
        if status == "SUCCEEDED" || status == "FAILED" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(status, "SUCCEEDED", "{}", std::fs::read_to_string(&second_log).unwrap_or_default());
    assert_eq!(key_reception(port, &id1, &secret1), (401, "UnrecognizedClientException".into()), "the killed attempt's key is dead");
    assert_eq!(key_reception(port, &id2, &secret2), (401, "UnrecognizedClientException".into()), "the finished attempt's key is dead");
    let all: serde_json::Value = serde_json::from_str(&ok(&["key", "list", "--deployment", "--all", "-o", "json"])).unwrap();
    let states: Vec<_> = all.as_array().unwrap().iter().map(|k| k["state"].as_str().unwrap().to_string()).collect();
    assert_eq!(states, ["revoked", "revoked"], "{all}");

    // A key whose process crashed before anything revoked it dies at its hard expiry.
    let (id3, secret3) = ("AKIDEXPIREDDEPLOY001", "expired-deployment-secret-0000000000000");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use deuteron_store::Store;
        let store = deuteron_store::SqliteStore::open(&data.join("deuteron.db")).await.unwrap();
        let sealed = deuteron_service::keys::ServerKey::load_or_create(&data).unwrap().seal(secret3.as_bytes());
        let now = deuteron_store::now_millis();
        let key = deuteron_store::AccessKeyRecord {
            id: id3.into(),
            secret_sealed: sealed,
            role: deuteron_core::Role::Deployment,
            description: Some("deployment crashed".into()),
            created_at: now - 60_000,
            revoked_at: None,
            deployment_id: Some("crashed".into()),
            expires_at: Some(now - 1_000),
        };
        store.create_access_key(&key).await.unwrap();
    });
    assert_eq!(key_reception(port, id3, secret3), (401, "UnrecognizedClientException".into()), "an expired key is refused");
    let log = std::fs::read_to_string(&second_log).unwrap();
    for (id, state) in [(id1.as_str(), "revoked"), (id3, "expired")] {
        assert!(
            log.lines().any(|l| l.contains("refused an access key that no longer works") && l.contains(id) && l.contains(state)),
            "{id} ({state}) refused in the log:\n{log}"
        );
    }
    for secret in [secret1.as_str(), secret2.as_str(), secret3] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}
