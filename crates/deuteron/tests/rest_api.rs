//! The REST API against a running `deuteron server`: its OpenAPI document matches the routes, a
//! whole story (templates from uploaded bundles, an environment, a service, an instance update, a
//! component, keys, deployments) runs over it, roles are enforced, bad input gets a clear error
//! and changes nothing, and the CLI's `--output json` and the API answer with the same views.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{ADMIN_ID, ADMIN_SECRET, deuteron, deuteron_ok, raw, server};
use serde_json::{Value, json};

struct Client {
    port: u16,
    key: String,
}

impl Client {
    fn call(&self, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\nContent-Type: {content_type}\r\n",
            self.port, self.key
        );
        let (status, text) = raw(self.port, &head, body);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    fn json(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        let bytes = if body.is_null() { Vec::new() } else { body.to_string().into_bytes() };
        self.call(method, path, "application/json", &bytes)
    }

    fn get(&self, path: &str) -> Value {
        let (status, v) = self.json("GET", path, Value::Null);
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    /// Waits until the deployment ends; returns its final view.
    fn wait(&self, id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let d = self.get(&format!("/api/v1/deployments/{id}"));
            let status = d["deploymentStatus"].as_str().unwrap().to_string();
            if !["IN_PROGRESS", "DELETE_IN_PROGRESS", "CANCELLING"].contains(&status.as_str()) {
                return d;
            }
            assert!(Instant::now() < deadline, "deployment {id} still {status}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn tar_gz(dir: &Path) -> Vec<u8> {
    let out = dir.with_extension("tar.gz");
    let status = std::process::Command::new("tar").arg("czf").arg(&out).arg("-C").arg(dir).arg(".").status().unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

fn bundle(dir: &Path, files: &[(&str, &str)]) -> Vec<u8> {
    for (p, c) in files {
        std::fs::create_dir_all(dir.join(p).parent().unwrap()).unwrap();
        std::fs::write(dir.join(p), c).unwrap();
    }
    tar_gz(dir)
}

const MANIFEST: &str = "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n      settings:\n        provision:\n          - bash provision.sh\n        deprovision:\n          - \"true\"\n";

#[test]
fn the_rest_api_does_what_the_cli_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let srv = server(&data, "http://127.0.0.1:9", &["--workers", "2"]);
    let admin = Client { port: srv.port, key: format!("{ADMIN_ID}:{ADMIN_SECRET}") };

    // The OpenAPI document needs no key, and every path it documents is routed.
    let (status, text) = raw(srv.port, &format!("GET /api/v1/openapi.json HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n", srv.port), b"");
    assert_eq!(status, 200);
    let doc: Value = serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().unwrap();
    let operations: usize = paths.values().map(|ops| ops.as_object().unwrap().len()).sum();
    assert!(paths.len() >= 30 && operations >= 50, "{} paths, {operations} operations", paths.len());
    for (path, ops) in paths {
        let concrete = path
            .replace("{kind}", "service")
            .replace("{name}", "nope")
            .replace("{version}", "9.9")
            .replace("{service}", "nope")
            .replace("{id}", "nope")
            .replace("{action}", "pause");
        for method in ops.as_object().unwrap().keys() {
            let (status, body) = admin.json(&method.to_uppercase(), &concrete, json!({}));
            // A route that does not exist answers 404 without an error body, or 405.
            assert!(status != 405 && !(status == 404 && body.is_null()), "{method} {path} is documented but not routed ({status})");
        }
    }
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["CurrencyView"]["properties"]["templateVersionStatus"].is_object(), "views are described");
    assert!(schemas["EnvironmentView"].to_string().contains("#/components/schemas/CurrencyView"), "{}", schemas["EnvironmentView"]);
    assert!(schemas["CreateEnvironmentBody"]["required"].as_array().unwrap().contains(&json!("templateName")));
    assert_eq!(doc["components"]["securitySchemes"]["accessKey"]["scheme"], "bearer");

    // Templates from uploaded bundles.
    let (status, t) = admin.json("POST", "/api/v1/templates", json!({"kind": "environment", "name": "net"}));
    assert_eq!((status, t["name"].as_str()), (201, Some("net")), "{t}");
    let (status, dup) = admin.json("POST", "/api/v1/templates", json!({"kind": "environment", "name": "net"}));
    assert_eq!((status, dup["error"]["type"].as_str()), (409, Some("Conflict")), "{dup}");
    let env_bundle = bundle(
        &dir.path().join("net"),
        &[
            (
                "schema/schema.yaml",
                "schema:\n  format:\n    openapi: \"3.0.0\"\n  environment_input_type: \"E\"\n  types:\n    E:\n      type: object\n      properties:\n        cidr:\n          type: string\n          default: 10.0.0.0/16\n",
            ),
            ("infrastructure/manifest.yaml", MANIFEST),
            ("infrastructure/provision.sh", "echo '{\"VpcId\": \"vpc-1\"}' > proton-outputs.json\n"),
        ],
    );
    let (status, v) = admin.call("POST", "/api/v1/templates/environment/net/versions?publish=true", "application/gzip", &env_bundle);
    assert_eq!((status, v["status"].as_str(), v["version"].as_str()), (201, Some("PUBLISHED"), Some("1.0")), "{v}");
    let (status, bad) = admin.call("POST", "/api/v1/templates/environment/net/versions", "application/gzip", b"not an archive");
    assert_eq!(status, 400, "{bad}");
    assert!(bad["error"]["message"].as_str().unwrap().starts_with("invalid bundle"), "{bad}");
    assert_eq!(admin.get("/api/v1/templates/environment/net/versions").as_array().unwrap().len(), 1, "nothing stored from a bad bundle");
    // The same bundle again would change nothing: refused naming the version, unless allowed.
    let (status, same) = admin.call("POST", "/api/v1/templates/environment/net/versions?major=1", "application/gzip", &env_bundle);
    assert_eq!(status, 409, "{same}");
    assert!(same["error"]["message"].as_str().unwrap().contains("same content as version 1.0"), "{same}");
    assert_eq!(admin.get("/api/v1/templates/environment/net/versions").as_array().unwrap().len(), 1, "nothing stored");
    let (status, again) =
        admin.call("POST", "/api/v1/templates/environment/net/versions?major=1&allowSameContent=true", "application/gzip", &env_bundle);
    assert_eq!((status, again["version"].as_str()), (201, Some("1.1")), "{again}");
    let (status, _) = admin.call("DELETE", "/api/v1/templates/environment/net/versions/1.1", "application/json", b"");
    assert_eq!(status, 204);
    admin.json("POST", "/api/v1/templates", json!({"kind": "service", "name": "web", "customerManaged": true}));
    let svc_files = |minor: &str| {
        bundle(
            &dir.path().join(format!("web{minor}")),
            &[
                (
                    "schema/schema.yaml",
                    "schema:\n  format:\n    openapi: \"3.0.0\"\n  service_input_type: \"S\"\n  types:\n    S:\n      type: object\n      properties:\n        port:\n          type: number\n          default: 80\n          maximum: 65535\n",
                ),
                ("instance_infrastructure/manifest.yaml", MANIFEST),
                ("instance_infrastructure/provision.sh", &format!("echo '{{\"Version\": \"{minor}\"}}' > proton-outputs.json\n")),
                (".compatible-envs", "net:1\n"),
            ],
        )
    };
    let (status, v) = admin.call("POST", "/api/v1/templates/service/web/versions?publish=true", "application/gzip", &svc_files("0"));
    assert_eq!(status, 201, "{v}");

    // An environment and a service.
    let (status, e) = admin.json(
        "POST",
        "/api/v1/environments",
        json!({"name": "dev", "templateName": "net", "majorVersion": 1, "spec": "proton: EnvironmentSpec\nspec:\n  cidr: 10.1.0.0/16\n"}),
    );
    assert_eq!(status, 201, "{e}");
    assert_eq!(admin.wait(e["deploymentId"].as_str().unwrap())["deploymentStatus"], "SUCCEEDED");
    assert_eq!(admin.get("/api/v1/environments/dev/outputs"), json!([{"key": "VpcId", "valueString": "vpc-1"}]));
    let (status, bad) =
        admin.json("POST", "/api/v1/environments", json!({"name": "qa", "templateName": "net", "majorVersion": 1, "spec": 7}));
    assert_eq!(status, 400);
    assert!(bad["error"]["message"].as_str().unwrap().contains("body: invalid type: integer `7`"), "{bad}");
    let (status, bad) =
        admin.json("POST", "/api/v1/environments", json!({"name": "qa", "templateName": "net", "majorVersion": 1, "spek": ""}));
    assert_eq!(status, 400);
    assert!(bad["error"]["message"].as_str().unwrap().contains("unknown field `spek`"), "{bad}");
    let spec = "proton: ServiceSpec\ninstances:\n  - name: a\n    environment: dev\n  - name: b\n    environment: dev\n    spec:\n      port: 8080\n";
    let (status, s) =
        admin.json("POST", "/api/v1/services", json!({"name": "web", "templateName": "web", "majorVersion": 1, "spec": spec}));
    assert_eq!(status, 201, "{s}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while admin.get("/api/v1/services/web")["status"] != "ACTIVE" {
        assert!(Instant::now() < deadline, "service not ACTIVE");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The same view as the CLI's JSON.
    let cli: Value = serde_json::from_str(&deuteron_ok(&data, &["instance", "show", "web", "b", "-o", "json"])).unwrap();
    assert_eq!(admin.get("/api/v1/services/web/instances/b"), cli);

    // A new minor: who is behind, then an update.
    admin.call("POST", "/api/v1/templates/service/web/versions?major=1&publish=true", "application/gzip", &svc_files("1"));
    let behind = admin.get("/api/v1/instances?behind=minor");
    assert_eq!(behind.as_array().unwrap().len(), 2);
    assert_eq!(behind[0]["recommendedVersion"], "1.1");
    let (status, _) = admin.json("GET", "/api/v1/instances?behind=sideways", Value::Null);
    assert_eq!(status, 400);
    let (status, bad) =
        admin.json("PATCH", "/api/v1/services/web/instances/b", json!({"deploymentType": "MINOR_VERSION", "spec": "port: 70000\n"}));
    assert_eq!(status, 400);
    assert!(bad["error"]["message"].as_str().unwrap().contains("$.spec.port: must be at most 65535"), "{bad}");
    assert_eq!(
        bad["error"]["details"],
        json!([{"path": "$.spec.port", "rule": "maximum", "value": "70000", "message": "must be at most 65535"}]),
        "structured details: {bad}"
    );
    let (status, u) = admin.json("PATCH", "/api/v1/services/web/instances/b", json!({"deploymentType": "MINOR_VERSION"}));
    assert_eq!(status, 200, "{u}");
    assert_eq!(admin.wait(u["deploymentId"].as_str().unwrap())["deploymentStatus"], "SUCCEEDED");
    assert_eq!(admin.get("/api/v1/services/web/instances/b/outputs"), json!([{"key": "Version", "valueString": "1"}]));
    assert_eq!(admin.get("/api/v1/instances?templateVersion=1.1").as_array().unwrap().len(), 1);
    let fleet = admin.get("/api/v1/fleet?kind=service&name=web");
    assert_eq!((fleet[0]["upToDate"].as_u64(), fleet[0]["behindMinor"].as_u64()), (Some(1), Some(1)), "{fleet}");
    let (status, conflict) = admin.json("DELETE", "/api/v1/environments/dev", Value::Null);
    assert_eq!(status, 409, "{conflict}");

    // The CLI over the same API (--server): same JSON, same exit codes.
    let url = srv.url.clone();
    let cli = |key: &str, args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_deuteron"))
            .args(["--server", &url, "--access-key", key, "--data-dir", "/nonexistent/never-opened"])
            .args(args)
            .env_remove("DEUTERON_DATABASE_URL")
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let admin_key = format!("{ADMIN_ID}:{ADMIN_SECRET}");
    // `show` prints the same locally and over the API: an environment with its outputs, a
    // service with its instances and pipeline, a deployment with its duration.
    let dep_id = admin.get("/api/v1/deployments?limit=1")[0]["id"].as_str().unwrap().to_string();
    for args in [vec!["env", "show", "dev"], vec!["service", "show", "web"], vec!["deployment", "show", dep_id.as_str()]] {
        for json_out in [false, true] {
            let mut a = args.clone();
            if json_out {
                a.extend(["-o", "json"]);
            }
            let local = deuteron_ok(&data, &a);
            let (code, remote, err) = cli(&admin_key, &a);
            assert_eq!(code, Some(0), "{a:?}: {err}");
            assert_eq!(remote, local, "{a:?}");
        }
    }
    // Ids a person can type: lists show the shortest prefixes that tell them apart, and any
    // unique prefix is taken back; the newest deployment of a resource by its name.
    let listed = deuteron_ok(&data, &["deployment", "list"]);
    let shorts: Vec<&str> = listed.lines().skip(1).map(|l| l.split_whitespace().next().unwrap()).collect();
    assert!(shorts.len() >= 3 && shorts.iter().all(|s| s.len() < 36 && s.len() >= 8), "{listed}");
    assert_eq!(shorts.iter().collect::<std::collections::BTreeSet<_>>().len(), shorts.len(), "unique: {listed}");
    let (code, remote_list, _) = cli(&admin_key, &["deployment", "list"]);
    assert_eq!((code, remote_list.as_str()), (Some(0), listed.as_str()));
    let by_prefix: Value = serde_json::from_str(&deuteron_ok(&data, &["deployment", "show", shorts[0], "-o", "json"])).unwrap();
    assert!(by_prefix["id"].as_str().unwrap().starts_with(shorts[0]), "{by_prefix}");
    let (code, remote_show, _) = cli(&admin_key, &["deployment", "show", shorts[0], "-o", "json"]);
    assert_eq!((code, serde_json::from_str::<Value>(&remote_show).unwrap()), (Some(0), by_prefix.clone()));
    let shared = &shorts[0][..4];
    let (code, _, err) = deuteron(&data, &["deployment", "show", shared]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains(&format!("deployment id prefix {shared} is ambiguous")), "{err}");
    let (code, _, err) = deuteron(&data, &["deployment", "show", "0ff"]);
    assert!(code == Some(3) && err.contains("at least 4 characters"), "{err}");
    let latest = admin.get("/api/v1/deployments?resource=web/b&limit=1")[0]["id"].as_str().unwrap().to_string();
    let by_id = deuteron_ok(&data, &["deployment", "logs", &latest]);
    assert!(!by_id.is_empty());
    assert_eq!(deuteron_ok(&data, &["deployment", "logs", "--latest", "web/b"]), by_id);
    let (code, remote_logs, err) = cli(&admin_key, &["deployment", "logs", "--latest", "web/b"]);
    assert_eq!((code, remote_logs.as_str()), (Some(0), by_id.as_str()), "{err}");
    let (code, _, err) = deuteron(&data, &["deployment", "logs", "--latest", "nothing-here"]);
    assert_eq!(code, Some(4), "{err}");
    // A name that does not exist: the closest one is suggested, locally and over the API.
    for remote in [false, true] {
        let args = ["env", "show", "dve"];
        let (code, _, err) = if remote { cli(&admin_key, &args) } else { deuteron(&data, &args) };
        assert_eq!(code, Some(4), "{err}");
        assert!(err.contains("environment dve not found; did you mean dev?"), "{err}");
    }
    let (code, _, err) = deuteron(&data, &["template", "show", "service", "wbe"]);
    assert!(code == Some(4) && err.contains("service template wbe not found; did you mean web?"), "{err}");
    let (code, _, err) = deuteron(&data, &["env", "show", "zzzzzz"]);
    assert!(code == Some(4) && err.contains("environment zzzzzz not found") && !err.contains("did you mean"), "{err}");
    // Errors in JSON carry the same structured details locally and over the API.
    let bad_spec = dir.path().join("bad-port.yaml");
    std::fs::write(&bad_spec, "port: 70000\n").unwrap();
    let args = ["instance", "update", "web", "b", "--spec", bad_spec.to_str().unwrap(), "-o", "json"];
    let (code, _, local_err) = deuteron(&data, &args);
    assert_eq!(code, Some(3), "{local_err}");
    let local_err: Value = serde_json::from_str(local_err.trim()).unwrap();
    assert_eq!(local_err["error"]["details"][0]["rule"], "maximum", "{local_err}");
    let (code, _, remote_err) = cli(&admin_key, &args);
    assert_eq!(code, Some(3), "{remote_err}");
    assert_eq!(serde_json::from_str::<Value>(remote_err.trim()).unwrap()["error"]["details"], local_err["error"]["details"]);
    let env_table = deuteron_ok(&data, &["env", "show", "dev"]);
    assert!(env_table.contains("outputs:") && env_table.contains("VpcId = vpc-1"), "{env_table}");
    let svc_table = deuteron_ok(&data, &["service", "show", "web"]);
    assert!(
        svc_table.contains("instances:") && svc_table.contains("pipeline: none") && svc_table.lines().any(|l| l.starts_with("b ")),
        "{svc_table}"
    );
    let dep_json: Value = serde_json::from_str(&deuteron_ok(&data, &["deployment", "show", &dep_id, "-o", "json"])).unwrap();
    assert!(dep_json["durationMs"].as_i64().is_some_and(|ms| ms >= 0), "{dep_json}");
    assert!(deuteron_ok(&data, &["deployment", "show", &dep_id]).lines().any(|l| l.starts_with("duration") && l.ends_with(" s")));
    let (code, out, err) = cli(&admin_key, &["instance", "list", "--behind", "minor", "-o", "json"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), admin.get("/api/v1/instances?behind=minor"));
    let (code, out, err) = cli(&admin_key, &["instance", "update", "web", "a", "--type", "minor-version", "--wait"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("UP_TO_DATE") || out.contains("1.1"), "{out}");
    assert!(err.contains("[web/a]"), "progress is shown: {err}");
    let (code, out, _) = cli(&admin_key, &["env", "list"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("dev") && out.contains("TEMPLATE VERSION STATUS"), "{out}");
    let (code, _, err) = cli(&admin_key, &["env", "show", "nope"]);
    assert_eq!(code, Some(4), "{err}");
    let (code, _, err) = cli("nobody:wrong", &["env", "list"]);
    assert_eq!(code, Some(8), "{err}");
    let (code, out, err) = cli(
        &admin_key,
        &[
            "template",
            "version",
            "register",
            "service",
            "web",
            dir.path().join("web1").to_str().unwrap(),
            "--major",
            "1",
            "--allow-same-content",
            "-o",
            "json",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["version"], "1.2");
    let (code, out, err) = cli(&admin_key, &["rollout", "plan", "service", "web", "-o", "json"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["skipped"], 2, "1.2 is a draft; both instances run the recommended 1.1: {out}");

    // Keys and roles: a viewer reads, a developer manages services but not templates.
    let (status, viewer) = admin.json("POST", "/api/v1/keys", json!({"role": "viewer"}));
    assert_eq!(status, 201, "{viewer}");
    let viewer = Client {
        port: srv.port,
        key: format!("{}:{}", viewer["accessKeyId"].as_str().unwrap(), viewer["secretAccessKey"].as_str().unwrap()),
    };
    let (_, dev) = admin.json("POST", "/api/v1/keys", json!({"role": "developer", "description": "ci"}));
    let dev_id = dev["accessKeyId"].as_str().unwrap().to_string();
    let developer = Client { port: srv.port, key: format!("{dev_id}:{}", dev["secretAccessKey"].as_str().unwrap()) };
    assert_eq!(viewer.get("/api/v1/services").as_array().unwrap().len(), 1);
    let (status, denied) = viewer.json("PATCH", "/api/v1/services/web", json!({"description": "x"}));
    assert_eq!((status, denied["error"]["type"].as_str()), (403, Some("AccessDenied")), "{denied}");
    let (status, _) = developer.json("POST", "/api/v1/templates", json!({"kind": "service", "name": "other"}));
    assert_eq!(status, 403);
    let (status, _) = developer.json("GET", "/api/v1/keys", Value::Null);
    assert_eq!(status, 403, "keys are for admins");
    let (status, s) = developer.json("PATCH", "/api/v1/services/web", json!({"description": "the web tier"}));
    assert_eq!((status, s["description"].as_str()), (200, Some("the web tier")), "{s}");
    let (status, _) = admin.json("DELETE", &format!("/api/v1/keys/{dev_id}"), Value::Null);
    assert_eq!(status, 200);
    let (status, _) = developer.json("GET", "/api/v1/services", Value::Null);
    assert_eq!(status, 401, "a revoked key is refused at once");
    let (status, _) = Client { port: srv.port, key: "nobody:nothing".into() }.json("GET", "/api/v1/services", Value::Null);
    assert_eq!(status, 401);

    // Deployments, then delete everything.
    let deps = admin.get("/api/v1/deployments?service=web");
    assert_eq!(deps.as_array().unwrap().len(), 4, "{deps}");
    let (code, _, err) = cli(&viewer.key, &["service", "update", "web", "--description", "x"]);
    assert_eq!(code, Some(8), "{err}");
    assert!(err.contains("a viewer key may not call UpdateService"), "{err}");
    let (status, _) = admin.json("GET", "/api/v1/deployments?limit=0", Value::Null);
    assert_eq!(status, 400);
    let (status, gone) = admin.json("DELETE", "/api/v1/services/web", Value::Null);
    assert_eq!(status, 202, "{gone}");
    for d in gone.as_array().unwrap() {
        admin.wait(d["id"].as_str().unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while admin.json("GET", "/api/v1/services/web", Value::Null).0 != 404 {
        assert!(Instant::now() < deadline, "the service was not removed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, d) = admin.json("DELETE", "/api/v1/environments/dev", Value::Null);
    assert_eq!(status, 202);
    assert_eq!(admin.wait(d["id"].as_str().unwrap())["deploymentStatus"], "DELETE_COMPLETE");
    let (status, _) = admin.json("DELETE", "/api/v1/templates/service/web?cascade=true", Value::Null);
    assert_eq!(status, 204);
    assert_eq!(admin.get("/api/v1/templates?kind=service"), json!([]));
}
