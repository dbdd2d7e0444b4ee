//! Client commands over the REST API (`--server URL --access-key ID:SECRET`): the same commands,
//! flags, JSON and exit codes as against a local store, for a Deuteron running elsewhere.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode};
use deuteron_service::views::DeploymentView;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

use crate::cli::{
    Command, ComponentCommand, DeploymentCommand, EnvCommand, EventCommand, InstanceCommand, KeyCommand, Output, PipelineCommand,
    RolloutCommand, ServiceCommand, TemplateCommand, UpdateArgs, VersionCommand, VersionFilter, WaitArgs,
};
use crate::exit::{ACCESS_DENIED, CONFLICT, DEPLOYMENT_FAILED, Failure, INTERNAL, INVALID, NOT_FOUND, WAIT_TIMEOUT};
use crate::output::table;

mod access;
mod resources;
mod rollouts;
mod templates;

use access::{event, key};
use resources::{component, deployment, env, instance, pipeline, service};
use rollouts::rollout;
use templates::template;

/// A Deuteron server's REST API.
pub struct Remote {
    base: String,
    auth: String,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

fn read(what: &str, path: &std::path::Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| Failure::invalid(format!("cannot read {what} {}: {e}", path.display())))
}

/// Percent-encodes a query or path value.
fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// `?a=1&b=2` from the pairs that are set.
fn query(pairs: &[(&str, Option<String>)]) -> String {
    let set: Vec<String> = pairs.iter().filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", enc(v)))).collect();
    if set.is_empty() { String::new() } else { format!("?{}", set.join("&")) }
}

fn filter_query(f: &VersionFilter) -> Vec<(&'static str, Option<String>)> {
    vec![
        ("template", f.template.clone()),
        ("templateVersion", f.template_version.clone()),
        ("behind", f.behind.map(|b| if b == crate::cli::Behind::Minor { "minor".to_string() } else { "major".to_string() })),
    ]
}

fn s(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn version(v: &Value) -> String {
    format!("{}.{}", s(v, "templateMajorVersion"), s(v, "templateMinorVersion"))
}

impl Remote {
    pub fn new(url: &str, key: Option<&str>) -> Result<Self, Failure> {
        let key =
            key.ok_or_else(|| Failure::invalid("--server needs --access-key (or DEUTERON_ACCESS_KEY) as <access key id>:<secret>"))?;
        if !key.contains(':') {
            return Err(Failure::invalid("--access-key must be <access key id>:<secret>"));
        }
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| Failure::internal(format!("cannot load the system's root certificates: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            base: url.trim_end_matches('/').to_string(),
            auth: format!("Bearer {key}"),
            client: Client::builder(TokioExecutor::new()).build(https),
        })
    }

    async fn send(&self, method: Method, path: &str, content_type: &str, body: Vec<u8>) -> Result<Value, Failure> {
        let req = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base))
            .header("authorization", &self.auth)
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| Failure::invalid(format!("bad request {path}: {e}")))?;
        let resp = self.client.request(req).await.map_err(|e| Failure::internal(format!("cannot reach {}: {e}", self.base)))?;
        let status = resp.status();
        let bytes = resp.into_body().collect().await.map_err(|e| Failure::internal(format!("reading the answer: {e}")))?.to_bytes();
        let value: Value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        if status.is_success() {
            return Ok(value);
        }
        let message = value["error"]["message"].as_str().map(str::to_string).unwrap_or_else(|| format!("{method} {path}: HTTP {status}"));
        let first = message.split_once("\n  - ").map_or(message.clone(), |(m, _)| m.to_string());
        // The server's details as the local command has them: schema violations stay structured.
        let details: Vec<deuteron_service::Detail> = match value["error"]["details"].as_array() {
            Some(list) => list
                .iter()
                .map(|d| match (d.as_str(), d["path"].as_str()) {
                    (Some(t), _) => deuteron_service::Detail::Text(t.to_string()),
                    (None, Some(path)) => deuteron_service::Detail::Input(deuteron_bundle::InputError {
                        path: path.to_string(),
                        rule: s(d, "rule"),
                        value: s(d, "value"),
                        message: s(d, "message"),
                    }),
                    (None, None) => deuteron_service::Detail::Text(d.to_string()),
                })
                .collect(),
            None => message.split("\n  - ").skip(1).map(|t| deuteron_service::Detail::Text(t.to_string())).collect(),
        };
        let (code, kind) = match status {
            StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE => (INVALID, "ValidationError"),
            StatusCode::NOT_FOUND => (NOT_FOUND, "NotFound"),
            StatusCode::CONFLICT => (CONFLICT, "Conflict"),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => (ACCESS_DENIED, "AccessDenied"),
            _ => (INTERNAL, "InternalError"),
        };
        Err(Failure { code, kind, message: first, details })
    }

    async fn get(&self, path: &str) -> Result<Value, Failure> {
        self.send(Method::GET, path, "application/json", Vec::new()).await
    }

    async fn json(&self, method: Method, path: &str, body: Value) -> Result<Value, Failure> {
        self.send(method, path, "application/json", body.to_string().into_bytes()).await
    }

    /// Follows deployments until they end, with their logs on stderr, as `--wait` does locally.
    async fn wait(&self, ids: &[String], args: &WaitArgs, output: Output) -> Result<(), Failure> {
        let start = Instant::now();
        let mut follower = crate::follow::Follower::default();
        ids.iter().for_each(|id| follower.add(id));
        loop {
            let now = follower.step(self, output).await?;
            if now.iter().all(crate::follow::ended) {
                return match follower.first_failed(&now) {
                    Some(d) => Err(crate::follow::failure(d, None)),
                    None => Ok(()),
                };
            }
            if start.elapsed() > Duration::from_secs(args.wait_timeout) {
                return Err(crate::follow::timed_out(args));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Follows every deployment of service `name` until the service settles (or is gone, when
    /// `gone`); the service as it is then.
    async fn settle(&self, name: &str, args: &WaitArgs, gone: bool, output: Output) -> Result<Option<Value>, Failure> {
        let start = Instant::now();
        // Timestamps are ISO 8601 in one format: they compare as text.
        let since = deuteron_service::views::iso(deuteron_store::now_millis() - 5_000);
        let mut follower = crate::follow::Follower::default();
        loop {
            let list: Vec<DeploymentView> =
                view(&self.get(&format!("/api/v1/deployments?service={}&limit=100", enc(name))).await?, "deployment list")?;
            for d in list.iter().rev() {
                if !crate::follow::ended(d) || d.created_at >= since {
                    follower.add(&d.id);
                }
            }
            let now = follower.step(self, output).await?;
            match self.get(&format!("/api/v1/services/{}", enc(name))).await {
                Err(f) if gone && f.code == NOT_FOUND => return Ok(None),
                Err(f) => return Err(f),
                Ok(v) if !s(&v, "status").ends_with("IN_PROGRESS") && now.iter().all(crate::follow::ended) => {
                    if s(&v, "status").contains("FAILED") {
                        let context = match v["statusMessage"].as_str() {
                            Some(m) => format!("service {name} is {}: {m}", s(&v, "status")),
                            None => format!("service {name} is {}", s(&v, "status")),
                        };
                        return Err(match follower.first_failed(&now) {
                            Some(d) => crate::follow::failure(d, Some(&context)),
                            None => Failure { code: DEPLOYMENT_FAILED, kind: "DeploymentFailed", message: context, details: Vec::new() },
                        });
                    }
                    return Ok(Some(v));
                }
                Ok(_) => {}
            }
            if start.elapsed() > Duration::from_secs(args.wait_timeout) {
                return Err(crate::follow::timed_out(args));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

#[async_trait::async_trait]
impl crate::follow::DeploymentSource for Remote {
    async fn deployment(&self, id: &str) -> Result<DeploymentView, Failure> {
        view(&self.get(&format!("/api/v1/deployments/{}", enc(id))).await?, "deployment")
    }
    async fn log(&self, id: &str, after: i64) -> Result<Vec<deuteron_service::views::LogLineView>, Failure> {
        view(&self.get(&format!("/api/v1/deployments/{}/log?after={after}", enc(id))).await?["lines"], "deployment log")
    }
}

/// Prints a JSON value: as is with `--output json`, else as `label: value` lines.
fn show(output: Output, v: &Value, fields: &[(&str, String)]) {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(v).expect("JSON values serialise")),
        Output::Table => {
            let width = fields.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
            for (label, value) in fields {
                println!("{label:width$}  {value}");
            }
        }
    }
}

/// Prints a JSON list: as is with `--output json`, else as a table of the given columns.
fn list(output: Output, v: &Value, headers: &[&str], row: impl Fn(&Value) -> Vec<String>) {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(v).expect("JSON values serialise")),
        Output::Table => {
            let rows: Vec<Vec<String>> = v.as_array().into_iter().flatten().map(row).collect();
            print!("{}", table(headers, &rows));
        }
    }
}

/// A server reply as the view the local command prints, so both print alike.
fn view<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T, Failure> {
    serde_json::from_value(v.clone()).map_err(|e| Failure::internal(format!("the server's {what} is not what this client reads: {e}")))
}

fn resource_fields(v: &Value, name: String) -> Vec<(&'static str, String)> {
    vec![
        ("name", name),
        ("template", format!("{} {}", s(v, "templateName"), version(v))),
        ("template version status", s(v, "templateVersionStatus")),
        ("status", s(v, "deploymentStatus")),
        ("status message", s(v, "deploymentStatusMessage")),
        ("last attempted", s(v, "lastAttemptedDeploymentId")),
    ]
}

fn update_body(u: &UpdateArgs, spec_key: &str) -> Result<Value, Failure> {
    let mut body = json!({
        "deploymentType": match u.update_type {
            crate::cli::UpdateKind::None => "NONE",
            crate::cli::UpdateKind::CurrentVersion => "CURRENT_VERSION",
            crate::cli::UpdateKind::MinorVersion => "MINOR_VERSION",
            crate::cli::UpdateKind::MajorVersion => "MAJOR_VERSION",
        },
        "majorVersion": u.major,
        "minorVersion": u.minor,
    });
    if let Some(p) = &u.spec {
        body[spec_key] = json!(read("spec", p)?);
    }
    Ok(body)
}

fn kind(k: crate::cli::Kind) -> &'static str {
    deuteron_core::TemplateKind::from(k).as_str()
}

/// Runs one client command against the server.
pub async fn run(r: &Remote, output: Output, command: Command) -> Result<(), Failure> {
    match command {
        Command::Env(cmd) => env(r, output, cmd).await,
        Command::Service(cmd) => service(r, output, cmd).await,
        Command::Instance(cmd) => instance(r, output, cmd).await,
        Command::Pipeline(cmd) => pipeline(r, output, cmd).await,
        Command::Component(cmd) => component(r, output, cmd).await,
        Command::Deployment(cmd) => deployment(r, output, cmd).await,
        Command::Template(cmd) => template(r, output, cmd).await,
        Command::Key(cmd) => key(r, output, cmd).await,
        Command::Event(cmd) => event(r, output, cmd).await,
        Command::Rollout(cmd) => rollout(r, output, cmd).await,
        _ => Err(Failure::invalid("this command runs on the server's machine; it does not take --server")),
    }
}
