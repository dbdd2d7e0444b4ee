//! Stopping a server that is running a deployment: it waits the drain time, then stops the
//! deployment's processes and releases its lease, so the next server takes it over at once
//! (not after the lease) and nothing is left running or recorded as cancelled; a second signal
//! releases at once.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::*;

const MANIFEST: &str = "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n      settings:\n        provision:\n          - bash provision.sh\n        deprovision:\n          - \"true\"\n";

/// An environment template whose first provisioning hangs for a minute (marking when it starts
/// and, were it not killed, when it ends); later ones succeed at once.
fn slow_template(data: &Path, dir: &Path) -> PathBuf {
    let marks = dir.join("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let bundle = dir.join("bundle");
    std::fs::create_dir_all(bundle.join("schema")).unwrap();
    std::fs::create_dir_all(bundle.join("infrastructure")).unwrap();
    std::fs::write(
        bundle.join("schema/schema.yaml"),
        "schema:\n  format:\n    openapi: \"3.0.0\"\n  environment_input_type: \"E\"\n  types:\n    E:\n      type: object\n      properties: {}\n",
    )
    .unwrap();
    std::fs::write(bundle.join("infrastructure/manifest.yaml"), MANIFEST).unwrap();
    let script = format!(
        "n=$(ls {m} | grep -c started)\ntouch {m}/started-$n\nif [ \"$n\" = 0 ]; then sleep 60; touch {m}/finished-0; fi\necho done\n",
        m = marks.display()
    );
    std::fs::write(bundle.join("infrastructure/provision.sh"), script).unwrap();
    deuteron_ok(data, &["template", "create", "env", "slow"]);
    deuteron_ok(data, &["template", "version", "register", "env", "slow", bundle.to_str().unwrap(), "--publish"]);
    marks
}

fn start(data: &Path, log: &Path, extra: &[&str]) -> Killed {
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_deuteron"))
            .arg("--data-dir")
            .arg(data)
            .args(["server", "--no-examples", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("DEUTERON_DATABASE_URL")
            .env("DEUTERON_ADMIN_ACCESS_KEY_ID", ADMIN_ID)
            .env("DEUTERON_ADMIN_SECRET_ACCESS_KEY", ADMIN_SECRET)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    );
    listening_port(log, &mut child.0);
    child
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signal(child: &Killed, sig: &str) {
    assert!(Command::new("kill").args([&format!("-{sig}"), &child.0.id().to_string()]).status().unwrap().success());
}

/// Waits for the server to exit; how long it took.
fn exits(child: &mut Killed, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "the server did not exit within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn env_status(data: &Path) -> serde_json::Value {
    serde_json::from_str(&deuteron_ok(data, &["env", "show", "dev", "-o", "json"])).unwrap()
}

#[test]
fn after_the_drain_time_a_running_deployment_is_released_to_the_next_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let marks = slow_template(&data, dir.path());
    // A long lease: only the release lets the next server take the deployment over quickly.
    let first_log = dir.path().join("first.log");
    let mut first = start(&data, &first_log, &["--drain-seconds", "1", "--lease-seconds", "120"]);
    let spec = dir.path().join("dev.yaml");
    std::fs::write(&spec, "proton: EnvironmentSpec\nspec: {}\n").unwrap();
    deuteron_ok(&data, &["env", "create", "dev", "--template", "slow", "--spec", spec.to_str().unwrap()]);
    wait_for("the first attempt", Duration::from_secs(30), || marks.join("started-0").exists());

    signal(&first, "TERM");
    let took = exits(&mut first, Duration::from_secs(30));
    assert!(took < Duration::from_secs(20), "drained in {took:?}");
    let log = std::fs::read_to_string(&first_log).unwrap();
    assert!(log.contains("drain time over") && log.contains("deployment released at shutdown"), "{log}");
    let env = env_status(&data);
    assert_eq!(env["deploymentStatus"], "IN_PROGRESS", "released, not cancelled: {env}");

    let second_log = dir.path().join("second.log");
    let _second = start(&data, &second_log, &["--lease-seconds", "120"]);
    wait_for("the takeover", Duration::from_secs(30), || env_status(&data)["deploymentStatus"] == "SUCCEEDED");
    let id = env_status(&data)["lastSucceededDeploymentId"].as_str().unwrap().to_string();
    let dep: serde_json::Value = serde_json::from_str(&deuteron_ok(&data, &["deployment", "show", &id, "-o", "json"])).unwrap();
    assert_eq!(dep["attempts"], 2, "{dep}");
    let logs = deuteron_ok(&data, &["deployment", "logs", &id]);
    assert!(logs.contains("stopped before this deployment ended; another worker takes it over"), "{logs}");
    // The first attempt's process was stopped, not left running beside the second.
    std::thread::sleep(Duration::from_millis(500));
    assert!(!marks.join("finished-0").exists(), "the first attempt's command kept running");
}

#[test]
fn a_second_signal_releases_running_deployments_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let marks = slow_template(&data, dir.path());
    let log_path = dir.path().join("server.log");
    let mut server = start(&data, &log_path, &["--drain-seconds", "600"]);
    let spec = dir.path().join("dev.yaml");
    std::fs::write(&spec, "proton: EnvironmentSpec\nspec: {}\n").unwrap();
    deuteron_ok(&data, &["env", "create", "dev", "--template", "slow", "--spec", spec.to_str().unwrap()]);
    wait_for("the deployment", Duration::from_secs(30), || marks.join("started-0").exists());
    signal(&server, "INT");
    wait_for("the drain", Duration::from_secs(10), || {
        std::fs::read_to_string(&log_path).unwrap_or_default().contains("waiting for running deployments to finish")
    });
    signal(&server, "INT");
    let took = exits(&mut server, Duration::from_secs(30));
    assert!(took < Duration::from_secs(20), "{took:?}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("second signal") && log.contains("deployment released at shutdown"), "{log}");
    assert_eq!(env_status(&data)["deploymentStatus"], "IN_PROGRESS");
}
