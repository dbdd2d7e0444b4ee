//! The reading connections of the SQLite store: up to a fixed number, opened when first needed
//! and handed to one caller at a time. sqlx's own pool pings a connection (a round trip to the
//! connection's thread) every time one comes back; a file database's connections do not go
//! stale, so these are never tested, and a read costs one call to its connection's thread.

use std::ops::{Deref, DerefMut};

use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::StoreError;

pub(crate) struct ReadPool {
    options: SqliteConnectOptions,
    idle: std::sync::Mutex<Vec<SqliteConnection>>,
    permits: tokio::sync::Semaphore,
}

impl ReadPool {
    pub(crate) fn new(options: SqliteConnectOptions, size: usize) -> Self {
        Self { options, idle: std::sync::Mutex::new(Vec::with_capacity(size)), permits: tokio::sync::Semaphore::new(size) }
    }

    /// A connection of this pool's, waiting while all are in use.
    pub(crate) async fn get(&self) -> Result<ReadConn<'_>, StoreError> {
        let permit = self.permits.acquire().await.map_err(|_| StoreError::Open("the reading connections are closed".into()))?;
        let idle = self.idle.lock().expect("read pool").pop();
        let conn = match idle {
            Some(c) => c,
            None => self.options.connect().await?,
        };
        Ok(ReadConn { pool: self, conn: Some(conn), _permit: permit })
    }
}

/// A reading connection, back to its pool when dropped.
pub(crate) struct ReadConn<'a> {
    pool: &'a ReadPool,
    conn: Option<SqliteConnection>,
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl Deref for ReadConn<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        self.conn.as_ref().expect("held until dropped")
    }
}

impl DerefMut for ReadConn<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn.as_mut().expect("held until dropped")
    }
}

impl Drop for ReadConn<'_> {
    fn drop(&mut self) {
        // Back in the idle list before the permit (a field, dropped after this) is released.
        if let Some(c) = self.conn.take() {
            self.pool.idle.lock().expect("read pool").push(c);
        }
    }
}
