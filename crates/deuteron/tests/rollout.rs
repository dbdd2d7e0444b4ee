//! `deuteron rollout` through the binary against a running server: plan, start, status, and a
//! server killed (SIGKILL) mid-rollout whose successor resumes the rollout without starting any
//! resource's deployment twice.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{deuteron, deuteron_ok, server};
use serde_json::Value;

fn json(data: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend(["-o", "json"]);
    let out = deuteron_ok(data, &a);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("deuteron {args:?}: {e}: {out}"))
}

fn write_bundle(dir: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        std::fs::create_dir_all(dir.join(p).parent().unwrap()).unwrap();
        std::fs::write(dir.join(p), c).unwrap();
    }
}

const MANIFEST: &str = "infrastructure:\n  templates:\n    - rendering_engine: codebuild\n      settings:\n        provision:\n          - bash provision.sh\n        deprovision:\n          - \"true\"\n";
const SCHEMA: &str = "schema:\n  format:\n    openapi: \"3.0.0\"\n  service_input_type: \"In\"\n  types:\n    In:\n      type: object\n      properties:\n        port:\n          type: number\n          default: 80\n";

/// An environment template `net` and a service template `web` (1.0, then 1.1 when `minor`,
/// returning what `register --publish` printed); the service's provision script sleeps a little
/// so a rollout takes a while.
fn templates(data: &Path, dir: &Path, minor: bool) -> String {
    let env = dir.join("net");
    write_bundle(
        &env,
        &[
            (
                "schema/schema.yaml",
                "schema:\n  format:\n    openapi: \"3.0.0\"\n  environment_input_type: \"E\"\n  types:\n    E:\n      type: object\n      properties: {}\n",
            ),
            ("infrastructure/manifest.yaml", MANIFEST),
            ("infrastructure/provision.sh", "echo env\n"),
        ],
    );
    let web = dir.join(if minor { "web11" } else { "web10" });
    write_bundle(
        &web,
        &[
            ("schema/schema.yaml", SCHEMA),
            ("instance_infrastructure/manifest.yaml", MANIFEST),
            (
                "instance_infrastructure/provision.sh",
                if minor { "sleep 0.4\necho provisioned 1.1\n" } else { "sleep 0.4\necho provisioned\n" },
            ),
            (".compatible-envs", "net:1\n"),
        ],
    );
    if minor {
        return deuteron_ok(
            data,
            &["template", "version", "register", "service", "web", web.to_str().unwrap(), "--major", "1", "--publish"],
        );
    }
    deuteron_ok(data, &["template", "create", "env", "net"]);
    deuteron_ok(data, &["template", "version", "register", "env", "net", env.to_str().unwrap(), "--publish"]);
    deuteron_ok(data, &["template", "create", "service", "web", "--customer-managed"]);
    deuteron_ok(data, &["template", "version", "register", "service", "web", web.to_str().unwrap(), "--publish"])
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_rollout_survives_a_killed_server_without_duplicate_deployments() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    templates(&data, dir.path(), false);
    let first = server(&data, "http://127.0.0.1:9", &["--workers", "4", "--lease-seconds", "2"]);
    for env in ["dev", "staging", "prod"] {
        let spec = dir.path().join(format!("{env}.yaml"));
        std::fs::write(&spec, "proton: EnvironmentSpec\nspec: {}\n").unwrap();
        deuteron_ok(&data, &["env", "create", env, "--template", "net", "--major", "1", "--spec", spec.to_str().unwrap(), "--wait"]);
    }
    let mut spec = String::from("proton: ServiceSpec\ninstances:\n");
    for env in ["dev", "staging", "prod"] {
        for i in 0..6 {
            spec += &format!("  - name: {env}-{i}\n    environment: {env}\n    spec:\n      port: {}\n", 8000 + i);
        }
    }
    let spec_file = dir.path().join("web.yaml");
    std::fs::write(&spec_file, spec).unwrap();
    deuteron_ok(&data, &["service", "create", "web", "--template", "web", "--major", "1", "--spec", spec_file.to_str().unwrap(), "--wait"]);
    templates(&data, dir.path(), true);

    // Outdated detection: who is behind, on every list.
    let behind = json(&data, &["instance", "list", "--behind", "minor"]);
    assert_eq!(behind.as_array().unwrap().len(), 18);
    assert_eq!(
        (behind[0]["templateVersionStatus"].as_str(), behind[0]["recommendedVersion"].as_str()),
        (Some("BEHIND_MINOR"), Some("1.1"))
    );
    let table = deuteron_ok(&data, &["instance", "show", "web", "dev-0"]);
    assert!(table.contains("BEHIND_MINOR (recommended 1.1)"), "{table}");
    assert_eq!(json(&data, &["instance", "list", "--behind", "major"]), serde_json::json!([]));
    let envs = json(&data, &["env", "list", "--template", "net", "--template-version", "1.0"]);
    assert_eq!(envs.as_array().unwrap().len(), 3);
    assert_eq!(envs[0]["templateVersionStatus"], "UP_TO_DATE");
    assert_eq!(json(&data, &["env", "list", "--behind", "minor"]), serde_json::json!([]));
    assert_eq!(json(&data, &["pipeline", "list"]), serde_json::json!([]), "web has no pipeline");
    assert_eq!(deuteron(&data, &["env", "list", "--template-version", "x"]).0, Some(3));

    // The plan, before anything runs.
    let plan = json(&data, &["rollout", "plan", "service", "web", "--waves", "dev;staging;prod", "--max-concurrency", "3"]);
    assert_eq!(
        (plan["targetVersion"].as_str(), plan["moving"].as_u64(), plan["skipped"].as_u64()),
        (Some("1.1"), Some(18), Some(0)),
        "{plan}"
    );
    assert_eq!(plan["waves"], serde_json::json!([{"wave": 1, "resources": 6}, {"wave": 2, "resources": 6}, {"wave": 3, "resources": 6}]));
    let table = deuteron_ok(&data, &["rollout", "plan", "service", "web", "--waves", "dev;staging;prod"]);
    assert!(table.contains("web/prod-5") && table.contains("18 of 18 resources move to 1.1 in 3 waves; 0 skipped"), "{table}");
    let (code, _, err) = deuteron(&data, &["rollout", "plan", "service", "web", "--waves", "10%,20%"]);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("policy: waves: the percentages add up to 30, not 100"), "{err}");

    let started = json(&data, &["rollout", "start", "service", "web", "--waves", "dev;staging;prod", "--max-concurrency", "3"]);
    let id = started["id"].as_str().unwrap().to_string();
    assert_eq!(started["status"], "RUNNING", "{started}");
    // Kill the server (no graceful shutdown) once some instances moved but not all.
    wait_for("a few instances updated", || {
        let r = json(&data, &["rollout", "status", &id]);
        r["waves"].as_array().unwrap().iter().map(|w| w["succeeded"].as_u64().unwrap()).sum::<u64>() >= 4
    });
    drop(first);
    let at_kill = json(&data, &["rollout", "status", &id]);
    assert_eq!(at_kill["status"], "RUNNING", "{at_kill}");

    // A new server resumes it; running deployments whose worker died are reclaimed after the lease.
    let second = server(&data, "http://127.0.0.1:9", &["--workers", "4", "--lease-seconds", "2"]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_deuteron"))
        .arg("--data-dir")
        .arg(&data)
        .args(["rollout", "status", &id, "--watch", "--wait-timeout", "180"])
        .env_remove("DEUTERON_DATABASE_URL")
        .output()
        .unwrap();
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "watch failed: {progress}\n{}", second.log_tail(30));
    assert!(progress.contains("SUCCEEDED wave 3/3"), "{progress}");

    let items = json(&data, &["rollout", "status", &id, "--items"]);
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 18);
    assert!(items.iter().all(|i| i["state"] == "SUCCEEDED"), "{items:?}");
    // Exactly one create and one update per instance: nothing ran twice.
    let deployments = json(&data, &["deployment", "list", "--service", "web", "--limit", "1000"]);
    let mut per_instance = std::collections::BTreeMap::<String, Vec<String>>::new();
    for d in deployments.as_array().unwrap() {
        per_instance
            .entry(d["target"].as_str().unwrap().to_string())
            .or_default()
            .push(d["deploymentStatus"].as_str().unwrap().to_string());
    }
    assert_eq!(per_instance.len(), 18, "{per_instance:?}");
    assert!(per_instance.values().all(|v| v == &["SUCCEEDED", "SUCCEEDED"]), "{per_instance:?}");
    let fleet = json(&data, &["template", "fleet", "service", "web"]);
    assert_eq!((fleet[0]["upToDate"].as_u64(), fleet[0]["behindMinor"].as_u64()), (Some(18), Some(0)), "{fleet}");
    let shown = json(&data, &["instance", "show", "web", "prod-5"]);
    assert_eq!((shown["templateVersionStatus"].as_str(), shown["templateMinorVersion"].as_str()), (Some("UP_TO_DATE"), Some("1")));
    let list = json(&data, &["rollout", "list"]);
    assert_eq!(list[0]["status"], "SUCCEEDED");
    // A finished rollout cannot be paused; an unknown one is not found.
    assert_eq!(deuteron(&data, &["rollout", "pause", &id]).0, Some(5));
    assert_eq!(deuteron(&data, &["rollout", "status", "nope"]).0, Some(4));
    let events = json(&data, &["event", "list", "--type", "ROLLOUT", "--resource", &id]);
    let statuses: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!((statuses.first(), statuses.last()), (Some(&"RUNNING"), Some(&"SUCCEEDED")), "{events}");
}

/// `(status, JSON body)` of a REST call with `key` (`id:secret`) as the bearer token.
fn rest(port: u16, method: &str, path: &str, key: &str, body: &str) -> (u16, Value) {
    let head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\n");
    let (status, text) = common::raw(port, &head, body.as_bytes());
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn automatic_mode_and_the_rest_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    templates(&data, dir.path(), false);
    let srv = server(&data, "http://127.0.0.1:9", &["--workers", "4"]);
    let port = srv.port;
    let admin = format!("{}:{}", common::ADMIN_ID, common::ADMIN_SECRET);
    let viewer = json(&data, &["key", "create", "--role", "viewer"]);
    let viewer = format!("{}:{}", viewer["accessKeyId"].as_str().unwrap(), viewer["secretAccessKey"].as_str().unwrap());
    let spec = dir.path().join("dev.yaml");
    std::fs::write(&spec, "proton: EnvironmentSpec\nspec: {}\n").unwrap();
    deuteron_ok(&data, &["env", "create", "dev", "--template", "net", "--major", "1", "--spec", spec.to_str().unwrap(), "--wait"]);
    let svc_spec = dir.path().join("web.yaml");
    let instances: String = (0..4).map(|i| format!("  - name: i{i}\n    environment: dev\n")).collect();
    std::fs::write(&svc_spec, format!("proton: ServiceSpec\ninstances:\n{instances}")).unwrap();
    // Over the REST API, without --major: the recommended version's.
    let admin_key = format!("{}:{}", common::ADMIN_ID, common::ADMIN_SECRET);
    deuteron_ok(
        &data,
        &[
            "--server",
            &srv.url,
            "--access-key",
            &admin_key,
            "service",
            "create",
            "web",
            "--template",
            "web",
            "--spec",
            svc_spec.to_str().unwrap(),
            "--wait",
        ],
    );

    // The template's default policy, in automatic mode: only an admin may set it.
    let policy = r#"{"policy": {"max_concurrency": 2, "waves": {"count": 2}}, "automatic": true}"#;
    let (status, body) = rest(port, "PUT", "/api/v1/templates/service/web/rollout-policy", &viewer, policy);
    assert_eq!(status, 403, "{body}");
    let (status, body) = rest(port, "PUT", "/api/v1/templates/service/web/rollout-policy", &admin, r#"{"policy": {"max_concurency": 2}}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("unknown field `max_concurency`"), "{body}");
    let (status, body) = rest(port, "PUT", "/api/v1/templates/service/web/rollout-policy", &admin, policy);
    assert_eq!((status, body["automatic"].as_bool()), (200, Some(true)), "{body}");
    let shown = deuteron_ok(&data, &["rollout", "policy", "show", "service", "web"]);
    assert!(shown.contains("automatic: yes") && shown.contains("max concurrency: 2"), "{shown}");

    // Publishing 1.1 starts a rollout by itself, and says so.
    let printed = templates(&data, dir.path(), true);
    let (status, list) = rest(port, "GET", "/api/v1/rollouts", &viewer, "");
    assert_eq!(status, 200, "{list}");
    let id = list["rollouts"][0]["id"].as_str().expect("an automatic rollout was started").to_string();
    assert!(printed.contains(&format!("started rollout {id} to 1.1")), "{printed}");
    assert!(printed.contains(&format!("deuteron rollout status {id} --watch")), "{printed}");
    assert_eq!(list["rollouts"][0]["targetVersion"], "1.1");
    wait_for("the automatic rollout", || rest(port, "GET", &format!("/api/v1/rollouts/{id}"), &viewer, "").1["status"] == "SUCCEEDED");
    let (_, r) = rest(port, "GET", &format!("/api/v1/rollouts/{id}"), &viewer, "");
    assert_eq!(r["createdBy"], "automatic: 1.1 published", "{r}");
    assert_eq!(r["waveCount"], 2);
    assert_eq!(r["waves"].as_array().unwrap().iter().map(|w| w["succeeded"].as_u64().unwrap()).sum::<u64>(), 4, "{r}");
    let (_, items) = rest(port, "GET", &format!("/api/v1/rollouts/{id}/items"), &viewer, "");
    assert!(items["items"].as_array().unwrap().iter().all(|i| i["state"] == "SUCCEEDED" && i["to"] == "1.1"), "{items}");

    // Plans and starts over REST: everything already runs 1.1 now.
    let req = r#"{"templateKind": "service", "templateName": "web", "policy": {"max_concurrency": 3}}"#;
    let (status, plan) = rest(port, "POST", "/api/v1/rollouts/plan", &viewer, req);
    assert_eq!((status, plan["moving"].as_u64(), plan["skipped"].as_u64()), (200, Some(0), Some(4)), "{plan}");
    assert_eq!(plan["items"][0]["skipped"], "already runs 1.1");
    let (status, body) = rest(port, "POST", "/api/v1/rollouts", &viewer, req);
    assert_eq!(status, 403, "a viewer cannot start rollouts: {body}");
    let (status, body) = rest(port, "POST", "/api/v1/rollouts", &admin, req);
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("nothing to roll out"), "{body}");
    let (status, body) = rest(port, "POST", "/api/v1/rollouts", &admin, "{not json");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("the body is not JSON"), "{body}");
    let (status, body) = rest(port, "POST", "/api/v1/rollouts", &admin, r#"{"templateKind": "pipeline", "templateName": "web"}"#);
    assert_eq!(status, 400, "{body}");
    let (status, _) = rest(port, "POST", &format!("/api/v1/rollouts/{id}/pause"), &admin, "");
    assert_eq!(status, 409, "a finished rollout cannot be paused");
    let (status, _) = rest(port, "POST", &format!("/api/v1/rollouts/{id}/explode"), &admin, "");
    assert_eq!(status, 404);
    let (status, _) = rest(port, "GET", "/api/v1/rollouts/nope", &viewer, "");
    assert_eq!(status, 404);
    let (status, _) = rest(port, "GET", "/api/v1/rollouts", "nobody:wrong", "");
    assert_eq!(status, 401);
    let (status, events) = rest(port, "GET", &format!("/api/v1/events?type=ROLLOUT&resource={id}"), &viewer, "");
    assert_eq!(status, 200);
    let statuses: Vec<&str> = events["events"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!((statuses.first(), statuses.last()), (Some(&"RUNNING"), Some(&"SUCCEEDED")), "{events}");
    // Clearing the policy ends automatic mode.
    let (status, _) = rest(port, "DELETE", "/api/v1/templates/service/web/rollout-policy", &admin, "");
    assert_eq!(status, 204);
    let (status, _) = rest(port, "GET", "/api/v1/templates/service/web/rollout-policy", &viewer, "");
    assert_eq!(status, 404);
}

/// A rollout that fails and rolls back, with the server killed (SIGKILL) while it rolls back: the
/// next server finishes the rollback without running anything twice, the failed instance is
/// deployed again on its previous version, the broken version is blocked, and `rollout status
/// --items` says why the item failed and shows both deployments, the same locally and over REST.
#[test]
fn a_rollback_survives_a_killed_server_and_leaves_the_fleet_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    templates(&data, dir.path(), false);
    let lease = ["--workers", "4", "--lease-seconds", "2"];
    let first = server(&data, "http://127.0.0.1:9", &lease);
    let spec = dir.path().join("dev.yaml");
    std::fs::write(&spec, "proton: EnvironmentSpec\nspec: {}\n").unwrap();
    deuteron_ok(&data, &["env", "create", "dev", "--template", "net", "--major", "1", "--spec", spec.to_str().unwrap(), "--wait"]);
    let names = ["bad-0", "dev-0", "dev-1", "dev-2", "dev-3", "dev-4"];
    let instances: String = names.iter().map(|n| format!("  - name: {n}\n    environment: dev\n")).collect();
    let svc_spec = dir.path().join("web.yaml");
    std::fs::write(&svc_spec, format!("proton: ServiceSpec\ninstances:\n{instances}")).unwrap();
    deuteron_ok(&data, &["service", "create", "web", "--template", "web", "--major", "1", "--spec", svc_spec.to_str().unwrap(), "--wait"]);
    // 1.1 refuses instances named bad-*.
    let broken = dir.path().join("web-broken");
    write_bundle(
        &broken,
        &[
            ("schema/schema.yaml", SCHEMA),
            ("instance_infrastructure/manifest.yaml", MANIFEST),
            (
                "instance_infrastructure/provision.sh",
                "case \"$RESOURCE_ARN\" in */bad-*) echo \"1.1 cannot run $RESOURCE_ARN\" >&2; exit 3;; esac\nsleep 0.4\necho ok\n",
            ),
            (".compatible-envs", "net:1\n"),
        ],
    );
    deuteron_ok(&data, &["template", "version", "register", "service", "web", broken.to_str().unwrap(), "--major", "1", "--publish"]);

    let started = json(&data, &["rollout", "start", "service", "web", "--waves", "1", "--max-concurrency", "2", "--rollback-on-failure"]);
    let id = started["id"].as_str().unwrap().to_string();
    wait_for("the rollback", || json(&data, &["rollout", "status", &id])["status"] == "ROLLING_BACK");
    drop(first);
    let second = server(&data, "http://127.0.0.1:9", &lease);
    wait_for("the rollback to end", || {
        let s = json(&data, &["rollout", "status", &id])["status"].as_str().unwrap().to_string();
        s != "ROLLING_BACK" && s != "RUNNING"
    });
    let r = json(&data, &["rollout", "status", &id]);
    assert_eq!(r["status"], "ROLLED_BACK", "{r}\n{}", second.log_tail(40));

    // Every instance runs 1.0 and succeeded; nothing ran twice.
    let deployments = json(&data, &["deployment", "list", "--service", "web", "--limit", "1000"]);
    let mut per_instance = std::collections::BTreeMap::<String, Vec<String>>::new();
    for d in deployments.as_array().unwrap().iter().rev() {
        let t = &d["targetState"];
        let version =
            format!("{}.{}", t["templateMajorVersion"].as_str().unwrap_or("?"), t["templateMinorVersion"].as_str().unwrap_or("?"));
        per_instance
            .entry(d["target"].as_str().unwrap().to_string())
            .or_default()
            .push(format!("{version}:{}", d["deploymentStatus"].as_str().unwrap()));
    }
    for n in names {
        let inst = json(&data, &["instance", "show", "web", n]);
        assert_eq!(
            (inst["templateMinorVersion"].as_str(), inst["deploymentStatus"].as_str()),
            (Some("0"), Some("SUCCEEDED")),
            "{n}: {inst}"
        );
    }
    let bad = &per_instance["web/bad-0"];
    assert_eq!(bad, &["1.0:SUCCEEDED", "1.1:FAILED", "1.0:SUCCEEDED"], "{per_instance:?}");
    for (target, runs) in &per_instance {
        assert!(
            runs == &["1.0:SUCCEEDED"] || runs == &["1.0:SUCCEEDED", "1.1:SUCCEEDED", "1.0:SUCCEEDED"] || target == "web/bad-0",
            "{target}: {runs:?}"
        );
    }

    // 1.1 is blocked, shown as such, and nothing offers it.
    let v = json(&data, &["template", "version", "show", "service", "web", "1.1"]);
    assert!(v["blocked"].as_str().unwrap().starts_with(&format!("rollout {id} to it was rolled back")), "{v}");
    let listed = deuteron_ok(&data, &["template", "version", "list", "service", "web"]);
    assert!(listed.contains("PUBLISHED (BLOCKED)"), "{listed}");
    assert_eq!(json(&data, &["instance", "list", "--behind", "minor"]), serde_json::json!([]));
    let (code, _, err) = deuteron(&data, &["rollout", "plan", "service", "web", "--to", "1.1"]);
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains("version 1.1 is blocked"), "{err}");

    // The items: the failed one says why, both deployments are shown; the same over REST.
    let local = deuteron_ok(&data, &["rollout", "status", &id, "--items"]);
    let bad_row = local.lines().find(|l| l.contains("web/bad-0")).unwrap_or_else(|| panic!("{local}"));
    assert!(bad_row.contains("ROLLBACK_SUCCEEDED") && bad_row.contains(", rollback ") && bad_row.contains("exit"), "{local}");
    let key = format!("{}:{}", common::ADMIN_ID, common::ADMIN_SECRET);
    let remote = deuteron_ok(&data, &["--server", &second.url, "--access-key", &key, "rollout", "status", &id, "--items"]);
    assert_eq!(remote, local);

    deuteron_ok(&data, &["template", "version", "unblock", "service", "web", "1.1"]);
    let behind = json(&data, &["instance", "list", "--behind", "minor"]);
    assert_eq!(behind.as_array().unwrap().len(), 6, "offered again once unblocked: {behind}");
}

/// `service create --wait` follows every deployment it starts, each line under its resource, says
/// how each ended, and when one fails names it and the command that shows its log; the same
/// locally and over `--server`.
#[test]
fn service_create_wait_follows_each_deployment_and_names_the_failed_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    templates(&data, dir.path(), false);
    let srv = server(&data, "http://127.0.0.1:9", &["--workers", "4"]);
    let spec = dir.path().join("dev.yaml");
    std::fs::write(&spec, "proton: EnvironmentSpec\nspec: {}\n").unwrap();
    deuteron_ok(&data, &["env", "create", "dev", "--template", "net", "--spec", spec.to_str().unwrap(), "--wait"]);
    let broken = dir.path().join("web-broken");
    write_bundle(
        &broken,
        &[
            ("schema/schema.yaml", SCHEMA),
            ("instance_infrastructure/manifest.yaml", MANIFEST),
            (
                "instance_infrastructure/provision.sh",
                "case \"$RESOURCE_ARN\" in */bad-*) echo \"cannot run $RESOURCE_ARN\" >&2; exit 3;; esac\necho running fine\n",
            ),
            (".compatible-envs", "net:1\n"),
        ],
    );
    deuteron_ok(&data, &["template", "version", "register", "service", "web", broken.to_str().unwrap(), "--major", "1", "--publish"]);
    let key = format!("{}:{}", common::ADMIN_ID, common::ADMIN_SECRET);
    for (name, remote) in [("local", false), ("remote", true)] {
        let svc_spec = dir.path().join(format!("{name}.yaml"));
        std::fs::write(
            &svc_spec,
            "proton: ServiceSpec\ninstances:\n  - name: good-0\n    environment: dev\n  - name: bad-0\n    environment: dev\n",
        )
        .unwrap();
        let mut args: Vec<&str> = if remote { vec!["--server", &srv.url, "--access-key", &key] } else { vec![] };
        args.extend(["service", "create", name, "--template", "web", "--spec", svc_spec.to_str().unwrap(), "--wait"]);
        let (code, _, err) = deuteron(&data, &args);
        assert_eq!(code, Some(6), "{name}: {err}");
        assert!(err.contains(&format!("[{name}/good-0] running fine")), "{name}: {err}");
        assert!(err.contains(&format!("[{name}/bad-0] cannot run")), "{name}: {err}");
        assert!(
            err.lines().any(|l| l.starts_with(&format!("[{name}/good-0] deployment ")) && l.contains(" SUCCEEDED in ")),
            "{name}: {err}"
        );
        assert!(err.lines().any(|l| l.starts_with(&format!("[{name}/bad-0] deployment ")) && l.contains(" FAILED")), "{name}: {err}");
        let failed = json(&data, &["instance", "show", name, "bad-0"])["lastAttemptedDeploymentId"].as_str().unwrap().to_string();
        assert!(
            err.contains(&format!("service {name} is CREATE_FAILED: "))
                && err.contains(&format!("deployment {failed} of {name}/bad-0 ended FAILED"))
                && err.contains(&format!("its log: deuteron deployment logs {failed}")),
            "{name}: {err}"
        );
    }
}
