//! Template registry operations: templates, versions, registration, publishing, deletion.

use deuteron_bundle::{Bundle, BundleFiles, TemplateSchema};
use deuteron_core::registry as rules;
use deuteron_core::{
    CompatibleEnvironmentTemplate, ComponentSource, Provisioning, ResourceName, TemplateKind, TemplateVersionStatus as Status,
    VersionNumber,
};
use deuteron_store::{NewTemplate, NewVersion, StatusChange, StoreError, TemplatePatch, TemplateRecord, VersionRecord};

use crate::{Deuteron, Result, ServiceError};

/// Input of [`Deuteron::create_template`].
#[derive(Debug, Clone)]
pub struct CreateTemplate {
    pub kind: TemplateKind,
    pub name: String,
    pub display_name: Option<String>,
    pub description: Option<String>,
    pub provisioning: Provisioning,
    pub encryption_key: Option<String>,
}

/// Options of a version registration.
#[derive(Debug, Clone, Default)]
pub struct RegisterOptions {
    /// Register the next minor of this major; `None` creates the next major.
    pub major: Option<u32>,
    pub description: Option<String>,
    /// For service templates; when empty, the bundle's `.template-registration.yaml` or
    /// `.compatible-envs` is used.
    pub compatible_environments: Vec<CompatibleEnvironmentTemplate>,
    /// For service templates; when `None`, the bundle's registration file decides.
    pub supported_component_sources: Option<Vec<ComponentSource>>,
    /// Register a bundle whose files are the same as an existing version's (refused otherwise:
    /// it would change nothing, yet an automatic rollout policy would roll it out).
    pub allow_same_content: bool,
}

/// A published version, and the rollout the template's automatic policy started for it.
#[derive(Debug, Clone)]
pub struct Published {
    pub version: VersionRecord,
    pub rollout: Option<String>,
}

/// What registration settled after reading a bundle.
struct Checked {
    schema: String,
    compatible_environments: Vec<CompatibleEnvironmentTemplate>,
    supported_component_sources: Vec<ComponentSource>,
}

const MAX_DESCRIPTION: usize = 500;
const MAX_DISPLAY_NAME: usize = 100;
const MAX_COMPATIBLE: usize = 10;
/// How often registration recomputes the version number after losing a race.
const NUMBER_RETRIES: usize = 8;

fn name(raw: &str, what: &str) -> Result<ResourceName> {
    ResourceName::parse(raw).map_err(|e| ServiceError::validation(format!("{what}: {e}")))
}

fn check_len(field: &str, value: &Option<String>, min: usize, max: usize) -> Result<()> {
    if let Some(v) = value {
        let n = v.chars().count();
        if n < min || n > max {
            return Err(ServiceError::validation(format!("{field} must be {min} to {max} characters long, got {n}")));
        }
    }
    Ok(())
}

impl Deuteron {
    pub async fn create_template(&self, input: CreateTemplate) -> Result<TemplateRecord> {
        name(&input.name, "template name")?;
        check_len("displayName", &input.display_name, 1, MAX_DISPLAY_NAME)?;
        check_len("description", &input.description, 0, MAX_DESCRIPTION)?;
        let rec = self
            .store
            .create_template(&NewTemplate {
                kind: input.kind,
                name: input.name,
                display_name: input.display_name,
                description: input.description,
                provisioning: input.provisioning,
                encryption_key: input.encryption_key,
            })
            .await?;
        tracing::info!(kind = %rec.kind, template = %rec.name, "template created");
        Ok(rec)
    }

    pub async fn get_template(&self, kind: TemplateKind, name: &str) -> Result<TemplateRecord> {
        self.named(crate::lookup::Named::Template(kind, name), self.store.get_template(kind, name)).await
    }

    pub async fn list_templates(&self, kind: Option<TemplateKind>) -> Result<Vec<TemplateRecord>> {
        Ok(self.store.list_templates(kind).await?)
    }

    pub async fn update_template(&self, kind: TemplateKind, name: &str, patch: TemplatePatch) -> Result<TemplateRecord> {
        if let Some(d) = &patch.display_name {
            check_len("displayName", d, 1, MAX_DISPLAY_NAME)?;
        }
        if let Some(d) = &patch.description {
            check_len("description", d, 0, MAX_DESCRIPTION)?;
        }
        Ok(self.store.update_template(kind, name, &patch).await?)
    }

    /// Deletes a template. Proton's API requires its versions to be deleted first; with
    /// `cascade`, unused versions are deleted too (what Proton's console did), and nothing is
    /// deleted if any version is in use.
    pub async fn delete_template(&self, kind: TemplateKind, name: &str, cascade: bool) -> Result<()> {
        self.store.get_template(kind, name).await?;
        if cascade {
            let users = self.store.version_usage(kind, name, None).await?;
            if !users.is_empty() {
                return Err(ServiceError::Conflict(format!(
                    "{kind} template {name} is in use by {}",
                    users.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                )));
            }
            let versions = self.store.list_versions(kind, name, None).await?;
            // Recommended minors go last: Proton keeps them while other minors of their major exist.
            let (last, first): (Vec<_>, Vec<_>) = versions.iter().partition(|v| v.recommended_minor == Some(v.version.minor));
            for v in first.into_iter().chain(last) {
                self.store.delete_version(kind, name, v.version).await?;
            }
        }
        self.store.delete_template(kind, name).await?;
        tracing::info!(%kind, template = %name, cascade, "template deleted");
        Ok(())
    }

    /// Reads, validates and stores a bundle as a new DRAFT version, in one step. Any problem
    /// with the bundle is returned and nothing is stored.
    pub async fn register_version(
        &self,
        kind: TemplateKind,
        template: &str,
        files: BundleFiles,
        opts: RegisterOptions,
    ) -> Result<VersionRecord> {
        check_len("description", &opts.description, 0, MAX_DESCRIPTION)?;
        let tpl = self.store.get_template(kind, template).await?;
        self.refuse_same_content(kind, template, &files, &opts).await?;
        let mut attempt = 0;
        loop {
            let number = self.next_number(kind, template, opts.major).await?;
            let checked = self.check_bundle(&tpl, &files, &opts, number).await?;
            let new = NewVersion {
                kind,
                template_name: template.to_string(),
                version: number,
                status: Status::Draft,
                status_message: None,
                description: opts.description.clone(),
                schema: checked.schema,
                bundle: files.to_tar_gz(),
                bundle_digest: files.digest(),
                compatible_environments: checked.compatible_environments,
                supported_component_sources: checked.supported_component_sources,
            };
            match self.store.create_version(&new).await {
                Ok(rec) => {
                    tracing::info!(%kind, %template, version = %rec.version, "template version registered");
                    return Ok(rec);
                }
                Err(StoreError::Conflict(_)) if attempt < NUMBER_RETRIES => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Refuses a bundle whose files (by digest) are those of a version already registered,
    /// unless `allow_same_content`; versions whose registration failed do not count.
    async fn refuse_same_content(&self, kind: TemplateKind, template: &str, files: &BundleFiles, opts: &RegisterOptions) -> Result<()> {
        if opts.allow_same_content {
            return Ok(());
        }
        let digest = files.digest();
        let versions = self.store.list_versions(kind, template, None).await?;
        match versions.iter().find(|v| v.bundle_digest == digest && v.status != Status::RegistrationFailed) {
            Some(same) => Err(ServiceError::Conflict(format!(
                "{kind} template {template}: this bundle has the same content as version {} ({}, sha256 {}), so a new version would change nothing; register it anyway with --allow-same-content (REST: allowSameContent=true)",
                same.version,
                same.status,
                &digest[..12.min(digest.len())]
            ))),
            None => Ok(()),
        }
    }

    /// Proton's asynchronous registration, first half: stores the bundle under a new version
    /// number as REGISTRATION_IN_PROGRESS. [`Deuteron::complete_registration`] settles it.
    pub async fn begin_registration(
        &self,
        kind: TemplateKind,
        template: &str,
        files: BundleFiles,
        opts: &RegisterOptions,
    ) -> Result<VersionRecord> {
        check_len("description", &opts.description, 0, MAX_DESCRIPTION)?;
        self.store.get_template(kind, template).await?;
        self.refuse_same_content(kind, template, &files, opts).await?;
        let mut attempt = 0;
        loop {
            let number = self.next_number(kind, template, opts.major).await?;
            let new = NewVersion {
                kind,
                template_name: template.to_string(),
                version: number,
                status: Status::RegistrationInProgress,
                status_message: None,
                description: opts.description.clone(),
                schema: String::new(),
                bundle: files.to_tar_gz(),
                bundle_digest: files.digest(),
                compatible_environments: opts.compatible_environments.clone(),
                supported_component_sources: opts.supported_component_sources.clone().unwrap_or_default(),
            };
            match self.store.create_version(&new).await {
                Ok(rec) => return Ok(rec),
                Err(StoreError::Conflict(_)) if attempt < NUMBER_RETRIES => attempt += 1,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Second half of asynchronous registration: validates the stored bundle and moves the
    /// version to DRAFT, or to REGISTRATION_FAILED with a message naming file, line and reason.
    pub async fn complete_registration(
        &self,
        kind: TemplateKind,
        template: &str,
        version: VersionNumber,
        opts: &RegisterOptions,
    ) -> Result<VersionRecord> {
        let tpl = self.store.get_template(kind, template).await?;
        let bytes = self.store.get_version_bundle(kind, template, version).await?;
        let outcome = match BundleFiles::from_archive_bytes(&bytes, &self.config.bundle_limits) {
            Ok(files) => self.check_bundle(&tpl, &files, opts, version).await,
            Err(e) => Err(e.into()),
        };
        let change = match outcome {
            Ok(checked) => StatusChange {
                expected: vec![Status::RegistrationInProgress],
                status: Status::Draft,
                status_message: None,
                schema: Some(checked.schema),
                compatible_environments: Some(checked.compatible_environments),
                supported_component_sources: Some(checked.supported_component_sources),
            },
            Err(ServiceError::Internal(m)) => return Err(ServiceError::Internal(m)),
            Err(e) => StatusChange {
                expected: vec![Status::RegistrationInProgress],
                status: Status::RegistrationFailed,
                status_message: Some(e.full_text()),
                schema: None,
                compatible_environments: None,
                supported_component_sources: None,
            },
        };
        let rec = self.store.set_version_status(kind, template, version, &change).await?;
        tracing::info!(%kind, %template, %version, status = %rec.status, message = rec.status_message.as_deref().unwrap_or(""), "template version registration finished");
        Ok(rec)
    }

    pub async fn get_version(&self, kind: TemplateKind, template: &str, version: VersionNumber) -> Result<VersionRecord> {
        Ok(self.store.get_version(kind, template, version).await?)
    }

    /// The version `M.m`, or with only a major given, that major's recommended minor (Proton's
    /// rule when a resource names only a major version).
    pub async fn resolve_version(&self, kind: TemplateKind, template: &str, major: u32, minor: Option<u32>) -> Result<VersionRecord> {
        match minor {
            Some(m) => self.get_version(kind, template, VersionNumber::new(major, m)).await,
            None => {
                let versions = self.store.list_versions(kind, template, Some(major)).await?;
                versions
                    .iter()
                    .filter(|v| v.status == Status::Published)
                    .max_by_key(|v| v.version)
                    .cloned()
                    .ok_or_else(|| ServiceError::NotFound(format!("a published version of {kind} template {template} major {major}")))
            }
        }
    }

    pub async fn list_versions(&self, kind: TemplateKind, template: &str, major: Option<u32>) -> Result<Vec<VersionRecord>> {
        self.store.get_template(kind, template).await?;
        Ok(self.store.list_versions(kind, template, major).await?)
    }

    /// DRAFT → PUBLISHED; the template's recommended version follows.
    pub async fn publish_version(&self, kind: TemplateKind, template: &str, version: VersionNumber) -> Result<VersionRecord> {
        Ok(self.publish(kind, template, version).await?.version)
    }

    /// Publishes a DRAFT version (again: a PUBLISHED one stays so), and says which rollout the
    /// template's automatic policy started for it.
    pub async fn publish(&self, kind: TemplateKind, template: &str, version: VersionNumber) -> Result<Published> {
        let current = self.store.get_version(kind, template, version).await?;
        rules::check_publish(version, current.status).map_err(|e| ServiceError::Conflict(e.to_string()))?;
        let rec = self
            .store
            .set_version_status(
                kind,
                template,
                version,
                &StatusChange {
                    expected: vec![Status::Draft, Status::Published],
                    status: Status::Published,
                    status_message: None,
                    schema: None,
                    compatible_environments: None,
                    supported_component_sources: None,
                },
            )
            .await?;
        tracing::info!(%kind, %template, %version, "template version published");
        let rollout =
            if current.status == Status::Draft && version.minor > 0 { self.auto_rollout(kind, template, version).await } else { None };
        Ok(Published { version: rec, rollout })
    }

    /// The major a new resource gets when none is named: that of the template's recommended
    /// version.
    pub async fn default_major(&self, kind: TemplateKind, template: &str) -> Result<u32> {
        let t = self.store.get_template(kind, template).await?;
        t.recommended.map(|v| v.major).ok_or_else(|| {
            ServiceError::validation(format!("{kind} template {template} has no published version to default to; name a major version"))
        })
    }

    /// Blocks a version (a rollout to it failed and was rolled back): it stops being the
    /// recommended version, a rollout's default target and an update's default; naming it as a
    /// target is refused with `reason` until [`Deuteron::unblock_version`].
    pub async fn block_version(&self, kind: TemplateKind, template: &str, version: VersionNumber, reason: &str) -> Result<VersionRecord> {
        let before = self.store.get_version(kind, template, version).await?;
        let rec = self.store.set_version_blocked(kind, template, version, Some(reason)).await?;
        if before.blocked.is_none() {
            tracing::warn!(%kind, %template, %version, %reason, "template version blocked");
        }
        Ok(rec)
    }

    /// Lifts a version's block: it may be recommended and rolled out again.
    pub async fn unblock_version(&self, kind: TemplateKind, template: &str, version: VersionNumber) -> Result<VersionRecord> {
        let rec = self.store.set_version_blocked(kind, template, version, None).await?;
        tracing::info!(%kind, %template, %version, "template version unblocked");
        Ok(rec)
    }

    /// Makes a published version the template's recommended one, instead of the highest
    /// published one (`None`: back to the highest published). Outdated detection, the fleet
    /// summary and every API's `recommendedVersion` follow; a pin whose version stops being
    /// published is ignored.
    pub async fn set_recommended_version(
        &self,
        kind: TemplateKind,
        template: &str,
        version: Option<VersionNumber>,
    ) -> Result<TemplateRecord> {
        let t = self.store.set_recommended_pin(kind, template, version).await?;
        match version {
            Some(v) => tracing::info!(%kind, %template, version = %v, "recommended version pinned"),
            None => tracing::info!(%kind, %template, "recommended version follows the highest published one again"),
        }
        Ok(t)
    }

    pub async fn update_version_description(
        &self,
        kind: TemplateKind,
        template: &str,
        version: VersionNumber,
        description: Option<String>,
    ) -> Result<VersionRecord> {
        check_len("description", &description, 0, MAX_DESCRIPTION)?;
        Ok(self.store.update_version_description(kind, template, version, description.as_deref()).await?)
    }

    /// Deletes a version nothing uses; a major's recommended minor only as its last minor.
    pub async fn delete_version(&self, kind: TemplateKind, template: &str, version: VersionNumber) -> Result<()> {
        let versions: Vec<_> = self.store.list_versions(kind, template, None).await?.iter().map(|v| (v.version, v.status)).collect();
        if !versions.iter().any(|(v, _)| *v == version) {
            return Err(ServiceError::NotFound(format!("{kind} template {template} version {version}")));
        }
        let users = self.store.version_usage(kind, template, Some(version)).await?;
        rules::check_delete_version(version, &versions, users)
            .map_err(|e| ServiceError::Conflict(format!("cannot delete {kind} template {template} version {version}: {e}")))?;
        self.store.delete_version(kind, template, version).await.map_err(|e| match e {
            StoreError::InUse(users) => ServiceError::Conflict(format!(
                "cannot delete {kind} template {template} version {version}: {}",
                rules::RegistryError::VersionInUse { version, users }
            )),
            other => other.into(),
        })?;
        tracing::info!(%kind, %template, %version, "template version deleted");
        Ok(())
    }

    /// The stored bundle of a version.
    pub async fn version_bundle(&self, kind: TemplateKind, template: &str, version: VersionNumber) -> Result<BundleFiles> {
        let bytes = self.store.get_version_bundle(kind, template, version).await?;
        BundleFiles::from_archive_bytes(&bytes, &self.config.bundle_limits)
            .map_err(|e| ServiceError::Internal(format!("stored bundle: {e}")))
    }

    async fn next_number(&self, kind: TemplateKind, template: &str, major: Option<u32>) -> Result<VersionNumber> {
        let existing: Vec<_> = self.store.list_versions(kind, template, None).await?.iter().map(|v| v.version).collect();
        rules::next_version(&existing, major).map_err(|e| ServiceError::validation(format!("{kind} template {template}: {e}")))
    }

    /// Everything registration checks: layout, manifests, schema, Jinja compilation, compatible
    /// environments, and that a new minor keeps the schema compatible with its major.
    async fn check_bundle(
        &self,
        tpl: &TemplateRecord,
        files: &BundleFiles,
        opts: &RegisterOptions,
        number: VersionNumber,
    ) -> Result<Checked> {
        let bundle = Bundle::parse(files.clone(), tpl.kind, tpl.provisioning)?;
        self.renderer.check_bundle(&bundle).map_err(|e| ServiceError::Bundle(e.to_string()))?;
        let (compatible_environments, supported_component_sources) = match tpl.kind {
            TemplateKind::Environment => {
                if !opts.compatible_environments.is_empty() {
                    return Err(ServiceError::validation("compatible environment templates apply to service templates only"));
                }
                (Vec::new(), Vec::new())
            }
            TemplateKind::Service => {
                let compat = if opts.compatible_environments.is_empty() {
                    bundle.compatible_environments.clone()
                } else {
                    opts.compatible_environments.clone()
                };
                if compat.is_empty() {
                    return Err(ServiceError::validation(
                        "a service template version needs at least one compatible environment template (pass --compatible-env TEMPLATE:MAJOR or add .compatible-envs to the bundle)",
                    ));
                }
                if compat.len() > MAX_COMPATIBLE {
                    return Err(ServiceError::validation(format!(
                        "at most {MAX_COMPATIBLE} compatible environment templates are allowed, got {}",
                        compat.len()
                    )));
                }
                for c in &compat {
                    let versions = match self.store.list_versions(TemplateKind::Environment, &c.template_name, Some(c.major_version)).await
                    {
                        Ok(v) => v,
                        Err(StoreError::NotFound(_)) => Vec::new(),
                        Err(e) => return Err(e.into()),
                    };
                    let exists = self.store.get_template(TemplateKind::Environment, &c.template_name).await.is_ok();
                    if !exists {
                        return Err(ServiceError::validation(format!(
                            "compatible environment template {c}: environment template {} does not exist",
                            c.template_name
                        )));
                    }
                    if !versions.iter().any(|v| matches!(v.status, Status::Draft | Status::Published)) {
                        return Err(ServiceError::validation(format!(
                            "compatible environment template {c}: environment template {} has no registered major version {}",
                            c.template_name, c.major_version
                        )));
                    }
                }
                let sources = opts.supported_component_sources.clone().unwrap_or_else(|| bundle.supported_component_sources.clone());
                (compat, sources)
            }
        };
        if number.minor > 0 {
            let previous = self
                .store
                .list_versions(tpl.kind, &tpl.name, Some(number.major))
                .await?
                .into_iter()
                .filter(|v| v.version < number && matches!(v.status, Status::Draft | Status::Published))
                .max_by_key(|v| v.version);
            if let Some(prev) = previous {
                let old = TemplateSchema::parse("schema/schema.yaml", &prev.schema)
                    .map_err(|e| ServiceError::Internal(format!("stored schema of version {}: {e}", prev.version)))?;
                let breaking = bundle.schema.breaking_changes_from(&old);
                if !breaking.is_empty() {
                    return Err(ServiceError::Validation {
                        message: format!(
                            "schema/schema.yaml is not compatible with version {}; register it as a new major version (omit the major version) instead",
                            prev.version
                        ),
                        details: breaking.into_iter().map(crate::Detail::Text).collect(),
                    });
                }
            }
        }
        Ok(Checked { schema: bundle.schema.text().to_string(), compatible_environments, supported_component_sources })
    }
}
