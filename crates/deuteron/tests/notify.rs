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

#[test]
fn commands_report_outputs_through_the_proton_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let bundle = dir.path().join("bundle");
    std::fs::create_dir_all(bundle.join("infrastructure")).unwrap();
    std::fs::create_dir_all(bundle.join("schema")).unwrap();
    std::fs::write(bundle.join("schema/schema.yaml"), "schema:\n  format:\n    openapi: \"3.0.0\"\n  environment_input_type: \"In\"\n  types:\n    In:\n      type: object\n      properties:\n        x:\n          type: string\n          default: y\n").unwrap();
    std::fs::write(bundle.join("infrastructure/manifest.yaml"), MANIFEST).unwrap();
    std::fs::write(bundle.join("infrastructure/provision.sh"), PROVISION).unwrap();
    let deuteron = |args: &[&str]| deuteron(&data, args);
    let ok = |args: &[&str]| deuteron_ok(&data, args);
    ok(&["template", "create", "env", "net"]);
    ok(&["template", "version", "register", "env", "net", bundle.to_str().unwrap(), "--publish"]);

    // The server's environment has no AWS credentials: scripts get the deployment's key as the
    // ambient credentials, and the AWS CLI finds Deuteron through AWS_ENDPOINT_URL_PROTON.
    let port = free_port();
    let path = format!("{}:{}", venv_bin("aws").parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let _server = Killed(
        Command::new(env!("CARGO_BIN_EXE_deuteron"))
            .arg("--data-dir")
            .arg(&data)
            .args(["server", "--no-examples", "--listen", &format!("127.0.0.1:{port}")])
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
    wait_port(port);
    let spec = dir.path().join("dev.yaml");
    std::fs::write(&spec, "proton: EnvironmentSpec\nspec: {}\n").unwrap();
    let (code, out, err) =
        deuteron(&["env", "create", "dev", "--template", "net", "--major", "1", "--spec", spec.to_str().unwrap(), "--wait", "-o", "json"]);
    let server_log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    assert_eq!(code, Some(0), "{err}\n--- server log\n{server_log}");
    let env: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(env["deploymentStatus"], "SUCCEEDED");

    let outputs: serde_json::Value = serde_json::from_str(&ok(&["env", "outputs", "dev", "-o", "json"])).unwrap();
    let get = |k: &str| outputs.as_array().unwrap().iter().find(|o| o["key"] == k).map(|o| o["valueString"].as_str().unwrap().to_string());
    assert_eq!(get("Reported").as_deref(), Some("from-notify"), "{outputs}");
    assert_eq!(get("Shared").as_deref(), Some("from-file"), "proton-outputs.json wins over a reported value: {outputs}");
    let logs = ok(&["deployment", "logs", env["lastSucceededDeploymentId"].as_str().unwrap()]);
    assert!(logs.contains("NotifyResourceDeploymentStatusChange: status IN_PROGRESS, outputs Reported, Shared"), "{logs}");

    // The deployment's key was revoked when it ended.
    let keys: serde_json::Value = serde_json::from_str(&ok(&["key", "list", "-o", "json"])).unwrap();
    let issued: Vec<_> = keys.as_array().unwrap().iter().filter(|k| k["role"] == "deployment").collect();
    assert_eq!(issued.len(), 1, "{keys}");
    assert!(issued[0]["revokedAt"].is_string(), "{keys}");

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
