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

async fn env(r: &Remote, output: Output, cmd: EnvCommand) -> Result<(), Failure> {
    let show_env = |v: &Value| -> Result<(), Failure> {
        crate::resource_cmd::show_env(output, &view(v, "environment")?);
        Ok(())
    };
    match cmd {
        EnvCommand::Create { name, template, major, minor, spec, description, role_arn, wait } => {
            let body = json!({"name": name, "templateName": template, "majorVersion": major, "minorVersion": minor,
                "spec": read("spec", &spec)?, "description": description, "roleArn": role_arn});
            let created = r.json(Method::POST, "/api/v1/environments", body).await?;
            if wait.wait {
                r.wait(&[s(&created, "deploymentId")], &wait, output).await?;
            }
            show_env(&r.get(&format!("/api/v1/environments/{}", enc(&name))).await?)?;
        }
        EnvCommand::List { filter } => {
            let v = r.get(&format!("/api/v1/environments{}", query(&filter_query(&filter)))).await?;
            list(output, &v, &["NAME", "TEMPLATE", "VERSION", "TEMPLATE VERSION STATUS", "STATUS"], |e| {
                vec![s(e, "name"), s(e, "templateName"), version(e), s(e, "templateVersionStatus"), s(e, "deploymentStatus")]
            });
        }
        EnvCommand::Show { name } => {
            let env = view(&r.get(&format!("/api/v1/environments/{}", enc(&name))).await?, "environment")?;
            let outputs: Vec<deuteron_service::views::OutputView> =
                view(&r.get(&format!("/api/v1/environments/{}/outputs", enc(&name))).await?, "outputs")?;
            crate::resource_cmd::show_env_and_outputs(output, &env, outputs.into_iter().map(|o| (o.key, o.value_string)).collect());
        }
        EnvCommand::Update { name, description, update: u } => {
            let mut body = update_body(&u, "spec")?;
            body["description"] = json!(description);
            let changed = r.json(Method::PATCH, &format!("/api/v1/environments/{}", enc(&name)), body).await?;
            if let (Some(id), true) = (changed["deploymentId"].as_str(), u.wait.wait) {
                r.wait(&[id.to_string()], &u.wait, output).await?;
            }
            show_env(&r.get(&format!("/api/v1/environments/{}", enc(&name))).await?)?;
        }
        EnvCommand::Delete { name, wait } => {
            let d = r.send(Method::DELETE, &format!("/api/v1/environments/{}", enc(&name)), "application/json", Vec::new()).await?;
            if wait.wait {
                r.wait(&[s(&d, "id")], &wait, output).await?;
            }
            show(output, &d, &[("deployment", s(&d, "id")), ("status", s(&d, "deploymentStatus"))]);
        }
        EnvCommand::Outputs { name } => outputs(output, &r.get(&format!("/api/v1/environments/{}/outputs", enc(&name))).await?),
    }
    Ok(())
}

fn outputs(output: Output, v: &Value) {
    list(output, v, &["KEY", "VALUE"], |o| vec![s(o, "key"), s(o, "valueString")]);
}

async fn service(r: &Remote, output: Output, cmd: ServiceCommand) -> Result<(), Failure> {
    let show_service = |v: &Value| -> Result<(), Failure> {
        crate::resource_cmd::show_service(output, &view(v, "service")?);
        Ok(())
    };
    // Waits until the service leaves its *_IN_PROGRESS status (or is gone, when deleting).
    match cmd {
        ServiceCommand::Create {
            name,
            template,
            major,
            minor,
            spec,
            description,
            repository_connection_arn,
            repository_id,
            branch_name,
            wait,
        } => {
            let body = json!({"name": name, "templateName": template, "majorVersion": major, "minorVersion": minor,
                "spec": read("spec", &spec)?, "description": description, "repositoryConnectionArn": repository_connection_arn,
                "repositoryId": repository_id, "branchName": branch_name});
            let mut v = r.json(Method::POST, "/api/v1/services", body).await?;
            if wait.wait {
                v = r.settle(&name, &wait, false, output).await?.unwrap_or(v);
            }
            show_service(&v)?;
        }
        ServiceCommand::List => {
            let v = r.get("/api/v1/services").await?;
            list(output, &v, &["NAME", "TEMPLATE", "STATUS"], |x| vec![s(x, "name"), s(x, "templateName"), s(x, "status")]);
        }
        ServiceCommand::Show { name } => {
            let service = view(&r.get(&format!("/api/v1/services/{}", enc(&name))).await?, "service")?;
            let instances: Vec<deuteron_service::views::InstanceView> =
                view(&r.get(&format!("/api/v1/instances?service={}", enc(&name))).await?, "instance list")?;
            let pipeline = match r.get(&format!("/api/v1/services/{}/pipeline", enc(&name))).await {
                Ok(p) => Some(view(&p, "pipeline")?),
                Err(f) if f.code == NOT_FOUND => None,
                Err(f) => return Err(f),
            };
            crate::resource_cmd::show_service_and_parts(output, &service, &instances, pipeline.as_ref());
        }
        ServiceCommand::Update { name, description, spec, wait } => {
            let spec = spec.as_deref().map(|p| read("spec", p)).transpose()?;
            let mut v = r
                .json(Method::PATCH, &format!("/api/v1/services/{}", enc(&name)), json!({"description": description, "spec": spec}))
                .await?;
            if wait.wait {
                v = r.settle(&name, &wait, false, output).await?.unwrap_or(v);
            }
            show_service(&v)?;
        }
        ServiceCommand::Delete { name, wait } => {
            let deps = r.send(Method::DELETE, &format!("/api/v1/services/{}", enc(&name)), "application/json", Vec::new()).await?;
            if wait.wait {
                r.settle(&name, &wait, true, output).await?;
            }
            list(output, &deps, &["ID", "TARGET", "STATUS"], |d| vec![s(d, "id"), s(d, "target"), s(d, "deploymentStatus")]);
        }
    }
    Ok(())
}

async fn instance(r: &Remote, output: Output, cmd: InstanceCommand) -> Result<(), Failure> {
    let path = |service: &str, name: &str| format!("/api/v1/services/{}/instances/{}", enc(service), enc(name));
    let show_instance = |v: &Value| show(output, v, &resource_fields(v, format!("{}/{}", s(v, "serviceName"), s(v, "name"))));
    match cmd {
        InstanceCommand::List { service, environment, filter } => {
            let mut q = vec![("service", service), ("environment", environment)];
            q.extend(filter_query(&filter));
            let v = r.get(&format!("/api/v1/instances{}", query(&q))).await?;
            list(output, &v, &["SERVICE", "NAME", "ENVIRONMENT", "VERSION", "TEMPLATE VERSION STATUS", "STATUS"], |i| {
                vec![
                    s(i, "serviceName"),
                    s(i, "name"),
                    s(i, "environmentName"),
                    version(i),
                    s(i, "templateVersionStatus"),
                    s(i, "deploymentStatus"),
                ]
            });
        }
        InstanceCommand::Show { service, name } => show_instance(&r.get(&path(&service, &name)).await?),
        InstanceCommand::Update { service, name, update: u } => {
            let changed = r.json(Method::PATCH, &path(&service, &name), update_body(&u, "spec")?).await?;
            if let (Some(id), true) = (changed["deploymentId"].as_str(), u.wait.wait) {
                r.wait(&[id.to_string()], &u.wait, output).await?;
            }
            show_instance(&r.get(&path(&service, &name)).await?);
        }
        InstanceCommand::Outputs { service, name } => outputs(output, &r.get(&format!("{}/outputs", path(&service, &name))).await?),
    }
    Ok(())
}

async fn pipeline(r: &Remote, output: Output, cmd: PipelineCommand) -> Result<(), Failure> {
    let show_pipeline = |v: &Value| show(output, v, &resource_fields(v, s(v, "serviceName")));
    match cmd {
        PipelineCommand::List { filter } => {
            let v = r.get(&format!("/api/v1/pipelines{}", query(&filter_query(&filter)))).await?;
            list(output, &v, &["SERVICE", "TEMPLATE", "VERSION", "TEMPLATE VERSION STATUS", "STATUS"], |p| {
                vec![s(p, "serviceName"), s(p, "templateName"), version(p), s(p, "templateVersionStatus"), s(p, "deploymentStatus")]
            });
        }
        PipelineCommand::Show { service } => show_pipeline(&r.get(&format!("/api/v1/services/{}/pipeline", enc(&service))).await?),
        PipelineCommand::Update { service, update: u } => {
            let path = format!("/api/v1/services/{}/pipeline", enc(&service));
            let before = r.get(&path).await?;
            let after = r.json(Method::PATCH, &path, update_body(&u, "spec")?).await?;
            let id = s(&after, "lastAttemptedDeploymentId");
            if u.wait.wait && id != s(&before, "lastAttemptedDeploymentId") {
                r.wait(&[id], &u.wait, output).await?;
            }
            show_pipeline(&r.get(&path).await?);
        }
        PipelineCommand::Outputs { service } => {
            outputs(output, &r.get(&format!("/api/v1/services/{}/pipeline/outputs", enc(&service))).await?)
        }
    }
    Ok(())
}

async fn component(r: &Remote, output: Output, cmd: ComponentCommand) -> Result<(), Failure> {
    let path = |name: &str| format!("/api/v1/components/{}", enc(name));
    let show_component = |v: &Value| {
        show(
            output,
            v,
            &[
                ("name", s(v, "name")),
                ("environment", s(v, "environmentName")),
                ("attached to", format!("{}/{}", s(v, "serviceName"), s(v, "serviceInstanceName"))),
                ("status", s(v, "deploymentStatus")),
                ("status message", s(v, "deploymentStatusMessage")),
            ],
        )
    };
    match cmd {
        ComponentCommand::Create { name, environment, template_file, manifest, attach, description, wait } => {
            let body = json!({"name": name, "environmentName": environment, "serviceName": attach.service,
                "serviceInstanceName": attach.instance,
                "serviceSpec": attach.service_spec.as_deref().map(|p| read("service spec", p)).transpose()?,
                "templateFile": read("template file", &template_file)?, "manifest": read("manifest", &manifest)?,
                "description": description});
            let created = r.json(Method::POST, "/api/v1/components", body).await?;
            if wait.wait {
                r.wait(&[s(&created, "deploymentId")], &wait, output).await?;
            }
            show_component(&r.get(&path(&name)).await?);
        }
        ComponentCommand::List { environment, service, instance } => {
            let v = r
                .get(&format!("/api/v1/components{}", query(&[("environment", environment), ("service", service), ("instance", instance)])))
                .await?;
            list(output, &v, &["NAME", "ENVIRONMENT", "SERVICE", "INSTANCE", "STATUS"], |c| {
                vec![s(c, "name"), s(c, "environmentName"), s(c, "serviceName"), s(c, "serviceInstanceName"), s(c, "deploymentStatus")]
            });
        }
        ComponentCommand::Show { name } => show_component(&r.get(&path(&name)).await?),
        ComponentCommand::Update { name, description, template_file, manifest, attach, detach, redeploy, wait } => {
            let (service, instance) = if detach { (Some(String::new()), Some(String::new())) } else { (attach.service, attach.instance) };
            let mut body = json!({"description": description, "serviceName": service, "serviceInstanceName": instance,
                "serviceSpec": attach.service_spec.as_deref().map(|p| read("service spec", p)).transpose()?,
                "templateFile": template_file.as_deref().map(|p| read("template file", p)).transpose()?,
                "manifest": manifest.as_deref().map(|p| read("manifest", p)).transpose()?});
            if redeploy {
                body["deploymentType"] = json!("CURRENT_VERSION");
            }
            let changed = r.json(Method::PATCH, &path(&name), body).await?;
            if let (Some(id), true) = (changed["deploymentId"].as_str(), wait.wait) {
                r.wait(&[id.to_string()], &wait, output).await?;
            }
            show_component(&r.get(&path(&name)).await?);
        }
        ComponentCommand::Delete { name, wait } => {
            let d = r.send(Method::DELETE, &path(&name), "application/json", Vec::new()).await?;
            if wait.wait {
                r.wait(&[s(&d, "id")], &wait, output).await?;
            }
            show(output, &d, &[("deployment", s(&d, "id")), ("status", s(&d, "deploymentStatus"))]);
        }
        ComponentCommand::Outputs { name } => outputs(output, &r.get(&format!("{}/outputs", path(&name))).await?),
    }
    Ok(())
}

async fn deployment(r: &Remote, output: Output, cmd: DeploymentCommand) -> Result<(), Failure> {
    let show_deployment = |d: &Value| -> Result<(), Failure> {
        crate::resource_cmd::show_deployment(output, &view(d, "deployment")?);
        Ok(())
    };
    match cmd {
        DeploymentCommand::List { environment, service, limit } => {
            let v = r
                .get(&format!(
                    "/api/v1/deployments{}",
                    query(&[("environment", environment), ("service", service), ("limit", Some(limit.to_string()))])
                ))
                .await?;
            crate::resource_cmd::print_deployments(output, &view::<Vec<deuteron_service::views::DeploymentView>>(&v, "deployment list")?);
        }
        DeploymentCommand::Show { id } => show_deployment(&r.get(&format!("/api/v1/deployments/{}", enc(&id))).await?)?,
        DeploymentCommand::Logs { id, latest, follow } => {
            let id = match (id, latest) {
                (_, Some(resource)) => {
                    let v = r.get(&format!("/api/v1/deployments?resource={}&limit=1", enc(&resource))).await?;
                    v[0]["id"].as_str().map(str::to_string).ok_or_else(|| Failure {
                        code: NOT_FOUND,
                        kind: "NotFound",
                        message: format!("no deployment of {resource}"),
                        details: Vec::new(),
                    })?
                }
                (Some(id), None) => id,
                (None, None) => return Err(Failure::invalid("give a deployment id or --latest RESOURCE")),
            };
            let mut after = 0;
            loop {
                let log = r.get(&format!("/api/v1/deployments/{}/log?after={after}", enc(&id))).await?;
                let lines: Vec<deuteron_service::views::LogLineView> = view(&log["lines"], "deployment log")?;
                for l in &lines {
                    crate::resource_cmd::print_log_line(output, l);
                    after = l.seq;
                }
                let d = r.get(&format!("/api/v1/deployments/{}", enc(&id))).await?;
                if !follow || !["IN_PROGRESS", "DELETE_IN_PROGRESS", "CANCELLING"].contains(&s(&d, "deploymentStatus").as_str()) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        DeploymentCommand::Cancel { id, wait } => {
            let d = r.send(Method::POST, &format!("/api/v1/deployments/{}/cancel", enc(&id)), "application/json", Vec::new()).await?;
            if wait.wait {
                // A cancelled deployment ends CANCELLED: that is what was asked for.
                let _ = r.wait(std::slice::from_ref(&id), &wait, output).await;
            }
            show_deployment(&r.get(&format!("/api/v1/deployments/{}", enc(&id))).await.unwrap_or(d))?;
        }
    }
    Ok(())
}

async fn template(r: &Remote, output: Output, cmd: TemplateCommand) -> Result<(), Failure> {
    let show_template =
        |t: &Value| show(output, t, &[("kind", s(t, "kind")), ("name", s(t, "name")), ("recommended version", s(t, "recommendedVersion"))]);
    // The same view and printing as the local command.
    let show_version_with = |v: &Value, with_schema: bool| match serde_json::from_value::<deuteron_service::views::VersionView>(v.clone()) {
        Ok(view) => crate::template_cmd::show_version(output, &view, with_schema),
        Err(_) => show(output, v, &[("template", s(v, "templateName")), ("version", s(v, "version")), ("status", s(v, "status"))]),
    };
    let show_version = |v: &Value| show_version_with(v, false);
    let vpath = |k: crate::cli::Kind, t: &str, n: &str| format!("/api/v1/templates/{}/{}/versions/{}", kind(k), enc(t), enc(n));
    match cmd {
        TemplateCommand::Create { kind: k, name, display_name, description, customer_managed } => {
            let body = json!({"kind": kind(k), "name": name, "displayName": display_name, "description": description,
                "customerManaged": customer_managed});
            show_template(&r.json(Method::POST, "/api/v1/templates", body).await?);
        }
        TemplateCommand::List { kind: k } => {
            let v = r.get(&format!("/api/v1/templates{}", query(&[("kind", k.map(|k| kind(k).to_string()))]))).await?;
            list(output, &v, &["KIND", "NAME", "RECOMMENDED"], |t| vec![s(t, "kind"), s(t, "name"), s(t, "recommendedVersion")]);
        }
        TemplateCommand::Show { kind: k, name } => show_template(&r.get(&format!("/api/v1/templates/{}/{}", kind(k), enc(&name))).await?),
        TemplateCommand::Update { kind: k, name, display_name, description } => {
            let body = json!({"displayName": display_name, "description": description});
            show_template(&r.json(Method::PATCH, &format!("/api/v1/templates/{}/{}", kind(k), enc(&name)), body).await?);
        }
        TemplateCommand::Recommend { kind: k, name, number, highest: _ } => {
            let path = format!("/api/v1/templates/{}/{}/recommended-version", kind(k), enc(&name));
            show_template(&r.json(Method::PUT, &path, json!({"version": number})).await?);
        }
        TemplateCommand::Delete { kind: k, name, cascade } => {
            r.send(
                Method::DELETE,
                &format!("/api/v1/templates/{}/{}?cascade={cascade}", kind(k), enc(&name)),
                "application/json",
                Vec::new(),
            )
            .await?;
            if output == Output::Table {
                println!("deleted {} template {name}", kind(k));
            }
        }
        TemplateCommand::Fleet { kind: k, name } => {
            let v = r.get(&format!("/api/v1/fleet{}", query(&[("kind", k.map(|k| kind(k).to_string())), ("name", name)]))).await?;
            list(output, &v, &["KIND", "TEMPLATE", "RECOMMENDED", "UP TO DATE", "BEHIND MINOR", "BEHIND MAJOR"], |f| {
                vec![s(f, "kind"), s(f, "name"), s(f, "recommendedVersion"), s(f, "upToDate"), s(f, "behindMinor"), s(f, "behindMajor")]
            });
        }
        TemplateCommand::Version(v) => match v {
            VersionCommand::Register {
                kind: k,
                template,
                bundle,
                major,
                description,
                compatible_env,
                components,
                publish,
                allow_same_content,
            } => {
                let files = deuteron_bundle::BundleFiles::load(&bundle, &deuteron_bundle::Limits::default())
                    .map_err(|e| Failure::invalid(format!("invalid bundle {}: {e}", bundle.display())))?;
                let q = query(&[
                    ("major", major),
                    ("description", description),
                    ("compatibleEnvs", (!compatible_env.is_empty()).then(|| compatible_env.join(","))),
                    ("components", components.then(|| "true".to_string())),
                    ("publish", publish.then(|| "true".to_string())),
                    ("allowSameContent", allow_same_content.then(|| "true".to_string())),
                ]);
                let path = format!("/api/v1/templates/{}/{}/versions{q}", kind(k), enc(&template));
                show_version(&r.send(Method::POST, &path, "application/gzip", files.to_tar_gz()).await?);
            }
            VersionCommand::Publish { kind: k, template, number } => show_version(
                &r.send(Method::POST, &format!("{}/publish", vpath(k, &template, &number)), "application/json", Vec::new()).await?,
            ),
            VersionCommand::Unblock { kind: k, template, number } => show_version(
                &r.send(Method::POST, &format!("{}/unblock", vpath(k, &template, &number)), "application/json", Vec::new()).await?,
            ),
            VersionCommand::List { kind: k, template, major } => {
                let path = format!("/api/v1/templates/{}/{}/versions{}", kind(k), enc(&template), query(&[("major", major)]));
                let v = r.get(&path).await?;
                list(output, &v, &["VERSION", "STATUS", "RECOMMENDED MINOR", "DESCRIPTION"], |x| {
                    vec![s(x, "version"), s(x, "status"), s(x, "recommendedMinorVersion"), s(x, "description")]
                });
            }
            VersionCommand::Show { kind: k, template, number } => show_version_with(&r.get(&vpath(k, &template, &number)).await?, true),
            VersionCommand::Update { kind: k, template, number, description } => {
                show_version(&r.json(Method::PATCH, &vpath(k, &template, &number), json!({"description": description})).await?)
            }
            VersionCommand::Delete { kind: k, template, number } => {
                r.send(Method::DELETE, &vpath(k, &template, &number), "application/json", Vec::new()).await?;
                if output == Output::Table {
                    println!("deleted {} template {template} version {number}", kind(k));
                }
            }
        },
    }
    Ok(())
}

async fn key(r: &Remote, output: Output, cmd: KeyCommand) -> Result<(), Failure> {
    match cmd {
        KeyCommand::Create { role, description } => {
            let role = deuteron_core::Role::from(role).as_str();
            let v = r.json(Method::POST, "/api/v1/keys", json!({"role": role, "description": description})).await?;
            show(
                output,
                &v,
                &[("access key id", s(&v, "accessKeyId")), ("secret access key", s(&v, "secretAccessKey")), ("role", s(&v, "role"))],
            );
        }
        KeyCommand::List { deployment, all } => {
            let listing = crate::key_cmd::listing(deployment, all);
            let query = match &listing {
                deuteron_service::keys::KeyListing::People => String::new(),
                deuteron_service::keys::KeyListing::Deployments { deployment_id, all } => format!(
                    "?deployments=true&all={all}{}",
                    deployment_id.as_ref().map(|d| format!("&deployment={}", enc(d))).unwrap_or_default()
                ),
            };
            let v = r.get(&format!("/api/v1/keys{query}")).await?;
            let keys: Vec<deuteron_service::keys::AccessKeyView> = serde_json::from_value(v)
                .map_err(|e| Failure::internal(format!("the server's key list is not what this client reads: {e}")))?;
            let (headers, rows) = crate::key_cmd::key_rows(&listing, &keys);
            crate::output::print(output, &keys, headers, rows);
        }
        KeyCommand::Revoke { access_key_id } => {
            let v = r.send(Method::DELETE, &format!("/api/v1/keys/{}", enc(&access_key_id)), "application/json", Vec::new()).await?;
            show(output, &v, &[("access key id", s(&v, "accessKeyId")), ("revoked", s(&v, "revokedAt"))]);
        }
    }
    Ok(())
}

async fn event(r: &Remote, output: Output, cmd: EventCommand) -> Result<(), Failure> {
    let EventCommand::List { mut after, resource_type, resource, limit, follow } = cmd;
    loop {
        let q = query(&[
            ("after", Some(after.to_string())),
            ("type", resource_type.clone()),
            ("resource", resource.clone()),
            ("limit", Some(limit.to_string())),
        ]);
        let v = r.get(&format!("/api/v1/events{q}")).await?;
        let events = v["events"].as_array().cloned().unwrap_or_default();
        if !follow && output == Output::Json {
            println!("{}", serde_json::to_string_pretty(&events).expect("JSON values serialise"));
            return Ok(());
        }
        for e in &events {
            match output {
                Output::Json => println!("{e}"),
                Output::Table => println!(
                    "{:>6} {} {} {} {} -> {}",
                    s(e, "seq"),
                    s(e, "at"),
                    s(e, "resourceType"),
                    s(e, "resource"),
                    s(e, "previousStatus"),
                    s(e, "status")
                ),
            }
            after = e["seq"].as_i64().unwrap_or(after);
        }
        if !follow {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn rollout(r: &Remote, output: Output, cmd: RolloutCommand) -> Result<(), Failure> {
    let summary = |v: &Value| {
        show(
            output,
            v,
            &[
                ("rollout", s(v, "id")),
                ("template", format!("{} {} -> {}", s(v, "templateKind"), s(v, "templateName"), s(v, "targetVersion"))),
                ("status", s(v, "status")),
                ("message", s(v, "statusMessage")),
                ("wave", format!("{} of {}", s(v, "currentWave"), s(v, "waveCount"))),
            ],
        )
    };
    match cmd {
        RolloutCommand::Plan(args) => {
            let plan = r.json(Method::POST, "/api/v1/rollouts/plan", crate::rollout_cmd::request_json(args)?).await?;
            match output {
                Output::Json => println!("{}", serde_json::to_string_pretty(&plan).expect("JSON values serialise")),
                Output::Table => {
                    list(output, &plan["items"], &["WAVE", "RESOURCE", "ENVIRONMENT", "VERSION", "PLAN"], |i| {
                        let plan = match i["skipped"].as_str() {
                            Some(why) => format!("skipped: {why}"),
                            None => "moves".into(),
                        };
                        vec![s(i, "wave"), s(i, "resource"), s(i, "environment"), format!("{} -> {}", s(i, "from"), s(i, "to")), plan]
                    });
                    println!("{} resources move to {}; {} skipped", s(&plan, "moving"), s(&plan, "targetVersion"), s(&plan, "skipped"));
                }
            }
        }
        RolloutCommand::Start { args, watch } => {
            let v = r.json(Method::POST, "/api/v1/rollouts", crate::rollout_cmd::request_json(args)?).await?;
            if watch.watch {
                return watch_rollout(r, output, &s(&v, "id"), watch.wait_timeout).await;
            }
            summary(&v);
        }
        RolloutCommand::Status { id, items, watch } => {
            if watch.watch {
                return watch_rollout(r, output, &id, watch.wait_timeout).await;
            }
            if items {
                let v = r.get(&format!("/api/v1/rollouts/{}/items", enc(&id))).await?;
                crate::rollout_cmd::print_items(output, v["items"].as_array().map(Vec::as_slice).unwrap_or_default());
            } else {
                summary(&r.get(&format!("/api/v1/rollouts/{}", enc(&id))).await?);
            }
        }
        RolloutCommand::Pause { id } => summary(&r.json(Method::POST, &format!("/api/v1/rollouts/{}/pause", enc(&id)), Value::Null).await?),
        RolloutCommand::Resume { id } => {
            summary(&r.json(Method::POST, &format!("/api/v1/rollouts/{}/resume", enc(&id)), Value::Null).await?)
        }
        RolloutCommand::Approve { id } => {
            summary(&r.json(Method::POST, &format!("/api/v1/rollouts/{}/approve", enc(&id)), Value::Null).await?)
        }
        RolloutCommand::Cancel { id } => {
            summary(&r.json(Method::POST, &format!("/api/v1/rollouts/{}/cancel", enc(&id)), Value::Null).await?)
        }
        RolloutCommand::List { limit } => {
            let v = r.get(&format!("/api/v1/rollouts?limit={limit}")).await?;
            crate::rollout_cmd::print_rollouts(output, v["rollouts"].as_array().map(Vec::as_slice).unwrap_or_default());
        }
        RolloutCommand::Policy(p) => {
            let (k, template, method, body) = match p {
                crate::cli::PolicyCommand::Set { kind: k, template, policy, automatic } => {
                    let policy = crate::rollout_cmd::policy(policy)?;
                    (k, template, Method::PUT, json!({"policy": policy, "automatic": automatic}))
                }
                crate::cli::PolicyCommand::Show { kind: k, template } => (k, template, Method::GET, Value::Null),
                crate::cli::PolicyCommand::Clear { kind: k, template } => (k, template, Method::DELETE, Value::Null),
            };
            let path = format!("/api/v1/templates/{}/{}/rollout-policy", kind(k), enc(&template));
            let v = if body.is_null() {
                r.send(method, &path, "application/json", Vec::new()).await?
            } else {
                r.json(method, &path, body).await?
            };
            show(output, &v, &[("automatic", s(&v, "automatic")), ("policy", v["policy"].to_string())]);
        }
    }
    Ok(())
}

async fn watch_rollout(r: &Remote, output: Output, id: &str, timeout: u64) -> Result<(), Failure> {
    let start = Instant::now();
    let mut last = String::new();
    loop {
        let v = r.get(&format!("/api/v1/rollouts/{}", enc(id))).await?;
        let total = |k: &str| v["waves"].as_array().into_iter().flatten().map(|w| w[k].as_u64().unwrap_or(0)).sum::<u64>();
        let line = format!(
            "{} wave {}/{}: {} running, {} succeeded, {} failed, {} pending, {} rolled back",
            s(&v, "status"),
            s(&v, "currentWave"),
            s(&v, "waveCount"),
            total("running"),
            total("succeeded"),
            total("failed"),
            total("pending"),
            total("rolledBack")
        );
        if line != last {
            eprintln!("[{:>6.1}s] {line}", start.elapsed().as_secs_f64());
            last = line;
        }
        let status = s(&v, "status");
        if ["SUCCEEDED", "FAILED", "ROLLED_BACK", "CANCELLED"].contains(&status.as_str()) {
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&v).expect("JSON values serialise"));
            }
            if status != "SUCCEEDED" {
                return Err(Failure {
                    code: DEPLOYMENT_FAILED,
                    kind: "RolloutFailed",
                    message: format!("rollout {id} ended {status}: {}", s(&v, "statusMessage")),
                    details: Vec::new(),
                });
            }
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(timeout) {
            return Err(Failure {
                code: WAIT_TIMEOUT,
                kind: "WaitTimeout",
                message: format!("gave up watching rollout {id} after {timeout}s; it is {status}"),
                details: Vec::new(),
            });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
