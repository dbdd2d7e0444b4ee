//! Key and event commands over the REST API.

use super::*;

pub(super) async fn key(r: &Remote, output: Output, cmd: KeyCommand) -> Result<(), Failure> {
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

pub(super) async fn event(r: &Remote, output: Output, cmd: EventCommand) -> Result<(), Failure> {
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
