//! Helpers shared by the integration tests: the Python tools `scripts/test.sh` installs, free
//! ports, child processes killed on drop, a local moto server.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A program of the test virtualenv (`.build/venv/bin`).
pub fn venv_bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.build/venv/bin").join(name);
    assert!(p.exists(), "{} is missing: run ./scripts/test.sh, which installs the Python tools into .build/venv", p.display());
    p
}

pub fn shared() -> PathBuf {
    std::env::var_os("DEUTERON_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits for the `deuteron server` writing its log to `log` to say where it listens, and returns
/// that port. Servers are started on port 0 so that two tests running at once can never be handed
/// the same free port (and one test then talk to the other's server).
pub fn listening_port(log: &Path, child: &mut Child) -> u16 {
    const MARK: &str = "deuteron server listening addr=";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(at) = text.find(MARK) {
            let addr = text[at + MARK.len()..].split_whitespace().next().unwrap_or_default();
            let port = addr.rsplit(':').next().and_then(|p| p.parse().ok());
            return port.unwrap_or_else(|| panic!("the server logged an address without a port: {addr}"));
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the server exited ({status}) before listening:\n{text}");
        }
        assert!(Instant::now() < deadline, "the server did not listen within 60 s:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A local moto server; its URL is `endpoint`.
pub struct Moto {
    pub endpoint: String,
    _child: Killed,
}

/// moto takes a port number, not 0, so a test running at the same time may be handed the same
/// free port: a moto that lost the race exits, and another port is tried.
pub fn moto() -> Moto {
    for _ in 0..5 {
        let port = free_port();
        let mut child = Killed(
            Command::new(venv_bin("moto_server"))
                .args(["-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() && child.0.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "moto did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        // Listening, but perhaps someone else's: ours is the one still running.
        std::thread::sleep(Duration::from_millis(300));
        if child.0.try_wait().unwrap().is_none() {
            return Moto { endpoint: format!("http://127.0.0.1:{port}"), _child: child };
        }
    }
    panic!("moto could not get a port in five tries");
}

pub const ADMIN_ID: &str = "AKIDADMINTESTKEY0001";
pub const ADMIN_SECRET: &str = "admin-secret-for-the-proton-api-tests-000";

/// A `deuteron server` on SQLite in `data`, its admin key from the environment, S3 at `s3`.
pub struct Server {
    pub port: u16,
    pub url: String,
    pub log: PathBuf,
    _child: Killed,
}

pub fn server(data: &Path, s3: &str, extra: &[&str]) -> Server {
    let log = data.with_extension("server.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Killed(
        Command::new(env!("CARGO_BIN_EXE_deuteron"))
            .arg("--data-dir")
            .arg(data)
            .args(["server", "--no-examples", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("DEUTERON_DATABASE_URL")
            .env("DEUTERON_ADMIN_ACCESS_KEY_ID", ADMIN_ID)
            .env("DEUTERON_ADMIN_SECRET_ACCESS_KEY", ADMIN_SECRET)
            .env("AWS_ENDPOINT_URL_S3", s3)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .unwrap(),
    );
    let port = listening_port(&log, &mut child.0);
    Server { port, url: format!("http://127.0.0.1:{port}"), log, _child: child }
}

impl Server {
    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Runs `deuteron --data-dir DATA ARGS` on SQLite: `(exit code, stdout, stderr)`.
pub fn deuteron(data: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_deuteron"))
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("DEUTERON_DATABASE_URL")
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Like [`deuteron`], asserting success; returns stdout.
pub fn deuteron_ok(data: &Path, args: &[&str]) -> String {
    let (code, out, err) = deuteron(data, args);
    assert_eq!(code, Some(0), "deuteron {args:?}: {err}");
    out
}

/// One raw HTTP/1.1 request to 127.0.0.1:`port` (`head` without the final blank line); returns
/// the status and the whole response text.
pub fn raw(port: u16, head: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(format!("{head}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, out)
}
