//! Template and version commands over the REST API.

use super::*;

pub(super) async fn template(r: &Remote, output: Output, cmd: TemplateCommand) -> Result<(), Failure> {
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
