//! One conformance story, run against SQLite and PostgreSQL: both backends must behave the same.

use std::sync::Arc;

use deuteron_core::{
    CompatibleEnvironmentTemplate, ComponentSource, Provisioning, TemplateKind,
    TemplateVersionStatus as S, VersionNumber,
};
use deuteron_store::{
    NewTemplate, NewVersion, PostgresStore, SqliteStore, StatusChange, Store, StoreError,
    TemplatePatch,
};

fn v(major: u32, minor: u32) -> VersionNumber {
    VersionNumber::new(major, minor)
}

fn new_version(kind: TemplateKind, name: &str, version: VersionNumber, status: S) -> NewVersion {
    NewVersion {
        kind,
        template_name: name.into(),
        version,
        status,
        status_message: None,
        description: Some(format!("v{version}")),
        schema: "schema: {}".into(),
        bundle: vec![1, 2, 3, version.minor as u8],
        bundle_digest: format!("digest-{version}"),
        compatible_environments: vec![CompatibleEnvironmentTemplate {
            template_name: "net".into(),
            major_version: 1,
        }],
        supported_component_sources: vec![ComponentSource::DirectlyDefined],
    }
}

fn publish() -> StatusChange {
    StatusChange {
        expected: vec![S::Draft, S::Published],
        status: S::Published,
        status_message: None,
        schema: None,
        compatible_environments: None,
        supported_component_sources: None,
    }
}

async fn story<F, Fut>(store: Arc<dyn Store>, raw: F)
where
    F: Fn(&'static str) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    use TemplateKind::*;
    // Templates: create, duplicate, get, list, update.
    let t = store
        .create_template(&NewTemplate {
            kind: Environment,
            name: "net".into(),
            display_name: Some("Network".into()),
            description: None,
            provisioning: Provisioning::Standard,
            encryption_key: None,
        })
        .await
        .unwrap();
    assert_eq!((t.name.as_str(), t.recommended), ("net", None));
    let dup = store
        .create_template(&NewTemplate {
            kind: Environment,
            name: "net".into(),
            display_name: None,
            description: None,
            provisioning: Provisioning::CustomerManaged,
            encryption_key: None,
        })
        .await
        .unwrap_err();
    assert!(
        matches!(&dup, StoreError::Conflict(m) if m == "environment template net already exists"),
        "{dup}"
    );
    // The same name as a service template is a different template.
    store
        .create_template(&NewTemplate {
            kind: Service,
            name: "net".into(),
            display_name: None,
            description: Some("svc".into()),
            provisioning: Provisioning::CustomerManaged,
            encryption_key: None,
        })
        .await
        .unwrap();
    assert_eq!(store.list_templates(None).await.unwrap().len(), 2);
    assert_eq!(
        store.list_templates(Some(Service)).await.unwrap()[0].provisioning,
        Provisioning::CustomerManaged
    );
    let updated = store
        .update_template(
            Environment,
            "net",
            &TemplatePatch {
                description: Some(Some("the network".into())),
                display_name: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            updated.display_name.as_deref(),
            updated.description.as_deref()
        ),
        (Some("Network"), Some("the network"))
    );
    assert!(matches!(
        store.get_template(Environment, "nope").await,
        Err(StoreError::NotFound(_))
    ));

    // Versions: create, duplicate number, bundle, list, status compare-and-set, recommended.
    for (ver, status) in [
        (v(1, 0), S::Draft),
        (v(1, 1), S::Draft),
        (v(2, 0), S::Draft),
    ] {
        store
            .create_version(&new_version(Environment, "net", ver, status))
            .await
            .unwrap();
    }
    let dup = store
        .create_version(&new_version(Environment, "net", v(1, 1), S::Draft))
        .await
        .unwrap_err();
    assert!(
        matches!(&dup, StoreError::Conflict(m) if m.contains("version 1.1 already exists")),
        "{dup}"
    );
    let orphan = store
        .create_version(&new_version(Environment, "ghost", v(1, 0), S::Draft))
        .await
        .unwrap_err();
    assert!(matches!(orphan, StoreError::NotFound(_)));
    assert_eq!(
        store
            .get_version_bundle(Environment, "net", v(1, 1))
            .await
            .unwrap(),
        vec![1, 2, 3, 1]
    );
    let got = store
        .get_version(Environment, "net", v(1, 0))
        .await
        .unwrap();
    assert_eq!(got.compatible_environments[0].to_string(), "net:1");
    assert_eq!(
        got.supported_component_sources,
        vec![ComponentSource::DirectlyDefined]
    );
    assert_eq!(
        store
            .list_versions(Environment, "net", Some(1))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store
            .list_versions(Environment, "net", None)
            .await
            .unwrap()
            .iter()
            .map(|r| r.version)
            .collect::<Vec<_>>(),
        vec![v(1, 0), v(1, 1), v(2, 0)]
    );

    store
        .set_version_status(Environment, "net", v(1, 0), &publish())
        .await
        .unwrap();
    let r = store
        .set_version_status(Environment, "net", v(1, 1), &publish())
        .await
        .unwrap();
    assert_eq!((r.status, r.recommended_minor), (S::Published, Some(1)));
    assert_eq!(
        store
            .get_template(Environment, "net")
            .await
            .unwrap()
            .recommended,
        Some(v(1, 1))
    );
    assert_eq!(
        store
            .get_version(Environment, "net", v(1, 0))
            .await
            .unwrap()
            .recommended_minor,
        Some(1)
    );
    let failed = StatusChange {
        expected: vec![S::RegistrationInProgress],
        status: S::RegistrationFailed,
        status_message: Some("x".into()),
        schema: None,
        compatible_environments: None,
        supported_component_sources: None,
    };
    let e = store
        .set_version_status(Environment, "net", v(2, 0), &failed)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m.contains("is DRAFT (expected REGISTRATION_IN_PROGRESS)")),
        "{e}"
    );
    store
        .set_version_status(Environment, "net", v(2, 0), &publish())
        .await
        .unwrap();
    assert_eq!(
        store
            .get_template(Environment, "net")
            .await
            .unwrap()
            .recommended,
        Some(v(2, 0))
    );
    let d = store
        .update_version_description(Environment, "net", v(2, 0), Some("second major"))
        .await
        .unwrap();
    assert_eq!(d.description.as_deref(), Some("second major"));

    // Usage blocks deletes, checked inside the delete's transaction.
    raw("INSERT INTO environments (name, template_name, template_major, template_minor, created_at) VALUES ('dev', 'net', 1, 0, 0)").await;
    raw("INSERT INTO service_instances (service_name, name, environment_name, template_name, template_major, template_minor, created_at) VALUES ('api', 'api-dev', 'dev', 'net', 1, 0, 0)").await;
    let users = store
        .version_usage(Environment, "net", Some(v(1, 0)))
        .await
        .unwrap();
    assert_eq!(
        users.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec!["environment dev (version 1.0)"]
    );
    let users = store.version_usage(Service, "net", None).await.unwrap();
    assert_eq!(
        users.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec!["service instance api/api-dev (version 1.0)"]
    );
    let e = store
        .delete_version(Environment, "net", v(1, 0))
        .await
        .unwrap_err();
    assert_eq!(e.to_string(), "in use by environment dev (version 1.0)");
    assert!(
        store.get_version(Environment, "net", v(1, 0)).await.is_ok(),
        "a refused delete leaves the version"
    );
    let e = store.delete_template(Environment, "net").await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment template net still has versions 1.0, 1.1, 2.0; delete them first"
    );

    store
        .delete_version(Environment, "net", v(2, 0))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_template(Environment, "net")
            .await
            .unwrap()
            .recommended,
        Some(v(1, 1))
    );
    raw("DELETE FROM environments").await;
    store
        .delete_version(Environment, "net", v(1, 0))
        .await
        .unwrap();
    store
        .delete_version(Environment, "net", v(1, 1))
        .await
        .unwrap();
    assert!(matches!(
        store.delete_version(Environment, "net", v(1, 1)).await,
        Err(StoreError::NotFound(_))
    ));
    store.delete_template(Environment, "net").await.unwrap();
    assert!(matches!(
        store.delete_template(Environment, "net").await,
        Err(StoreError::NotFound(_))
    ));

    // Concurrent registrations of the same number: exactly one wins, the others conflict.
    store
        .create_template(&NewTemplate {
            kind: Environment,
            name: "race".into(),
            display_name: None,
            description: None,
            provisioning: Provisioning::Standard,
            encryption_key: None,
        })
        .await
        .unwrap();
    let attempts = (0..8).map(|_| {
        let s = store.clone();
        tokio::spawn(async move {
            s.create_version(&new_version(Environment, "race", v(1, 0), S::Draft))
                .await
        })
    });
    let mut ok = 0;
    for a in attempts {
        match a.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn sqlite_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("deuteron.db"))
        .await
        .unwrap();
    let raw = store.clone();
    story(Arc::new(store), move |sql| {
        let s = raw.clone();
        async move { s.execute_raw(sql).await.unwrap() }
    })
    .await;
    // Reopening applies no migration twice and keeps the data.
    let again = SqliteStore::open(&dir.path().join("deuteron.db"))
        .await
        .unwrap();
    assert_eq!(again.list_templates(None).await.unwrap().len(), 2);
}

#[tokio::test]
async fn postgres_conformance() {
    let url = deuteron_store::testing::fresh_postgres_url().await;
    let store = PostgresStore::open(&url).await.unwrap();
    let raw = store.clone();
    story(Arc::new(store), move |sql| {
        let s = raw.clone();
        async move { s.execute_raw(sql).await.unwrap() }
    })
    .await;
    let again = PostgresStore::open(&url).await.unwrap();
    assert_eq!(again.list_templates(None).await.unwrap().len(), 2);
}
