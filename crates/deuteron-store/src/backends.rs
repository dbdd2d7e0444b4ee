//! The SQLite and PostgreSQL implementations of [`Store`], generated from one body.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;

use deuteron_core::{Provisioning, TemplateKind, TemplateVersionStatus, UsageRef, VersionNumber};

use crate::{
    Backend, NewTemplate, NewVersion, Result, StatusChange, Store, StoreError, TemplatePatch,
    TemplateRecord, VersionRecord, decode_compat, decode_sources, encode_compat, encode_sources,
    now_millis,
};

/// The embedded default: one SQLite file in WAL mode.
#[derive(Clone)]
pub struct SqliteStore {
    pool: sqlx::SqlitePool,
}

/// PostgreSQL, for several Deuteron processes sharing one control plane.
#[derive(Clone)]
pub struct PostgresStore {
    pool: sqlx::PgPool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Runs raw SQL; for tests that set up rows other crates will own (resources).
    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &'static str) -> Result<()> {
        sqlx::raw_sql(sql).execute(&self.pool).await?;
        Ok(())
    }
}

impl PostgresStore {
    /// Connects to `url` and applies migrations.
    pub async fn open(url: &str) -> Result<Self> {
        let opts = sqlx::postgres::PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Open(format!("database URL: {e}")))?;
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Open(format!("{}: {e}", redact(url))))?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    #[doc(hidden)]
    pub async fn execute_raw(&self, sql: &'static str) -> Result<()> {
        sqlx::raw_sql(sql).execute(&self.pool).await?;
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
    } else if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        Ok(Arc::new(SqliteStore::open(Path::new(path)).await?))
    } else {
        Err(StoreError::Open(format!(
            "{}: the database URL must start with postgres:// or sqlite://",
            redact(url)
        )))
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
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            StoreError::Conflict(format!("{}: {d}", what()))
        }
        _ => StoreError::Database(e),
    }
}

const TEMPLATE_COLUMNS: &str = "t.kind, t.name, t.display_name, t.description, t.provisioning, t.encryption_key, t.created_at, t.updated_at,
    (SELECT v.major FROM template_versions v WHERE v.kind = t.kind AND v.template_name = t.name AND v.status = 'PUBLISHED'
        ORDER BY v.major DESC, v.minor DESC LIMIT 1) AS rec_major,
    (SELECT v.minor FROM template_versions v WHERE v.kind = t.kind AND v.template_name = t.name AND v.status = 'PUBLISHED'
        ORDER BY v.major DESC, v.minor DESC LIMIT 1) AS rec_minor";

const VERSION_COLUMNS: &str = "v.kind, v.template_name, v.major, v.minor, v.status, v.status_message, v.description, v.schema_text,
    v.bundle_digest, v.compatible_envs, v.component_sources, v.created_at, v.updated_at,
    (SELECT MAX(r.minor) FROM template_versions r WHERE r.kind = v.kind AND r.template_name = v.template_name
        AND r.major = v.major AND r.status = 'PUBLISHED') AS rec_minor";

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
                .execute(&self.pool)
                .await
                .map_err(|e| map_unique(e, || format!("{} template {} already exists", t.kind, t.name)))?;
                self.get_template(t.kind, &t.name).await
            }

            async fn get_template(&self, kind: TemplateKind, name: &str) -> Result<TemplateRecord> {
                let sql = sqlx::AssertSqlSafe(format!("SELECT {TEMPLATE_COLUMNS} FROM templates t WHERE t.kind = $1 AND t.name = $2"));
                let row = sqlx::query(sql)
                    .bind(kind.as_str())
                    .bind(name)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("{kind} template {name}")))?;
                Self::template_from_row(&row)
            }

            async fn list_templates(&self, kind: Option<TemplateKind>) -> Result<Vec<TemplateRecord>> {
                let sql = sqlx::AssertSqlSafe(format!(
                    "SELECT {TEMPLATE_COLUMNS} FROM templates t WHERE ($1 = '' OR t.kind = $1) ORDER BY t.kind, t.name"
                ));
                let rows = sqlx::query(sql).bind(kind.map_or("", TemplateKind::as_str)).fetch_all(&self.pool).await?;
                rows.iter().map(Self::template_from_row).collect()
            }

            async fn update_template(&self, kind: TemplateKind, name: &str, patch: &TemplatePatch) -> Result<TemplateRecord> {
                let mut tx = self.pool.begin_with($begin_write).await?;
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
                self.get_template(kind, name).await
            }

            async fn delete_template(&self, kind: TemplateKind, name: &str) -> Result<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
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
                tx.commit().await?;
                Ok(())
            }

            async fn create_version(&self, v: &NewVersion) -> Result<VersionRecord> {
                let now = now_millis();
                let mut tx = self.pool.begin_with($begin_write).await?;
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
                let rec = Self::fetch_version(&mut *tx, v.kind, &v.template_name, v.version).await?;
                tx.commit().await?;
                Ok(rec)
            }

            async fn get_version(&self, kind: TemplateKind, name: &str, version: VersionNumber) -> Result<VersionRecord> {
                Self::fetch_version(&self.pool, kind, name, version).await
            }

            async fn get_version_bundle(&self, kind: TemplateKind, name: &str, version: VersionNumber) -> Result<Vec<u8>> {
                let row = sqlx::query("SELECT bundle FROM template_versions WHERE kind = $1 AND template_name = $2 AND major = $3 AND minor = $4")
                    .bind(kind.as_str())
                    .bind(name)
                    .bind(i64::from(version.major))
                    .bind(i64::from(version.minor))
                    .fetch_optional(&self.pool)
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
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::version_from_row).collect()
            }

            async fn set_version_status(&self, kind: TemplateKind, name: &str, version: VersionNumber, change: &StatusChange) -> Result<VersionRecord> {
                let mut tx = self.pool.begin_with($begin_write).await?;
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
                    .execute(&self.pool)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound(format!("{kind} template {name} version {version}")));
                }
                self.get_version(kind, name, version).await
            }

            async fn delete_version(&self, kind: TemplateKind, name: &str, version: VersionNumber) -> Result<()> {
                let mut tx = self.pool.begin_with($begin_write).await?;
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
                tx.commit().await?;
                Ok(())
            }

            async fn version_usage(&self, kind: TemplateKind, name: &str, version: Option<VersionNumber>) -> Result<Vec<UsageRef>> {
                Self::usage_in(&self.pool, kind, name, version).await
            }
        }
    };
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

store_impl!(SqliteStore, Backend::Sqlite, "BEGIN IMMEDIATE");
// Row locks serialise writers on PostgreSQL; a plain transaction is enough there.
store_impl!(PostgresStore, Backend::Postgres, "BEGIN");

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            super::redact("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(super::redact("postgres://h/db"), "postgres://h/db");
    }
}
