//! `deuteron key create|list|revoke`: API access keys.

use deuteron_service::Deuteron;
use deuteron_service::keys::AccessKeyView;

use crate::cli::{KeyCommand, Output};
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
