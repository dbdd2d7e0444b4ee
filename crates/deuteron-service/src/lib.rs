//! The Deuteron service layer. Every transport (the CLI today; the REST API, the
//! Proton-compatible endpoint and the console later) calls these operations and nothing else:
//! they validate input into domain types, apply the registry rules from `deuteron-core`, and
//! persist through the [`Store`] trait.

use std::sync::Arc;

use deuteron_bundle::{BundleError, Limits};
use deuteron_render::{RenderLimits, Renderer};
use deuteron_store::{Store, StoreError};

pub mod components;
pub mod keys;
pub mod lookup;
pub mod meta;
pub mod registry;
pub mod resources;
pub mod rollout_views;
pub mod rollouts;
pub mod views;

/// An operation failed. The variants map to exit codes and HTTP statuses at the transports.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed or breaks a rule; nothing changed.
    #[error("{message}")]
    Validation { message: String, details: Vec<Detail> },
    /// The bundle is unreadable, hostile or invalid; nothing changed.
    #[error("invalid bundle: {0}")]
    Bundle(String),
    /// What was looked for (`environment dev2`), perhaps with a hint (`...; did you mean dev?`).
    #[error("{}", not_found_text(.0))]
    NotFound(String),
    /// The name is taken, the state changed concurrently, or something still uses the target.
    #[error("{0}")]
    Conflict(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// `environment dev2 not found`, or with a hint: `environment dev2 not found; did you mean dev?`.
fn not_found_text(what: &str) -> String {
    match what.split_once("; did you mean ") {
        Some((thing, hint)) => format!("{thing} not found; did you mean {hint}"),
        None => format!("{what} not found"),
    }
}

/// The name among `candidates` closest to `name`, if one is close enough to be a likely typo.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, c)| *score >= 0.85 || strsim::levenshtein(name, c) <= 2)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// A not-found error for `what` (`environment dev2`) naming the closest of `candidates`.
pub fn not_found<'a>(what: String, name: &str, candidates: impl IntoIterator<Item = &'a str>) -> ServiceError {
    match closest(name, candidates) {
        Some(c) => ServiceError::NotFound(format!("{what}; did you mean {c}?")),
        None => ServiceError::NotFound(what),
    }
}

/// One thing wrong with a request: a sentence, or an input value that broke a rule of the
/// template's schema (its JSON path, the rule, the value, and why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    Text(String),
    Input(deuteron_bundle::InputError),
}

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Detail::Text(t) => f.write_str(t),
            Detail::Input(e) => e.fmt(f),
        }
    }
}

impl Detail {
    /// As JSON: a string, or `{"path", "rule", "value", "message"}` (`value` as JSON text).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Detail::Text(t) => serde_json::json!(t),
            Detail::Input(e) => serde_json::json!({"path": e.path, "rule": e.rule, "value": e.value, "message": e.message}),
        }
    }

    /// Details from schema violations.
    pub fn inputs(errors: &[deuteron_bundle::InputError]) -> Vec<Detail> {
        errors.iter().cloned().map(Detail::Input).collect()
    }
}

impl ServiceError {
    pub fn validation(message: impl Into<String>) -> Self {
        ServiceError::Validation { message: message.into(), details: Vec::new() }
    }

    /// The full text: the message and, one per line, its details.
    pub fn full_text(&self) -> String {
        match self {
            ServiceError::Validation { message, details } if !details.is_empty() => {
                format!("{message}\n{}", details.iter().map(|d| format!("  - {d}")).collect::<Vec<_>>().join("\n"))
            }
            other => other.to_string(),
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ServiceError::NotFound(what),
            StoreError::Conflict(m) => ServiceError::Conflict(m),
            StoreError::InUse(users) => ServiceError::Conflict(StoreError::InUse(users).to_string()),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

impl From<BundleError> for ServiceError {
    fn from(e: BundleError) -> Self {
        ServiceError::Bundle(e.to_string())
    }
}

pub type Result<T, E = ServiceError> = std::result::Result<T, E>;

/// Settings of the service layer.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub bundle_limits: Limits,
    pub render_limits: RenderLimits,
    /// Seals access-key secrets; key operations fail without it.
    pub server_key: Option<Arc<keys::ServerKey>>,
}

/// Compiled schemas by their text: a version's schema never changes once it is deployable.
type SchemaCache = Arc<std::sync::Mutex<std::collections::HashMap<u64, Arc<deuteron_bundle::TemplateSchema>>>>;
const SCHEMA_CACHE_MAX: usize = 512;

/// The service layer: cheap to clone, shared by every transport.
#[derive(Clone)]
pub struct Deuteron {
    store: Arc<dyn Store>,
    renderer: Arc<Renderer>,
    config: Arc<Config>,
    schemas: SchemaCache,
    signals: Arc<rollouts::Signals>,
}

impl Deuteron {
    pub fn new(store: Arc<dyn Store>, config: Config) -> Self {
        Self {
            renderer: Arc::new(Renderer::new(config.render_limits)),
            store,
            config: Arc::new(config),
            schemas: Arc::default(),
            signals: Arc::default(),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// Wake-ups shared with this process's workers and rollout driver.
    pub fn signals(&self) -> &Arc<rollouts::Signals> {
        &self.signals
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The compiled schema of a stored version (parsing and compiling it once).
    pub fn compiled_schema(&self, schema_text: &str) -> Result<Arc<deuteron_bundle::TemplateSchema>> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        schema_text.hash(&mut h);
        let key = h.finish();
        if let Some(s) = self.schemas.lock().expect("schema cache").get(&key) {
            return Ok(s.clone());
        }
        let schema = Arc::new(
            deuteron_bundle::TemplateSchema::parse("schema/schema.yaml", schema_text)
                .map_err(|e| ServiceError::Internal(format!("stored schema: {e}")))?,
        );
        let mut cache = self.schemas.lock().expect("schema cache");
        if cache.len() >= SCHEMA_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, schema.clone());
        Ok(schema)
    }
}
