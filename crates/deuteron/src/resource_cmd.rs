//! `deuteron env|service|instance|pipeline|deployment ...`: resources and their deployments.

use std::path::Path;
use std::time::{Duration, Instant};

use deuteron_core::registry::Staleness;
use deuteron_core::{ServiceStatus, VersionNumber};
use deuteron_service::components::{CreateComponent, UpdateComponent};
use deuteron_service::resources::{CreateEnvironment, CreateService, UpdateResource};
use deuteron_service::views::{
    ComponentView, CurrencyView, DeploymentView, EnvironmentView, InstanceView, LogLineView, OutputView, PipelineView, ServiceView,
};
use deuteron_service::{Deuteron, ServiceError};
use deuteron_store::{DeploymentFilter, DeploymentRecord, JobState, Target};

use crate::cli::{
    AttachArgs, ComponentCommand, DeploymentCommand, EnvCommand, InstanceCommand, Output, PipelineCommand, ServiceCommand, UpdateArgs,
    VersionFilter, WaitArgs,
};
use crate::exit::{DEPLOYMENT_FAILED, Failure};
use crate::output::{opt, print, print_fields};

fn read_spec(path: &Path) -> Result<String, Failure> {
    read_file("spec", path)
}

fn read_file(what: &str, path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path).map_err(|e| Failure::invalid(format!("cannot read {what} {}: {e}", path.display())))
}

fn update(u: &UpdateArgs) -> Result<UpdateResource, Failure> {
    Ok(UpdateResource {
        update_type: u.update_type.into(),
        spec: u.spec.as_deref().map(read_spec).transpose()?,
        major: u.major,
        minor: u.minor,
    })
}

/// The list filters of outdated detection, as the service layer takes them.
fn version_filter(f: &VersionFilter) -> Result<deuteron_service::meta::VersionFilter, Failure> {
    let version = f
        .template_version
        .as_deref()
        .map(|v| v.parse::<VersionNumber>().map_err(|e| Failure::invalid(format!("--template-version: {e}"))))
        .transpose()?;
    let behind = f.behind.map(|b| match b {
        crate::cli::Behind::Minor => Staleness::BehindMinor,
        crate::cli::Behind::Major => Staleness::BehindMajor,
    });
    Ok(deuteron_service::meta::VersionFilter { template: f.template.clone(), version, behind })
}

fn currency_cell(c: &Option<CurrencyView>) -> String {
    match c {
        Some(c) => match &c.recommended_version {
            Some(r) if c.template_version_status != "UP_TO_DATE" => format!("{} (recommended {r})", c.template_version_status),
            _ => c.template_version_status.clone(),
        },
        None => "-".into(),
    }
}

pub(crate) fn show_env(output: Output, e: &EnvironmentView) {
    print_fields(
        output,
        e,
        vec![
            ("name", e.name.clone()),
            ("template", format!("{} {}.{}", e.template_name, e.template_major_version, e.template_minor_version)),
            ("template version status", currency_cell(&e.currency)),
            ("status", e.deployment.deployment_status.clone()),
            ("status message", opt(&e.deployment.deployment_status_message)),
            ("last attempted", opt(&e.deployment.last_attempted_deployment_id)),
            ("last succeeded", opt(&e.deployment.last_succeeded_deployment_id)),
            ("description", opt(&e.description)),
        ],
    );
}

/// `env show`: the environment's fields, then its outputs (`outputs` in JSON).
pub(crate) fn show_env_and_outputs(output: Output, e: &EnvironmentView, outputs: Vec<(String, String)>) {
    let outputs: Vec<OutputView> = outputs.into_iter().map(|(key, value_string)| OutputView { key, value_string }).collect();
    match output {
        Output::Json => {
            let mut v = serde_json::to_value(e).expect("views serialise");
            v["outputs"] = serde_json::to_value(&outputs).expect("views serialise");
            println!("{}", serde_json::to_string_pretty(&v).expect("JSON values serialise"));
        }
        Output::Table => {
            show_env(output, e);
            println!("\noutputs:");
            if outputs.is_empty() {
                println!("  -");
            }
            for o in &outputs {
                println!("  {} = {}", o.key, o.value_string);
            }
        }
    }
}

fn show_instance(output: Output, i: &InstanceView) {
    print_fields(
        output,
        i,
        vec![
            ("instance", format!("{}/{}", i.service_name, i.name)),
            ("environment", i.environment_name.clone()),
            ("template", format!("{} {}.{}", i.template_name, i.template_major_version, i.template_minor_version)),
            ("template version status", currency_cell(&i.currency)),
            ("status", i.deployment.deployment_status.clone()),
            ("status message", opt(&i.deployment.deployment_status_message)),
            ("last attempted", opt(&i.deployment.last_attempted_deployment_id)),
            ("last succeeded", opt(&i.deployment.last_succeeded_deployment_id)),
        ],
    );
}

pub(crate) fn show_deployment(output: Output, d: &DeploymentView) {
    let version = |s: &deuteron_store::ResourceState| match &s.component {
        Some(c) => format!("template file ({} bytes)", c.template_file.len()),
        None => format!("{} {}.{}", s.template_name, s.template_major_version, s.template_minor_version),
    };
    print_fields(
        output,
        d,
        vec![
            ("id", d.id.clone()),
            ("target", format!("{} {}", d.target_resource_type, d.target)),
            ("action", d.action.clone()),
            ("status", d.deployment_status.clone()),
            ("status message", opt(&d.deployment_status_message)),
            ("from", d.initial_state.as_ref().map_or_else(|| "-".into(), version)),
            ("to", version(&d.target_state)),
            ("attempts", d.attempts.to_string()),
            ("created", d.created_at.clone()),
            ("started", opt(&d.started_at)),
            ("completed", opt(&d.completed_at)),
            ("duration", d.duration_ms.map_or_else(|| "-".into(), |ms| format!("{:.1} s", ms as f64 / 1000.0))),
        ],
    );
}

fn show_outputs(output: Output, pairs: Vec<(String, String)>) {
    let views: Vec<OutputView> = pairs.into_iter().map(|(key, value_string)| OutputView { key, value_string }).collect();
    let rows = views.iter().map(|o| vec![o.key.clone(), o.value_string.clone()]).collect();
    print(output, &views, &["KEY", "VALUE"], rows);
}

/// One line of `deployment logs`, local or remote.
pub(crate) fn print_log_line(output: Output, l: &LogLineView) {
    match output {
        Output::Json => println!("{}", serde_json::to_string(l).expect("log lines serialise")),
        Output::Table => println!("{} {:8} {}", l.at, l.stream, l.line),
    }
}

fn deployments_table(output: Output, list: &[DeploymentRecord]) {
    print_deployments(output, &list.iter().map(DeploymentView::from).collect::<Vec<_>>());
}

/// A deployment list, local or remote: ids in the shortest form that tells them apart (any
/// unique prefix is accepted back), the full ids in JSON.
pub(crate) fn print_deployments(output: Output, views: &[DeploymentView]) {
    let ids = deuteron_core::ids::short_forms(&views.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), 8);
    let rows = views
        .iter()
        .zip(ids)
        .map(|(d, id)| {
            vec![
                id,
                format!("{} {}", d.target_resource_type, d.target),
                d.action.clone(),
                match d.target_state.component {
                    Some(_) => "-".into(),
                    None => format!("{}.{}", d.target_state.template_major_version, d.target_state.template_minor_version),
                },
                d.deployment_status.clone(),
                d.created_at.clone(),
            ]
        })
        .collect();
    print(output, &views, &["ID", "TARGET", "ACTION", "VERSION", "STATUS", "CREATED"], rows);
}

/// Follows deployments until they end, printing their logs and status changes to stderr.
/// The major a create names, else that of the template's recommended version.
async fn major_or_default(svc: &Deuteron, kind: deuteron_core::TemplateKind, template: &str, major: Option<u32>) -> Result<u32, Failure> {
    match major {
        Some(m) => Ok(m),
        None => Ok(svc.default_major(kind, template).await?),
    }
}

/// Deployments read from the service layer, for `--wait`.
struct Local<'a>(&'a Deuteron);

#[async_trait::async_trait]
impl crate::follow::DeploymentSource for Local<'_> {
    async fn deployment(&self, id: &str) -> Result<DeploymentView, Failure> {
        Ok(DeploymentView::from(&self.0.get_deployment(id).await?))
    }
    async fn log(&self, id: &str, after: i64) -> Result<Vec<LogLineView>, Failure> {
        Ok(self.0.deployment_log(id, after).await?.iter().map(LogLineView::from).collect())
    }
}

async fn wait_for(svc: &Deuteron, ids: &[String], args: WaitArgs, output: Output) -> Result<Vec<DeploymentRecord>, Failure> {
    let start = Instant::now();
    let mut follower = crate::follow::Follower::default();
    ids.iter().for_each(|id| follower.add(id));
    let mut hinted = false;
    loop {
        let now = follower.step(&Local(svc), output).await?;
        if now.iter().all(crate::follow::ended) {
            if let Some(d) = follower.first_failed(&now) {
                return Err(crate::follow::failure(d, None));
            }
            let mut done = Vec::new();
            for id in ids {
                done.push(svc.get_deployment(id).await?);
            }
            return Ok(done);
        }
        if !hinted && start.elapsed() > Duration::from_secs(5) {
            for id in ids {
                let d = svc.get_deployment(id).await?;
                if d.job_state != JobState::Done && d.attempts == 0 {
                    hinted = true;
                    eprintln!(
                        "note: no worker has picked up deployment {} yet; is `deuteron server` (or `deuteron worker`) running on this store?",
                        d.id
                    );
                    break;
                }
            }
        }
        if start.elapsed() > Duration::from_secs(args.wait_timeout) {
            return Err(crate::follow::timed_out(&args));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `--wait` on a command that starts several deployments (service create, update, delete):
/// follows every deployment of the service until the service settles.
async fn wait_service(
    svc: &Deuteron,
    name: &str,
    args: WaitArgs,
    output: Output,
) -> Result<Option<deuteron_store::ServiceRecord>, Failure> {
    let start = Instant::now();
    let since = deuteron_store::now_millis() - 5_000;
    let mut follower = crate::follow::Follower::default();
    loop {
        let list = svc
            .list_deployments(&DeploymentFilter { service_name: Some(name.to_string()), limit: Some(100), ..Default::default() })
            .await?;
        // Newest first: follow, oldest first, what runs now or began with this command.
        for d in list.iter().rev().filter(|d| d.job_state != JobState::Done || d.created_at >= since) {
            follower.add(&d.id);
        }
        let now = follower.step(&Local(svc), output).await?;
        match svc.get_service(name).await {
            Err(ServiceError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
            Ok(s) => match s.status {
                ServiceStatus::CreateInProgress | ServiceStatus::UpdateInProgress | ServiceStatus::DeleteInProgress => {}
                ServiceStatus::Active if now.iter().all(crate::follow::ended) => return Ok(Some(s)),
                ServiceStatus::Active => {}
                other => {
                    let context = match &s.status_message {
                        Some(m) => format!("service {name} is {other}: {m}"),
                        None => format!("service {name} is {other}"),
                    };
                    return Err(match follower.first_failed(&now) {
                        Some(d) => crate::follow::failure(d, Some(&context)),
                        None => Failure { code: DEPLOYMENT_FAILED, kind: "DeploymentFailed", message: context, details: Vec::new() },
                    });
                }
            },
        }
        if start.elapsed() > Duration::from_secs(args.wait_timeout) {
            return Err(crate::follow::timed_out(&args));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn env(svc: &Deuteron, output: Output, cmd: EnvCommand) -> Result<(), Failure> {
    match cmd {
        EnvCommand::Create { name, template, major, minor, spec, description, role_arn, wait } => {
            let major = major_or_default(svc, deuteron_core::TemplateKind::Environment, &template, major).await?;
            let (_, dep) = svc
                .create_environment(CreateEnvironment {
                    name: name.clone(),
                    template_name: template,
                    major,
                    minor,
                    spec: read_spec(&spec)?,
                    description,
                    role_arn,
                    ..Default::default()
                })
                .await?;
            if wait.wait {
                wait_for(svc, &[dep], wait, output).await?;
            }
            show_env(output, &EnvironmentView::from(&svc.get_environment(&name).await?));
        }
        EnvCommand::List { filter } => {
            let list = svc.environment_views(&version_filter(&filter)?).await?;
            let rows = list
                .iter()
                .map(|e| {
                    vec![
                        e.name.clone(),
                        e.template_name.clone(),
                        format!("{}.{}", e.template_major_version, e.template_minor_version),
                        currency_cell(&e.currency),
                        e.deployment.deployment_status.clone(),
                    ]
                })
                .collect();
            print(output, &list, &["NAME", "TEMPLATE", "VERSION", "TEMPLATE VERSION STATUS", "STATUS"], rows);
        }
        EnvCommand::Show { name } => {
            let view = svc.environment_view(&name).await?;
            let outputs = svc.outputs(&Target::Environment(name)).await?;
            show_env_and_outputs(output, &view, outputs);
        }
        EnvCommand::Update { name, description, update: u } => {
            let (_, dep) = svc.update_environment(&name, description.map(Some), update(&u)?).await?;
            if let (Some(d), true) = (&dep, u.wait.wait) {
                wait_for(svc, std::slice::from_ref(&d.id), u.wait, output).await?;
            }
            show_env(output, &EnvironmentView::from(&svc.get_environment(&name).await?));
        }
        EnvCommand::Delete { name, wait } => {
            let dep = svc.delete_environment(&name).await?;
            if wait.wait {
                wait_for(svc, std::slice::from_ref(&dep.id), wait, output).await?;
            }
            show_deployment(output, &DeploymentView::from(&svc.get_deployment(&dep.id).await?));
        }
        EnvCommand::Outputs { name } => {
            svc.get_environment(&name).await?;
            show_outputs(output, svc.outputs(&Target::Environment(name)).await?);
        }
    }
    Ok(())
}

pub async fn service(svc: &Deuteron, output: Output, cmd: ServiceCommand) -> Result<(), Failure> {
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
            let major = major_or_default(svc, deuteron_core::TemplateKind::Service, &template, major).await?;
            let mut s = svc
                .create_service(CreateService {
                    name: name.clone(),
                    template_name: template,
                    major,
                    minor,
                    spec: read_spec(&spec)?,
                    description,
                    repository_connection_arn,
                    repository_id,
                    branch_name,
                })
                .await?;
            if wait.wait {
                s = wait_service(svc, &name, wait, output).await?.unwrap_or(s);
            }
            show_service(output, &ServiceView::from(&s));
        }
        ServiceCommand::List => {
            let list: Vec<ServiceView> = svc.list_services().await?.iter().map(ServiceView::from).collect();
            let rows = list.iter().map(|s| vec![s.name.clone(), s.template_name.clone(), s.status.clone()]).collect();
            print(output, &list, &["NAME", "TEMPLATE", "STATUS"], rows);
        }
        ServiceCommand::Show { name } => {
            let view = ServiceView::from(&svc.get_service(&name).await?);
            let instances = svc.instance_views(Some(&name), None, &Default::default()).await?;
            let pipeline = match svc.pipeline_view(&name).await {
                Ok(p) => Some(p),
                Err(deuteron_service::ServiceError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            };
            show_service_and_parts(output, &view, &instances, pipeline.as_ref());
        }
        ServiceCommand::Update { name, description, spec, wait } => {
            let mut s = svc.update_service(&name, description.map(Some), spec.as_deref().map(read_spec).transpose()?).await?;
            if wait.wait {
                s = wait_service(svc, &name, wait, output).await?.unwrap_or(s);
            }
            show_service(output, &ServiceView::from(&s));
        }
        ServiceCommand::Delete { name, wait } => {
            let deps = svc.delete_service(&name).await?;
            if wait.wait {
                wait_service(svc, &name, wait, output).await?;
            }
            deployments_table(output, &deps);
        }
    }
    Ok(())
}

pub(crate) fn show_service(output: Output, s: &ServiceView) {
    print_fields(
        output,
        s,
        vec![
            ("name", s.name.clone()),
            ("template", s.template_name.clone()),
            ("status", s.status.clone()),
            ("status message", opt(&s.status_message)),
        ],
    );
}

/// `service show`: the service, its instances and its pipeline, each with version and status
/// (`instances` and `pipeline` in JSON).
pub(crate) fn show_service_and_parts(
    output: Output,
    s: &ServiceView,
    instances: &[InstanceView],
    pipeline: Option<&deuteron_service::views::PipelineView>,
) {
    match output {
        Output::Json => {
            let mut v = serde_json::to_value(s).expect("views serialise");
            v["instances"] = serde_json::to_value(instances).expect("views serialise");
            v["pipeline"] = serde_json::to_value(pipeline).expect("views serialise");
            println!("{}", serde_json::to_string_pretty(&v).expect("JSON values serialise"));
        }
        Output::Table => {
            show_service(output, s);
            let rows: Vec<Vec<String>> = instances
                .iter()
                .map(|i| {
                    vec![
                        i.name.clone(),
                        i.environment_name.clone(),
                        format!("{}.{}", i.template_major_version, i.template_minor_version),
                        currency_cell(&i.currency),
                        i.deployment.deployment_status.clone(),
                    ]
                })
                .collect();
            println!("\ninstances:");
            print!("{}", crate::output::table(&["NAME", "ENVIRONMENT", "VERSION", "TEMPLATE VERSION STATUS", "STATUS"], &rows));
            match pipeline {
                Some(p) => println!(
                    "\npipeline: {}.{} {} ({})",
                    p.template_major_version,
                    p.template_minor_version,
                    p.deployment.deployment_status,
                    currency_cell(&p.currency)
                ),
                None => println!("\npipeline: none"),
            }
        }
    }
}

pub async fn instance(svc: &Deuteron, output: Output, cmd: InstanceCommand) -> Result<(), Failure> {
    match cmd {
        InstanceCommand::List { service, environment, filter } => {
            let list = svc.instance_views(service.as_deref(), environment.as_deref(), &version_filter(&filter)?).await?;
            let rows = list
                .iter()
                .map(|i| {
                    vec![
                        i.service_name.clone(),
                        i.name.clone(),
                        i.environment_name.clone(),
                        format!("{}.{}", i.template_major_version, i.template_minor_version),
                        currency_cell(&i.currency),
                        i.deployment.deployment_status.clone(),
                    ]
                })
                .collect();
            print(output, &list, &["SERVICE", "NAME", "ENVIRONMENT", "VERSION", "TEMPLATE VERSION STATUS", "STATUS"], rows);
        }
        InstanceCommand::Show { service, name } => show_instance(output, &svc.instance_view(&service, &name).await?),
        InstanceCommand::Update { service, name, update: u } => {
            if let Some(d) = svc.update_instance(&service, &name, update(&u)?).await?
                && u.wait.wait
            {
                wait_for(svc, std::slice::from_ref(&d.id), u.wait, output).await?;
            }
            show_instance(output, &InstanceView::from(&svc.get_instance(&service, &name).await?));
        }
        InstanceCommand::Outputs { service, name } => {
            svc.get_instance(&service, &name).await?;
            show_outputs(output, svc.outputs(&Target::ServiceInstance { service, instance: name }).await?);
        }
    }
    Ok(())
}

pub async fn pipeline(svc: &Deuteron, output: Output, cmd: PipelineCommand) -> Result<(), Failure> {
    let show = |p: &PipelineView| {
        print_fields(
            output,
            p,
            vec![
                ("service", p.service_name.clone()),
                ("template", format!("{} {}.{}", p.template_name, p.template_major_version, p.template_minor_version)),
                ("template version status", currency_cell(&p.currency)),
                ("status", p.deployment.deployment_status.clone()),
                ("status message", opt(&p.deployment.deployment_status_message)),
            ],
        )
    };
    match cmd {
        PipelineCommand::List { filter } => {
            let list = svc.pipeline_views(&version_filter(&filter)?).await?;
            let rows = list
                .iter()
                .map(|p| {
                    vec![
                        p.service_name.clone(),
                        p.template_name.clone(),
                        format!("{}.{}", p.template_major_version, p.template_minor_version),
                        currency_cell(&p.currency),
                        p.deployment.deployment_status.clone(),
                    ]
                })
                .collect();
            print(output, &list, &["SERVICE", "TEMPLATE", "VERSION", "TEMPLATE VERSION STATUS", "STATUS"], rows);
        }
        PipelineCommand::Show { service } => show(&svc.pipeline_view(&service).await?),
        PipelineCommand::Update { service, update: u } => {
            if let Some(d) = svc.update_pipeline(&service, update(&u)?).await?
                && u.wait.wait
            {
                wait_for(svc, std::slice::from_ref(&d.id), u.wait, output).await?;
            }
            show(&PipelineView::from(&svc.get_pipeline(&service).await?));
        }
        PipelineCommand::Outputs { service } => {
            svc.get_pipeline(&service).await?;
            show_outputs(output, svc.outputs(&Target::ServicePipeline(service)).await?);
        }
    }
    Ok(())
}

pub async fn deployment(svc: &Deuteron, output: Output, cmd: DeploymentCommand) -> Result<(), Failure> {
    match cmd {
        DeploymentCommand::List { environment, service, limit } => {
            let list = svc
                .list_deployments(&DeploymentFilter {
                    environment_name: environment,
                    service_name: service,
                    limit: Some(limit),
                    ..Default::default()
                })
                .await?;
            deployments_table(output, &list);
        }
        DeploymentCommand::Show { id } => show_deployment(output, &DeploymentView::from(&svc.get_deployment(&id).await?)),
        DeploymentCommand::Logs { id, latest, follow } => {
            let id = match (id, latest) {
                (_, Some(resource)) => svc.latest_deployment(&resource).await?.id,
                (Some(id), None) => svc.resolve_id(deuteron_store::IdTable::Deployments, &id).await?,
                (None, None) => return Err(Failure::invalid("give a deployment id or --latest RESOURCE")),
            };
            let mut seq = 0;
            loop {
                let lines = svc.deployment_log(&id, seq).await?;
                for l in &lines {
                    print_log_line(output, &LogLineView::from(l));
                    seq = l.seq;
                }
                if !follow || svc.get_deployment(&id).await?.job_state == JobState::Done && lines.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        DeploymentCommand::Cancel { id, wait } => {
            let mut d = svc.cancel_deployment(&id).await?;
            if wait.wait {
                d = match wait_for(svc, std::slice::from_ref(&id), wait, output).await {
                    Ok(mut v) => v.remove(0),
                    Err(f) if f.code == DEPLOYMENT_FAILED => svc.get_deployment(&id).await?,
                    Err(f) => return Err(f),
                };
            }
            show_deployment(output, &DeploymentView::from(&d));
        }
    }
    Ok(())
}

fn show_component(output: Output, c: &ComponentView) {
    let attached = match (&c.service_name, &c.service_instance_name) {
        (Some(s), Some(i)) => format!("{s}/{i}"),
        _ => "-".into(),
    };
    print_fields(
        output,
        c,
        vec![
            ("name", c.name.clone()),
            ("environment", c.environment_name.clone()),
            ("attached to", attached),
            ("status", c.deployment.deployment_status.clone()),
            ("status message", opt(&c.deployment.deployment_status_message)),
            ("last attempted", opt(&c.deployment.last_attempted_deployment_id)),
            ("last succeeded", opt(&c.deployment.last_succeeded_deployment_id)),
            ("description", opt(&c.description)),
        ],
    );
}

pub async fn component(svc: &Deuteron, output: Output, cmd: ComponentCommand) -> Result<(), Failure> {
    let spec_of = |a: &AttachArgs| a.service_spec.as_deref().map(read_spec).transpose();
    match cmd {
        ComponentCommand::Create { name, environment, template_file, manifest, attach, description, wait } => {
            let (_, dep) = svc
                .create_component(CreateComponent {
                    name: name.clone(),
                    description,
                    environment_name: environment,
                    service_spec: spec_of(&attach)?,
                    service_name: attach.service,
                    service_instance_name: attach.instance,
                    template_file: read_file("template file", &template_file)?,
                    manifest: read_file("manifest", &manifest)?,
                    client_token: None,
                })
                .await?;
            if wait.wait {
                wait_for(svc, &[dep], wait, output).await?;
            }
            show_component(output, &ComponentView::from(&svc.get_component(&name).await?));
        }
        ComponentCommand::List { environment, service, instance } => {
            let filter =
                deuteron_store::ComponentFilter { environment_name: environment, service_name: service, service_instance_name: instance };
            let list: Vec<ComponentView> = svc.list_components(&filter).await?.iter().map(ComponentView::from).collect();
            let rows = list
                .iter()
                .map(|c| {
                    vec![
                        c.name.clone(),
                        c.environment_name.clone(),
                        match (&c.service_name, &c.service_instance_name) {
                            (Some(s), Some(i)) => format!("{s}/{i}"),
                            _ => "-".into(),
                        },
                        c.deployment.deployment_status.clone(),
                    ]
                })
                .collect();
            print(output, &list, &["NAME", "ENVIRONMENT", "ATTACHED TO", "STATUS"], rows);
        }
        ComponentCommand::Show { name } => show_component(output, &ComponentView::from(&svc.get_component(&name).await?)),
        ComponentCommand::Update { name, description, template_file, manifest, attach, detach, redeploy, wait } => {
            let template_file = template_file.as_deref().map(|p| read_file("template file", p)).transpose()?;
            let manifest = manifest.as_deref().map(|p| read_file("manifest", p)).transpose()?;
            let service_spec = spec_of(&attach)?;
            let changes =
                redeploy || detach || template_file.is_some() || manifest.is_some() || attach.service.is_some() || service_spec.is_some();
            let (service_name, service_instance_name) =
                if detach { (Some(String::new()), Some(String::new())) } else { (attach.service, attach.instance) };
            let (_, dep) = svc
                .update_component(
                    &name,
                    UpdateComponent {
                        redeploy: changes,
                        description: description.map(Some),
                        service_name,
                        service_instance_name,
                        service_spec,
                        template_file,
                        manifest,
                        client_token: None,
                    },
                )
                .await?;
            if let (Some(d), true) = (&dep, wait.wait) {
                wait_for(svc, std::slice::from_ref(&d.id), wait, output).await?;
            }
            show_component(output, &ComponentView::from(&svc.get_component(&name).await?));
        }
        ComponentCommand::Delete { name, wait } => {
            let dep = svc.delete_component(&name).await?;
            if wait.wait {
                wait_for(svc, std::slice::from_ref(&dep.id), wait, output).await?;
            }
            show_deployment(output, &DeploymentView::from(&svc.get_deployment(&dep.id).await?));
        }
        ComponentCommand::Outputs { name } => {
            svc.get_component(&name).await?;
            show_outputs(output, svc.outputs(&Target::Component(name)).await?);
        }
    }
    Ok(())
}
