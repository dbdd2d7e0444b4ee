//! `deuteron template ...` and `deuteron template version ...`.

use deuteron_bundle::BundleFiles;
use deuteron_core::{CompatibleEnvironmentTemplate, ComponentSource, Provisioning, TemplateKind, VersionNumber};
use deuteron_service::Deuteron;
use deuteron_service::registry::{CreateTemplate, RegisterOptions};
use deuteron_service::views::{TemplateView, VersionView};
use deuteron_store::TemplatePatch;

use crate::cli::{Output, TemplateCommand, VersionCommand};
use crate::exit::Failure;
use crate::output::{opt, print, print_fields};

fn version(raw: &str) -> Result<VersionNumber, Failure> {
    raw.parse().map_err(|e: deuteron_core::VersionError| Failure::invalid(e.to_string()))
}

fn major(raw: &Option<String>) -> Result<Option<u32>, Failure> {
    raw.as_deref().map(|m| VersionNumber::parse_part(m).map_err(|e| Failure::invalid(format!("--major: {e}")))).transpose()
}

fn show_template(output: Output, t: &TemplateView) {
    print_fields(
        output,
        t,
        vec![
            ("kind", t.kind.clone()),
            ("name", t.name.clone()),
            ("display name", opt(&t.display_name)),
            ("description", opt(&t.description)),
            ("provisioning", t.provisioning.clone().or(t.pipeline_provisioning.clone()).unwrap_or_else(|| "STANDARD".into())),
            ("recommended version", opt(&t.recommended_version)),
            ("chosen by the platform team", opt(&t.pinned_recommended_version)),
            ("created", t.created_at.clone()),
            ("modified", t.last_modified_at.clone()),
        ],
    );
}

/// A version's fields; `with_schema` (for `version show`) prints its schema after them.
pub fn show_version(output: Output, v: &VersionView, with_schema: bool) {
    let compat = v
        .compatible_environment_templates
        .iter()
        .map(|c| format!("{}:{}", c.template_name, c.major_version))
        .collect::<Vec<_>>()
        .join(", ");
    let mut fields =
        vec![("template", format!("{} ({})", v.template_name, v.kind)), ("version", v.version.clone()), ("status", v.status.clone())];
    if let Some(m) = &v.status_message {
        fields.push(("status message", m.clone()));
    }
    if let Some(b) = &v.blocked {
        fields.push(("blocked", b.clone()));
    }
    fields.extend([
        ("recommended minor", opt(&v.recommended_minor_version)),
        ("description", opt(&v.description)),
        ("compatible environments", if compat.is_empty() { "-".into() } else { compat }),
        ("component sources", if v.supported_component_sources.is_empty() { "-".into() } else { v.supported_component_sources.join(", ") }),
        ("bundle sha256", v.bundle_digest.clone()),
        ("created", v.created_at.clone()),
    ]);
    print_fields(output, v, fields);
    if output == Output::Table && with_schema {
        println!("\nschema:\n{}", v.schema.trim_end());
    }
    if let Some(id) = &v.started_rollout {
        started_rollout(output, &v.template_name, &v.version, id);
    }
}

/// Says which rollout the template's automatic policy started for a version just published,
/// and how to follow it (on stderr with `--output json`, which carries it as `startedRollout`).
pub fn started_rollout(output: Output, template: &str, version: &str, id: &str) {
    let text = format!(
        "the automatic rollout policy of {template} started rollout {id} to {version}\nfollow it with: deuteron rollout status {id} --watch"
    );
    match output {
        Output::Table => println!("\n{text}"),
        Output::Json => eprintln!("{text}"),
    }
}

pub async fn run(svc: &Deuteron, output: Output, cmd: TemplateCommand) -> Result<(), Failure> {
    match cmd {
        TemplateCommand::Create { kind, name, display_name, description, customer_managed } => {
            let t = svc
                .create_template(CreateTemplate {
                    kind: kind.into(),
                    name,
                    display_name,
                    description,
                    provisioning: if customer_managed { Provisioning::CustomerManaged } else { Provisioning::Standard },
                    encryption_key: None,
                })
                .await?;
            show_template(output, &TemplateView::from(&t));
        }
        TemplateCommand::List { kind } => {
            let list: Vec<TemplateView> = svc.list_templates(kind.map(Into::into)).await?.iter().map(TemplateView::from).collect();
            let rows =
                list.iter().map(|t| vec![t.kind.clone(), t.name.clone(), opt(&t.display_name), opt(&t.recommended_version)]).collect();
            print(output, &list, &["KIND", "NAME", "DISPLAY NAME", "RECOMMENDED"], rows);
        }
        TemplateCommand::Show { kind, name } => show_template(output, &TemplateView::from(&svc.get_template(kind.into(), &name).await?)),
        TemplateCommand::Update { kind, name, display_name, description } => {
            let patch = TemplatePatch { display_name: display_name.map(Some), description: description.map(Some) };
            show_template(output, &TemplateView::from(&svc.update_template(kind.into(), &name, patch).await?));
        }
        TemplateCommand::Recommend { kind, name, number: chosen, highest: _ } => {
            let pinned = chosen.as_deref().map(version).transpose()?;
            show_template(output, &TemplateView::from(&svc.set_recommended_version(kind.into(), &name, pinned).await?));
        }
        TemplateCommand::Delete { kind, name, cascade } => {
            svc.delete_template(kind.into(), &name, cascade).await?;
            print_fields(
                output,
                &serde_json::json!({"deleted": {"kind": TemplateKind::from(kind).as_str(), "name": name}}),
                vec![("deleted", name.clone())],
            );
        }
        TemplateCommand::Fleet { kind, name } => {
            let fleet = svc.template_fleet(kind.map(Into::into), name.as_deref()).await?;
            let mut rows = Vec::new();
            for t in &fleet {
                for v in &t.versions {
                    let marker = if t.recommended_version.as_deref() == Some(v.version.as_str()) { " (recommended)" } else { "" };
                    rows.push(vec![
                        format!("{} {}", t.kind, t.name),
                        format!("{}{marker}", v.version),
                        v.status.clone(),
                        v.environments.to_string(),
                        v.service_instances.to_string(),
                        v.pipelines.to_string(),
                    ]);
                }
                rows.push(vec![
                    format!("{} {}", t.kind, t.name),
                    "total".into(),
                    format!("up to date {}, behind minor {}, behind major {}", t.up_to_date, t.behind_minor, t.behind_major),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
            }
            print(output, &fleet, &["TEMPLATE", "VERSION", "STATUS", "ENVIRONMENTS", "INSTANCES", "PIPELINES"], rows);
        }
        TemplateCommand::Version(cmd) => run_version(svc, output, cmd).await?,
    }
    Ok(())
}

async fn run_version(svc: &Deuteron, output: Output, cmd: VersionCommand) -> Result<(), Failure> {
    match cmd {
        VersionCommand::Register {
            kind,
            template,
            bundle,
            major: m,
            description,
            compatible_env,
            components,
            publish,
            allow_same_content,
        } => {
            let compatible_environments = compatible_env
                .iter()
                .map(|c| CompatibleEnvironmentTemplate::parse(c).map_err(|e| Failure::invalid(format!("--compatible-env: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            let files = BundleFiles::load(&bundle, &svc.config().bundle_limits)
                .map_err(|e| Failure::invalid(format!("invalid bundle {}: {e}", bundle.display())))?;
            let opts = RegisterOptions {
                major: major(&m)?,
                description,
                compatible_environments,
                supported_component_sources: components.then(|| vec![ComponentSource::DirectlyDefined]),
                allow_same_content,
            };
            let rec = svc.register_version(kind.into(), &template, files, opts).await?;
            let view =
                if publish { VersionView::from(&svc.publish(kind.into(), &template, rec.version).await?) } else { VersionView::from(&rec) };
            show_version(output, &view, false);
        }
        VersionCommand::Publish { kind, template, number: v } => {
            show_version(output, &VersionView::from(&svc.publish(kind.into(), &template, version(&v)?).await?), false);
        }
        VersionCommand::List { kind, template, major: m } => {
            let list: Vec<VersionView> =
                svc.list_versions(kind.into(), &template, major(&m)?).await?.iter().map(VersionView::from).collect();
            let rec = svc.get_template(kind.into(), &template).await?.recommended.map(|v| v.to_string());
            let rows = list
                .iter()
                .map(|v| {
                    let mark = if rec.as_deref() == Some(v.version.as_str()) { "yes" } else { "" };
                    let status = if v.blocked.is_some() { format!("{} (BLOCKED)", v.status) } else { v.status.clone() };
                    vec![v.version.clone(), status, mark.to_string(), opt(&v.description)]
                })
                .collect();
            print(output, &list, &["VERSION", "STATUS", "RECOMMENDED", "DESCRIPTION"], rows);
        }
        VersionCommand::Show { kind, template, number: v } => {
            show_version(output, &VersionView::from(&svc.get_version(kind.into(), &template, version(&v)?).await?), true);
        }
        VersionCommand::Update { kind, template, number: v, description } => {
            let rec = svc.update_version_description(kind.into(), &template, version(&v)?, description).await?;
            show_version(output, &VersionView::from(&rec), false);
        }
        VersionCommand::Unblock { kind, template, number: v } => {
            show_version(output, &VersionView::from(&svc.unblock_version(kind.into(), &template, version(&v)?).await?), false);
        }
        VersionCommand::Delete { kind, template, number: v } => {
            let n = version(&v)?;
            svc.delete_version(kind.into(), &template, n).await?;
            print_fields(
                output,
                &serde_json::json!({"deleted": {"kind": TemplateKind::from(kind).as_str(), "templateName": template, "version": n.to_string()}}),
                vec![("deleted", format!("{template} {n}"))],
            );
        }
    }
    Ok(())
}
