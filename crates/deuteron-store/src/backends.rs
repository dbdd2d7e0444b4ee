//! The SQLite and PostgreSQL implementations of [`Store`], generated from one body.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::{ConnectOptions, Connection, Row};

use deuteron_core::{
    DeploymentAction, DeploymentStatus, Provisioning, RolloutStatus, ServiceStatus, TargetType, TemplateKind, TemplateVersionStatus,
    UsageRef, VersionNumber,
};

use deuteron_core::rollout::{ItemFacts, WaveCounts};

use crate::batch::{Arg, Batch, GUARD_TABLE_SQL, bound_query, is_guard_failure};
use crate::resources::*;
use crate::rollouts::*;
use crate::{
    Backend, IdTable, NewTemplate, NewVersion, Result, StatusChange, Store, StoreError, TemplatePatch, TemplateRecord, VersionRecord,
    decode_compat, decode_sources, encode_compat, encode_sources, now_millis,
};

/// The deployments a worker may claim: queued, or running under an expired lease (`$1`: now).
macro_rules! claimable_deployments {
    () => {
        "job_state = 'QUEUED' OR (job_state = 'RUNNING' AND lease_expires_at < $1)"
    };
}

/// The rollouts a driver may step: running or rolling back, due, and not leased (`$1`: now).
macro_rules! due_rollouts {
    () => {
        "status IN ('RUNNING', 'ROLLING_BACK') AND not_before <= $1 AND (lease_expires_at IS NULL OR lease_expires_at < $1)"
    };
}

include!("backends_resources.rs");
include!("backends_rollouts.rs");

/// The embedded default: one SQLite file in WAL mode. Reads use a pool of connections; writes
/// go through one connection held by this store (not a pool: a pool pings a connection each time
/// it comes back), so concurrent writers in this process queue for it instead of spinning in
/// SQLite's busy handler (which sleeps in growing steps and wrecks throughput).
#[derive(Clone)]
pub struct SqliteStore {
    pool: Arc<crate::read_pool::ReadPool>,
    writer: Arc<tokio::sync::Mutex<SqliteWriter>>,
}

/// The writing connection, and whether a batch may have left a transaction of its own open
/// (its call was dropped before the batch ended).
struct SqliteWriter {
    conn: sqlx::SqliteConnection,
    untracked_tx: bool,
}

impl SqliteWriter {
    /// Ends a transaction a batch left open, if one may be.
    async fn end_untracked(&mut self) -> Result<()> {
        if !self.untracked_tx {
            return Ok(());
        }
        match sqlx::query("ROLLBACK").execute(&mut self.conn).await {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if d.message().contains("no transaction is active") => {}
            Err(e) => return Err(e.into()),
        }
        self.untracked_tx = false;
        Ok(())
    }
}

/// PostgreSQL, for several Deuteron processes sharing one control plane.
#[derive(Clone)]
pub struct PostgresStore {
    pool: sqlx::PgPool,
}

/// Creates `path` empty and readable by its owner only (0600) unless it exists.
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        // Created owner-only before SQLite opens it: its WAL and SHM files take the database
        // file's permissions, and the store holds specs, outputs, sealed secrets and logs.
        private_file(path).map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let mut conn = opts.connect().await.map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
        // Several processes may open one file at once (a server and CLI commands); SQLite has
        // no advisory lock for migrations, so a lock file next to the database serialises them.
        let lock_path = path.with_file_name(format!("{}.migrate-lock", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()));
        let lock = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            private_file(&lock_path)?;
            let f = std::fs::OpenOptions::new().write(true).open(&lock_path)?;
            f.lock()?;
            Ok(f)
        })
        .await
        .map_err(|e| StoreError::Open(format!("migration lock: {e}")))?
        .map_err(|e| StoreError::Open(format!("migration lock next to {}: {e}", path.display())))?;
        let migrated = sqlx::migrate!("./migrations/sqlite").run(&mut conn).await;
        drop(lock);
        migrated?;
        sqlx::query(GUARD_TABLE_SQL).execute(&mut conn).await?;
        let writer = Arc::new(tokio::sync::Mutex::new(SqliteWriter { conn, untracked_tx: false }));
        Ok(Self { pool: Arc::new(crate::read_pool::ReadPool::new(opts, 8)), writer })
    }

    /// A reading connection.
    async fn read_conn(&self) -> Result<crate::read_pool::ReadConn<'_>> {
        self.pool.get().await
    }

    /// The writing connection, once it is this caller's turn.
    async fn write_conn(&self) -> Result<tokio::sync::MappedMutexGuard<'_, sqlx::SqliteConnection>> {
        let mut w = self.writer.lock().await;
        w.end_untracked().await?;
        Ok(tokio::sync::MutexGuard::map(w, |w| &mut w.conn))
    }

    /// Runs the batch `build(now)` as a transaction of its own, in one call to the writing
    /// connection (`BEGIN`, the statements and `COMMIT` in one text), `now` read once the
    /// connection is this caller's (so timestamps follow commit order). Returns the rows of its
    /// `RETURNING` statements, or `None` when a guarded statement changed nothing (then nothing
    /// of the batch was kept).
    async fn write_batch(&self, build: impl FnOnce(i64) -> Result<Batch>) -> Result<Option<Vec<sqlx::sqlite::SqliteRow>>> {
        let mut w = self.writer.lock().await;
        w.end_untracked().await?;
        let batch = build(now_millis())?;
        let (body, args) = batch.joined();
        let q = bound_query(format!("BEGIN IMMEDIATE;\n{body}COMMIT;"), args);
        // Until the batch has ended, its transaction may be open.
        w.untracked_tx = true;
        match q.fetch_all(&mut w.conn).await {
            Ok(rows) => {
                w.untracked_tx = false;
                Ok(Some(rows))
            }
            Err(e) => {
                w.end_untracked().await?;
                if is_guard_failure(&e) { Ok(None) } else { Err(e.into()) }
            }
        }
    }

    /// Runs raw SQL; for tests that set up rows other crates will own (resources).
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &'static str) -> Result<()> {
        sqlx::raw_sql(sql).execute(&mut *self.write_conn().await?).await?;
        Ok(())
    }
}

impl PostgresStore {
    /// Connects to `url` and applies migrations.
    pub async fn open(url: &str) -> Result<Self> {
        let opts = sqlx::postgres::PgConnectOptions::from_str(url).map_err(|e| StoreError::Open(format!("database URL: {e}")))?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Open(format!("{}: {e}", redact(url))))?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    async fn read_conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    /// Row locks serialise PostgreSQL's writers; they share the pool.
    async fn write_conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    /// Runs the batch `build(now)` in a transaction, statement by statement, `now` read once
    /// it has begun. Returns the rows of its `RETURNING` statements, or `None` when a guarded
    /// statement changed nothing (then nothing of the batch was kept).
    async fn write_batch(&self, build: impl FnOnce(i64) -> Result<Batch>) -> Result<Option<Vec<sqlx::postgres::PgRow>>> {
        let mut tx = self.pool.begin().await?;
        let batch = build(now_millis())?;
        let mut rows = Vec::new();
        for s in &batch.statements {
            let q = bound_query(s.sql.clone(), &s.args);
            let n = if s.returning {
                let got = q.fetch_all(&mut *tx).await?;
                let n = got.len() as u64;
                rows.extend(got);
                n
            } else {
                q.execute(&mut *tx).await?.rows_affected()
            };
            if s.guarded && n == 0 {
                return Ok(None);
            }
        }
        tx.commit().await?;
        Ok(Some(rows))
    }

    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &'static str) -> Result<()> {
        sqlx::raw_sql(sql).execute(&mut *self.read_conn().await?).await?;
        Ok(())
    }
}

/// A URL with its password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match url::parse_userinfo(url) {
        Some((before, after)) => format!("{before}***{after}"),
        None => url.to_string(),
    }
}

mod url {
    /// Splits `scheme://user:password@host` around the password.
    pub fn parse_userinfo(url: &str) -> Option<(&str, &str)> {
        let start = url.find("://")? + 3;
        let at = url[start..].find('@')? + start;
        let colon = url[start..at].find(':')? + start;
        Some((&url[..colon + 1], &url[at..]))
    }
}

/// Opens the store a URL names: `postgres://...` / `postgresql://...`, or `sqlite://<path>`.
pub async fn open(url: &str) -> Result<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(url).await?))
    } else if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        Ok(Arc::new(SqliteStore::open(Path::new(path)).await?))
    } else {
        Err(StoreError::Open(format!("{}: the database URL must start with postgres:// or sqlite://", redact(url))))
    }
}

fn kind_of(raw: &str) -> Result<TemplateKind> {
    TemplateKind::parse(raw).ok_or_else(|| StoreError::Corrupt(format!("template kind {raw:?}")))
}

fn version_part(n: i64) -> Result<u32> {
    u32::try_from(n).map_err(|_| StoreError::Corrupt(format!("version number {n}")))
}

fn map_unique(e: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(what()),
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::Conflict(format!("{}: {d}", what())),
        _ => StoreError::Database(e),
    }
}

fn component_conflict(c: &NewComponent) -> String {
    match (&c.service_name, &c.service_instance_name) {
        (Some(s), Some(i)) => format!("component {} already exists, or service instance {s}/{i} already has a component", c.name),
        _ => format!("component {} already exists", c.name),
    }
}

/// A template with its recommended version: the pinned one while it is published, else the
/// highest published one.
const TEMPLATE_COLUMNS: &str =
    "t.kind, t.name, t.display_name, t.description, t.provisioning, t.encryption_key, t.created_at, t.updated_at,
    t.pinned_major, t.pinned_minor,
    COALESCE(
        (SELECT v.major FROM template_versions v WHERE v.kind = t.kind AND v.template_name = t.name AND v.status = 'PUBLISHED' AND v.blocked_reason IS NULL
            AND v.major = t.pinned_major AND v.minor = t.pinned_minor),
        (SELECT v.major FROM template_versions v WHERE v.kind = t.kind AND v.template_name = t.name AND v.status = 'PUBLISHED' AND v.blocked_reason IS NULL
            ORDER BY v.major DESC, v.minor DESC LIMIT 1)) AS rec_major,
    COALESCE(
        (SELECT v.minor FROM template_versions v WHERE v.kind = t.kind AND v.template_name = t.name AND v.status = 'PUBLISHED' AND v.blocked_reason IS NULL
            AND v.major = t.pinned_major AND v.minor = t.pinned_minor),
        (SELECT v.minor FROM template_versions v WHERE v.kind = t.kind AND v.template_name = t.name AND v.status = 'PUBLISHED' AND v.blocked_reason IS NULL
            ORDER BY v.major DESC, v.minor DESC LIMIT 1)) AS rec_minor";

const VERSION_COLUMNS: &str = "v.kind, v.template_name, v.major, v.minor, v.status, v.status_message, v.description, v.schema_text,
    v.bundle_digest, v.compatible_envs, v.component_sources, v.created_at, v.updated_at, v.blocked_reason,
    (SELECT MAX(r.minor) FROM template_versions r WHERE r.kind = v.kind AND r.template_name = v.template_name
        AND r.major = v.major AND r.status = 'PUBLISHED' AND r.blocked_reason IS NULL) AS rec_minor";

macro_rules! store_impl {
    ($store:ty, $backend:expr, $begin_write:literal) => {
        impl $store {
            fn template_from_row<R: Row>(row: &R) -> Result<TemplateRecord>
            where
                for<'c> &'c str: sqlx::ColumnIndex<R>,
                for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            {
                let provisioning: String = row.try_get("provisioning")?;
                let rec = match (row.try_get::<Option<i64>, _>("rec_major")?, row.try_get::<Option<i64>, _>("rec_minor")?) {
                    (Some(a), Some(b)) => Some(VersionNumber::new(version_part(a)?, version_part(b)?)),
                    _ => None,
                };
                Ok(TemplateRecord {
                    kind: kind_of(&row.try_get::<String, _>("kind")?)?,
                    name: row.try_get("name")?,
                    display_name: row.try_get("display_name")?,
                    description: row.try_get("description")?,
                    provisioning: Provisioning::parse(&provisioning)
                        .ok_or_else(|| StoreError::Corrupt(format!("provisioning {provisioning:?}")))?,
                    encryption_key: row.try_get("encryption_key")?,
                    recommended: rec,
                    pinned: match (row.try_get::<Option<i64>, _>("pinned_major")?, row.try_get::<Option<i64>, _>("pinned_minor")?) {
                        (Some(a), Some(b)) => Some(VersionNumber::new(version_part(a)?, version_part(b)?)),
                        _ => None,
                    },
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            fn version_from_row<R: Row>(row: &R) -> Result<VersionRecord>
            where
                for<'c> &'c str: sqlx::ColumnIndex<R>,
                for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
                for<'r> Option<i64>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            {
                let status: String = row.try_get("status")?;
                Ok(VersionRecord {
                    kind: kind_of(&row.try_get::<String, _>("kind")?)?,
                    template_name: row.try_get("template_name")?,
                    version: VersionNumber::new(version_part(row.try_get("major")?)?, version_part(row.try_get("minor")?)?),
                    status: TemplateVersionStatus::parse(&status).ok_or_else(|| StoreError::Corrupt(format!("status {status:?}")))?,
                    status_message: row.try_get("status_message")?,
                    description: row.try_get("description")?,
                    schema: row.try_get("schema_text")?,
                    bundle_digest: row.try_get("bundle_digest")?,
                    compatible_environments: decode_compat(&row.try_get::<String, _>("compatible_envs")?)?,
                    supported_component_sources: decode_sources(&row.try_get::<String, _>("component_sources")?)?,
                    recommended_minor: row.try_get::<Option<i64>, _>("rec_minor")?.map(version_part).transpose()?,
                    blocked: row.try_get("blocked_reason")?,
                    created_at: row.try_get("created_at")?,
                    updated_at: row.try_get("updated_at")?,
                })
            }

            async fn usage_in<'e, E>(exec: E, kind: TemplateKind, name: &str, version: Option<VersionNumber>) -> Result<Vec<UsageRef>>
            where
                E: sqlx::Executor<'e, Database = <$store as HasDb>::Db>,
            {
                let (major, minor) = version.map_or((-1_i64, -1_i64), |v| (i64::from(v.major), i64::from(v.minor)));
                let sql = match kind {
                    TemplateKind::Environment => {
                        "SELECT 'environment' AS kind, name, template_major, template_minor FROM environments
                         WHERE template_name = $1 AND ($2 < 0 OR (template_major = $2 AND template_minor = $3))
                         ORDER BY name"
                    }
                    TemplateKind::Service => {
                        "SELECT 'service instance' AS kind, service_name || '/' || name AS name, template_major, template_minor
                           FROM service_instances
                          WHERE template_name = $1 AND ($2 < 0 OR (template_major = $2 AND template_minor = $3))
                         UNION ALL
                         SELECT 'service pipeline' AS kind, service_name AS name, template_major, template_minor
                           FROM service_pipelines
                          WHERE template_name = $1 AND ($2 < 0 OR (template_major = $2 AND template_minor = $3))
                         ORDER BY 1, 2"
                    }
                };
                let rows = sqlx::query(sql).bind(name).bind(major).bind(minor).fetch_all(exec).await?;
                rows.iter()
                    .map(|r| {
                        let kind: String = r.try_get("kind")?;
                        Ok(UsageRef {
                            kind: if kind == "environment" { "environment" } else if kind == "service instance" { "service instance" } else { "service pipeline" },
                            name: r.try_get("name")?,
                            version: VersionNumber::new(version_part(r.try_get("template_major")?)?, version_part(r.try_get("template_minor")?)?),
                        })
                    })
                    .collect()
            }

            async fn fetch_version<'e, E>(exec: E, kind: TemplateKind, name: &str, version: VersionNumber) -> Result<VersionRecord>
            where
                E: sqlx::Executor<'e, Database = <$store as HasDb>::Db>,
            {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {VERSION_COLUMNS} FROM template_versions v WHERE v.kind = $1 AND v.template_name = $2 AND v.major = $3 AND v.minor = $4"
                ));
                let row = sqlx::query(sql)
                    .bind(kind.as_str())
                    .bind(name)
                    .bind(i64::from(version.major))
                    .bind(i64::from(version.minor))
                    .fetch_optional(exec)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("{kind} template {name} version {version}")))?;
                Self::version_from_row(&row)
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn create_rollout(&self, r: &NewRollout) -> Result<RolloutRecord> {
                self.db_create_rollout(r).await
            }
            async fn get_rollout(&self, id: &str) -> Result<RolloutRecord> {
                self.db_get_rollout(id).await
            }
            async fn list_rollouts(&self, limit: i64) -> Result<Vec<RolloutRecord>> {
                self.db_list_rollouts(limit).await
            }
            async fn rollout_items(&self, id: &str, selector: ItemSelector, limit: i64) -> Result<Vec<RolloutItemRecord>> {
                self.db_rollout_items(id, selector, limit).await
            }
            async fn rollout_counts(&self, id: &str) -> Result<RolloutCounts> {
                self.db_rollout_counts(id).await
            }
            async fn claim_rollout(&self, worker: &str, lease_ms: i64) -> Result<Option<RolloutRecord>> {
                self.db_claim_rollout(worker, lease_ms).await
            }
            async fn renew_rollout(&self, id: &str, worker: &str, lease_ms: i64) -> Result<Option<RolloutRecord>> {
                self.db_renew_rollout(id, worker, lease_ms).await
            }
            async fn release_rollout(&self, id: &str, worker: &str) -> Result<()> {
                self.db_release_rollout(id, worker).await
            }
            async fn change_rollout(&self, id: &str, change: &RolloutChange) -> Result<RolloutRecord> {
                self.db_change_rollout(id, change).await
            }
            async fn skip_rollout_item(&self, id: &str, seq: u32, reason: &str, rollback: bool) -> Result<()> {
                self.db_skip_rollout_item(id, seq, reason, rollback).await
            }
            async fn set_instance_client_token(&self, service: &str, name: &str, token: &str) -> Result<()> {
                self.db_set_instance_client_token(service, name, token).await
            }
            async fn template_rollout_policy(&self, kind: TemplateKind, name: &str) -> Result<Option<(String, bool)>> {
                self.db_template_rollout_policy(kind, name).await
            }
            async fn set_template_rollout_policy(&self, kind: TemplateKind, name: &str, policy: Option<(&str, bool)>) -> Result<()> {
                self.db_set_template_rollout_policy(kind, name, policy).await
            }
            async fn enqueue_rollout_deployment(&self, d: &NewDeployment, status: DeploymentStatus, link: &RolloutLink) -> Result<DeploymentRecord> {
                self.db_enqueue_rollout_deployment(d, status, link).await
            }
            async fn enqueue_rollout_deployments(&self, starts: &[RolloutStart]) -> Vec<Result<DeploymentRecord>> {
                self.db_enqueue_rollout_deployments(starts).await
            }

            fn backend(&self) -> Backend {
                $backend
            }

            async fn create_template(&self, t: &NewTemplate) -> Result<TemplateRecord> {
                let now = now_millis();
                sqlx::query(
                    "INSERT INTO templates (kind, name, display_name, description, provisioning, encryption_key, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                )
                .bind(t.kind.as_str())
                .bind(&t.name)
                .bind(&t.display_name)
                .bind(&t.description)
                .bind(t.provisioning.as_str())
                .bind(&t.encryption_key)
                .bind(now)
                .execute(&mut *self.write_conn().await?)
                .await
                .map_err(|e| map_unique(e, || format!("{} template {} already exists", t.kind, t.name)))?;
                Self::event(&mut *self.write_conn().await?, &template_event_type(t.kind, false), &t.name, None, "CREATED", None, None, now).await?;
                self.get_template(t.kind, &t.name).await
            }

            async fn get_template(&self, kind: TemplateKind, name: &str) -> Result<TemplateRecord> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {TEMPLATE_COLUMNS} FROM templates t WHERE t.kind = $1 AND t.name = $2"));
                let row = sqlx::query(sql)
                    .bind(kind.as_str())
                    .bind(name)
                    .fetch_optional(&mut *self.read_conn().await?)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("{kind} template {name}")))?;
                Self::template_from_row(&row)
            }

            async fn list_templates(&self, kind: Option<TemplateKind>) -> Result<Vec<TemplateRecord>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {TEMPLATE_COLUMNS} FROM templates t WHERE ($1 = '' OR t.kind = $1) ORDER BY t.kind, t.name"
                ));
                let rows = sqlx::query(sql).bind(kind.map_or("", TemplateKind::as_str)).fetch_all(&mut *self.read_conn().await?).await?;
                rows.iter().map(Self::template_from_row).collect()
            }

            async fn update_template(&self, kind: TemplateKind, name: &str, patch: &TemplatePatch) -> Result<TemplateRecord> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                let current = sqlx::query("SELECT display_name, description FROM templates WHERE kind = $1 AND name = $2")
                    .bind(kind.as_str())
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("{kind} template {name}")))?;
                let display_name: Option<String> = match &patch.display_name {
                    Some(v) => v.clone(),
                    None => current.try_get("display_name")?,
                };
                let description: Option<String> = match &patch.description {
                    Some(v) => v.clone(),
                    None => current.try_get("description")?,
                };
                sqlx::query("UPDATE templates SET display_name = $1, description = $2, updated_at = $3 WHERE kind = $4 AND name = $5")
                    .bind(display_name)
                    .bind(description)
                    .bind(now_millis())
                    .bind(kind.as_str())
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                drop(conn);
                self.get_template(kind, name).await
            }

            async fn set_recommended_pin(&self, kind: TemplateKind, name: &str, version: Option<VersionNumber>) -> Result<TemplateRecord> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                if let Some(v) = version {
                    // Checked in the transaction that pins it: only a published version.
                    let status: Option<String> =
                        sqlx::query("SELECT status FROM template_versions WHERE kind = $1 AND template_name = $2 AND major = $3 AND minor = $4")
                            .bind(kind.as_str())
                            .bind(name)
                            .bind(i64::from(v.major))
                            .bind(i64::from(v.minor))
                            .fetch_optional(&mut *tx)
                            .await?
                            .map(|r| r.try_get("status"))
                            .transpose()?;
                    match status.as_deref() {
                        None => return Err(StoreError::NotFound(format!("{kind} template {name} version {v}"))),
                        Some("PUBLISHED") => {}
                        Some(other) => {
                            return Err(StoreError::Conflict(format!(
                                "{kind} template {name} version {v} is {other}; only a PUBLISHED version can be the recommended one"
                            )));
                        }
                    }
                }
                let done = sqlx::query("UPDATE templates SET pinned_major = $1, pinned_minor = $2, updated_at = $3 WHERE kind = $4 AND name = $5")
                    .bind(version.map(|v| i64::from(v.major)))
                    .bind(version.map(|v| i64::from(v.minor)))
                    .bind(now_millis())
                    .bind(kind.as_str())
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("{kind} template {name}")));
                }
                tx.commit().await?;
                drop(conn);
                self.get_template(kind, name).await
            }

            async fn delete_template(&self, kind: TemplateKind, name: &str) -> Result<()> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                let versions = sqlx::query("SELECT major, minor FROM template_versions WHERE kind = $1 AND template_name = $2 ORDER BY major, minor")
                    .bind(kind.as_str())
                    .bind(name)
                    .fetch_all(&mut *tx)
                    .await?;
                if !versions.is_empty() {
                    let list = versions
                        .iter()
                        .map(|r| Ok(VersionNumber::new(version_part(r.try_get("major")?)?, version_part(r.try_get("minor")?)?).to_string()))
                        .collect::<Result<Vec<_>>>()?;
                    return Err(StoreError::Conflict(format!(
                        "{kind} template {name} still has versions {}; delete them first",
                        list.join(", ")
                    )));
                }
                let done = sqlx::query("DELETE FROM templates WHERE kind = $1 AND name = $2")
                    .bind(kind.as_str())
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("{kind} template {name}")));
                }
                Self::event(&mut *tx, &template_event_type(kind, false), name, None, "DELETED", None, None, now_millis()).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn create_version(&self, v: &NewVersion) -> Result<VersionRecord> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                // Read the clock once the write lock is held, so timestamps follow commit order.
                let now = now_millis();
                let exists = sqlx::query("SELECT 1 AS one FROM templates WHERE kind = $1 AND name = $2")
                    .bind(v.kind.as_str())
                    .bind(&v.template_name)
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    return Err(StoreError::NotFound(format!("{} template {}", v.kind, v.template_name)));
                }
                sqlx::query(
                    "INSERT INTO template_versions (kind, template_name, major, minor, status, status_message, description, schema_text,
                         bundle, bundle_digest, compatible_envs, component_sources, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
                )
                .bind(v.kind.as_str())
                .bind(&v.template_name)
                .bind(i64::from(v.version.major))
                .bind(i64::from(v.version.minor))
                .bind(v.status.as_str())
                .bind(&v.status_message)
                .bind(&v.description)
                .bind(&v.schema)
                .bind(&v.bundle)
                .bind(&v.bundle_digest)
                .bind(encode_compat(&v.compatible_environments))
                .bind(encode_sources(&v.supported_component_sources))
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, || format!("{} template {} version {} already exists", v.kind, v.template_name, v.version)))?;
                let key = format!("{}:{}", v.template_name, v.version);
                Self::event(&mut *tx, &template_event_type(v.kind, true), &key, None, v.status.as_str(), None, v.status_message.as_deref(), now).await?;
                let rec = Self::fetch_version(&mut *tx, v.kind, &v.template_name, v.version).await?;
                tx.commit().await?;
                Ok(rec)
            }

            async fn get_version(&self, kind: TemplateKind, name: &str, version: VersionNumber) -> Result<VersionRecord> {
                Self::fetch_version(&mut *self.read_conn().await?, kind, name, version).await
            }

            async fn get_version_bundle(&self, kind: TemplateKind, name: &str, version: VersionNumber) -> Result<Vec<u8>> {
                let row = sqlx::query("SELECT bundle FROM template_versions WHERE kind = $1 AND template_name = $2 AND major = $3 AND minor = $4")
                    .bind(kind.as_str())
                    .bind(name)
                    .bind(i64::from(version.major))
                    .bind(i64::from(version.minor))
                    .fetch_optional(&mut *self.read_conn().await?)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("{kind} template {name} version {version}")))?;
                Ok(row.try_get("bundle")?)
            }

            async fn list_versions(&self, kind: TemplateKind, name: &str, major: Option<u32>) -> Result<Vec<VersionRecord>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {VERSION_COLUMNS} FROM template_versions v
                      WHERE v.kind = $1 AND v.template_name = $2 AND ($3 < 0 OR v.major = $3)
                      ORDER BY v.major, v.minor"
                ));
                let rows = sqlx::query(sql)
                    .bind(kind.as_str())
                    .bind(name)
                    .bind(major.map_or(-1_i64, i64::from))
                    .fetch_all(&mut *self.read_conn().await?)
                    .await?;
                rows.iter().map(Self::version_from_row).collect()
            }

            async fn set_version_status(&self, kind: TemplateKind, name: &str, version: VersionNumber, change: &StatusChange) -> Result<VersionRecord> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                let current = Self::fetch_version(&mut *tx, kind, name, version).await?;
                if !change.expected.contains(&current.status) {
                    return Err(StoreError::Conflict(format!(
                        "{kind} template {name} version {version} is {} (expected {}); it was changed concurrently or is in the wrong state",
                        current.status,
                        change.expected.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" or ")
                    )));
                }
                sqlx::query(
                    "UPDATE template_versions SET status = $1, status_message = $2, schema_text = $3, compatible_envs = $4,
                            component_sources = $5, updated_at = $6
                      WHERE kind = $7 AND template_name = $8 AND major = $9 AND minor = $10 AND status = $11",
                )
                .bind(change.status.as_str())
                .bind(&change.status_message)
                .bind(change.schema.as_deref().unwrap_or(&current.schema))
                .bind(encode_compat(change.compatible_environments.as_deref().unwrap_or(&current.compatible_environments)))
                .bind(encode_sources(change.supported_component_sources.as_deref().unwrap_or(&current.supported_component_sources)))
                .bind(now_millis())
                .bind(kind.as_str())
                .bind(name)
                .bind(i64::from(version.major))
                .bind(i64::from(version.minor))
                .bind(current.status.as_str())
                .execute(&mut *tx)
                .await?;
                let key = format!("{name}:{version}");
                let (previous, status) = (current.status.as_str(), change.status.as_str());
                Self::event(&mut *tx, &template_event_type(kind, true), &key, Some(previous), status, None, change.status_message.as_deref(), now_millis()).await?;
                let rec = Self::fetch_version(&mut *tx, kind, name, version).await?;
                tx.commit().await?;
                Ok(rec)
            }

            async fn set_version_blocked(&self, kind: TemplateKind, name: &str, version: VersionNumber, reason: Option<&str>) -> Result<VersionRecord> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                let current = Self::fetch_version(&mut *tx, kind, name, version).await?;
                // Blocking keeps the first reason; each change is recorded once.
                if current.blocked.is_some() == reason.is_some() {
                    return Ok(current);
                }
                let now = now_millis();
                sqlx::query(
                    "UPDATE template_versions SET blocked_reason = $1, updated_at = $2
                      WHERE kind = $3 AND template_name = $4 AND major = $5 AND minor = $6",
                )
                .bind(reason)
                .bind(now)
                .bind(kind.as_str())
                .bind(name)
                .bind(i64::from(version.major))
                .bind(i64::from(version.minor))
                .execute(&mut *tx)
                .await?;
                let (previous, status) = if reason.is_some() { ("UNBLOCKED", "BLOCKED") } else { ("BLOCKED", "UNBLOCKED") };
                Self::event(&mut *tx, &template_event_type(kind, true), &format!("{name}:{version}"), Some(previous), status, None, reason, now).await?;
                let rec = Self::fetch_version(&mut *tx, kind, name, version).await?;
                tx.commit().await?;
                Ok(rec)
            }

            async fn update_version_description(&self, kind: TemplateKind, name: &str, version: VersionNumber, description: Option<&str>) -> Result<VersionRecord> {
                let done = sqlx::query("UPDATE template_versions SET description = $1, updated_at = $2 WHERE kind = $3 AND template_name = $4 AND major = $5 AND minor = $6")
                    .bind(description)
                    .bind(now_millis())
                    .bind(kind.as_str())
                    .bind(name)
                    .bind(i64::from(version.major))
                    .bind(i64::from(version.minor))
                    .execute(&mut *self.write_conn().await?)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("{kind} template {name} version {version}")));
                }
                self.get_version(kind, name, version).await
            }

            async fn delete_version(&self, kind: TemplateKind, name: &str, version: VersionNumber) -> Result<()> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                let users = Self::usage_in(&mut *tx, kind, name, Some(version)).await?;
                if !users.is_empty() {
                    return Err(StoreError::InUse(users));
                }
                let done = sqlx::query("DELETE FROM template_versions WHERE kind = $1 AND template_name = $2 AND major = $3 AND minor = $4")
                    .bind(kind.as_str())
                    .bind(name)
                    .bind(i64::from(version.major))
                    .bind(i64::from(version.minor))
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("{kind} template {name} version {version}")));
                }
                let key = format!("{name}:{version}");
                Self::event(&mut *tx, &template_event_type(kind, true), &key, None, "DELETED", None, None, now_millis()).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn version_usage(&self, kind: TemplateKind, name: &str, version: Option<VersionNumber>) -> Result<Vec<UsageRef>> {
                Self::usage_in(&mut *self.read_conn().await?, kind, name, version).await
            }

            async fn create_environment(&self, env: &NewEnvironment, d: &NewDeployment) -> Result<EnvironmentRecord> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                // Read the clock once the write lock is held, so timestamps follow commit order.
                let now = now_millis();
                let row = sqlx::query(
                    "INSERT INTO environments (name, description, template_name, template_major, template_minor, spec, inputs, provisioning,
                         role_arn, codebuild_role_arn, component_role_arn, deployment_status, last_attempted_deployment_id,
                         last_deployment_attempted_at, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'IN_PROGRESS', $12, $13, $13, $13) RETURNING *",
                )
                .bind(&env.name)
                .bind(&env.description)
                .bind(&env.template_name)
                .bind(i64::from(env.version.major))
                .bind(i64::from(env.version.minor))
                .bind(&env.spec)
                .bind(&env.inputs)
                .bind(env.provisioning.as_str())
                .bind(&env.role_arn)
                .bind(&env.codebuild_role_arn)
                .bind(&env.component_role_arn)
                .bind(&d.id)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| map_unique(e, || format!("environment {} already exists", env.name)))?;
                let created = Self::env_from_row(&row)?;
                Self::insert_deployment(&mut *tx, d, DeploymentStatus::InProgress, now, None).await?;
                Self::event(&mut *tx, "ENVIRONMENT", &env.name, None, "IN_PROGRESS", Some(&d.id), None, now).await?;
                tx.commit().await?;
                Ok(created)
            }

            async fn get_environment(&self, name: &str) -> Result<EnvironmentRecord> {
                let row = sqlx::query("SELECT * FROM environments WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *self.read_conn().await?)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("environment {name}")))?;
                Self::env_from_row(&row)
            }

            async fn list_environments(&self) -> Result<Vec<EnvironmentRecord>> {
                let rows = sqlx::query("SELECT * FROM environments ORDER BY name").fetch_all(&mut *self.read_conn().await?).await?;
                rows.iter().map(Self::env_from_row).collect()
            }

            async fn set_environment_description(&self, name: &str, description: Option<&str>) -> Result<EnvironmentRecord> {
                let done = sqlx::query("UPDATE environments SET description = $1, updated_at = $2 WHERE name = $3")
                    .bind(description)
                    .bind(now_millis())
                    .bind(name)
                    .execute(&mut *self.write_conn().await?)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("environment {name}")));
                }
                self.get_environment(name).await
            }

            async fn create_service(&self, s: &NewService, instances: &[NewInstance], pipeline: Option<&NewPipeline>, deployments: &[NewDeployment]) -> Result<ServiceRecord> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                // Read the clock once the write lock is held, so timestamps follow commit order.
                let now = now_millis();
                sqlx::query(
                    "INSERT INTO services (name, description, template_name, spec, status, repository_connection_arn, repository_id, branch_name, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, 'CREATE_IN_PROGRESS', $5, $6, $7, $8, $8)",
                )
                .bind(&s.name)
                .bind(&s.description)
                .bind(&s.template_name)
                .bind(&s.spec)
                .bind(&s.repository_connection_arn)
                .bind(&s.repository_id)
                .bind(&s.branch_name)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, || format!("service {} already exists", s.name)))?;
                Self::event(&mut *tx, "SERVICE", &s.name, None, "CREATE_IN_PROGRESS", None, None, now).await?;
                Self::insert_instances(&mut tx, instances, now).await?;
                if let Some(p) = pipeline {
                    sqlx::query(
                        "INSERT INTO service_pipelines (service_name, template_name, template_major, template_minor, spec, inputs, deployment_status, created_at, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, 'IN_PROGRESS', $7, $7)",
                    )
                    .bind(&p.service_name)
                    .bind(&p.template_name)
                    .bind(i64::from(p.version.major))
                    .bind(i64::from(p.version.minor))
                    .bind(&p.spec)
                    .bind(&p.inputs)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    Self::event(&mut *tx, "SERVICE_PIPELINE", &p.service_name, None, "IN_PROGRESS", None, None, now).await?;
                }
                for d in deployments {
                    Self::insert_deployment(&mut *tx, d, DeploymentStatus::InProgress, now, None).await?;
                    Self::mark_attempt(&mut tx, &d.target, &d.id, DeploymentStatus::InProgress, now).await?;
                }
                tx.commit().await?;
                drop(conn);
                self.get_service(&s.name).await
            }

            async fn get_service(&self, name: &str) -> Result<ServiceRecord> {
                let row = sqlx::query("SELECT * FROM services WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *self.read_conn().await?)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("service {name}")))?;
                Self::service_from_row(&row)
            }

            async fn list_services(&self) -> Result<Vec<ServiceRecord>> {
                let rows = sqlx::query("SELECT * FROM services ORDER BY name").fetch_all(&mut *self.read_conn().await?).await?;
                rows.iter().map(Self::service_from_row).collect()
            }

            async fn set_service_status(&self, name: &str, status: ServiceStatus, message: Option<&str>) -> Result<ServiceRecord> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                // Read the clock once the write lock is held, so timestamps follow commit order.
                let now = now_millis();
                let previous: String = sqlx::query("SELECT status FROM services WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("service {name}")))?
                    .try_get("status")?;
                sqlx::query("UPDATE services SET status = $1, status_message = $2, updated_at = $3 WHERE name = $4")
                    .bind(status.as_str())
                    .bind(message)
                    .bind(now)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                if previous != status.as_str() {
                    Self::event(&mut *tx, "SERVICE", name, Some(&previous), status.as_str(), None, message, now).await?;
                }
                tx.commit().await?;
                drop(conn);
                self.get_service(name).await
            }

            async fn set_service_description(&self, name: &str, description: Option<&str>) -> Result<ServiceRecord> {
                let done = sqlx::query("UPDATE services SET description = $1, updated_at = $2 WHERE name = $3")
                    .bind(description)
                    .bind(now_millis())
                    .bind(name)
                    .execute(&mut *self.write_conn().await?)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("service {name}")));
                }
                self.get_service(name).await
            }

            async fn add_instances(&self, service: &str, spec: &str, instances: &[NewInstance], deployments: &[NewDeployment]) -> Result<()> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                // Read the clock once the write lock is held, so timestamps follow commit order.
                let now = now_millis();
                let done = sqlx::query("UPDATE services SET spec = $1, updated_at = $2 WHERE name = $3")
                    .bind(spec)
                    .bind(now)
                    .bind(service)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("service {service}")));
                }
                Self::insert_instances(&mut tx, instances, now).await?;
                for d in deployments {
                    Self::insert_deployment(&mut *tx, d, DeploymentStatus::InProgress, now, None).await?;
                    Self::mark_attempt(&mut tx, &d.target, &d.id, DeploymentStatus::InProgress, now).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn delete_service(&self, name: &str) -> Result<()> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                let left = sqlx::query("SELECT COUNT(*) AS n FROM service_instances WHERE service_name = $1")
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get::<i64, _>("n")?;
                let pipe = sqlx::query("SELECT COUNT(*) AS n FROM service_pipelines WHERE service_name = $1")
                    .bind(name)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get::<i64, _>("n")?;
                if left + pipe > 0 {
                    return Err(StoreError::Conflict(format!("service {name} still has {left} instance(s) and {pipe} pipeline")));
                }
                let done = sqlx::query("DELETE FROM services WHERE name = $1").bind(name).execute(&mut *tx).await?;
                if done.rows_affected() > 0 {
                    Self::event(&mut *tx, "SERVICE", name, None, "DELETED", None, None, now_millis()).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn hold_undeployed_pipeline(&self, service: &str, message: &str) -> Result<bool> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                let now = now_millis();
                let previous: Option<String> = sqlx::query(
                    "UPDATE service_pipelines SET deployment_status = 'CANCELLED', deployment_status_message = $1, updated_at = $2
                      WHERE service_name = $3 AND last_attempted_deployment_id IS NULL AND deployment_status = 'IN_PROGRESS'
                      RETURNING 'IN_PROGRESS' AS previous",
                )
                .bind(message)
                .bind(now)
                .bind(service)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("previous"))
                .transpose()?;
                let Some(previous) = previous else { return Ok(false) };
                Self::event(&mut *tx, "SERVICE_PIPELINE", service, Some(&previous), "CANCELLED", None, Some(message), now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn remove_undeployed_pipeline(&self, service: &str) -> Result<bool> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                let now = now_millis();
                let done = sqlx::query("DELETE FROM service_pipelines WHERE service_name = $1 AND last_attempted_deployment_id IS NULL")
                    .bind(service)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                Self::event(&mut *tx, "SERVICE_PIPELINE", service, None, "DELETED", None, None, now).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn get_instance(&self, service: &str, name: &str) -> Result<InstanceRecord> {
                let row = sqlx::query("SELECT * FROM service_instances WHERE service_name = $1 AND name = $2")
                    .bind(service)
                    .bind(name)
                    .fetch_optional(&mut *self.read_conn().await?)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("service instance {service}/{name}")))?;
                Self::instance_from_row(&row)
            }

            async fn get_instances(&self, keys: &[(String, String)]) -> Result<Vec<InstanceRecord>> {
                let mut out = Vec::with_capacity(keys.len());
                for chunk in keys.chunks(50) {
                    // An OR of key lookups: both databases use the primary key for each (a row-value
                    // IN list made SQLite scan the table).
                    let pairs: Vec<String> = (0..chunk.len()).map(|i| format!("(service_name = ${} AND name = ${})", 2 * i + 1, 2 * i + 2)).collect();
                    let sql = format!("SELECT * FROM service_instances WHERE {}", pairs.join(" OR "));
                    let args: Vec<Arg> = chunk.iter().flat_map(|(s, i)| [Arg::from(s), Arg::from(i)]).collect();
                    let rows = bound_query(sql, &args).fetch_all(&mut *self.read_conn().await?).await?;
                    for row in &rows {
                        out.push(Self::instance_from_row(row)?);
                    }
                }
                Ok(out)
            }

            async fn list_instances(&self, service: Option<&str>, environment: Option<&str>) -> Result<Vec<InstanceRecord>> {
                let rows = sqlx::query(
                    "SELECT * FROM service_instances WHERE ($1 = '' OR service_name = $1) AND ($2 = '' OR environment_name = $2)
                     ORDER BY service_name, name",
                )
                .bind(service.unwrap_or(""))
                .bind(environment.unwrap_or(""))
                .fetch_all(&mut *self.read_conn().await?)
                .await?;
                rows.iter().map(Self::instance_from_row).collect()
            }

            async fn query_instances(&self, q: &InstanceQuery) -> Result<Vec<InstanceRecord>> {
                let (wh, binds) = Self::instance_conditions(q);
                let sql = format!(
                    "SELECT * FROM service_instances {wh} ORDER BY service_name, name LIMIT {} OFFSET {}",
                    q.limit.max(1),
                    q.offset.max(0)
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for b in binds {
                    query = query.bind(b);
                }
                let rows = query.fetch_all(&mut *self.read_conn().await?).await?;
                rows.iter().map(Self::instance_from_row).collect()
            }

            async fn count_instances(&self, q: &InstanceQuery) -> Result<i64> {
                let (wh, binds) = Self::instance_conditions(&InstanceQuery { after: None, ..q.clone() });
                let mut query = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) AS n FROM service_instances {wh}")));
                for b in binds {
                    query = query.bind(b);
                }
                Ok(query.fetch_one(&mut *self.read_conn().await?).await?.try_get("n")?)
            }

            async fn version_counts(&self) -> Result<Vec<VersionCount>> {
                let rows = sqlx::query(
                    "SELECT 'environment' AS resource, template_name, template_major, template_minor, COUNT(*) AS n FROM environments
                       GROUP BY template_name, template_major, template_minor
                     UNION ALL SELECT 'service_instance', template_name, template_major, template_minor, COUNT(*) FROM service_instances
                       GROUP BY template_name, template_major, template_minor
                     UNION ALL SELECT 'pipeline', template_name, template_major, template_minor, COUNT(*) FROM service_pipelines
                       GROUP BY template_name, template_major, template_minor",
                )
                .fetch_all(&mut *self.read_conn().await?)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(VersionCount {
                            resource: r.try_get("resource")?,
                            template: r.try_get("template_name")?,
                            version: VersionNumber::new(version_part(r.try_get("template_major")?)?, version_part(r.try_get("template_minor")?)?),
                            count: r.try_get("n")?,
                        })
                    })
                    .collect()
            }

            async fn get_pipeline(&self, service: &str) -> Result<PipelineRecord> {
                let row = sqlx::query("SELECT * FROM service_pipelines WHERE service_name = $1")
                    .bind(service)
                    .fetch_optional(&mut *self.read_conn().await?)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("pipeline of service {service}")))?;
                Self::pipeline_from_row(&row)
            }

            async fn list_pipelines(&self) -> Result<Vec<PipelineRecord>> {
                let rows = sqlx::query("SELECT * FROM service_pipelines ORDER BY service_name").fetch_all(&mut *self.read_conn().await?).await?;
                rows.iter().map(Self::pipeline_from_row).collect()
            }

            async fn create_component(&self, c: &NewComponent, d: &NewDeployment) -> Result<ComponentRecord> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                // Read the clock once the write lock is held, so timestamps follow commit order.
                let now = now_millis();
                sqlx::query(
                    "INSERT INTO components (name, description, environment_name, service_name, service_instance_name, service_spec,
                         template_file, manifest, last_client_request_token, deployment_status, last_attempted_deployment_id,
                         last_deployment_attempted_at, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'IN_PROGRESS', $10, $11, $11, $11)",
                )
                .bind(&c.name)
                .bind(&c.description)
                .bind(&c.environment_name)
                .bind(&c.service_name)
                .bind(&c.service_instance_name)
                .bind(&c.service_spec)
                .bind(&c.template_file)
                .bind(&c.manifest)
                .bind(&c.client_token)
                .bind(&d.id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, || component_conflict(c)))?;
                Self::insert_deployment(&mut *tx, d, DeploymentStatus::InProgress, now, None).await?;
                Self::event(&mut *tx, "COMPONENT", &c.name, None, "IN_PROGRESS", Some(&d.id), None, now).await?;
                tx.commit().await?;
                drop(conn);
                self.get_component(&c.name).await
            }

            async fn get_component(&self, name: &str) -> Result<ComponentRecord> {
                let row = sqlx::query("SELECT * FROM components WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&mut *self.read_conn().await?)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("component {name}")))?;
                Self::component_from_row(&row)
            }

            async fn list_components(&self, f: &ComponentFilter) -> Result<Vec<ComponentRecord>> {
                let rows = sqlx::query(
                    "SELECT * FROM components WHERE ($1 = '' OR environment_name = $1) AND ($2 = '' OR service_name = $2)
                       AND ($3 = '' OR service_instance_name = $3) ORDER BY name",
                )
                .bind(f.environment_name.as_deref().unwrap_or(""))
                .bind(f.service_name.as_deref().unwrap_or(""))
                .bind(f.service_instance_name.as_deref().unwrap_or(""))
                .fetch_all(&mut *self.read_conn().await?)
                .await?;
                rows.iter().map(Self::component_from_row).collect()
            }

            async fn update_component(&self, c: &NewComponent, d: Option<&NewDeployment>) -> Result<ComponentRecord> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                // Read the clock once the write lock is held, so timestamps follow commit order.
                let now = now_millis();
                let done = sqlx::query(
                    "UPDATE components SET description = $1, service_name = $2, service_instance_name = $3, service_spec = $4,
                            template_file = $5, manifest = $6, last_client_request_token = COALESCE($7, last_client_request_token),
                            updated_at = $8
                      WHERE name = $9",
                )
                .bind(&c.description)
                .bind(&c.service_name)
                .bind(&c.service_instance_name)
                .bind(&c.service_spec)
                .bind(&c.template_file)
                .bind(&c.manifest)
                .bind(&c.client_token)
                .bind(now)
                .bind(&c.name)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_unique(e, || component_conflict(c)))?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("component {}", c.name)));
                }
                if let Some(d) = d {
                    Self::mark_attempt(&mut tx, &d.target, &d.id, DeploymentStatus::InProgress, now).await?;
                    Self::insert_deployment(&mut *tx, d, DeploymentStatus::InProgress, now, None).await?;
                }
                tx.commit().await?;
                drop(conn);
                self.get_component(&c.name).await
            }

            async fn enqueue_deployment(&self, d: &NewDeployment, status: DeploymentStatus) -> Result<DeploymentRecord> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                // Read the clock once the write lock is held, so timestamps follow commit order.
                let now = now_millis();
                if Self::mark_attempt(&mut tx, &d.target, &d.id, status, now).await? == 0 {
                    return Err(StoreError::NotFound(d.target.to_string()));
                }
                let dep = Self::insert_deployment(&mut *tx, d, status, now, None).await?;
                tx.commit().await?;
                Ok(dep)
            }

            async fn get_deployment(&self, id: &str) -> Result<DeploymentRecord> {
                let row = sqlx::query("SELECT * FROM deployments WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self.read_conn().await?)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("deployment {id}")))?;
                Self::deployment_from_row(&row)
            }

            async fn list_deployments(&self, f: &DeploymentFilter) -> Result<Vec<DeploymentRecord>> {
                let (tt, key) = f.target.as_ref().map_or((String::new(), String::new()), |t| (t.target_type().as_str().to_string(), t.key()));
                let rows = sqlx::query(
                    "SELECT * FROM deployments
                      WHERE ($1 = '' OR (target_type = $1 AND target_key = $2))
                        AND ($3 = '' OR environment_name = $3)
                        AND ($4 = '' OR service_name = $4)
                        AND ($5 = '' OR status = $5)
                      ORDER BY created_at DESC, id DESC LIMIT $6 OFFSET $7",
                )
                .bind(tt)
                .bind(key)
                .bind(f.environment_name.clone().unwrap_or_default())
                .bind(f.service_name.clone().unwrap_or_default())
                .bind(f.status.clone().unwrap_or_default())
                .bind(f.limit.unwrap_or(1000))
                .bind(f.offset.max(0))
                .fetch_all(&mut *self.read_conn().await?)
                .await?;
                rows.iter().map(Self::deployment_from_row).collect()
            }

            async fn claim_deployment(&self, worker: &str, lease_ms: i64) -> Result<Option<DeploymentRecord>> {
                let any = sqlx::query(concat!("SELECT 1 AS x FROM deployments WHERE ", claimable_deployments!(), " LIMIT 1"))
                .bind(now_millis())
                .fetch_optional(&mut *self.read_conn().await?)
                .await?;
                if any.is_none() {
                    return Ok(None);
                }
                self.claim_next_deployment(worker, lease_ms).await
            }

            async fn claim_next_deployment(&self, worker: &str, lease_ms: i64) -> Result<Option<DeploymentRecord>> {
                // One statement (see CLAIM_UPDATE_SQL). The clock is read once the connection is
                // held, so start times follow commit order.
                let mut conn = self.write_conn().await?;
                let now = now_millis();
                let row = sqlx::query(Self::CLAIM_UPDATE_SQL)
                    .bind(now)
                    .bind(worker)
                    .bind(now + lease_ms)
                    .fetch_optional(&mut *conn)
                    .await?;
                row.map(|r| Self::deployment_from_row(&r)).transpose()
            }

            async fn heartbeat(&self, id: &str, worker: &str, lease_ms: i64) -> Result<Heartbeat> {
                let now = now_millis();
                let done = sqlx::query(
                    "UPDATE deployments SET lease_expires_at = $1, updated_at = $2 WHERE id = $3 AND lease_owner = $4 AND job_state = 'RUNNING'",
                )
                .bind(now + lease_ms)
                .bind(now)
                .bind(id)
                .bind(worker)
                .execute(&mut *self.write_conn().await?)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(Heartbeat::Lost);
                }
                let cancel = sqlx::query("SELECT cancel_requested FROM deployments WHERE id = $1")
                    .bind(id)
                    .fetch_one(&mut *self.read_conn().await?)
                    .await?
                    .try_get::<i64, _>("cancel_requested")?;
                Ok(Heartbeat::Held { cancel_requested: cancel != 0 })
            }

            async fn ids_with_prefix(&self, table: IdTable, prefix: &str, limit: i64) -> Result<Vec<String>> {
                let table = match table {
                    IdTable::Deployments => "deployments",
                    IdTable::Rollouts => "rollouts",
                };
                let sql = format!("SELECT id FROM {table} WHERE substr(id, 1, length($1)) = $1 ORDER BY id LIMIT $2");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(prefix).bind(limit).fetch_all(&mut *self.read_conn().await?).await?;
                rows.iter().map(|r| Ok(r.try_get::<String, _>("id")?)).collect()
            }

            async fn release_deployment(&self, id: &str, worker: &str) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE deployments SET lease_expires_at = 0, updated_at = $1 WHERE id = $2 AND lease_owner = $3 AND job_state = 'RUNNING'",
                )
                .bind(now_millis())
                .bind(id)
                .bind(worker)
                .execute(&mut *self.write_conn().await?)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn request_cancel(&self, id: &str) -> Result<DeploymentRecord> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                let row = sqlx::query("SELECT * FROM deployments WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("deployment {id}")))?;
                let d = Self::deployment_from_row(&row)?;
                if d.job_state == JobState::Done {
                    return Err(StoreError::Conflict(format!("deployment {id} already finished as {}; only a running deployment can be cancelled", d.status)));
                }
                let now = now_millis();
                // A rollout's count does not change: running and cancelling are both `active`.
                // Guarded: a finish committed since the read must not be turned back into
                // CANCELLING (its resource would show a cancel no deployment can end).
                let changed = sqlx::query("UPDATE deployments SET cancel_requested = 1, status = 'CANCELLING', updated_at = $1 WHERE id = $2 AND job_state <> 'DONE'")
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if changed == 0 {
                    drop(tx);
                    drop(conn);
                    let d = self.get_deployment(id).await?;
                    return Err(StoreError::Conflict(format!("deployment {id} already finished as {}; only a running deployment can be cancelled", d.status)));
                }
                Self::target_event(&mut tx, &d.target, "CANCELLING", id, None, now).await?;
                let (table, wh, binds) = Self::target_row(&d.target);
                let sql = format!("UPDATE {table} SET deployment_status = 'CANCELLING', updated_at = ${} WHERE {wh}", binds.len() + 1);
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
                for b in binds {
                    q = q.bind(b);
                }
                q.bind(now).execute(&mut *tx).await?;
                tx.commit().await?;
                drop(conn);
                self.get_deployment(id).await
            }

            async fn append_log(&self, id: &str, stream: &str, lines: &[String]) -> Result<()> {
                if lines.is_empty() {
                    return Ok(());
                }
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                // Read the clock once the write lock is held, so timestamps follow commit order.
                let now = now_millis();
                Self::insert_log(&mut tx, id, lines.iter().map(|l| (stream, l.as_str())), now).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn read_log(&self, id: &str, after_seq: i64) -> Result<Vec<LogLine>> {
                let rows = sqlx::query("SELECT seq, at, stream, line FROM deployment_logs WHERE deployment_id = $1 AND seq > $2 ORDER BY seq")
                    .bind(id)
                    .bind(after_seq)
                    .fetch_all(&mut *self.read_conn().await?)
                    .await?;
                rows.iter()
                    .map(|r| Ok(LogLine { seq: r.try_get("seq")?, at: r.try_get("at")?, stream: r.try_get("stream")?, line: r.try_get("line")? }))
                    .collect()
            }

            async fn finish_deployment(&self, id: &str, worker: &str, finish: &Finish) -> Result<DeploymentRecord> {
                let Some(row) = sqlx::query("SELECT * FROM deployments WHERE id = $1").bind(id).fetch_optional(&mut *self.read_conn().await?).await? else {
                    return Err(StoreError::NotFound(format!("deployment {id}")));
                };
                self.finish_claimed(&Self::deployment_from_row(&row)?, worker, finish).await
            }

            async fn finish_claimed(&self, d: &DeploymentRecord, worker: &str, finish: &Finish) -> Result<DeploymentRecord> {
                Ok(self.finish_then_claim(d, worker, finish, None).await?.deployment)
            }

            async fn finish_and_claim(&self, d: &DeploymentRecord, worker: &str, finish: &Finish, claim: Option<i64>) -> Result<Finished> {
                self.finish_then_claim(d, worker, finish, claim).await
            }

            async fn create_access_key(&self, k: &AccessKeyRecord) -> Result<()> {
                sqlx::query(
                    "INSERT INTO access_keys (id, secret_sealed, role, description, created_at, deployment_id, expires_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&k.id)
                .bind(&k.secret_sealed)
                .bind(k.role.as_str())
                .bind(&k.description)
                .bind(k.created_at)
                .bind(&k.deployment_id)
                .bind(k.expires_at)
                    .execute(&mut *self.write_conn().await?)
                    .await
                    .map_err(|e| map_unique(e, || format!("access key {} already exists", k.id)))?;
                Ok(())
            }

            async fn get_access_key(&self, id: &str) -> Result<AccessKeyRecord> {
                let row = sqlx::query("SELECT * FROM access_keys WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self.read_conn().await?)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("access key {id}")))?;
                Self::key_from_row(&row)
            }

            async fn list_access_keys(&self) -> Result<Vec<AccessKeyRecord>> {
                let rows = sqlx::query("SELECT * FROM access_keys ORDER BY created_at, id").fetch_all(&mut *self.read_conn().await?).await?;
                rows.iter().map(Self::key_from_row).collect()
            }

            async fn revoke_deployment_keys(&self, deployment_id: &str) -> Result<u64> {
                let done = sqlx::query("UPDATE access_keys SET revoked_at = $1 WHERE deployment_id = $2 AND revoked_at IS NULL")
                    .bind(now_millis())
                    .bind(deployment_id)
                    .execute(&mut *self.write_conn().await?)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn purge_deployment_keys(&self, before: i64) -> Result<u64> {
                let done = sqlx::query(
                    "DELETE FROM access_keys WHERE deployment_id IS NOT NULL
                       AND ((revoked_at IS NOT NULL AND revoked_at < $1) OR (expires_at IS NOT NULL AND expires_at < $1))",
                )
                .bind(before)
                .execute(&mut *self.write_conn().await?)
                .await?;
                Ok(done.rows_affected())
            }

            async fn revoke_access_key(&self, id: &str) -> Result<AccessKeyRecord> {
                let done = sqlx::query("UPDATE access_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                    .bind(now_millis())
                    .bind(id)
                    .execute(&mut *self.write_conn().await?)
                    .await?;
                let key = self.get_access_key(id).await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Conflict(format!("access key {id} is already revoked")));
                }
                Ok(key)
            }

            async fn delete_deployment(&self, id: &str) -> Result<DeploymentRecord> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                let row = sqlx::query("SELECT * FROM deployments WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("deployment {id}")))?;
                let d = Self::deployment_from_row(&row)?;
                if d.job_state != JobState::Done {
                    return Err(StoreError::Conflict(format!("deployment {id} is {}; only a finished deployment's record can be deleted", d.status)));
                }
                if let Some((rollout, _)) = Self::rollout_link(&row)? {
                    let status: String = sqlx::query("SELECT status FROM rollouts WHERE id = $1").bind(&rollout).fetch_one(&mut *tx).await?.try_get("status")?;
                    if !RolloutStatus::parse(&status).is_some_and(RolloutStatus::is_final) {
                        return Err(StoreError::Conflict(format!("deployment {id} belongs to rollout {rollout}, which is {status}; delete it once the rollout has ended")));
                    }
                }
                for sql in ["DELETE FROM deployment_logs WHERE deployment_id = $1", "DELETE FROM deployment_outputs WHERE deployment_id = $1", "DELETE FROM deployments WHERE id = $1"] {
                    sqlx::query(sql).bind(id).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(d)
            }

            async fn tags(&self, arn: &str) -> Result<Vec<(String, String)>> {
                let rows = sqlx::query("SELECT key, value FROM tags WHERE resource_arn = $1 ORDER BY key").bind(arn).fetch_all(&mut *self.read_conn().await?).await?;
                rows.iter().map(|r| Ok((r.try_get("key")?, r.try_get("value")?))).collect()
            }

            async fn tag(&self, arn: &str, tags: &[(String, String)], max: usize) -> Result<()> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                for (k, v) in tags {
                    sqlx::query("INSERT INTO tags (resource_arn, key, value) VALUES ($1, $2, $3) ON CONFLICT (resource_arn, key) DO UPDATE SET value = excluded.value")
                        .bind(arn)
                        .bind(k)
                        .bind(v)
                        .execute(&mut *tx)
                        .await?;
                }
                let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM tags WHERE resource_arn = $1").bind(arn).fetch_one(&mut *tx).await?.try_get("n")?;
                if n as usize > max {
                    return Err(StoreError::Conflict(format!("{arn} would have {n} tags; a resource holds at most {max}")));
                }
                tx.commit().await?;
                Ok(())
            }

            async fn untag(&self, arn: &str, keys: &[String]) -> Result<()> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                for k in keys {
                    sqlx::query("DELETE FROM tags WHERE resource_arn = $1 AND key = $2").bind(arn).bind(k).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn create_repository(&self, r: &RepositoryRecord) -> Result<()> {
                sqlx::query("INSERT INTO repositories (provider, name, connection_arn, encryption_key, created_at) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&r.provider)
                    .bind(&r.name)
                    .bind(&r.connection_arn)
                    .bind(&r.encryption_key)
                    .bind(r.created_at)
                    .execute(&mut *self.write_conn().await?)
                    .await
                    .map_err(|e| map_unique(e, || format!("repository {}:{} is already linked", r.provider, r.name)))?;
                Ok(())
            }

            async fn get_repository(&self, provider: &str, name: &str) -> Result<RepositoryRecord> {
                let r = sqlx::query("SELECT * FROM repositories WHERE provider = $1 AND name = $2")
                    .bind(provider)
                    .bind(name)
                    .fetch_optional(&mut *self.read_conn().await?)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("repository {provider}:{name}")))?;
                Self::repo_from_row(&r)
            }

            async fn list_repositories(&self) -> Result<Vec<RepositoryRecord>> {
                let rows = sqlx::query("SELECT * FROM repositories ORDER BY provider, name").fetch_all(&mut *self.read_conn().await?).await?;
                rows.iter().map(Self::repo_from_row).collect()
            }

            async fn delete_repository(&self, provider: &str, name: &str) -> Result<RepositoryRecord> {
                let r = self.get_repository(provider, name).await?;
                sqlx::query("DELETE FROM repositories WHERE provider = $1 AND name = $2").bind(provider).bind(name).execute(&mut *self.write_conn().await?).await?;
                Ok(r)
            }

            async fn status_counts(&self) -> Result<Vec<StatusCount>> {
                let rows = sqlx::query(
                    "SELECT 'environment' AS resource, deployment_status AS status, COUNT(*) AS n FROM environments GROUP BY deployment_status
                     UNION ALL SELECT 'service', status, COUNT(*) FROM services GROUP BY status
                     UNION ALL SELECT 'service_instance', deployment_status, COUNT(*) FROM service_instances GROUP BY deployment_status
                     UNION ALL SELECT 'pipeline', deployment_status, COUNT(*) FROM service_pipelines GROUP BY deployment_status
                     UNION ALL SELECT 'component', deployment_status, COUNT(*) FROM components GROUP BY deployment_status
                     UNION ALL SELECT 'deployment', status, COUNT(*) FROM deployments GROUP BY status",
                )
                .fetch_all(&mut *self.read_conn().await?)
                .await?;
                rows.iter()
                    .map(|r| Ok(StatusCount { resource: r.try_get("resource")?, status: r.try_get("status")?, count: r.try_get("n")? }))
                    .collect()
            }

            async fn list_events(&self, f: &EventFilter) -> Result<Vec<EventRecord>> {
                let rows = sqlx::query(
                    "SELECT * FROM events WHERE seq > $1 AND ($2 = '' OR resource_type = $2) AND ($3 = '' OR resource = $3)
                     ORDER BY seq LIMIT $4",
                )
                .bind(f.after)
                .bind(f.resource_type.as_deref().unwrap_or(""))
                .bind(f.resource.as_deref().unwrap_or(""))
                .bind(if f.limit > 0 { f.limit } else { 1000 })
                .fetch_all(&mut *self.read_conn().await?)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(EventRecord {
                            seq: r.try_get("seq")?,
                            at: r.try_get("at")?,
                            resource_type: r.try_get("resource_type")?,
                            resource: r.try_get("resource")?,
                            previous_status: r.try_get("previous_status")?,
                            status: r.try_get("status")?,
                            deployment_id: r.try_get("deployment_id")?,
                            message: r.try_get("message")?,
                        })
                    })
                    .collect()
            }

            async fn idempotent_reply(&self, caller: &str, operation: &str, token: &str, since: i64) -> Result<Option<IdempotentReply>> {
                let row = sqlx::query(
                    "SELECT request_hash, response, created_at FROM idempotency
                      WHERE caller = $1 AND operation = $2 AND token = $3 AND created_at >= $4",
                )
                .bind(caller)
                .bind(operation)
                .bind(token)
                .bind(since)
                .fetch_optional(&mut *self.read_conn().await?)
                .await?;
                row.map(|r| Ok(IdempotentReply { request_hash: r.try_get("request_hash")?, response: r.try_get("response")?, created_at: r.try_get("created_at")? }))
                    .transpose()
            }

            async fn save_idempotent_reply(&self, caller: &str, operation: &str, token: &str, reply: &IdempotentReply, since: i64) -> Result<()> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                sqlx::query("DELETE FROM idempotency WHERE created_at < $1").bind(since).execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO idempotency (caller, operation, token, request_hash, response, created_at) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (caller, operation, token) DO NOTHING",
                )
                .bind(caller)
                .bind(operation)
                .bind(token)
                .bind(&reply.request_hash)
                .bind(&reply.response)
                .bind(reply.created_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn report_outputs(&self, id: &str, outputs: &[(String, String)], log_line: &str) -> Result<DeploymentRecord> {
                let mut conn = self.write_conn().await?;
                let mut tx = conn.begin_with($begin_write).await?;
                // Read the clock once the write lock is held, so timestamps follow commit order.
                let now = now_millis();
                let row = sqlx::query("SELECT * FROM deployments WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("deployment {id}")))?;
                let d = Self::deployment_from_row(&row)?;
                if d.job_state == JobState::Done {
                    return Err(StoreError::Conflict(format!("deployment {id} already finished as {}", d.status)));
                }
                for (k, v) in outputs {
                    sqlx::query(
                        "INSERT INTO deployment_outputs (deployment_id, key, value) VALUES ($1, $2, $3)
                         ON CONFLICT (deployment_id, key) DO UPDATE SET value = excluded.value",
                    )
                    .bind(id)
                    .bind(k)
                    .bind(v)
                    .execute(&mut *tx)
                    .await?;
                }
                Self::insert_log(&mut tx, id, std::iter::once(("deuteron", log_line)), now).await?;
                tx.commit().await?;
                Ok(d)
            }

            async fn reported_outputs(&self, id: &str) -> Result<Vec<(String, String)>> {
                let rows = sqlx::query("SELECT key, value FROM deployment_outputs WHERE deployment_id = $1 ORDER BY key")
                    .bind(id)
                    .fetch_all(&mut *self.read_conn().await?)
                    .await?;
                rows.iter().map(|r| Ok((r.try_get("key")?, r.try_get("value")?))).collect()
            }

            async fn provisioned_resources(&self, target: &Target) -> Result<Vec<ProvisionedResource>> {
                let rows = sqlx::query("SELECT name, identifier, engine FROM provisioned_resources WHERE target_type = $1 AND target_key = $2 ORDER BY name, identifier")
                    .bind(target.target_type().as_str())
                    .bind(target.key())
                    .fetch_all(&mut *self.read_conn().await?)
                    .await?;
                rows.iter().map(|r| Ok(ProvisionedResource { name: r.try_get("name")?, identifier: r.try_get("identifier")?, engine: r.try_get("engine")? })).collect()
            }

            async fn instance_context(&self, service: &str, instance: &str) -> Result<InstanceContext> {
                let row = sqlx::query(instance_context_sql($backend))
                    .bind(service)
                    .bind(instance)
                    .bind(TargetType::Environment.as_str())
                    .bind(TargetType::Component.as_str())
                    .fetch_optional(&mut *self.read_conn().await?)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("service instance {service}/{instance}")))?;
                let component: Option<String> = row.try_get("component")?;
                Ok(InstanceContext {
                    environment_name: row.try_get("environment_name")?,
                    environment_outputs: output_pairs(row.try_get("environment_outputs")?)?,
                    branch_name: row.try_get("branch_name")?,
                    repository_connection_arn: row.try_get("repository_connection_arn")?,
                    repository_id: row.try_get("repository_id")?,
                    has_pipeline: row.try_get::<Option<String>, _>("pipeline")?.is_some(),
                    component: match component {
                        Some(name) => Some((name, output_pairs(row.try_get("component_outputs")?)?)),
                        None => None,
                    },
                })
            }

            async fn outputs(&self, target: &Target) -> Result<Vec<(String, String)>> {
                let rows = sqlx::query("SELECT key, value FROM resource_outputs WHERE target_type = $1 AND target_key = $2 ORDER BY key")
                    .bind(target.target_type().as_str())
                    .bind(target.key())
                    .fetch_all(&mut *self.read_conn().await?)
                    .await?;
                rows.iter().map(|r| Ok((r.try_get("key")?, r.try_get("value")?))).collect()
            }
        }
    };
}

/// [`Store::instance_context`] as one query: the instance, its service, whether the service has a
/// pipeline, the attached component (the first by name, as `list_components` orders them) and
/// both outputs, aggregated as JSON arrays of `[key, value]` ordered by key. `$1` service, `$2`
/// instance, `$3`/`$4` the environment and component target types.
fn instance_context_sql(backend: Backend) -> &'static str {
    // One text per backend; they differ only in how outputs are aggregated.
    macro_rules! sql {
        ($agg:literal) => {
            concat!(
                "SELECT i.environment_name,
                    (SELECT ",
                $agg,
                " FROM resource_outputs o
                      WHERE o.target_type = $3 AND o.target_key = i.environment_name) AS environment_outputs,
                    s.branch_name, s.repository_connection_arn, s.repository_id, p.service_name AS pipeline, c.name AS component,
                    (SELECT ",
                $agg,
                " FROM resource_outputs o
                      WHERE o.target_type = $4 AND o.target_key = c.name) AS component_outputs
             FROM service_instances i
             JOIN services s ON s.name = i.service_name
             LEFT JOIN service_pipelines p ON p.service_name = i.service_name
             LEFT JOIN components c ON c.service_name = i.service_name AND c.service_instance_name = i.name
             WHERE i.service_name = $1 AND i.name = $2
             ORDER BY c.name LIMIT 1"
            )
        };
    }
    match backend {
        Backend::Sqlite => sql!("json_group_array(json_array(o.key, o.value) ORDER BY o.key)"),
        Backend::Postgres => sql!("json_agg(json_build_array(o.key, o.value) ORDER BY o.key)::text"),
    }
}

/// Outputs aggregated as a JSON array of `[key, value]` pairs (NULL: none).
fn output_pairs(json: Option<String>) -> Result<Vec<(String, String)>> {
    match json {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("aggregated outputs: {e}"))),
    }
}

/// Names the sqlx database type of a store, for the generated code's bounds.
pub trait HasDb {
    type Db: sqlx::Database;
}

impl HasDb for SqliteStore {
    type Db = sqlx::Sqlite;
}

impl HasDb for PostgresStore {
    type Db = sqlx::Postgres;
}

impl SqliteStore {
    /// sqlx runs SQLite statements on the connection's own thread; a batch of statements in one
    /// query text costs one hand-off instead of one per statement.
    const ONE_CALL_BATCHES: bool = true;
}

impl PostgresStore {
    /// The extended protocol prepares one statement per query: batches run statement by statement.
    const ONE_CALL_BATCHES: bool = false;
}

resource_helpers!(SqliteStore, "");
resource_helpers!(PostgresStore, "FOR UPDATE SKIP LOCKED");
rollout_helpers!(SqliteStore, "");
rollout_helpers!(PostgresStore, "FOR UPDATE SKIP LOCKED");
rollout_methods!(SqliteStore, "BEGIN IMMEDIATE");
rollout_methods!(PostgresStore, "BEGIN");
store_impl!(SqliteStore, Backend::Sqlite, "BEGIN IMMEDIATE");
// Row locks serialise writers on PostgreSQL; a plain transaction is enough there.
store_impl!(PostgresStore, Backend::Postgres, "BEGIN");

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(super::redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact("postgres://h/db"), "postgres://h/db");
    }
}
