//! The web console in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! installed by `scripts/test.sh`), driven by Selenium from `.build/venv`. The scenario is
//! `tests/console/browser.py`; screenshots of every page land in `target/test-output/console/`.
//! Afterwards the stored state is checked through the CLI.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::*;

fn shots_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-output/console")
}

#[test]
fn console_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let deuteron = |args: &[&str]| deuteron_ok(&data, args);
    let server = server(&data, "http://127.0.0.1:9", &[]);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/templates");
    let env_bundle = examples.join("example-env/v1");
    let svc_bundle = examples.join("example-svc/v1");
    deuteron(&["template", "create", "environment", "example-env"]);
    deuteron(&["template", "version", "register", "environment", "example-env", env_bundle.to_str().unwrap(), "--publish"]);
    deuteron(&["template", "create", "service", "example-svc"]);
    deuteron(&["template", "version", "register", "service", "example-svc", svc_bundle.to_str().unwrap(), "--publish"]);
    // A new minor version waits as a draft; the scenario publishes it from the console.
    deuteron(&["template", "version", "register", "service", "example-svc", svc_bundle.to_str().unwrap(), "--major", "1"]);
    let viewer: serde_json::Value = serde_json::from_str(&deuteron(&["key", "create", "--role", "viewer", "-o", "json"])).unwrap();

    let shots = shots_dir();
    let _ = std::fs::remove_dir_all(&shots);
    let out = Command::new(venv_bin("python"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/browser.py"))
        .env("CONSOLE_URL", &server.url)
        .env("ADMIN_KEY_ID", ADMIN_ID)
        .env("ADMIN_SECRET", ADMIN_SECRET)
        .env("VIEWER_KEY_ID", viewer["accessKeyId"].as_str().unwrap())
        .env("VIEWER_SECRET", viewer["secretAccessKey"].as_str().unwrap())
        .env("SHOTS", &shots)
        .env("SE_OFFLINE", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("console scenario passed"),
        "browser scenario failed\n--- stdout\n{stdout}\n--- stderr\n{}\n--- server log (tail)\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log_tail(40)
    );
    let pngs = std::fs::read_dir(&shots).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "png")).count();
    assert!(pngs >= 21, "a screenshot of every page: {pngs} in {}", shots.display());

    // What the browser did is in the store; what the viewer tried is not.
    let instances: serde_json::Value = serde_json::from_str(&deuteron(&["instance", "list", "-o", "json"])).unwrap();
    let versions: Vec<(String, String, String)> = instances
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let v = format!("{}.{}", i["templateMajorVersion"].as_str().unwrap(), i["templateMinorVersion"].as_str().unwrap());
            (i["name"].as_str().unwrap().to_string(), v, i["deploymentStatus"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(
        versions,
        [("web-0".into(), "1.1".into(), "SUCCEEDED".into()), ("web-1".into(), "1.1".into(), "SUCCEEDED".into())],
        "web-0 was updated from the overview, web-1 from its page (the viewer's attempt to move it back was refused)"
    );
    let web1: serde_json::Value = serde_json::from_str(&deuteron(&["instance", "show", "web", "web-1", "-o", "json"])).unwrap();
    let spec = web1["spec"].as_str().unwrap();
    assert!(spec.contains("8082") && spec.contains("howdy"), "the corrected port and the new greeting were deployed: {spec}");
    let web0: serde_json::Value = serde_json::from_str(&deuteron(&["instance", "show", "web", "web-0", "-o", "json"])).unwrap();
    assert!(web0["spec"].as_str().unwrap().contains("8081"), "a one-click minor update keeps the spec: {}", web0["spec"]);
    let envs: serde_json::Value = serde_json::from_str(&deuteron(&["env", "list", "-o", "json"])).unwrap();
    let names: Vec<&str> = envs.as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["dev"], "the refused forms stored nothing");
    assert!(envs[0]["spec"].as_str().unwrap().contains("10.20.0.0/16"));
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("console action denied"), "refusals are logged");
    assert!(log.contains("console: service instance updated"), "changes are logged with the key that made them");
    assert!(!log.contains(ADMIN_SECRET), "secrets never reach the log");
}
