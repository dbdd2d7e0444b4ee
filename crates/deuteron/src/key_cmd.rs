//! `deuteron key create|list|revoke`: API access keys; `deuteron event list`: status changes.

use deuteron_service::Deuteron;
use deuteron_service::keys::AccessKeyView;

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
        KeyCommand::List => {
            let list: Vec<AccessKeyView> = svc.list_access_keys().await?.iter().map(AccessKeyView::from).collect();
            let rows = list
                .iter()
                .map(|k| {
                    vec![
                        k.access_key_id.clone(),
                        k.role.clone(),
                        if k.revoked_at.is_some() { "revoked".into() } else { "active".into() },
                        k.created_at.clone(),
                        opt(&k.description),
                    ]
                })
                .collect();
            print(output, &list, &["ACCESS KEY ID", "ROLE", "STATE", "CREATED", "DESCRIPTION"], rows);
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
