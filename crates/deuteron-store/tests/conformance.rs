//! One conformance story, run against SQLite and PostgreSQL: both backends must behave the same.

use std::sync::Arc;

use deuteron_core::{
    CompatibleEnvironmentTemplate, ComponentSource, Provisioning, TemplateKind, TemplateVersionStatus as S, VersionNumber,
};
use deuteron_store::{NewTemplate, NewVersion, PostgresStore, SqliteStore, StatusChange, Store, StoreError, TemplatePatch, on_both_stores};

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
        compatible_environments: vec![CompatibleEnvironmentTemplate { template_name: "net".into(), major_version: 1 }],
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
    assert!(matches!(&dup, StoreError::Conflict(m) if m == "environment template net already exists"), "{dup}");
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
    assert_eq!(store.list_templates(Some(Service)).await.unwrap()[0].provisioning, Provisioning::CustomerManaged);
    let updated = store
        .update_template(Environment, "net", &TemplatePatch { description: Some(Some("the network".into())), display_name: None })
        .await
        .unwrap();
    assert_eq!((updated.display_name.as_deref(), updated.description.as_deref()), (Some("Network"), Some("the network")));
    assert!(matches!(store.get_template(Environment, "nope").await, Err(StoreError::NotFound(_))));

    // Versions: create, duplicate number, bundle, list, status compare-and-set, recommended.
    for (ver, status) in [(v(1, 0), S::Draft), (v(1, 1), S::Draft), (v(2, 0), S::Draft)] {
        store.create_version(&new_version(Environment, "net", ver, status)).await.unwrap();
    }
    let dup = store.create_version(&new_version(Environment, "net", v(1, 1), S::Draft)).await.unwrap_err();
    assert!(matches!(&dup, StoreError::Conflict(m) if m.contains("version 1.1 already exists")), "{dup}");
    let orphan = store.create_version(&new_version(Environment, "ghost", v(1, 0), S::Draft)).await.unwrap_err();
    assert!(matches!(orphan, StoreError::NotFound(_)));
    assert_eq!(store.get_version_bundle(Environment, "net", v(1, 1)).await.unwrap(), vec![1, 2, 3, 1]);
    let got = store.get_version(Environment, "net", v(1, 0)).await.unwrap();
    assert_eq!(got.compatible_environments[0].to_string(), "net:1");
    assert_eq!(got.supported_component_sources, vec![ComponentSource::DirectlyDefined]);
    assert_eq!(store.list_versions(Environment, "net", Some(1)).await.unwrap().len(), 2);
    assert_eq!(
        store.list_versions(Environment, "net", None).await.unwrap().iter().map(|r| r.version).collect::<Vec<_>>(),
        vec![v(1, 0), v(1, 1), v(2, 0)]
    );

    store.set_version_status(Environment, "net", v(1, 0), &publish()).await.unwrap();
    let r = store.set_version_status(Environment, "net", v(1, 1), &publish()).await.unwrap();
    assert_eq!((r.status, r.recommended_minor), (S::Published, Some(1)));
    assert_eq!(store.get_template(Environment, "net").await.unwrap().recommended, Some(v(1, 1)));
    assert_eq!(store.get_version(Environment, "net", v(1, 0)).await.unwrap().recommended_minor, Some(1));
    // A pinned recommended version: only a published one; unpinning returns to the highest.
    let t = store.set_recommended_pin(Environment, "net", Some(v(1, 0))).await.unwrap();
    assert_eq!((t.recommended, t.pinned), (Some(v(1, 0)), Some(v(1, 0))));
    let e = store.set_recommended_pin(Environment, "net", Some(v(2, 0))).await.unwrap_err();
    assert!(matches!(&e, StoreError::Conflict(m) if m.contains("version 2.0 is DRAFT")), "{e}");
    assert!(matches!(store.set_recommended_pin(Environment, "net", Some(v(7, 0))).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.set_recommended_pin(Environment, "nope", None).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.get_template(Environment, "net").await.unwrap().recommended, Some(v(1, 0)), "a refused pin changes nothing");
    let t = store.set_recommended_pin(Environment, "net", None).await.unwrap();
    assert_eq!((t.recommended, t.pinned), (Some(v(1, 1)), None));
    let failed = StatusChange {
        expected: vec![S::RegistrationInProgress],
        status: S::RegistrationFailed,
        status_message: Some("x".into()),
        schema: None,
        compatible_environments: None,
        supported_component_sources: None,
    };
    let e = store.set_version_status(Environment, "net", v(2, 0), &failed).await.unwrap_err();
    assert!(matches!(&e, StoreError::Conflict(m) if m.contains("is DRAFT (expected REGISTRATION_IN_PROGRESS)")), "{e}");
    store.set_version_status(Environment, "net", v(2, 0), &publish()).await.unwrap();
    assert_eq!(store.get_template(Environment, "net").await.unwrap().recommended, Some(v(2, 0)));
    let d = store.update_version_description(Environment, "net", v(2, 0), Some("second major")).await.unwrap();
    assert_eq!(d.description.as_deref(), Some("second major"));

    // Usage blocks deletes, checked inside the delete's transaction.
    raw("INSERT INTO environments (name, template_name, template_major, template_minor, spec, inputs, provisioning, deployment_status, created_at, updated_at)
         VALUES ('dev', 'net', 1, 0, '', '{}', 'STANDARD', 'SUCCEEDED', 0, 0)").await;
    raw("INSERT INTO service_instances (service_name, name, environment_name, template_name, template_major, template_minor, spec, inputs, deployment_status, created_at, updated_at)
         VALUES ('api', 'api-dev', 'dev', 'net', 1, 0, '', '{}', 'SUCCEEDED', 0, 0)").await;
    let users = store.version_usage(Environment, "net", Some(v(1, 0))).await.unwrap();
    assert_eq!(users.iter().map(ToString::to_string).collect::<Vec<_>>(), vec!["environment dev (version 1.0)"]);
    let users = store.version_usage(Service, "net", None).await.unwrap();
    assert_eq!(users.iter().map(ToString::to_string).collect::<Vec<_>>(), vec!["service instance api/api-dev (version 1.0)"]);
    let e = store.delete_version(Environment, "net", v(1, 0)).await.unwrap_err();
    assert_eq!(e.to_string(), "in use by environment dev (version 1.0)");
    assert!(store.get_version(Environment, "net", v(1, 0)).await.is_ok(), "a refused delete leaves the version");
    let e = store.delete_template(Environment, "net").await.unwrap_err();
    assert_eq!(e.to_string(), "environment template net still has versions 1.0, 1.1, 2.0; delete them first");

    store.delete_version(Environment, "net", v(2, 0)).await.unwrap();
    assert_eq!(store.get_template(Environment, "net").await.unwrap().recommended, Some(v(1, 1)));
    raw("DELETE FROM environments").await;
    raw("DELETE FROM service_instances").await;
    store.delete_version(Environment, "net", v(1, 0)).await.unwrap();
    store.delete_version(Environment, "net", v(1, 1)).await.unwrap();
    assert!(matches!(store.delete_version(Environment, "net", v(1, 1)).await, Err(StoreError::NotFound(_))));
    store.delete_template(Environment, "net").await.unwrap();
    assert!(matches!(store.delete_template(Environment, "net").await, Err(StoreError::NotFound(_))));

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
        tokio::spawn(async move { s.create_version(&new_version(Environment, "race", v(1, 0), S::Draft)).await })
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
    let store = SqliteStore::open(&dir.path().join("deuteron.db")).await.unwrap();
    let raw = store.clone();
    story(Arc::new(store), move |sql| {
        let s = raw.clone();
        async move { s.execute_raw(sql).await.unwrap() }
    })
    .await;
    // Reopening applies no migration twice and keeps the data.
    let again = SqliteStore::open(&dir.path().join("deuteron.db")).await.unwrap();
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

fn state(minor: u32, spec: &str) -> deuteron_store::ResourceState {
    deuteron_store::ResourceState::versioned("net", VersionNumber::new(1, minor), spec, serde_json::json!({"cidr": spec}))
}

/// A standard `net` 1.0 environment.
fn new_environment(name: &str) -> deuteron_store::NewEnvironment {
    deuteron_store::NewEnvironment {
        name: name.into(),
        description: None,
        template_name: "net".into(),
        version: v(1, 0),
        spec: "a".into(),
        inputs: "{}".into(),
        provisioning: Provisioning::Standard,
        role_arn: None,
        codebuild_role_arn: None,
        component_role_arn: None,
    }
}

fn deployment(
    id: &str,
    target: deuteron_store::Target,
    action: deuteron_core::DeploymentAction,
    minor: u32,
) -> deuteron_store::NewDeployment {
    deuteron_store::NewDeployment {
        id: id.into(),
        target,
        environment_name: Some("dev".into()),
        action,
        initial_state: None,
        target_state: state(minor, id),
    }
}

/// Components: one per instance, updates enqueue in the same transaction, finishing applies
/// status and outputs, a successful deprovision removes the row and keeps the history.
async fn component_story(store: Arc<dyn Store>) {
    use deuteron_core::{DeploymentAction::*, DeploymentStatus as D};
    use deuteron_store::*;
    let new = |name: &str, attach: Option<(&str, &str)>| NewComponent {
        name: name.into(),
        description: None,
        environment_name: "dev".into(),
        service_name: attach.map(|a| a.0.to_string()),
        service_instance_name: attach.map(|a| a.1.to_string()),
        service_spec: None,
        template_file: "Resources: {}".into(),
        manifest: "m".into(),
        client_token: Some("tok".into()),
    };
    let dep = |id: &str, c: &NewComponent, action| NewDeployment {
        id: id.into(),
        target: Target::Component(c.name.clone()),
        environment_name: Some("dev".into()),
        action,
        initial_state: None,
        target_state: ResourceState::of_component(c),
    };
    let c1 = new("c1", Some(("api", "i1")));
    let rec = store.create_component(&c1, &dep("c1-a", &c1, Provision)).await.unwrap();
    assert_eq!(
        (rec.deployment.status, rec.service_instance_name.as_deref(), rec.last_client_request_token.as_deref()),
        (D::InProgress, Some("i1"), Some("tok"))
    );
    let c2 = new("c2", Some(("api", "i1")));
    let e = store.create_component(&c2, &dep("c2-a", &c2, Provision)).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m == "component c2 already exists, or service instance api/i1 already has a component"),
        "{e}"
    );
    assert!(matches!(store.get_deployment("c2-a").await, Err(StoreError::NotFound(_))), "nothing of a refused create is kept");
    let c3 = new("c3", None);
    store.create_component(&c3, &dep("c3-a", &c3, Provision)).await.unwrap();
    let attached = ComponentFilter { service_name: Some("api".into()), service_instance_name: Some("i1".into()), ..Default::default() };
    assert_eq!(store.list_components(&attached).await.unwrap().iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["c1"]);
    assert_eq!(store.list_components(&ComponentFilter::default()).await.unwrap().len(), 2);
    // An update while a deployment is active changes nothing.
    let mut moved = c1.clone();
    moved.template_file = "Resources: {X: 1}".into();
    let e = store.update_component(&moved, Some(&dep("c1-b", &moved, Provision))).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    assert_eq!(store.get_component("c1").await.unwrap().template_file, "Resources: {}", "the refused update was rolled back");

    let claimed = store.claim_deployment("w", 60_000).await.unwrap().unwrap();
    assert_eq!(claimed.target, Target::Component("c1".into()));
    assert_eq!(claimed.target_state.component.as_ref().unwrap().service_instance_name.as_deref(), Some("i1"));
    let finish = Finish {
        status: D::Succeeded,
        status_message: None,
        outputs: Some(vec![("Bucket".into(), "b-1".into())]),
        log: Vec::new(),
        resources: None,
    };
    store.finish_deployment("c1-a", "w", &finish).await.unwrap();
    let rec = store.get_component("c1").await.unwrap();
    assert_eq!((rec.deployment.status, rec.deployment.last_succeeded_deployment_id.as_deref()), (D::Succeeded, Some("c1-a")));
    assert_eq!(store.outputs(&Target::Component("c1".into())).await.unwrap(), vec![("Bucket".to_string(), "b-1".to_string())]);
    // The instance it is attached to sees it with its outputs.
    let i1 = NewInstance {
        service_name: "api".into(),
        name: "i1".into(),
        environment_name: "dev".into(),
        template_name: "web".into(),
        version: v(1, 0),
        spec: "i".into(),
        inputs: "{}".into(),
    };
    store.add_instances("api", "s", &[i1], &[]).await.unwrap();
    let ctx = store.instance_context("api", "i1").await.unwrap();
    assert_eq!((ctx.component, ctx.has_pipeline), (Some(("c1".into(), vec![("Bucket".into(), "b-1".into())])), true));

    // Detach and redeploy in one transaction; then deprovision removes the row.
    let mut detached = c1.clone();
    (detached.service_name, detached.service_instance_name, detached.client_token) = (None, None, None);
    let rec = store.update_component(&detached, Some(&dep("c1-c", &detached, Provision))).await.unwrap();
    assert_eq!(
        (rec.deployment.status, rec.service_name.as_deref(), rec.last_client_request_token.as_deref()),
        (D::InProgress, None, Some("tok"))
    );
    assert!(store.list_components(&attached).await.unwrap().is_empty());
    store.claim_deployment("w", 60_000).await.unwrap().unwrap(); // c3-a
    store
        .finish_deployment(
            "c3-a",
            "w",
            &Finish { status: D::Failed, status_message: Some("x".into()), outputs: None, log: Vec::new(), resources: None },
        )
        .await
        .unwrap();
    store.claim_deployment("w", 60_000).await.unwrap().unwrap(); // c1-c
    store.finish_deployment("c1-c", "w", &finish).await.unwrap();
    store.enqueue_deployment(&dep("c1-d", &detached, Deprovision), D::DeleteInProgress).await.unwrap();
    assert_eq!(store.get_component("c1").await.unwrap().deployment.status, D::DeleteInProgress);
    store.claim_deployment("w", 60_000).await.unwrap().unwrap();
    store
        .finish_deployment(
            "c1-d",
            "w",
            &Finish { status: D::DeleteComplete, status_message: None, outputs: None, log: Vec::new(), resources: None },
        )
        .await
        .unwrap();
    assert!(matches!(store.get_component("c1").await, Err(StoreError::NotFound(_))));
    assert!(store.outputs(&Target::Component("c1".into())).await.unwrap().is_empty());
    let history =
        store.list_deployments(&DeploymentFilter { target: Some(Target::Component("c1".into())), ..Default::default() }).await.unwrap();
    assert_eq!(history.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["c1-d", "c1-c", "c1-a"], "history outlives the component");
    assert_eq!(store.get_component("c3").await.unwrap().deployment.status_message.as_deref(), Some("x"));

    // Every status change was recorded with it, in order.
    let filter = EventFilter { resource_type: Some("COMPONENT".into()), resource: Some("c1".into()), ..Default::default() };
    let events = store.list_events(&filter).await.unwrap();
    let changes: Vec<(Option<&str>, &str, Option<&str>)> =
        events.iter().map(|e| (e.previous_status.as_deref(), e.status.as_str(), e.deployment_id.as_deref())).collect();
    assert_eq!(
        changes,
        [
            (None, "IN_PROGRESS", Some("c1-a")),
            (Some("IN_PROGRESS"), "SUCCEEDED", Some("c1-a")),
            (Some("SUCCEEDED"), "IN_PROGRESS", Some("c1-c")),
            (Some("IN_PROGRESS"), "SUCCEEDED", Some("c1-c")),
            (Some("SUCCEEDED"), "DELETE_IN_PROGRESS", Some("c1-d")),
            (Some("DELETE_IN_PROGRESS"), "DELETED", Some("c1-d")),
        ]
    );
    assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));
    let after = store.list_events(&EventFilter { after: events[2].seq, ..filter.clone() }).await.unwrap();
    assert_eq!(after.len(), 3, "listing resumes after a sequence number");
    let failed = store.list_events(&EventFilter { resource: Some("c3".into()), ..filter }).await.unwrap();
    assert_eq!(failed.last().map(|e| (e.status.as_str(), e.message.as_deref())), Some(("FAILED", Some("x"))));
}

/// Resources, the deployment queue, leases, cancellation, logs and outputs.
async fn deployment_story(store: Arc<dyn Store>) {
    use deuteron_core::{DeploymentAction::*, DeploymentStatus as D, ServiceStatus};
    use deuteron_store::*;
    let env = Target::Environment("dev".into());
    store.create_environment(&new_environment("dev"), &deployment("d1", env.clone(), Provision, 0)).await.unwrap();
    let e = store.get_environment("dev").await.unwrap();
    assert_eq!((e.deployment.status, e.deployment.last_attempted_deployment_id.as_deref()), (D::InProgress, Some("d1")));
    // One active deployment per resource.
    let e = store.enqueue_deployment(&deployment("d2", env.clone(), Provision, 0), D::InProgress).await.unwrap_err();
    assert!(
        matches!(&e, StoreError::Conflict(m) if m == "environment dev has a deployment in progress; wait for it to finish or cancel it"),
        "{e}"
    );
    let e =
        store.enqueue_deployment(&deployment("d3", Target::Environment("ghost".into()), Provision, 0), D::InProgress).await.unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)));

    // Claim, heartbeat, log, finish with outputs.
    let claimed = store.claim_deployment("w1", 60_000).await.unwrap().unwrap();
    assert_eq!((claimed.id.as_str(), claimed.job_state, claimed.attempts), ("d1", JobState::Running, 1));
    assert!(store.claim_deployment("w2", 60_000).await.unwrap().is_none(), "a held job is not claimed twice");
    assert_eq!(store.heartbeat("d1", "w1", 60_000).await.unwrap(), Heartbeat::Held { cancel_requested: false });
    assert_eq!(store.heartbeat("d1", "w2", 60_000).await.unwrap(), Heartbeat::Lost);
    store.append_log("d1", "stdout", &["one".into(), "two".into()]).await.unwrap();
    store.append_log("d1", "stderr", &["three".into()]).await.unwrap();
    // Outputs the deployment reports through the API join its own at the finish; its own win.
    store.report_outputs("d1", &[("Vpc".into(), "reported".into()), ("Shared".into(), "s-1".into())], "reported 2 outputs").await.unwrap();
    let log = store.read_log("d1", 1).await.unwrap();
    assert_eq!(
        log.iter().map(|l| (l.seq, l.stream.as_str(), l.line.as_str())).collect::<Vec<_>>(),
        vec![(2, "stdout", "two"), (3, "stderr", "three"), (4, "deuteron", "reported 2 outputs")]
    );
    let e = store
        .finish_deployment(
            "d1",
            "w2",
            &Finish { status: D::Succeeded, status_message: None, outputs: None, log: Vec::new(), resources: None },
        )
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Conflict(_)));
    let done = store
        .finish_deployment(
            "d1",
            "w1",
            &Finish {
                status: D::Succeeded,
                status_message: None,
                outputs: Some(vec![("Vpc".into(), "vpc-1".into())]),
                log: vec![("deuteron".into(), "done".into())],
                resources: Some(vec![ProvisionedResource { name: "vpc".into(), identifier: "vpc-1".into(), engine: "TERRAFORM".into() }]),
            },
        )
        .await
        .unwrap();
    assert_eq!((done.status, done.job_state), (D::Succeeded, JobState::Done));
    let last = store.read_log("d1", 4).await.unwrap();
    assert_eq!(
        last.iter().map(|l| (l.seq, l.stream.as_str(), l.line.as_str())).collect::<Vec<_>>(),
        vec![(5, "deuteron", "done")],
        "finish writes its log lines"
    );
    let e = store.get_environment("dev").await.unwrap();
    assert_eq!(
        (e.deployment.status, e.deployment.last_succeeded_deployment_id.as_deref(), e.spec.as_str()),
        (D::Succeeded, Some("d1"), "d1")
    );
    assert_eq!(
        store.outputs(&env).await.unwrap(),
        vec![("Shared".to_string(), "s-1".to_string()), ("Vpc".to_string(), "vpc-1".to_string())]
    );
    let resources = store.provisioned_resources(&env).await.unwrap();
    assert_eq!(
        resources.iter().map(|r| (r.name.as_str(), r.identifier.as_str(), r.engine.as_str())).collect::<Vec<_>>(),
        [("vpc", "vpc-1", "TERRAFORM")]
    );

    // An update to 1.1 whose worker dies: the lease expires and another worker reclaims it.
    store.enqueue_deployment(&deployment("d4", env.clone(), Provision, 1), D::InProgress).await.unwrap();
    store.claim_deployment("dead", 1).await.unwrap().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let again = store.claim_deployment("w3", 60_000).await.unwrap().unwrap();
    assert_eq!((again.id.as_str(), again.attempts, again.lease_owner.as_deref()), ("d4", 2, Some("w3")));
    assert_eq!(store.heartbeat("d4", "dead", 1000).await.unwrap(), Heartbeat::Lost);
    store
        .finish_deployment(
            "d4",
            "w3",
            &Finish {
                status: D::Failed,
                status_message: Some("boom".into()),
                outputs: None,
                // More lines than one statement takes.
                log: (1..=450).map(|i| ("stdout".to_string(), format!("line {i}"))).collect(),
                resources: None,
            },
        )
        .await
        .unwrap();
    let log = store.read_log("d4", 0).await.unwrap();
    assert_eq!(log.len(), 450);
    assert!(log.iter().enumerate().all(|(i, l)| l.seq == i as i64 + 1 && l.line == format!("line {}", i + 1)), "in order, numbered from 1");
    let e = store.get_environment("dev").await.unwrap();
    assert_eq!(
        (e.deployment.status, e.deployment.status_message.as_deref(), e.version),
        (D::Failed, Some("boom"), v(1, 0)),
        "a failed update keeps the deployed version"
    );
    assert_eq!(store.outputs(&env).await.unwrap().len(), 2, "outputs survive a failed update");

    // Cancellation.
    store.enqueue_deployment(&deployment("d5", env.clone(), Provision, 1), D::InProgress).await.unwrap();
    let c = store.request_cancel("d5").await.unwrap();
    assert_eq!((c.status, c.cancel_requested), (D::Cancelling, true));
    assert_eq!(store.get_environment("dev").await.unwrap().deployment.status, D::Cancelling);
    store.claim_deployment("w1", 60_000).await.unwrap().unwrap();
    assert_eq!(store.heartbeat("d5", "w1", 60_000).await.unwrap(), Heartbeat::Held { cancel_requested: true });
    store
        .finish_deployment(
            "d5",
            "w1",
            &Finish { status: D::Cancelled, status_message: None, outputs: None, log: Vec::new(), resources: None },
        )
        .await
        .unwrap();
    let e = store.request_cancel("d5").await.unwrap_err();
    assert!(e.to_string().contains("already finished as CANCELLED"), "{e}");

    // A service with an instance in dev and a pipeline.
    let inst = Target::ServiceInstance { service: "api".into(), instance: "api-dev".into() };
    store
        .create_service(
            &NewService {
                name: "api".into(),
                description: None,
                template_name: "web".into(),
                spec: "s".into(),
                repository_connection_arn: None,
                repository_id: None,
                branch_name: None,
            },
            &[NewInstance {
                service_name: "api".into(),
                name: "api-dev".into(),
                environment_name: "dev".into(),
                template_name: "web".into(),
                version: v(1, 0),
                spec: "i".into(),
                inputs: "{}".into(),
            }],
            Some(&NewPipeline {
                service_name: "api".into(),
                template_name: "web".into(),
                version: v(1, 0),
                spec: "p".into(),
                inputs: "{}".into(),
            }),
            &[deployment("d6", inst.clone(), Provision, 0)],
        )
        .await
        .unwrap();
    assert_eq!(store.get_service("api").await.unwrap().status, ServiceStatus::CreateInProgress);
    assert_eq!(store.list_instances(None, Some("dev")).await.unwrap().len(), 1);
    assert_eq!(store.get_instance("api", "api-dev").await.unwrap().deployment.last_attempted_deployment_id.as_deref(), Some("d6"));
    assert_eq!(store.get_pipeline("api").await.unwrap().deployment.status, D::InProgress);
    // What the instance's templates read, in one query; outputs ordered by key.
    let expected = InstanceContext {
        environment_name: "dev".into(),
        environment_outputs: vec![("Shared".into(), "s-1".into()), ("Vpc".into(), "vpc-1".into())],
        branch_name: None,
        repository_connection_arn: None,
        repository_id: None,
        has_pipeline: true,
        component: None,
    };
    assert_eq!(store.instance_context("api", "api-dev").await.unwrap(), expected);
    let keys = [("api".to_string(), "api-dev".to_string()), ("api".to_string(), "nope".to_string())];
    let got = store.get_instances(&keys).await.unwrap();
    assert_eq!(got.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["api-dev"], "missing instances are left out");
    assert!(store.get_instances(&[]).await.unwrap().is_empty());
    let e = store.instance_context("api", "nope").await.unwrap_err();
    assert_eq!(e.to_string(), "service instance api/nope not found");
    // The console's aggregates: resources per status and per version, and paged instance queries.
    let counts = store.status_counts().await.unwrap();
    let count_of =
        |resource: &str, status: &str| counts.iter().find(|c| c.resource == resource && c.status == status).map_or(0, |c| c.count);
    assert_eq!((count_of("service_instance", "IN_PROGRESS"), count_of("service", "CREATE_IN_PROGRESS")), (1, 1));
    assert_eq!(count_of("deployment", "SUCCEEDED") + count_of("deployment", "FAILED") + count_of("deployment", "CANCELLED"), 3);
    let versions = store.version_counts().await.unwrap();
    let per_version: Vec<(&str, &str, String, i64)> =
        versions.iter().map(|c| (c.resource.as_str(), c.template.as_str(), c.version.to_string(), c.count)).collect();
    assert!(per_version.contains(&("service_instance", "web", "1.0".into(), 1)), "{per_version:?}");
    assert!(per_version.contains(&("pipeline", "web", "1.0".into(), 1)), "{per_version:?}");
    let q =
        |versions: Option<Vec<(String, VersionNumber)>>, offset: i64| InstanceQuery { versions, offset, limit: 10, ..Default::default() };
    assert_eq!(store.count_instances(&q(Some(vec![("web".into(), v(1, 0))]), 0)).await.unwrap(), 1);
    assert_eq!(store.count_instances(&q(Some(vec![("web".into(), v(1, 1)), ("net".into(), v(1, 0))]), 0)).await.unwrap(), 0);
    assert_eq!(store.count_instances(&q(Some(vec![]), 0)).await.unwrap(), 0, "an empty version set matches nothing");
    assert_eq!(store.query_instances(&q(None, 0)).await.unwrap().len(), 1);
    assert!(store.query_instances(&q(None, 1)).await.unwrap().is_empty(), "the offset skips");
    let dup = store
        .create_service(
            &NewService {
                name: "api".into(),
                description: None,
                template_name: "web".into(),
                spec: "s".into(),
                repository_connection_arn: None,
                repository_id: None,
                branch_name: None,
            },
            &[],
            None,
            &[],
        )
        .await
        .unwrap_err();
    assert!(matches!(&dup, StoreError::Conflict(m) if m == "service api already exists"), "{dup}");
    assert_eq!(store.list_deployments(&DeploymentFilter { target: Some(inst.clone()), ..Default::default() }).await.unwrap().len(), 1);
    assert_eq!(
        store.list_deployments(&DeploymentFilter { environment_name: Some("dev".into()), ..Default::default() }).await.unwrap().len(),
        4
    );

    // Deprovision removes the row and outputs; the deployment history stays. The finish reads
    // the service's status with it (the engine's follow-up needs it), without claiming.
    let w = store.claim_deployment("w1", 60_000).await.unwrap().unwrap();
    let ok = Finish { status: D::Succeeded, status_message: None, outputs: None, log: Vec::new(), resources: None };
    let finished = store.finish_and_claim(&w, "w1", &ok, None).await.unwrap();
    assert_eq!(
        (finished.deployment.id.as_str(), finished.service_status, finished.next),
        ("d6", Some(ServiceStatus::CreateInProgress), None)
    );
    store.enqueue_deployment(&deployment("d7", inst.clone(), Deprovision, 0), D::DeleteInProgress).await.unwrap();
    assert_eq!(store.get_instance("api", "api-dev").await.unwrap().deployment.status, D::DeleteInProgress);
    store.claim_deployment("w1", 60_000).await.unwrap().unwrap();
    store
        .finish_deployment(
            "d7",
            "w1",
            &Finish { status: D::DeleteComplete, status_message: None, outputs: None, log: Vec::new(), resources: None },
        )
        .await
        .unwrap();
    assert!(matches!(store.get_instance("api", "api-dev").await, Err(StoreError::NotFound(_))));
    assert_eq!(store.get_deployment("d7").await.unwrap().status, D::DeleteComplete);
    let e = store.delete_service("api").await.unwrap_err();
    assert_eq!(e.to_string(), "service api still has 0 instance(s) and 1 pipeline");
}

/// Starting rollout items: each start is one write (link, count, resource fields, deployment)
/// that is kept whole or not at all. A start that fails part-way (the resource is being
/// deployed by someone else, it is gone, the item was started already) leaves the item pending
/// and the counts as they were, and the store goes on working.
async fn rollout_start_story(store: Arc<dyn Store>) {
    use deuteron_core::DeploymentAction::Provision;
    use deuteron_core::DeploymentStatus as D;
    use deuteron_core::RolloutStatus;
    use deuteron_store::*;
    for name in ["r1", "r2"] {
        store
            .create_environment(&new_environment(name), &deployment(&format!("{name}-0"), Target::Environment(name.into()), Provision, 0))
            .await
            .unwrap();
    }
    // r1's first deployment ends; r2's stays queued.
    let first = store.claim_deployment("w", 60_000).await.unwrap().unwrap();
    assert_eq!(first.id, "r1-0");
    let ok = Finish { status: D::Succeeded, status_message: None, outputs: None, log: Vec::new(), resources: None };
    store.finish_claimed(&first, "w", &ok).await.unwrap();
    let item = |seq: u32, target: Target| NewRolloutItem {
        seq,
        wave: Some(0),
        environment_name: "r1".into(),
        target,
        from: v(1, 0),
        to: v(1, 1),
        from_spec: "a".into(),
        to_spec: "b".into(),
        skip_reason: None,
    };
    let rollout = store
        .create_rollout(&NewRollout {
            id: "ro".into(),
            template_kind: TemplateKind::Environment,
            template_name: "net".into(),
            target: v(1, 1),
            policy: "{}".into(),
            selection: "{}".into(),
            transform: None,
            status: RolloutStatus::Running,
            status_message: None,
            current_wave: 0,
            wave_count: 1,
            created_by: None,
            items: vec![
                item(0, Target::Environment("r1".into())),
                item(1, Target::Environment("r2".into())),
                item(2, Target::Environment("ghost".into())),
            ],
        })
        .await
        .unwrap();
    let link = |seq| RolloutLink { rollout_id: rollout.id.clone(), seq, rollback: false, claimed_by: None };
    let counts = |pending, active| vec![(0u32, pending, active)];
    let seen = || async { store.rollout_counts("ro").await.unwrap().iter().map(|w| (w.wave, w.pending, w.active)).collect::<Vec<_>>() };
    assert_eq!(seen().await, counts(3, 0));

    let dep = store
        .enqueue_rollout_deployment(&deployment("ro-0", Target::Environment("r1".into()), Provision, 1), D::InProgress, &link(0))
        .await
        .unwrap();
    assert_eq!((dep.status, dep.rollout_item.clone()), (D::InProgress, Some(("ro".to_string(), 0))));
    assert_eq!(store.get_environment("r1").await.unwrap().deployment.last_attempted_deployment_id.as_deref(), Some("ro-0"));
    assert_eq!(seen().await, counts(2, 1));

    // Started already: nothing written.
    let e = store
        .enqueue_rollout_deployment(&deployment("ro-0b", Target::Environment("r1".into()), Provision, 1), D::InProgress, &link(0))
        .await
        .unwrap_err();
    assert!(matches!(&e, StoreError::Conflict(m) if m.contains("already started")), "{e}");
    // Someone else deploys r2: the deployment insert fails after the link and count moved; all of it is undone.
    let e = store
        .enqueue_rollout_deployment(&deployment("ro-1", Target::Environment("r2".into()), Provision, 1), D::InProgress, &link(1))
        .await
        .unwrap_err();
    assert!(matches!(&e, StoreError::Conflict(m) if m.contains("has a deployment in progress")), "{e}");
    // The resource is gone.
    let e = store
        .enqueue_rollout_deployment(&deployment("ro-2", Target::Environment("ghost".into()), Provision, 1), D::InProgress, &link(2))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound(_)), "{e}");

    assert_eq!(seen().await, counts(2, 1));
    let pending: Vec<u32> = store.rollout_items("ro", ItemSelector::PendingIn(0), 10).await.unwrap().iter().map(|i| i.seq).collect();
    assert_eq!(pending, [1, 2]);
    for id in ["ro-0b", "ro-1", "ro-2"] {
        assert!(matches!(store.get_deployment(id).await, Err(StoreError::NotFound(_))), "{id} was not kept");
    }
    assert_eq!(store.get_environment("r2").await.unwrap().deployment.last_attempted_deployment_id.as_deref(), Some("r2-0"));

    // The writer goes on: the running item finishes and its count moves.
    let claimed = store.claim_deployment("w", 60_000).await.unwrap().unwrap();
    assert_eq!(claimed.id, "r2-0");
    let claimed = store.claim_deployment("w", 60_000).await.unwrap().unwrap();
    assert_eq!(claimed.id, "ro-0");
    store.finish_claimed(&claimed, "w", &ok).await.unwrap();
    let w = store.rollout_counts("ro").await.unwrap();
    assert_eq!((w[0].pending, w[0].active, w[0].succeeded), (2, 0, 1));
    assert_eq!(store.get_environment("r1").await.unwrap().version, v(1, 1));

    // Several starts at once: one cannot start (its resource is gone), so each goes on its own
    // and gets its own outcome; the one handed to a worker is inserted claimed by it.
    let r2 = store.get_deployment("r2-0").await.unwrap();
    store.finish_claimed(&r2, "w", &ok).await.unwrap();
    let start = |id: &str, env: &str, seq: u32, claimed_by: Option<ClaimFor>| RolloutStart {
        deployment: deployment(id, Target::Environment(env.into()), Provision, 1),
        status: D::InProgress,
        link: RolloutLink { rollout_id: "ro".into(), seq, rollback: false, claimed_by },
    };
    let w2 = Some(ClaimFor { worker: "w2".into(), lease_ms: 60_000 });
    let out = store.enqueue_rollout_deployments(&[start("ro-1", "r2", 1, w2.clone()), start("ro-2", "ghost", 2, None)]).await;
    let handed = out[0].as_ref().unwrap();
    assert_eq!((handed.job_state, handed.lease_owner.as_deref(), handed.attempts), (JobState::Running, Some("w2"), 1));
    assert!(handed.started_at.is_some());
    assert!(matches!(&out[1], Err(StoreError::NotFound(_))), "{:?}", out[1]);
    assert!(store.claim_deployment("w", 60_000).await.unwrap().is_none(), "a handed deployment is not in the queue");
    let w = store.rollout_counts("ro").await.unwrap();
    assert_eq!((w[0].pending, w[0].active, w[0].succeeded), (1, 1, 1));
    // All of a step's starts in one write.
    store.finish_claimed(handed, "w2", &ok).await.unwrap();
    let mut items = vec![item(0, Target::Environment("r1".into())), item(1, Target::Environment("r2".into()))];
    items[1].environment_name = "r2".into();
    store
        .create_rollout(&NewRollout {
            id: "ro2".into(),
            template_kind: TemplateKind::Environment,
            template_name: "net".into(),
            target: v(1, 2),
            policy: "{}".into(),
            selection: "{}".into(),
            transform: None,
            status: RolloutStatus::Running,
            status_message: None,
            current_wave: 0,
            wave_count: 1,
            created_by: None,
            items,
        })
        .await
        .unwrap();
    let both = |a: Option<ClaimFor>| {
        let mut s = [start("ro2-0", "r1", 0, a), start("ro2-1", "r2", 1, None)];
        for x in &mut s {
            x.link.rollout_id = "ro2".into();
        }
        s
    };
    let out = store.enqueue_rollout_deployments(&both(w2)).await;
    let states: Vec<JobState> = out.iter().map(|r| r.as_ref().unwrap().job_state).collect();
    assert_eq!(states, [JobState::Running, JobState::Queued]);
    assert_eq!(store.rollout_counts("ro2").await.unwrap()[0].active, 2);
    assert_eq!(store.claim_deployment("w", 60_000).await.unwrap().map(|d| d.id), Some("ro2-1".to_string()));
}

on_both_stores!(
    #[tokio::test]
    sqlite_rollout_starts,
    postgres_rollout_starts,
    |store, _dir| rollout_start_story(store).await
);

on_both_stores!(
    #[tokio::test]
    sqlite_deployments,
    postgres_deployments,
    |store, _dir| {
        deployment_story(store.clone()).await;
        component_story(store).await;
    }
);

/// A busy worker finishes its deployment and claims the next in one write; a finish that fails
/// (the lease was lost) claims nothing.
async fn finish_and_claim_story(store: Arc<dyn Store>) {
    use deuteron_core::DeploymentAction::Provision;
    use deuteron_core::DeploymentStatus as D;
    use deuteron_store::*;
    for name in ["f1", "f2"] {
        store
            .create_environment(&new_environment(name), &deployment(&format!("{name}-0"), Target::Environment(name.into()), Provision, 0))
            .await
            .unwrap();
    }
    let ok = Finish { status: D::Succeeded, status_message: None, outputs: None, log: Vec::new(), resources: None };
    let first = store.claim_deployment("w", 60_000).await.unwrap().unwrap();
    assert_eq!(first.id, "f1-0");
    let Finished { deployment: done, service_status, next } = store.finish_and_claim(&first, "w", &ok, Some(60_000)).await.unwrap();
    assert_eq!((done.id.as_str(), done.status, done.job_state), ("f1-0", D::Succeeded, JobState::Done));
    assert_eq!(service_status, None, "an environment has no service");
    let next = next.expect("the queued deployment is claimed with the finish");
    assert_eq!((next.id.as_str(), next.job_state, next.lease_owner.as_deref(), next.attempts), ("f2-0", JobState::Running, Some("w"), 1));
    assert_eq!(store.get_environment("f1").await.unwrap().deployment.status, D::Succeeded);
    // Another worker cannot finish it; the refused finish claims nothing.
    store.enqueue_deployment(&deployment("f1-1", Target::Environment("f1".into()), Provision, 1), D::InProgress).await.unwrap();
    let e = store.finish_and_claim(&next, "intruder", &ok, Some(60_000)).await.unwrap_err();
    assert!(matches!(&e, StoreError::Conflict(m) if m == "worker intruder no longer holds deployment f2-0"), "{e}");
    assert_eq!(store.get_deployment("f1-1").await.unwrap().job_state, JobState::Queued, "nothing was claimed");
    let again = store.finish_and_claim(&next, "w", &ok, Some(60_000)).await.unwrap().next;
    assert_eq!(again.map(|d| d.id), Some("f1-1".to_string()));
    let last = store.get_deployment("f1-1").await.unwrap();
    let none = store.finish_and_claim(&last, "w", &ok, Some(60_000)).await.unwrap().next;
    assert!(none.is_none(), "an empty queue claims nothing");
    assert_eq!(store.get_environment("f1").await.unwrap().version, v(1, 1));
}

on_both_stores!(
    #[tokio::test]
    sqlite_finish_and_claim,
    postgres_finish_and_claim,
    |store, _dir| finish_and_claim_story(store).await
);

/// One deployment's log written from several tasks at once, as a worker does it: process output
/// flushed by the heartbeat, outputs the deployment reports through the API, a cancel request,
/// and the finish with the last lines and the timeout message. Every line is kept exactly once,
/// numbered 1..N with no gap, each writer's lines in the order it wrote them. Fifty rounds.
async fn concurrent_log_story(store: Arc<dyn Store>) {
    use deuteron_core::DeploymentAction::Provision;
    use deuteron_core::DeploymentStatus as D;
    use deuteron_store::*;
    const WRITERS: usize = 3;
    const CHUNKS: usize = 6;
    store
        .create_environment(&new_environment("hammer"), &deployment("h-0", Target::Environment("hammer".into()), Provision, 0))
        .await
        .unwrap();
    for round in 0..50 {
        let id = format!("h-{round}");
        if round > 0 {
            store.enqueue_deployment(&deployment(&id, Target::Environment("hammer".into()), Provision, 0), D::InProgress).await.unwrap();
        }
        let claimed = store.claim_deployment("w", 60_000).await.unwrap().unwrap();
        assert_eq!(claimed.id, id);
        let start = Arc::new(tokio::sync::Barrier::new(WRITERS + 3));
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let (store, id, start) = (store.clone(), id.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                for c in 0..CHUNKS {
                    let lines: Vec<String> = (0..(1 + c % 3)).map(|i| format!("w{w} c{c} l{i}")).collect();
                    store.append_log(&id, "stdout", &lines).await.unwrap();
                }
            }));
        }
        {
            let (store, id, start) = (store.clone(), id.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                // Reported outputs are refused once the deployment finished; both are fine here.
                match store.report_outputs(&id, &[("Out".into(), "1".into())], "reported 1 output").await {
                    Ok(_) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => panic!("report_outputs: {e}"),
                }
            }));
        }
        {
            let (store, id, start) = (store.clone(), id.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                match store.request_cancel(&id).await {
                    Ok(_) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => panic!("request_cancel: {e}"),
                }
            }));
        }
        let finish = {
            let (store, start) = (store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let finish = Finish {
                    status: D::Failed,
                    status_message: Some("timed out".into()),
                    outputs: None,
                    log: vec![("stdout".into(), "tail 1".into()), ("deuteron".into(), "timed out after 1s".into())],
                    resources: None,
                };
                store.finish_and_claim(&claimed, "w", &finish, None).await.unwrap();
            })
        };
        for t in tasks {
            t.await.unwrap();
        }
        finish.await.unwrap();
        let log = store.read_log(&id, 0).await.unwrap();
        let seqs: Vec<i64> = log.iter().map(|l| l.seq).collect();
        assert_eq!(seqs, (1..=log.len() as i64).collect::<Vec<_>>(), "round {round}: lines numbered 1..N without a gap");
        let lines: Vec<&str> = log.iter().map(|l| l.line.as_str()).collect();
        for w in 0..WRITERS {
            let mine: Vec<&str> = lines.iter().copied().filter(|l| l.starts_with(&format!("w{w} "))).collect();
            let want: Vec<String> = (0..CHUNKS).flat_map(|c| (0..(1 + c % 3)).map(move |i| format!("w{w} c{c} l{i}"))).collect();
            assert_eq!(mine, want, "round {round}: writer {w}'s lines, once each, in order");
        }
        let tail = lines.iter().position(|l| *l == "tail 1").expect("the finish's lines are kept");
        assert_eq!(lines[tail + 1], "timed out after 1s", "round {round}: the finish's lines stay together");
        assert!(lines.iter().filter(|l| **l == "reported 1 output").count() <= 1);
        assert_eq!(store.get_deployment(&id).await.unwrap().status, D::Failed);
    }
}

on_both_stores!(
    #[tokio::test]
    sqlite_concurrent_log_lines,
    postgres_concurrent_log_lines,
    |store, _dir| concurrent_log_story(store).await
);
