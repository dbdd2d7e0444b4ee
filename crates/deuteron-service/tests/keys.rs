//! Deployment keys through the service layer on a real SQLite store: one live key per deployment,
//! a hard expiry checked on every lookup, and listings that keep people's keys apart.

use std::sync::Arc;
use std::time::Duration;

use deuteron_core::Role;
use deuteron_service::keys::{KeyListing, ServerKey};
use deuteron_service::{Config, Deuteron};
use deuteron_store::{SqliteStore, Store};

async fn service() -> (Deuteron, SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("d.db")).await.unwrap();
    let key = ServerKey::load_or_create(dir.path()).unwrap();
    let svc = Deuteron::new(Arc::new(store.clone()), Config { server_key: Some(Arc::new(key)), ..Default::default() });
    (svc, store, dir)
}

#[tokio::test]
async fn a_new_attempt_ends_the_keys_of_earlier_ones() {
    let (svc, _store, _dir) = service().await;
    let (first, secret) = svc.issue_deployment_key("dep-1", Duration::from_secs(600)).await.unwrap();
    assert_eq!(first.role, Role::Deployment);
    assert_eq!(first.deployment_id.as_deref(), Some("dep-1"));
    let (found, role) = svc.key_secret(&first.id).await.unwrap().expect("a fresh key works");
    assert_eq!((&*found, role), (secret.as_str(), Role::Deployment));

    let (second, _) = svc.issue_deployment_key("dep-1", Duration::from_secs(600)).await.unwrap();
    assert!(svc.key_secret(&first.id).await.unwrap().is_none(), "the first attempt's key is refused once another attempt took over");
    assert!(svc.key_secret(&second.id).await.unwrap().is_some());
    let (other, _) = svc.issue_deployment_key("dep-2", Duration::from_secs(600)).await.unwrap();
    assert!(svc.key_secret(&second.id).await.unwrap().is_some(), "another deployment's key does not end this one");
    assert!(svc.key_secret(&other.id).await.unwrap().is_some());
}

#[tokio::test]
async fn a_key_past_its_expiry_is_refused_though_never_revoked() {
    let (svc, store, _dir) = service().await;
    let (rec, _) = svc.issue_deployment_key("dep-1", Duration::from_millis(50)).await.unwrap();
    assert!(svc.key_secret(&rec.id).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert!(svc.key_secret(&rec.id).await.unwrap().is_none());
    assert!(store.get_access_key(&rec.id).await.unwrap().revoked_at.is_none(), "refused by expiry alone");
}

#[tokio::test]
async fn listings_keep_people_and_deployment_keys_apart() {
    let (svc, _store, _dir) = service().await;
    let (admin, _) = svc.create_access_key(Role::Admin, Some("ops".into())).await.unwrap();
    let (viewer, _) = svc.create_access_key(Role::Viewer, None).await.unwrap();
    svc.revoke_access_key(&viewer.id).await.unwrap();
    let (old, _) = svc.issue_deployment_key("dep-1", Duration::from_secs(600)).await.unwrap();
    let (live, _) = svc.issue_deployment_key("dep-1", Duration::from_secs(600)).await.unwrap();
    let (other, _) = svc.issue_deployment_key("dep-2", Duration::from_secs(600)).await.unwrap();

    let ids = |keys: Vec<deuteron_store::AccessKeyRecord>| {
        let mut ids: Vec<String> = keys.into_iter().map(|k| k.id).collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    assert_eq!(ids(svc.list_access_keys(&KeyListing::People).await.unwrap()), sorted(vec![admin.id.clone(), viewer.id.clone()]));
    let live_only = KeyListing::Deployments { deployment_id: None, all: false };
    assert_eq!(ids(svc.list_access_keys(&live_only).await.unwrap()), sorted(vec![live.id.clone(), other.id.clone()]));
    let one = KeyListing::Deployments { deployment_id: Some("dep-1".into()), all: true };
    assert_eq!(ids(svc.list_access_keys(&one).await.unwrap()), sorted(vec![old.id.clone(), live.id.clone()]));
    let one_live = KeyListing::Deployments { deployment_id: Some("dep-1".into()), all: false };
    assert_eq!(ids(svc.list_access_keys(&one_live).await.unwrap()), vec![live.id.clone()]);
}

#[tokio::test]
async fn deployment_keys_that_stopped_working_a_week_ago_are_purged() {
    let (svc, store, _dir) = service().await;
    let week = deuteron_service::keys::DEPLOYMENT_KEY_RETENTION_MS;
    let now = deuteron_store::now_millis();
    let mut stale = svc.issue_deployment_key("dep-0", Duration::from_secs(1)).await.unwrap().0;
    // Re-stored as if issued and expired eight days ago.
    stale.id = "AKIDSTALEDEPLOYKEY01".into();
    stale.created_at = now - week - 2 * 86_400_000;
    stale.expires_at = Some(now - week - 86_400_000);
    store.create_access_key(&stale).await.unwrap();
    let (recent, _) = svc.issue_deployment_key("dep-3", Duration::from_millis(1)).await.unwrap();
    svc.issue_deployment_key("dep-4", Duration::from_secs(600)).await.unwrap();
    let all = KeyListing::Deployments { deployment_id: None, all: true };
    let ids: Vec<String> = svc.list_access_keys(&all).await.unwrap().into_iter().map(|k| k.id).collect();
    assert!(!ids.contains(&stale.id), "purged when the next key was issued: {ids:?}");
    assert!(ids.contains(&recent.id), "expired a moment ago: kept for the week: {ids:?}");
}
