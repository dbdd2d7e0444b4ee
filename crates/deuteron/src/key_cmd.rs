//! `deuteron key create|list|revoke`: API access keys; `deuteron event list`: status changes.

use deuteron_service::Deuteron;
use deuteron_service::keys::{AccessKeyView, KeyListing};

use crate::cli::{EventCommand, KeyCommand, Output};
use crate::exit::Failure;
use crate::output::{opt, print, print_fields};

pub async fn run(svc: &Deuteron, output: Output, cmd: KeyCommand) -> Result<(), Failure> {
    match cmd {
        KeyCommand::Create { role, description } => {
            let (rec, secret) = svc.create_access_key(role.into(), description).await?;
            let view = AccessKeyView::from(&rec);
            match output {
                Output::Json => {
                    let mut v = serde_json::to_value(&view).expect("views serialise");
                    v["secretAccessKey"] = serde_json::json!(secret);
                    println!("{}", serde_json::to_string_pretty(&v).expect("JSON values serialise"));
                }
                Output::Table => {
                    println!("access key id:     {}", view.access_key_id);
                    println!("secret access key: {secret}");
                    println!("role:              {}", view.role);
                    eprintln!("The secret is shown only now; store it safely (e.g. as AWS_SECRET_ACCESS_KEY).");
                }
            }
        }
        KeyCommand::List { deployment, all } => {
            let listing = listing(deployment, all);
            let list: Vec<AccessKeyView> = svc.list_access_keys(&listing).await?.iter().map(AccessKeyView::from).collect();
            let (headers, rows) = key_rows(&listing, &list);
            print(output, &list, headers, rows);
        }
        KeyCommand::Revoke { access_key_id } => {
            let rec = svc.revoke_access_key(&access_key_id).await?;
            let view = AccessKeyView::from(&rec);
            print_fields(
                output,
                &view,
                vec![("access key id", view.access_key_id.clone()), ("role", view.role.clone()), ("revoked", opt(&view.revoked_at))],
            );
        }
    }
    Ok(())
}

/// The listing `key list [--deployment [ID]] [--all]` asks for.
pub fn listing(deployment: Option<Option<String>>, all: bool) -> KeyListing {
    match deployment {
        None => KeyListing::People,
        Some(deployment_id) => KeyListing::Deployments { deployment_id, all },
    }
}

/// The table of `key list`, local or remote: deployment listings show the deployment and expiry.
pub fn key_rows(listing: &KeyListing, list: &[AccessKeyView]) -> (&'static [&'static str], Vec<Vec<String>>) {
    let deployments = matches!(listing, KeyListing::Deployments { .. });
    let headers: &[&str] = if deployments {
        &["ACCESS KEY ID", "ROLE", "STATE", "CREATED", "DEPLOYMENT", "EXPIRES"]
    } else {
        &["ACCESS KEY ID", "ROLE", "STATE", "CREATED", "DESCRIPTION"]
    };
    let rows = list
        .iter()
        .map(|k| {
            let mut row = vec![k.access_key_id.clone(), k.role.clone(), k.state.clone(), k.created_at.clone()];
            if deployments {
                row.extend([opt(&k.deployment_id), opt(&k.expires_at)]);
            } else {
                row.push(opt(&k.description));
            }
            row
        })
        .collect();
    (headers, rows)
}

pub async fn events(svc: &Deuteron, output: Output, cmd: EventCommand) -> Result<(), Failure> {
    let EventCommand::List { after, resource_type, resource, limit, follow } = cmd;
    let mut filter = deuteron_store::EventFilter { after, resource_type, resource, limit };
    let line = |e: &deuteron_store::EventRecord| match output {
        Output::Json => serde_json::to_string(e).expect("events serialise"),
        Output::Table => format!(
            "{:>6} {} {} {} {} -> {}{}",
            e.seq,
            deuteron_service::views::iso(e.at),
            e.resource_type,
            e.resource,
            e.previous_status.as_deref().unwrap_or("-"),
            e.status,
            e.message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default()
        ),
    };
    if !follow {
        let list = svc.list_events(&filter).await?;
        match output {
            Output::Json => println!("{}", serde_json::to_string_pretty(&list).expect("events serialise")),
            Output::Table => list.iter().for_each(|e| println!("{}", line(e))),
        }
        return Ok(());
    }
    loop {
        for e in svc.list_events(&filter).await? {
            println!("{}", line(&e));
            filter.after = e.seq;
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}
