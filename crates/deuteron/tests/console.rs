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
    deuteron(&[
        "template",
        "version",
        "register",
        "service",
        "example-svc",
        svc_bundle.to_str().unwrap(),
        "--major",
        "1",
        "--allow-same-content",
    ]);
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

/// A form body, percent-encoded.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A console session over plain HTTP: the cookie from signing in.
struct Browser {
    port: u16,
    cookie: String,
}

impl Browser {
    fn sign_in(port: u16, id: &str, secret: &str) -> Browser {
        let body = form(&[("key_id", id), ("secret", secret), ("next", "/")]);
        let (status, text) =
            raw(port, "POST /sign-in HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n", body.as_bytes());
        assert_eq!(status, 303, "{text}");
        let cookie = header(&text, "set-cookie").unwrap().split(';').next().unwrap().to_string();
        Browser { port, cookie }
    }

    fn get(&self, path: &str) -> (u16, String) {
        raw(self.port, &format!("GET {path} HTTP/1.1\r\nHost: x\r\nCookie: {}\r\n", self.cookie), b"")
    }

    fn post(&self, path: &str, pairs: &[(&str, &str)]) -> (u16, String) {
        let head =
            format!("POST {path} HTTP/1.1\r\nHost: x\r\nCookie: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n", self.cookie);
        raw(self.port, &head, form(pairs).as_bytes())
    }

    /// The CSRF token the console put in a page's forms.
    fn csrf(&self, page: &str) -> String {
        let (status, text) = self.get(page);
        assert_eq!(status, 200, "{text}");
        let at = text.find("name=\"_csrf\" value=\"").unwrap_or_else(|| panic!("no form on {page}")) + 20;
        text[at..].split('"').next().unwrap().to_string()
    }
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..300 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// The console's forms and rules over plain HTTP, for what the browser scenario does not do:
/// environment updates, cancelling, the developer role, tampered and revoked sessions, error pages,
/// and the log stream.
#[test]
fn console_forms_and_rules_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let deuteron = |args: &[&str]| deuteron_ok(&data, args);
    let server = server(&data, "http://127.0.0.1:9", &[]);
    let port = server.port;
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/templates");
    deuteron(&["template", "create", "environment", "example-env"]);
    deuteron(&[
        "template",
        "version",
        "register",
        "environment",
        "example-env",
        examples.join("example-env/v1").to_str().unwrap(),
        "--publish",
    ]);
    deuteron(&["template", "create", "service", "example-svc"]);
    deuteron(&[
        "template",
        "version",
        "register",
        "service",
        "example-svc",
        examples.join("example-svc/v1").to_str().unwrap(),
        "--publish",
    ]);
    // An environment template whose provisioning takes a minute, to cancel.
    let slow = dir.path().join("slow");
    std::fs::create_dir_all(slow.join("schema")).unwrap();
    std::fs::create_dir_all(slow.join("infrastructure")).unwrap();
    std::fs::write(
        slow.join("schema/schema.yaml"),
        "schema:\n  format:\n    openapi: \"3.0.0\"\n  environment_input_type: \"E\"\n  types:\n    E:\n      type: object\n      properties: {}\n",
    )
    .unwrap();
    std::fs::write(
        slow.join("infrastructure/manifest.yaml"),
        "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n      settings:\n        provision:\n          - echo starting\n          - sleep 60\n        deprovision:\n          - \"true\"\n",
    )
    .unwrap();
    deuteron(&["template", "create", "environment", "slow"]);
    deuteron(&["template", "version", "register", "environment", "slow", slow.to_str().unwrap(), "--publish"]);
    let developer: serde_json::Value = serde_json::from_str(&deuteron(&["key", "create", "--role", "developer", "-o", "json"])).unwrap();
    let env_json = |name: &str| -> serde_json::Value { serde_json::from_str(&deuteron(&["env", "show", name, "-o", "json"])).unwrap() };

    let admin = Browser::sign_in(port, ADMIN_ID, ADMIN_SECRET);
    // The ID:SECRET form the server prints at first start, pasted into the id field, works too.
    let pasted = Browser::sign_in(port, &format!("{ADMIN_ID}:{ADMIN_SECRET}"), "");
    assert_eq!(pasted.get("/templates").0, 200);
    let csrf = admin.csrf("/environments/new?template=example-env");
    // A bad name and a bad input: 422, both named, nothing stored.
    let (status, text) = admin.post(
        "/environments/new",
        &[("_csrf", &csrf), ("template", "example-env"), ("version", "1.0"), ("name", "no spaces"), ("in.cidr", "10.1.0.0/99x")],
    );
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("id=\"name-error\"") && text.contains("id=\"in.cidr-error\""), "{text}");
    assert!(text.contains("value=\"10.1.0.0&#x2f;99x\""), "what was typed is shown again (escaped)");
    assert_eq!(deuteron(&["env", "list", "-o", "json"]).trim(), "[]");
    let (status, text) = admin.post(
        "/environments/new",
        &[
            ("_csrf", &csrf),
            ("template", "example-env"),
            ("version", "1.0"),
            ("name", "dev"),
            ("in.cidr", "10.1.0.0/16"),
            ("in.tier", "staging"),
        ],
    );
    assert_eq!((status, header(&text, "location")), (303, Some("/environments/dev")), "{text}");
    wait_for("dev to deploy", || env_json("dev")["deploymentStatus"] == "SUCCEEDED");

    // Update the environment's inputs from its page: a deployment, then the new spec.
    let (status, text) = admin.post(
        "/environments/dev/update",
        &[("_csrf", &csrf), ("version", "1.0"), ("spec_fields", "1"), ("in.cidr", "10.2.0.0/16"), ("in.tier", "production")],
    );
    assert_eq!(status, 303, "{text}");
    let to = header(&text, "location").unwrap().to_string();
    assert!(to.starts_with("/deployments/"), "{to}");
    wait_for("the update", || env_json("dev")["spec"].as_str().unwrap().contains("10.2.0.0/16"));
    assert!(env_json("dev")["spec"].as_str().unwrap().contains("production"));
    // The finished deployment's log stream sends its lines, then the end with the status.
    let (status, text) = admin.get(&format!("{to}/stream"));
    assert_eq!(status, 200, "{text}");
    assert!(header(&text, "content-type").unwrap().starts_with("text/event-stream"), "{text}");
    assert!(text.contains("event: line") && text.contains("event: end") && text.contains("\"deploymentStatus\":\"SUCCEEDED\""), "{text}");

    // Cancel a running deployment from its page.
    let (status, text) =
        admin.post("/environments/new", &[("_csrf", &csrf), ("template", "slow"), ("version", "1.0"), ("name", "slowpoke")]);
    assert_eq!(status, 303, "{text}");
    let deployment = env_json("slowpoke")["lastAttemptedDeploymentId"].as_str().unwrap().to_string();
    wait_for("the slow deployment to start", || {
        let (_, page) = admin.get(&format!("/deployments/{deployment}"));
        page.contains("starting")
    });
    let (_, page) = admin.get(&format!("/deployments/{deployment}"));
    assert!(page.contains("id=\"cancel\"") && page.contains("data-follow="), "a running deployment is followed and can be cancelled");
    let (status, text) = admin.post(&format!("/deployments/{deployment}/cancel"), &[("_csrf", &csrf)]);
    assert_eq!(status, 303, "{text}");
    wait_for("the cancel", || env_json("slowpoke")["deploymentStatus"] == "CANCELLED");

    // A developer may create services, not environments; the pages follow.
    let dev = Browser::sign_in(port, developer["accessKeyId"].as_str().unwrap(), developer["secretAccessKey"].as_str().unwrap());
    let (_, page) = dev.get("/environments");
    assert!(!page.contains("id=\"new-environment\""), "no create-environment link for a developer");
    let (_, page) = dev.get("/services");
    assert!(page.contains("id=\"new-service\""), "developers create services");
    let dev_csrf = dev.csrf("/services/new?template=example-svc");
    let (status, text) =
        dev.post("/environments/new", &[("_csrf", &dev_csrf), ("template", "example-env"), ("version", "1.0"), ("name", "mine")]);
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("a developer key may not CreateEnvironment"), "{text}");
    // Another session's CSRF token is not accepted.
    let (status, _) = dev.post("/services/new", &[("_csrf", &csrf), ("template", "example-svc"), ("version", "1.0"), ("name", "x")]);
    assert_eq!(status, 403);
    let (status, text) = dev.post(
        "/services/new",
        &[
            ("_csrf", &dev_csrf),
            ("template", "example-svc"),
            ("version", "1.0"),
            ("count", "1"),
            ("name", "api"),
            ("i0-name", "api-dev"),
            ("i0-environment", "dev"),
            ("i0.port", "9000"),
        ],
    );
    assert_eq!((status, header(&text, "location")), (303, Some("/services/api")), "{text}");

    // Choose the recommended version: a newer minor is published, so api-dev (1.0) is behind;
    // the platform team keeps 1.0 recommended, then lets it follow the highest again.
    deuteron(&[
        "template",
        "version",
        "register",
        "service",
        "example-svc",
        examples.join("example-svc/v1").to_str().unwrap(),
        "--major",
        "1",
        "--publish",
        "--allow-same-content",
    ]);
    let standing = || -> String {
        let list: serde_json::Value = serde_json::from_str(&deuteron(&["instance", "list", "--service", "api", "-o", "json"])).unwrap();
        list[0]["templateVersionStatus"].as_str().unwrap().to_string()
    };
    assert_eq!(standing(), "BEHIND_MINOR");
    wait_for("api-dev to deploy", || {
        let list: serde_json::Value = serde_json::from_str(&deuteron(&["instance", "list", "--service", "api", "-o", "json"])).unwrap();
        list[0]["deploymentStatus"] == "SUCCEEDED"
    });
    let (status, text) = dev.post("/templates/service/example-svc/recommended", &[("_csrf", &dev_csrf), ("version", "1.0")]);
    assert_eq!(status, 403, "developers do not choose the recommended version: {text}");
    let (_, page) = admin.get("/templates/service/example-svc");
    assert!(page.contains("Make recommended") && !page.contains("id=\"pin-note\""), "{page}");
    let (status, text) = admin.post("/templates/service/example-svc/recommended", &[("_csrf", &csrf), ("version", "1.0")]);
    assert_eq!((status, header(&text, "location")), (303, Some("/templates/service/example-svc?version=1.0")), "{text}");
    let (_, page) = admin.get("/templates/service/example-svc");
    assert!(page.contains("id=\"pin-note\"") && page.contains("id=\"unpin\""), "{page}");
    assert_eq!(standing(), "UP_TO_DATE", "the instance runs the chosen recommended version");
    let shown: serde_json::Value = serde_json::from_str(&deuteron(&["template", "show", "service", "example-svc", "-o", "json"])).unwrap();
    assert_eq!((shown["recommendedVersion"].as_str(), shown["pinnedRecommendedVersion"].as_str()), (Some("1.0"), Some("1.0")));
    let target = |d: &dyn Fn(&[&str]) -> String| -> (String, u64) {
        let plan: serde_json::Value = serde_json::from_str(&d(&["rollout", "plan", "service", "example-svc", "-o", "json"])).unwrap();
        (plan["targetVersion"].as_str().unwrap().to_string(), plan["moving"].as_u64().unwrap())
    };
    assert_eq!(target(&deuteron), ("1.0".to_string(), 0), "a rollout's default target is the chosen recommended version");
    let (status, text) = admin.post("/templates/service/example-svc/recommended", &[("_csrf", &csrf), ("version", "3.0")]);
    assert_eq!(status, 404, "{text}");
    deuteron(&["template", "recommend", "service", "example-svc", "--highest"]);
    assert_eq!(standing(), "BEHIND_MINOR");
    assert_eq!(
        target(&deuteron),
        ("1.1".to_string(), 2),
        "without a choice, the highest published minor (the instance and the pipeline move)"
    );
    // The same over REST, and through the remote CLI.
    let put = |body: &str| {
        let head = format!(
            "PUT /api/v1/templates/service/example-svc/recommended-version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_ID}:{ADMIN_SECRET}\r\nContent-Type: application/json\r\n"
        );
        raw(port, &head, body.as_bytes())
    };
    let (status, text) = put(r#"{"version": "1.0"}"#);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("\"recommendedVersion\":\"1.0\"") && text.contains("\"pinnedRecommendedVersion\":\"1.0\""), "{text}");
    assert_eq!(put(r#"{"version": "9.9"}"#).0, 404);
    let (status, text) = put(r#"{"version": "one"}"#);
    assert!(status == 400 && text.contains("version"), "{text}");
    let remote = Command::new(env!("CARGO_BIN_EXE_deuteron"))
        .args([
            "--server",
            &server.url,
            "--access-key",
            &format!("{ADMIN_ID}:{ADMIN_SECRET}"),
            "template",
            "recommend",
            "service",
            "example-svc",
            "--highest",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    assert!(remote.status.success(), "{}", String::from_utf8_lossy(&remote.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&remote.stdout).unwrap();
    assert_eq!((shown["recommendedVersion"].as_str(), shown.get("pinnedRecommendedVersion")), (Some("1.1"), None));

    // Error pages and filters.
    let (status, text) = admin.get("/services/nope");
    assert_eq!(status, 404);
    assert!(text.contains("service nope not found"), "{text}");
    let (status, text) = admin.get("/instances?version=one");
    assert_eq!(status, 400);
    assert!(text.contains("version filter: version &quot;one&quot; is not of the form MAJOR.MINOR"), "{text}");
    let (status, text) = admin.get("/instances?currency=SIDEWAYS");
    assert_eq!(status, 400, "{text}");

    // Sessions: a tampered cookie, then a revoked key, lead back to sign-in.
    let tampered = Browser { port, cookie: format!("{}x", dev.cookie) };
    let (status, text) = tampered.get("/services");
    assert_eq!((status, header(&text, "location")), (303, Some("/sign-in?next=%2Fservices")), "{text}");
    deuteron(&["key", "revoke", developer["accessKeyId"].as_str().unwrap()]);
    let (status, _) = dev.get("/services");
    assert_eq!(status, 303, "revoking a key ends its console sessions");
    let (status, text) = raw(port, "GET /sign-in?next=//evil.example HTTP/1.1\r\nHost: x\r\n", b"");
    assert_eq!(status, 200);
    assert!(text.contains("name=\"next\" value=\"&#x2f;\""), "sign-in never sends anyone off the server: {text}");
}
