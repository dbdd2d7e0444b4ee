//! Deployments end to end through the binary: the README's quick start against a running
//! `deuteron server`, and a `deuteron worker` process killed mid-deployment whose job another
//! worker process finishes, on SQLite and on a shared PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_deuteron"));
    c.env_remove("DEUTERON_DATABASE_URL").env_remove("DEUTERON_OUTPUT");
    c
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

struct Ctl {
    data: PathBuf,
    url: Option<String>,
}

impl Ctl {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = bin();
        c.arg("--data-dir").arg(&self.data);
        if let Some(u) = &self.url {
            c.arg("--database-url").arg(u);
        }
        c.args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "deuteron {args:?} failed ({:?}): {}", out.status.code(), String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&a)).unwrap()
    }

    fn spawn(&self, args: &[&str]) -> Proc {
        Proc(Some(self.cmd(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap()))
    }
}

/// A spawned `deuteron` killed on drop, so a failing test leaves no process behind.
struct Proc(Option<Child>);

impl Proc {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("the process is still owned")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Stops a process with SIGTERM (graceful shutdown) and returns its stderr.
fn stop(mut proc: Proc) -> String {
    let mut child = proc.0.take().expect("the process is still owned");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn quick_start_deploys_an_environment_and_a_service_with_two_instances() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = Ctl { data: dir.path().join("data"), url: None };
    let server = ctl.spawn(&["server", "--listen", "127.0.0.1:0"]);
    let specs = examples().join("specs");
    let spec = |f: &str| specs.join(f).to_string_lossy().into_owned();
    // The server registers the example templates into the empty store on start.
    let deadline = Instant::now() + Duration::from_secs(20);
    while ctl.json(&["template", "list"]).as_array().unwrap().len() < 2 {
        if Instant::now() >= deadline {
            panic!("the example templates were not registered; the server said:\n{}", stop(server));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let env = ctl.json(&["env", "create", "dev", "--template", "example-env", "--major", "1", "--spec", &spec("dev.yaml"), "--wait"]);
    assert_eq!(env["deploymentStatus"], "SUCCEEDED", "{env}");
    ctl.ok(&["env", "create", "prod", "--template", "example-env", "--major", "1", "--spec", &spec("prod.yaml"), "--wait"]);
    let out = ctl
        .cmd(&["service", "create", "web", "--template", "example-svc", "--major", "1", "--spec", &spec("web.yaml"), "--wait"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(progress.contains("[web/web-dev] deployment") && progress.contains("(PROVISION)"), "progress is shown: {progress}");
    for key in ["web/web-dev", "web/web-prod", "web"] {
        assert!(
            progress.lines().any(|l| l.starts_with(&format!("[{key}] deploying")) || l.starts_with(&format!("[{key}] pipeline"))),
            "{key}'s log lines: {progress}"
        );
        assert!(
            progress.lines().any(|l| l.starts_with(&format!("[{key}] deployment ")) && l.contains(" SUCCEEDED in ")),
            "{key} ended: {progress}"
        );
    }
    assert_eq!(ctl.json(&["service", "show", "web"])["status"], "ACTIVE");
    let instances = ctl.json(&["instance", "list", "--service", "web"]);
    assert_eq!(
        instances.as_array().unwrap().iter().map(|i| i["deploymentStatus"].as_str().unwrap()).collect::<Vec<_>>(),
        vec!["SUCCEEDED", "SUCCEEDED"]
    );
    let outputs = ctl.json(&["instance", "outputs", "web", "web-prod"]);
    assert_eq!(
        outputs,
        serde_json::json!([{"key": "Endpoint", "valueString": "http://web-prod.net-prod.local:443"}, {"key": "Greeting", "valueString": "hello"}])
    );
    let targets = ctl.json(&["pipeline", "outputs", "web"]);
    assert_eq!(targets[0]["valueString"], "http://web-dev.net-dev.local:8080,http://web-prod.net-prod.local:443");
    // The fleet view: who runs which version.
    let fleet = ctl.json(&["template", "fleet", "service", "example-svc"]);
    assert_eq!(fleet[0]["versions"][0]["version"], "1.0", "{fleet}");
    assert_eq!(
        (fleet[0]["versions"][0]["serviceInstances"].as_u64(), fleet[0]["versions"][0]["pipelines"].as_u64()),
        (Some(2), Some(1)),
        "{fleet}"
    );
    assert_eq!((fleet[0]["upToDate"].as_u64(), fleet[0]["behindMinor"].as_u64()), (Some(3), Some(0)), "{fleet}");
    assert_eq!(ctl.json(&["template", "fleet", "env"])[0]["versions"][0]["environments"], 2);
    assert_eq!(ctl.run(&["template", "fleet", "env", "nope"]).status.code(), Some(4));
    assert_eq!(ctl.json(&["instance", "list", "--template", "example-svc", "--template-version", "1.0"]).as_array().unwrap().len(), 2);
    assert_eq!(ctl.json(&["instance", "list", "--behind", "minor"]), serde_json::json!([]), "nothing newer is published");
    assert_eq!(ctl.run(&["instance", "list", "--template-version", "one"]).status.code(), Some(3));
    let deployments = ctl.json(&["deployment", "list"]);
    assert_eq!(deployments.as_array().unwrap().len(), 5);
    let id = deployments[0]["id"].as_str().unwrap().to_string();
    let log = ctl.ok(&["deployment", "logs", &id]);
    assert!(log.contains("pipeline for web on branch main deploys to 2 instance(s)"), "{log}");
    // An invalid update is refused with the JSON path; a conflicting one with exit code 5.
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "port: 70000\n").unwrap();
    let out = ctl.run(&["instance", "update", "web", "web-dev", "--spec", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("$.spec.port: must be at most 65535 (rule: maximum, value: 70000)"));
    let err = ctl.run(&["env", "delete", "dev"]);
    assert_eq!(err.status.code(), Some(5));
    assert_eq!(
        String::from_utf8_lossy(&err.stderr),
        "error: environment dev still has service instances: web/web-dev; delete them first\n"
    );
    // Delete everything.
    ctl.ok(&["service", "delete", "web", "--wait"]);
    ctl.ok(&["env", "delete", "dev", "--wait"]);
    ctl.ok(&["env", "delete", "prod", "--wait"]);
    assert_eq!(ctl.json(&["env", "list"]), serde_json::json!([]));
    assert_eq!(ctl.json(&["deployment", "list"]).as_array().unwrap().len(), 10, "history outlives the resources");
    let log = stop(server);
    assert!(log.contains("registered the example templates"), "{log}");
}

const SLOW_ENV: &[(&str, &str)] = &[
    (
        "schema/schema.yaml",
        "schema:\n  format:\n    openapi: \"3.0.0\"\n  environment_input_type: \"In\"\n  types:\n    In:\n      type: object\n      properties:\n        seconds:\n          type: number\n          default: 0\n",
    ),
    (
        "infrastructure/manifest.yaml",
        "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n      settings:\n        provision:\n          - S=$(python3 -c 'import json; print(json.load(open(\"proton-inputs.json\"))[\"environment\"][\"inputs\"][\"seconds\"])')\n          - echo \"sleeping $S\"\n          - sleep \"$S\"\n          - 'echo ''{\"Slept\": \"yes\"}'' > proton-outputs.json'\n        deprovision:\n          - echo bye\n",
    ),
];

fn killed_worker_is_replaced(url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let ctl = Ctl { data: dir.path().join("data"), url };
    let bundle = dir.path().join("slow");
    for (p, c) in SLOW_ENV {
        std::fs::create_dir_all(bundle.join(p).parent().unwrap()).unwrap();
        std::fs::write(bundle.join(p), c).unwrap();
    }
    ctl.ok(&["template", "create", "env", "slow"]);
    ctl.ok(&["template", "version", "register", "env", "slow", bundle.to_str().unwrap(), "--publish"]);
    let spec = dir.path().join("spec.yaml");
    std::fs::write(&spec, "proton: EnvironmentSpec\nspec:\n  seconds: 3\n").unwrap();
    ctl.ok(&["env", "create", "dev", "--template", "slow", "--major", "1", "--spec", spec.to_str().unwrap()]);
    let id = ctl.json(&["env", "show", "dev"])["lastAttemptedDeploymentId"].as_str().unwrap().to_string();
    // The first worker starts the deployment and is killed (SIGKILL) while the command sleeps.
    let mut doomed = ctl.spawn(&["worker", "--lease-seconds", "1"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ctl.ok(&["deployment", "logs", &id]).contains("sleeping 3") {
        assert!(Instant::now() < deadline, "the first worker never started the deployment");
        std::thread::sleep(Duration::from_millis(100));
    }
    doomed.child().kill().unwrap();
    doomed.child().wait().unwrap();
    // A second worker takes over once the lease has expired and finishes the job.
    let rescuer = ctl.spawn(&["worker", "--lease-seconds", "5"]);
    let out = ctl.run(&["deployment", "cancel", "--help"]);
    assert!(out.status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = ctl.json(&["deployment", "show", &id]);
        if d["deploymentStatus"] == "SUCCEEDED" {
            assert_eq!(d["attempts"], 2, "{d}");
            break;
        }
        assert!(Instant::now() < deadline, "the deployment was not finished by the second worker: {d}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(ctl.json(&["env", "outputs", "dev"]), serde_json::json!([{"key": "Slept", "valueString": "yes"}]));
    let log = ctl.ok(&["deployment", "logs", &id]);
    assert!(log.contains("after the previous worker's lease expired"), "{log}");
    // A running deployment cancelled through the CLI ends CANCELLED (exit code 0: cancel succeeded).
    std::fs::write(&spec, "proton: EnvironmentSpec\nspec:\n  seconds: 30\n").unwrap();
    let upd = ctl.json(&["env", "update", "dev", "--spec", spec.to_str().unwrap()]);
    let id2 = upd["lastAttemptedDeploymentId"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ctl.ok(&["deployment", "logs", &id2]).contains("sleeping 30") {
        assert!(Instant::now() < deadline, "the update never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let c = ctl.json(&["deployment", "cancel", &id2, "--wait", "--wait-timeout", "30"]);
    assert_eq!(c["deploymentStatus"], "CANCELLED", "{c}");
    assert_eq!(ctl.json(&["env", "show", "dev"])["deploymentStatus"], "CANCELLED");
    stop(rescuer);
}

#[test]
fn killed_worker_is_replaced_on_sqlite() {
    killed_worker_is_replaced(None);
}

#[test]
fn killed_worker_is_replaced_on_postgres() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = rt.block_on(deuteron_store::testing::fresh_postgres_url());
    killed_worker_is_replaced(Some(url));
}
