//! Deuteron's storage: one [`Store`] trait, implemented for SQLite (the embedded default) and
//! PostgreSQL (for several servers and workers sharing one control plane).
//!
//! Only this crate knows SQL. Both backends run the same statements (`$N` parameters work on
//! both), generated from one body by a macro, and each has its own embedded migrations applied
//! when the store is opened. The conformance suite in `tests/conformance.rs` runs against both.

use async_trait::async_trait;

use deuteron_core::{
    CompatibleEnvironmentTemplate, ComponentSource, DeploymentStatus, Provisioning, ServiceStatus, TemplateKind, TemplateVersionStatus,
    UsageRef, VersionNumber,
};

mod backends;
mod batch;
pub mod handoff;
mod read_pool;
pub mod resources;
pub mod rollouts;
pub use backends::{PostgresStore, SqliteStore, open};
pub use handoff::Handoff;
pub use resources::*;
pub use rollouts::*;

/// The tables whose ids people type (by a prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdTable {
    Deployments,
    Rollouts,
}

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// A new deployment id: a UUID as Proton's, time-ordered (version 7), so each new deployment
/// lands at the end of the id index instead of on a random page of it (fewer pages written per
/// deployment once the history is large).
pub fn new_deployment_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("in use by {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))]
    InUse(Vec<UsageRef>),
    #[error("cannot open the store: {0}")]
    Open(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A template as stored, with its recommended version computed from its published versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRecord {
    pub kind: TemplateKind,
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub provisioning: Provisioning,
    pub encryption_key: Option<String>,
    pub recommended: Option<VersionNumber>,
    /// The version the platform team chose as the recommended one (`None`: the highest published).
    pub pinned: Option<VersionNumber>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTemplate {
    pub kind: TemplateKind,
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub provisioning: Provisioning,
    pub encryption_key: Option<String>,
}

/// Fields of a template that may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplatePatch {
    pub display_name: Option<Option<String>>,
    pub description: Option<Option<String>>,
}

/// A template version as stored (without its bundle bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRecord {
    pub kind: TemplateKind,
    pub template_name: String,
    pub version: VersionNumber,
    pub status: TemplateVersionStatus,
    pub status_message: Option<String>,
    pub description: Option<String>,
    pub schema: String,
    pub bundle_digest: String,
    pub compatible_environments: Vec<CompatibleEnvironmentTemplate>,
    pub supported_component_sources: Vec<ComponentSource>,
    /// The highest published minor of this version's major that is not blocked.
    pub recommended_minor: Option<u32>,
    /// Why the version is blocked (a rollout to it failed and was rolled back): it is never
    /// recommended nor a default target until unblocked.
    pub blocked: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    pub kind: TemplateKind,
    pub template_name: String,
    pub version: VersionNumber,
    pub status: TemplateVersionStatus,
    pub status_message: Option<String>,
    pub description: Option<String>,
    pub schema: String,
    /// The bundle as a deterministic `.tar.gz`.
    pub bundle: Vec<u8>,
    pub bundle_digest: String,
    pub compatible_environments: Vec<CompatibleEnvironmentTemplate>,
    pub supported_component_sources: Vec<ComponentSource>,
}

/// A change of status, applied only if the version is still in `expected` (compare-and-set).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub expected: Vec<TemplateVersionStatus>,
    pub status: TemplateVersionStatus,
    pub status_message: Option<String>,
    /// Replaces the schema text (registration fills it in once the bundle is read).
    pub schema: Option<String>,
    pub compatible_environments: Option<Vec<CompatibleEnvironmentTemplate>>,
    pub supported_component_sources: Option<Vec<ComponentSource>>,
}

/// Storage for everything Deuteron keeps. Every method is one transaction.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Creates a template; [`StoreError::Conflict`] when the name is taken.
    async fn create_template(&self, t: &NewTemplate) -> Result<TemplateRecord>;
    async fn get_template(&self, kind: TemplateKind, name: &str) -> Result<TemplateRecord>;
    /// Templates of `kind` (or all), ordered by kind and name.
    async fn list_templates(&self, kind: Option<TemplateKind>) -> Result<Vec<TemplateRecord>>;
    async fn update_template(&self, kind: TemplateKind, name: &str, patch: &TemplatePatch) -> Result<TemplateRecord>;
    /// Deletes a template that has no versions left ([`StoreError::Conflict`] otherwise).
    async fn delete_template(&self, kind: TemplateKind, name: &str) -> Result<()>;
    /// Pins the template's recommended version (`None`: back to the highest published one).
    async fn set_recommended_pin(&self, kind: TemplateKind, name: &str, version: Option<VersionNumber>) -> Result<TemplateRecord>;

    /// Inserts a version under an existing template; [`StoreError::Conflict`] when the number
    /// is taken (a concurrent registration won: compute the next number and retry).
    async fn create_version(&self, v: &NewVersion) -> Result<VersionRecord>;
    async fn get_version(&self, kind: TemplateKind, name: &str, version: VersionNumber) -> Result<VersionRecord>;
    /// The stored bundle (`.tar.gz`) of a version.
    async fn get_version_bundle(&self, kind: TemplateKind, name: &str, version: VersionNumber) -> Result<Vec<u8>>;
    /// Versions of a template (optionally one major), ordered by number.
    async fn list_versions(&self, kind: TemplateKind, name: &str, major: Option<u32>) -> Result<Vec<VersionRecord>>;
    /// Applies `change` if the version's status is one of `change.expected`; otherwise
    /// [`StoreError::Conflict`] naming the status it has.
    async fn set_version_status(
        &self,
        kind: TemplateKind,
        name: &str,
        version: VersionNumber,
        change: &StatusChange,
    ) -> Result<VersionRecord>;
    /// Blocks a version with `reason`, or (`None`) unblocks it, with an event; blocking a
    /// blocked version keeps its first reason.
    async fn set_version_blocked(
        &self,
        kind: TemplateKind,
        name: &str,
        version: VersionNumber,
        reason: Option<&str>,
    ) -> Result<VersionRecord>;
    async fn update_version_description(
        &self,
        kind: TemplateKind,
        name: &str,
        version: VersionNumber,
        description: Option<&str>,
    ) -> Result<VersionRecord>;
    /// Deletes a version nothing uses, checked in the same transaction ([`StoreError::InUse`]).
    async fn delete_version(&self, kind: TemplateKind, name: &str, version: VersionNumber) -> Result<()>;
    /// Resources deployed from a template (optionally one version of it).
    async fn version_usage(&self, kind: TemplateKind, name: &str, version: Option<VersionNumber>) -> Result<Vec<UsageRef>>;

    /// Inserts an environment and enqueues its first deployment, in one transaction.
    async fn create_environment(&self, env: &NewEnvironment, deployment: &NewDeployment) -> Result<EnvironmentRecord>;
    async fn get_environment(&self, name: &str) -> Result<EnvironmentRecord>;
    async fn list_environments(&self) -> Result<Vec<EnvironmentRecord>>;
    async fn set_environment_description(&self, name: &str, description: Option<&str>) -> Result<EnvironmentRecord>;

    /// Inserts a service with its instances (and pipeline) and enqueues `deployments`, in one
    /// transaction.
    async fn create_service(
        &self,
        service: &NewService,
        instances: &[NewInstance],
        pipeline: Option<&NewPipeline>,
        deployments: &[NewDeployment],
    ) -> Result<ServiceRecord>;
    async fn get_service(&self, name: &str) -> Result<ServiceRecord>;
    async fn list_services(&self) -> Result<Vec<ServiceRecord>>;
    async fn set_service_status(&self, name: &str, status: ServiceStatus, message: Option<&str>) -> Result<ServiceRecord>;
    async fn set_service_description(&self, name: &str, description: Option<&str>) -> Result<ServiceRecord>;
    /// Adds instances to a service (recording its new spec) and enqueues their deployments, in
    /// one transaction.
    async fn add_instances(&self, service: &str, spec: &str, instances: &[NewInstance], deployments: &[NewDeployment]) -> Result<()>;
    /// Removes a service row whose instances and pipeline are gone.
    async fn delete_service(&self, name: &str) -> Result<()>;
    async fn get_instance(&self, service: &str, name: &str) -> Result<InstanceRecord>;
    /// The instances named by `(service, instance)` keys, in one read; missing ones are left out.
    async fn get_instances(&self, keys: &[(String, String)]) -> Result<Vec<InstanceRecord>>;
    /// Instances, optionally of one service and/or in one environment, by service and name.
    async fn list_instances(&self, service: Option<&str>, environment: Option<&str>) -> Result<Vec<InstanceRecord>>;
    /// A page of instances in `(service, name)` order (keyset pagination).
    async fn query_instances(&self, query: &InstanceQuery) -> Result<Vec<InstanceRecord>>;
    async fn get_pipeline(&self, service: &str) -> Result<PipelineRecord>;
    /// Settles a pipeline whose first deployment was never enqueued (its service's instances
    /// failed) as `CANCELLED` with `message`, so nothing shows it in progress. Changes nothing and
    /// answers `false` if a deployment of it was ever enqueued.
    async fn hold_undeployed_pipeline(&self, service: &str, message: &str) -> Result<bool>;
    /// Removes a pipeline no deployment was ever enqueued for (nothing to deprovision), with its
    /// `DELETED` event; `false` if one was.
    async fn remove_undeployed_pipeline(&self, service: &str) -> Result<bool>;
    async fn list_pipelines(&self) -> Result<Vec<PipelineRecord>>;

    /// Inserts a component and enqueues its first deployment, in one transaction.
    /// [`StoreError::Conflict`] if the name is taken or the instance already has a component.
    async fn create_component(&self, component: &NewComponent, deployment: &NewDeployment) -> Result<ComponentRecord>;
    async fn get_component(&self, name: &str) -> Result<ComponentRecord>;
    /// Components by name, filtered by environment, service and instance.
    async fn list_components(&self, filter: &ComponentFilter) -> Result<Vec<ComponentRecord>>;
    /// Rewrites a component's fields and, with `deployment`, enqueues its redeployment in the
    /// same transaction.
    async fn update_component(&self, component: &NewComponent, deployment: Option<&NewDeployment>) -> Result<ComponentRecord>;

    /// Enqueues a deployment of an existing resource and marks the resource `status`
    /// (`IN_PROGRESS` or `DELETE_IN_PROGRESS`). [`StoreError::Conflict`] if the resource already
    /// has an active deployment.
    async fn enqueue_deployment(&self, deployment: &NewDeployment, status: DeploymentStatus) -> Result<DeploymentRecord>;
    async fn get_deployment(&self, id: &str) -> Result<DeploymentRecord>;
    /// Deployments, newest first.
    async fn list_deployments(&self, filter: &DeploymentFilter) -> Result<Vec<DeploymentRecord>>;
    /// Claims the oldest queued deployment, or one whose lease expired, for `worker`. Looks on a
    /// reading connection first, so an idle worker finding nothing does not queue for the writer.
    async fn claim_deployment(&self, worker: &str, lease_ms: i64) -> Result<Option<DeploymentRecord>>;
    /// [`Store::claim_deployment`] without the look first: for a worker that has just finished
    /// one, when the queue is likely not empty.
    async fn claim_next_deployment(&self, worker: &str, lease_ms: i64) -> Result<Option<DeploymentRecord>>;
    /// Extends `worker`'s lease on a running deployment.
    async fn heartbeat(&self, id: &str, worker: &str, lease_ms: i64) -> Result<Heartbeat>;
    /// Ids in `table` that start with `prefix`, in order, `limit` at most.
    async fn ids_with_prefix(&self, table: IdTable, prefix: &str, limit: i64) -> Result<Vec<String>>;
    /// Ends `worker`'s lease on a running deployment at once, so the next worker to look takes
    /// it over (a worker shutting down); false when the lease was no longer its.
    async fn release_deployment(&self, id: &str, worker: &str) -> Result<bool>;
    /// Asks a queued or running deployment to stop (status `CANCELLING`).
    async fn request_cancel(&self, id: &str) -> Result<DeploymentRecord>;
    async fn append_log(&self, id: &str, stream: &str, lines: &[String]) -> Result<()>;
    /// Log lines after `after_seq` (0 for all).
    async fn read_log(&self, id: &str, after_seq: i64) -> Result<Vec<LogLine>>;
    /// Ends a deployment `worker` holds and applies the result to its resource in one
    /// transaction: target state and outputs on success, the row removed after a successful
    /// deprovision, status and message otherwise. [`StoreError::Conflict`] if the lease was lost.
    async fn finish_deployment(&self, id: &str, worker: &str, finish: &Finish) -> Result<DeploymentRecord>;
    /// [`Store::finish_deployment`] of a deployment as `worker` claimed it (its target, action,
    /// states and rollout item are fixed once enqueued), without reading it first.
    async fn finish_claimed(&self, dep: &DeploymentRecord, worker: &str, finish: &Finish) -> Result<DeploymentRecord>;
    /// [`Store::finish_claimed`], reading the status of the deployment's service in the same
    /// transaction, and with `claim` (a lease length) the claim of the next deployment for
    /// `worker` ([`Store::claim_next_deployment`]): one write where a busy worker would make two
    /// and a read. Nothing is claimed if the finish fails.
    async fn finish_and_claim(&self, dep: &DeploymentRecord, worker: &str, finish: &Finish, claim: Option<i64>) -> Result<Finished>;
    /// A resource's outputs, ordered by key.
    async fn outputs(&self, target: &Target) -> Result<Vec<(String, String)>>;
    /// What a service instance's templates read besides its own inputs, in one read (one
    /// snapshot): its environment and that environment's outputs, its service's repository
    /// fields, whether the service has a pipeline, and the attached component with its outputs.
    async fn instance_context(&self, service: &str, instance: &str) -> Result<InstanceContext>;
    /// Records outputs (and a log line) a running deployment reported itself;
    /// [`StoreError::Conflict`] once it has finished.
    async fn report_outputs(&self, id: &str, outputs: &[(String, String)], log_line: &str) -> Result<DeploymentRecord>;
    /// The infrastructure behind a resource, as its last successful provision recorded it.
    async fn provisioned_resources(&self, target: &Target) -> Result<Vec<ProvisionedResource>>;
    /// The outputs a deployment reported, ordered by key.
    async fn reported_outputs(&self, id: &str) -> Result<Vec<(String, String)>>;

    /// Stores a new access key ([`StoreError::Conflict`] if the id exists).
    async fn create_access_key(&self, key: &AccessKeyRecord) -> Result<()>;
    async fn get_access_key(&self, id: &str) -> Result<AccessKeyRecord>;
    /// Every key, revoked ones included, oldest first.
    async fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>>;
    /// Marks a key revoked; it stops authenticating at once.
    async fn revoke_access_key(&self, id: &str) -> Result<AccessKeyRecord>;
    /// Revokes every live key issued to a deployment (any attempt); how many were live.
    async fn revoke_deployment_keys(&self, deployment_id: &str) -> Result<u64>;
    /// Deletes deployment keys revoked or expired before `before`; how many.
    async fn purge_deployment_keys(&self, before: Millis) -> Result<u64>;

    /// Removes a finished deployment's record, log and reported outputs (never infrastructure).
    async fn delete_deployment(&self, id: &str) -> Result<DeploymentRecord>;

    /// Tags of a resource, by key.
    async fn tags(&self, resource_arn: &str) -> Result<Vec<(String, String)>>;
    /// Sets tags (replacing values of existing keys); [`StoreError::Conflict`] past `max` tags.
    async fn tag(&self, resource_arn: &str, tags: &[(String, String)], max: usize) -> Result<()>;
    async fn untag(&self, resource_arn: &str, keys: &[String]) -> Result<()>;

    async fn create_repository(&self, repo: &RepositoryRecord) -> Result<()>;
    async fn get_repository(&self, provider: &str, name: &str) -> Result<RepositoryRecord>;
    async fn list_repositories(&self) -> Result<Vec<RepositoryRecord>>;
    async fn delete_repository(&self, provider: &str, name: &str) -> Result<RepositoryRecord>;

    /// Status-change events in sequence order.
    async fn list_events(&self, filter: &EventFilter) -> Result<Vec<EventRecord>>;

    /// How many environments, services, service instances, pipelines, components and deployments
    /// are in each status, in one read (the console's fleet overview).
    async fn status_counts(&self) -> Result<Vec<StatusCount>>;

    /// How many environments, service instances and pipelines run each template version (one read).
    async fn version_counts(&self) -> Result<Vec<VersionCount>>;

    /// How many instances [`Store::query_instances`] would find without its limit and offset.
    async fn count_instances(&self, query: &InstanceQuery) -> Result<i64>;

    /// The reply kept for `(caller, operation, token)`, if any newer than `since`.
    /// Records the `clientToken` of the Proton request that last created or updated an instance.
    async fn set_instance_client_token(&self, service: &str, name: &str, token: &str) -> Result<()>;

    // Fleet rollouts.
    async fn create_rollout(&self, rollout: &NewRollout) -> Result<RolloutRecord>;
    async fn get_rollout(&self, id: &str) -> Result<RolloutRecord>;
    /// Newest first.
    async fn list_rollouts(&self, limit: i64) -> Result<Vec<RolloutRecord>>;
    async fn rollout_items(&self, id: &str, selector: ItemSelector, limit: i64) -> Result<Vec<RolloutItemRecord>>;
    /// Per-wave counts of the items the plan placed in a wave, from their deployments' statuses.
    async fn rollout_counts(&self, id: &str) -> Result<RolloutCounts>;
    /// Leases a running or rolling-back rollout whose bake time is over and that no other driver
    /// holds; `None` when there is none.
    async fn claim_rollout(&self, worker: &str, lease_ms: i64) -> Result<Option<RolloutRecord>>;
    /// Extends `worker`'s lease on a rollout it holds and returns the rollout; `None` when the
    /// lease is no longer the worker's (it expired and another driver took it).
    async fn renew_rollout(&self, id: &str, worker: &str, lease_ms: i64) -> Result<Option<RolloutRecord>>;
    async fn release_rollout(&self, id: &str, worker: &str) -> Result<()>;
    /// Applies `change` if the rollout is in one of its expected statuses (else `Conflict`), with
    /// an event when the status or message changes.
    async fn change_rollout(&self, id: &str, change: &RolloutChange) -> Result<RolloutRecord>;
    /// Records why an item was not started (`rollback`: why its rollback was not).
    async fn skip_rollout_item(&self, id: &str, seq: u32, reason: &str, rollback: bool) -> Result<()>;
    /// A template's default rollout policy (JSON) and whether it runs automatically.
    async fn template_rollout_policy(&self, kind: TemplateKind, name: &str) -> Result<Option<(String, bool)>>;
    /// Sets (or with `None` removes) a template's default rollout policy.
    async fn set_template_rollout_policy(&self, kind: TemplateKind, name: &str, policy: Option<(&str, bool)>) -> Result<()>;
    /// `enqueue_deployment`, linking the deployment to a rollout item in the same transaction.
    async fn enqueue_rollout_deployment(
        &self,
        deployment: &NewDeployment,
        status: DeploymentStatus,
        link: &RolloutLink,
    ) -> Result<DeploymentRecord>;
    /// [`Store::enqueue_rollout_deployment`] for several items: forward starts that can all
    /// start are one write; if any cannot, each is tried on its own, so every start gets its
    /// own outcome (in the order given).
    async fn enqueue_rollout_deployments(&self, starts: &[RolloutStart]) -> Vec<Result<DeploymentRecord>>;

    async fn idempotent_reply(&self, caller: &str, operation: &str, token: &str, since: Millis) -> Result<Option<IdempotentReply>>;
    /// Keeps a reply (replacing one older than `since`); expired replies are purged.
    async fn save_idempotent_reply(&self, caller: &str, operation: &str, token: &str, reply: &IdempotentReply, since: Millis)
    -> Result<()>;
}

pub(crate) fn encode_compat(list: &[CompatibleEnvironmentTemplate]) -> String {
    list.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
}

pub(crate) fn decode_compat(text: &str) -> Result<Vec<CompatibleEnvironmentTemplate>> {
    text.split(',').filter(|s| !s.is_empty()).map(|s| CompatibleEnvironmentTemplate::parse(s).map_err(StoreError::Corrupt)).collect()
}

pub(crate) fn encode_sources(list: &[ComponentSource]) -> String {
    list.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")
}

pub(crate) fn decode_sources(text: &str) -> Result<Vec<ComponentSource>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| ComponentSource::parse(s).ok_or_else(|| StoreError::Corrupt(format!("component source {s:?}"))))
        .collect()
}

/// Helpers for tests that need a real database of each backend.
#[doc(hidden)]
pub mod testing {
    use sqlx::Connection;

    /// Two tests running one story, on a fresh SQLite file and on a fresh PostgreSQL database:
    /// `on_both_stores!(#[tokio::test] sqlite_name, postgres_name, |store, dir| story(store).await);`
    /// binds `store: Arc<dyn Store>` and `dir` (a temporary directory kept for the test). The
    /// calling crate needs `tempfile` and `tokio` as dev-dependencies.
    #[macro_export]
    macro_rules! on_both_stores {
        ($(#[$attr:meta])* $sqlite:ident, $postgres:ident, |$store:ident, $dir:ident| $body:expr) => {
            $(#[$attr])*
            async fn $sqlite() {
                let $dir = tempfile::tempdir().unwrap();
                let $store: std::sync::Arc<dyn $crate::Store> =
                    std::sync::Arc::new($crate::SqliteStore::open(&$dir.path().join("store.db")).await.unwrap());
                $body
            }

            $(#[$attr])*
            async fn $postgres() {
                let $dir = tempfile::tempdir().unwrap();
                let url = $crate::testing::fresh_postgres_url().await;
                let $store: std::sync::Arc<dyn $crate::Store> = std::sync::Arc::new($crate::PostgresStore::open(&url).await.unwrap());
                $body
            }
        };
    }

    /// The PostgreSQL server tests use: `DEUTERON_TEST_POSTGRES_URL`, by default the local
    /// server with trust authentication.
    pub fn postgres_admin_url() -> String {
        std::env::var("DEUTERON_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
    }

    /// Creates an empty database named `deuteron_test_<random>` and returns its URL. The test
    /// command drops these databases before each run.
    pub async fn fresh_postgres_url() -> String {
        let admin = postgres_admin_url();
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed for this test (start it or set DEUTERON_TEST_POSTGRES_URL): {e}"));
        let name = format!("deuteron_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut conn).await.expect("create test database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        format!("{base}/{name}")
    }
}
