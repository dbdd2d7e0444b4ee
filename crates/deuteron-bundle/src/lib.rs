//! Proton-format template bundles.
//!
//! A bundle is read from a directory, a `.tar.gz` or a `.zip` into memory ([`archive`]), checked
//! against hostile content and size limits, and then parsed: the `manifest.yaml` of each
//! infrastructure folder ([`manifest`]), `schema/schema.yaml` ([`schema`]) and Proton spec files
//! ([`spec`]). Nothing here renders templates or touches a database.

pub mod archive;
pub mod bundle;
pub mod manifest;
pub mod schema;
pub mod spec;
mod yaml;

pub use archive::{BundleFiles, Limits};
pub use bundle::{Bundle, BundleError, InfraFolder};
pub use manifest::{CodebuildSettings, ComponentTemplate, Manifest, TemplateEntry};
pub use schema::{InputError, InputKind, TemplateSchema};
pub use spec::{EnvironmentSpec, ServiceSpec, ServiceSpecInstance, SpecFile};
