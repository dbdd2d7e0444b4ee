//! Access keys on both stores: deployment keys are revoked per deployment (every attempt at once)
//! and purged once they stopped working long enough; people's keys are never touched by either.

use std::sync::Arc;

use deuteron_core::Role;
use deuteron_store::{AccessKeyRecord, Store, now_millis, on_both_stores};

fn key(id: &str, role: Role, deployment: Option<&str>, created_at: i64, expires_at: Option<i64>) -> AccessKeyRecord {
    AccessKeyRecord {
        id: id.into(),
        secret_sealed: "sealed".into(),
        role,
        description: deployment.map(|d| format!("deployment {d}")),
        created_at,
        revoked_at: None,
        deployment_id: deployment.map(str::to_string),
        expires_at,
    }
}

async fn deployment_keys_story(store: Arc<dyn Store>) {
    let now = now_millis();
    let hour = 3_600_000;
    store.create_access_key(&key("AKIDPERSONADMIN00001", Role::Admin, None, now, None)).await.unwrap();
    store.create_access_key(&key("AKIDATTEMPTONE000001", Role::Deployment, Some("d1"), now, Some(now + hour))).await.unwrap();
    store.create_access_key(&key("AKIDATTEMPTTWO000001", Role::Deployment, Some("d1"), now, Some(now + hour))).await.unwrap();
    store.create_access_key(&key("AKIDOTHERDEPLOY00001", Role::Deployment, Some("d2"), now, Some(now + hour))).await.unwrap();
    // Expired long ago without ever being revoked (its process crashed before the finish).
    store
        .create_access_key(&key("AKIDCRASHEDLONGAGO01", Role::Deployment, Some("d0"), now - 30 * hour, Some(now - 20 * hour)))
        .await
        .unwrap();

    let back = store.get_access_key("AKIDATTEMPTONE000001").await.unwrap();
    assert_eq!(back.deployment_id.as_deref(), Some("d1"));
    assert_eq!(back.expires_at, Some(now + hour));
    assert_eq!(store.get_access_key("AKIDPERSONADMIN00001").await.unwrap().deployment_id, None);

    assert_eq!(store.revoke_deployment_keys("d1").await.unwrap(), 2, "every attempt's key is revoked");
    assert_eq!(store.revoke_deployment_keys("d1").await.unwrap(), 0, "nothing is live any more");
    assert!(store.get_access_key("AKIDATTEMPTTWO000001").await.unwrap().revoked_at.is_some());
    assert!(store.get_access_key("AKIDOTHERDEPLOY00001").await.unwrap().revoked_at.is_none(), "another deployment's key stays");
    assert!(store.get_access_key("AKIDPERSONADMIN00001").await.unwrap().revoked_at.is_none());

    // Purging before ten hours ago removes only the key that expired twenty hours ago.
    assert_eq!(store.purge_deployment_keys(now - 10 * hour).await.unwrap(), 1);
    let ids: Vec<String> = store.list_access_keys().await.unwrap().into_iter().map(|k| k.id).collect();
    assert!(!ids.contains(&"AKIDCRASHEDLONGAGO01".to_string()), "{ids:?}");
    assert_eq!(ids.len(), 4, "{ids:?}");
    // Purging up to a moment after now also removes the revoked ones; live and people's keys stay.
    assert_eq!(store.purge_deployment_keys(now_millis() + 1).await.unwrap(), 2);
    let mut ids: Vec<String> = store.list_access_keys().await.unwrap().into_iter().map(|k| k.id).collect();
    ids.sort();
    assert_eq!(ids, ["AKIDOTHERDEPLOY00001", "AKIDPERSONADMIN00001"]);
}

on_both_stores!(
    #[tokio::test]
    deployment_keys_on_sqlite,
    deployment_keys_on_postgres,
    |store, _dir| deployment_keys_story(store).await
);
