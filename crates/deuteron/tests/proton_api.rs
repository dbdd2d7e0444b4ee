//! The Proton-compatible endpoint driven by the real clients teams migrate with: boto3's
//! `proton` client and the AWS CLI (from `.build/venv`, installed by `scripts/test.sh`), against
//! a real `deuteron server`, with a local moto server as the S3 store for template bundles. The
//! scenario itself is `tests/proton/scenario.py`. Protocol-level refusals (no target, unknown
//! operation, malformed or oversized bodies, unsigned requests) are checked with raw HTTP.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;

mod common;
use common::*;

#[test]
fn proton_clients_against_deuteron() {
    let moto = moto();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let deuteron = |args: &[&str]| deuteron_ok(&data, args);
    let server = server(&data, &moto.endpoint, &["--max-request-bytes", "65536"]);
    let port = server.port;
    // The admin key came from the environment (the store had none); more keys from the CLI.
    let viewer: serde_json::Value = serde_json::from_str(&deuteron(&["key", "create", "--role", "viewer", "-o", "json"])).unwrap();

    // Protocol-level refusals: each a clear error, none reaching the service layer.
    let host = format!("POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-amz-json-1.0\r\n");
    let (status, text) = raw(port, &host, b"{}");
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("\"__type\":\"UnknownOperationException\"") && text.contains("missing X-Amz-Target header"), "{text}");
    let (status, text) = raw(port, &format!("{host}X-Amz-Target: AwsProton20200720.ListServices\r\n"), b"{}");
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("MissingAuthenticationTokenException") && text.to_lowercase().contains("x-amzn-errortype"), "{text}");
    let (status, text) = raw(port, &format!("{host}X-Amz-Target: AwsProton20200720.ListServices\r\n"), &vec![b' '; 70_000]);
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("the request body exceeds 65536 bytes"), "{text}");

    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/templates");
    let out = Command::new(venv_bin("python"))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/proton/scenario.py"))
        .env("DEUTERON_URL", format!("http://127.0.0.1:{port}"))
        .env("MOTO_URL", &moto.endpoint)
        .env("ADMIN_KEY_ID", ADMIN_ID)
        .env("ADMIN_SECRET", ADMIN_SECRET)
        .env("VIEWER_KEY_ID", viewer["accessKeyId"].as_str().unwrap())
        .env("VIEWER_SECRET", viewer["secretAccessKey"].as_str().unwrap())
        .env("EXAMPLES", &examples)
        .env("AWS_CLI", venv_bin("aws"))
        .env_remove("AWS_ENDPOINT_URL_S3")
        .output()
        .unwrap();
    let server_log = std::fs::read_to_string(&server.log).unwrap_or_default();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("scenario passed"),
        "scenario failed\n--- stdout\n{}\n--- stderr\n{}\n--- server log (tail)\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log_tail(40)
    );
    assert!(server_log.contains("Proton API request denied"), "unauthorised requests are logged");
    assert!(server_log.contains("Proton API request not authenticated"), "unauthenticated requests are logged");
    assert!(!server_log.contains(ADMIN_SECRET), "secrets never reach the log");

    // Events: every status change was recorded; listed over REST (bearer token) and the CLI,
    // and streamed as Server-Sent Events.
    let get = |path: &str, extra: &str| raw(port, &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}"), b"");
    let (status, text) = get("/api/v1/events", "");
    assert_eq!(status, 401, "{text}");
    let (status, text) = get("/api/v1/events", &format!("Authorization: Bearer {ADMIN_ID}:wrong\r\n"));
    assert_eq!(status, 401, "{text}");
    let auth = format!("Authorization: Bearer {ADMIN_ID}:{ADMIN_SECRET}\r\n");
    let (status, text) = get("/api/v1/events?type=ENVIRONMENT&resource=dev&limit=1000", &auth);
    assert_eq!(status, 200, "{text}");
    let body: serde_json::Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    let changes: Vec<(Option<&str>, &str)> =
        body["events"].as_array().unwrap().iter().map(|e| (e["previousStatus"].as_str(), e["status"].as_str().unwrap())).collect();
    assert_eq!(
        changes,
        [
            (None, "IN_PROGRESS"),
            (Some("IN_PROGRESS"), "SUCCEEDED"),
            (Some("SUCCEEDED"), "DELETE_IN_PROGRESS"),
            (Some("DELETE_IN_PROGRESS"), "DELETED")
        ]
    );
    let cli_events: serde_json::Value =
        serde_json::from_str(&deuteron(&["event", "list", "--type", "SERVICE", "--resource", "web", "-o", "json"])).unwrap();
    let statuses: Vec<&str> = cli_events.as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["CREATE_IN_PROGRESS", "ACTIVE", "UPDATE_IN_PROGRESS", "ACTIVE", "DELETE_IN_PROGRESS", "DELETED"]);
    {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let req = format!(
            "GET /api/v1/events?type=SERVICE&resource=web HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Accept: text/event-stream\r\n\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while !seen.contains("\"status\":\"DELETED\"") {
            let n = s.read(&mut buf).expect("the stream delivers the recorded events");
            assert!(n > 0, "stream closed: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(seen.contains("content-type: text/event-stream") && seen.contains("event: status") && seen.contains("\nid: "), "{seen}");
        assert_eq!(seen.matches("\"status\":\"ACTIVE\"").count(), 2, "each event once: {seen}");
    }

    // Deployment logs over REST: JSON, and an SSE stream that ends with the final status.
    let deps: serde_json::Value = serde_json::from_str(&deuteron(&["deployment", "list", "--limit", "500", "-o", "json"])).unwrap();
    let dep = deps.as_array().unwrap().iter().find(|d| d["deploymentStatus"] == "SUCCEEDED").unwrap()["id"].as_str().unwrap().to_string();
    let (status, text) = get(&format!("/api/v1/deployments/{dep}/log"), &auth);
    assert_eq!(status, 200, "{text}");
    let body: serde_json::Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert!(!body["lines"].as_array().unwrap().is_empty(), "{body}");
    let (status, text) = get(&format!("/api/v1/deployments/{dep}/log"), &format!("{auth}Accept: text/event-stream\r\n"));
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("event: line") && text.contains("event: end") && text.contains("\"deploymentStatus\":\"SUCCEEDED\""), "{text}");
    let (status, _) = get("/api/v1/deployments/00000000-0000-0000-0000-000000000000/log", &auth);
    assert_eq!(status, 404);

    // Keys: listed without secrets, revocation takes effect.
    let keys = deuteron(&["key", "list", "-o", "json"]);
    assert!(keys.contains(ADMIN_ID) && !keys.contains(ADMIN_SECRET), "{keys}");
    deuteron(&["key", "revoke", viewer["accessKeyId"].as_str().unwrap()]);
    let keys: serde_json::Value = serde_json::from_str(&deuteron(&["key", "list", "-o", "json"])).unwrap();
    let revoked = keys.as_array().unwrap().iter().find(|k| k["accessKeyId"] == viewer["accessKeyId"]).unwrap();
    assert!(revoked["revokedAt"].is_string(), "{revoked}");
}
