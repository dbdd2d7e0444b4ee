//! Tags, repository links, deployment-record deletion and the fleet summary (Proton's
//! `TagResource`, `CreateRepository`, `DeleteDeployment` and `GetResourcesSummary` families).

use std::collections::HashMap;

use deuteron_core::registry::{Staleness, staleness_to};
use deuteron_core::{DeploymentStatus, TemplateKind, TemplateVersionStatus, VersionNumber};
use deuteron_store::{DeploymentRecord, RepositoryRecord, now_millis};

use crate::{Deuteron, Result, ServiceError};

/// Proton's limit on tags per resource.
pub const MAX_TAGS: usize = 50;
pub const PROVIDERS: &[&str] = &["GITHUB", "GITHUB_ENTERPRISE", "BITBUCKET"];

/// Counts of one kind of resource (Proton's `ResourceCountsSummary`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    pub total: u64,
    pub failed: u64,
    pub up_to_date: u64,
    pub behind_minor: u64,
    pub behind_major: u64,
}

impl Counts {
    fn add(&mut self, status: DeploymentStatus, stale: Option<Staleness>) {
        self.total += 1;
        if matches!(status, DeploymentStatus::Failed | DeploymentStatus::DeleteFailed) {
            self.failed += 1;
        }
        match stale {
            Some(Staleness::UpToDate) => self.up_to_date += 1,
            Some(Staleness::BehindMinor) => self.behind_minor += 1,
            Some(Staleness::BehindMajor) => self.behind_major += 1,
            None => {}
        }
    }
}

/// Proton's `CountsSummary`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub environment_templates: Counts,
    pub service_templates: Counts,
    pub environments: Counts,
    pub services: Counts,
    pub service_instances: Counts,
    pub pipelines: Counts,
    pub components: Counts,
}

/// Resources running one version of a template.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionUsage {
    pub version: String,
    pub status: String,
    pub environments: u64,
    pub service_instances: u64,
    pub pipelines: u64,
}

/// Who runs which version of a template, and how many are behind its recommended version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateFleet {
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recommended_version: Option<String>,
    pub versions: Vec<VersionUsage>,
    pub up_to_date: u64,
    pub behind_minor: u64,
    pub behind_major: u64,
}

impl Deuteron {
    /// Per template (optionally one kind or one template): resources per version and how many
    /// are behind (Proton's outdated detection).
    pub async fn template_fleet(&self, kind: Option<TemplateKind>, name: Option<&str>) -> Result<Vec<TemplateFleet>> {
        // Counted by the store per (resource kind, template, version): no resource rows are read.
        let counts = self.store.version_counts().await?;
        let mut out = Vec::new();
        for t in self.store.list_templates(kind).await? {
            if name.is_some_and(|n| n != t.name) {
                continue;
            }
            let versions = self.store.list_versions(t.kind, &t.name, None).await?;
            let mut usage: Vec<VersionUsage> = versions
                .iter()
                .map(|v| VersionUsage { version: v.version.to_string(), status: v.status.to_string(), ..Default::default() })
                .collect();
            let mut fleet = TemplateFleet {
                kind: t.kind.to_string(),
                name: t.name.clone(),
                recommended_version: t.recommended.map(|r| r.to_string()),
                versions: Vec::new(),
                up_to_date: 0,
                behind_minor: 0,
                behind_major: 0,
            };
            let kinds: &[&str] = if t.kind == TemplateKind::Environment { &["environment"] } else { &["service_instance", "pipeline"] };
            for c in counts.iter().filter(|c| c.template == t.name && kinds.contains(&c.resource.as_str())) {
                let n = u64::try_from(c.count).unwrap_or(0);
                if let Some(u) = usage.iter_mut().find(|u| u.version == c.version.to_string()) {
                    match c.resource.as_str() {
                        "environment" => u.environments += n,
                        "service_instance" => u.service_instances += n,
                        _ => u.pipelines += n,
                    }
                }
                match staleness_to(c.version, t.recommended) {
                    Staleness::UpToDate => fleet.up_to_date += n,
                    Staleness::BehindMinor => fleet.behind_minor += n,
                    Staleness::BehindMajor => fleet.behind_major += n,
                }
            }
            fleet.versions = usage;
            out.push(fleet);
        }
        if let (Some(n), true) = (name, out.is_empty()) {
            return Err(ServiceError::NotFound(format!("template {n}")));
        }
        Ok(out)
    }

    pub async fn tags(&self, resource_arn: &str) -> Result<Vec<(String, String)>> {
        Ok(self.store.tags(resource_arn).await?)
    }

    /// Sets tags on a resource (keys 1-128 characters, values 0-256, at most 50 per resource).
    pub async fn tag_resource(&self, resource_arn: &str, tags: &[(String, String)]) -> Result<()> {
        for (i, (k, v)) in tags.iter().enumerate() {
            if !(1..=128).contains(&k.chars().count()) || v.chars().count() > 256 {
                return Err(ServiceError::validation(format!("tags[{i}]: keys are 1-128 characters and values 0-256")));
            }
        }
        Ok(self.store.tag(resource_arn, tags, MAX_TAGS).await?)
    }

    pub async fn untag_resource(&self, resource_arn: &str, keys: &[String]) -> Result<()> {
        Ok(self.store.untag(resource_arn, keys).await?)
    }

    pub async fn create_repository(
        &self,
        provider: &str,
        name: &str,
        connection_arn: &str,
        encryption_key: Option<String>,
    ) -> Result<RepositoryRecord> {
        if !PROVIDERS.contains(&provider) {
            return Err(ServiceError::validation(format!("provider: {provider:?} is not one of {}", PROVIDERS.join(", "))));
        }
        let valid = name.len() <= 100 && name.split_once('/').is_some_and(|(o, r)| !o.is_empty() && !r.is_empty());
        if !valid {
            return Err(ServiceError::validation(format!("name: {name:?} must be owner/repository (at most 100 characters)")));
        }
        let rec = RepositoryRecord {
            provider: provider.to_string(),
            name: name.to_string(),
            connection_arn: connection_arn.to_string(),
            encryption_key,
            created_at: now_millis(),
        };
        self.store.create_repository(&rec).await?;
        tracing::info!(%provider, repository = %name, "repository linked");
        Ok(rec)
    }

    pub async fn get_repository(&self, provider: &str, name: &str) -> Result<RepositoryRecord> {
        Ok(self.store.get_repository(provider, name).await?)
    }

    pub async fn list_repositories(&self) -> Result<Vec<RepositoryRecord>> {
        Ok(self.store.list_repositories().await?)
    }

    pub async fn delete_repository(&self, provider: &str, name: &str) -> Result<RepositoryRecord> {
        Ok(self.store.delete_repository(provider, name).await?)
    }

    /// Deletes a finished deployment's record (Proton's `DeleteDeployment`); infrastructure and
    /// the resource are untouched.
    pub async fn delete_deployment(&self, id: &str) -> Result<DeploymentRecord> {
        let id = self.resolve_id(deuteron_store::IdTable::Deployments, id).await?;
        let d = self.store.delete_deployment(&id).await?;
        tracing::info!(deployment = %id, target = %d.target, "deployment record deleted");
        Ok(d)
    }

    /// How far each template's resources are behind its published versions, and what failed.
    /// How many environments, services, instances, pipelines, components and deployments are in
    /// each status (one read).
    pub async fn status_counts(&self) -> Result<Vec<deuteron_store::StatusCount>> {
        Ok(self.store.status_counts().await?)
    }

    /// The resources running a template (one version of it, when given).
    pub async fn version_usage(
        &self,
        kind: TemplateKind,
        template: &str,
        version: Option<VersionNumber>,
    ) -> Result<Vec<deuteron_core::UsageRef>> {
        Ok(self.store.version_usage(kind, template, version).await?)
    }

    pub async fn resources_summary(&self) -> Result<Summary> {
        let mut out = Summary::default();
        let mut recommended: HashMap<(TemplateKind, String), Option<VersionNumber>> = HashMap::new();
        for t in self.store.list_templates(None).await? {
            recommended.insert((t.kind, t.name.clone()), t.recommended);
            let c = if t.kind == TemplateKind::Environment { &mut out.environment_templates } else { &mut out.service_templates };
            c.total += 1;
        }
        let stale = |kind: TemplateKind, template: &str, v: VersionNumber| {
            recommended.get(&(kind, template.to_string())).map(|r| staleness_to(v, *r))
        };
        for e in self.store.list_environments().await? {
            out.environments.add(e.deployment.status, stale(TemplateKind::Environment, &e.template_name, e.version));
        }
        for s in self.store.list_services().await? {
            out.services.total += 1;
            if s.status.as_str().contains("FAILED") {
                out.services.failed += 1;
            }
        }
        for i in self.store.list_instances(None, None).await? {
            out.service_instances.add(i.deployment.status, stale(TemplateKind::Service, &i.template_name, i.version));
        }
        for p in self.store.list_pipelines().await? {
            out.pipelines.add(p.deployment.status, stale(TemplateKind::Service, &p.template_name, p.version));
        }
        for c in self.store.list_components(&Default::default()).await? {
            out.components.add(c.deployment.status, None);
        }
        Ok(out)
    }
}

/// The versions and the recommended version of every template of a kind, to tell how far behind
/// many resources are with one read per template.
#[derive(Debug, Clone, Default)]
pub struct Currency {
    versions: std::collections::HashMap<String, Vec<(VersionNumber, TemplateVersionStatus)>>,
    recommended: std::collections::HashMap<String, VersionNumber>,
}

/// `UP_TO_DATE`, `BEHIND_MINOR` or `BEHIND_MAJOR`.
pub fn staleness_str(s: Staleness) -> &'static str {
    match s {
        Staleness::UpToDate => "UP_TO_DATE",
        Staleness::BehindMinor => "BEHIND_MINOR",
        Staleness::BehindMajor => "BEHIND_MAJOR",
    }
}

impl Currency {
    pub fn staleness(&self, template: &str, deployed: VersionNumber) -> Staleness {
        staleness_to(deployed, self.recommended(template))
    }

    /// The recommended version of a template: the one its platform team pinned, else the highest
    /// published one.
    pub fn recommended(&self, template: &str) -> Option<VersionNumber> {
        self.recommended.get(template).copied()
    }

    pub fn view(&self, template: &str, deployed: VersionNumber) -> crate::views::CurrencyView {
        crate::views::CurrencyView {
            recommended_version: self.recommended(template).map(|v| v.to_string()),
            template_version_status: staleness_str(self.staleness(template, deployed)).to_string(),
        }
    }
}

impl Deuteron {
    /// The published versions of every template of `kind`.
    pub async fn currency(&self, kind: TemplateKind) -> Result<Currency> {
        let mut currency = Currency::default();
        for t in self.store.list_templates(Some(kind)).await? {
            let list = self.store.list_versions(kind, &t.name, None).await?;
            currency.versions.insert(t.name.clone(), list.iter().map(|v| (v.version, v.status)).collect());
            if let Some(r) = t.recommended {
                currency.recommended.insert(t.name.clone(), r);
            }
        }
        Ok(currency)
    }
}

/// A page of service instances: filters, then position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstancePageQuery {
    pub service: Option<String>,
    pub environment: Option<String>,
    pub template: Option<String>,
    pub version: Option<VersionNumber>,
    /// `DEPLOYMENT_STATUS` value, e.g. `FAILED`.
    pub status: Option<String>,
    /// Only instances in one of these standings (any when empty).
    pub currency: Vec<Staleness>,
    pub offset: i64,
    pub limit: i64,
}

/// The outdated-detection filters of the resource lists (every transport parses its own spelling
/// into this).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionFilter {
    pub template: Option<String>,
    pub version: Option<VersionNumber>,
    pub behind: Option<Staleness>,
}

impl VersionFilter {
    fn keeps(&self, currency: &Currency, template: &str, version: VersionNumber) -> bool {
        self.template.as_deref().is_none_or(|t| t == template)
            && self.version.is_none_or(|v| v == version)
            && self.behind.is_none_or(|b| currency.staleness(template, version) == b)
    }
}

impl Deuteron {
    /// Environments matching `filter`, each with its recommended version and staleness.
    pub async fn environment_views(&self, filter: &VersionFilter) -> Result<Vec<crate::views::EnvironmentView>> {
        let c = self.currency(TemplateKind::Environment).await?;
        Ok(self
            .store
            .list_environments()
            .await?
            .iter()
            .filter(|e| filter.keeps(&c, &e.template_name, e.version))
            .map(|e| crate::views::EnvironmentView { currency: Some(c.view(&e.template_name, e.version)), ..e.into() })
            .collect())
    }

    /// Service instances (of a service, in an environment) matching `filter`, with staleness.
    pub async fn instance_views(
        &self,
        service: Option<&str>,
        environment: Option<&str>,
        filter: &VersionFilter,
    ) -> Result<Vec<crate::views::InstanceView>> {
        let c = self.currency(TemplateKind::Service).await?;
        Ok(self
            .store
            .list_instances(service, environment)
            .await?
            .iter()
            .filter(|i| filter.keeps(&c, &i.template_name, i.version))
            .map(|i| crate::views::InstanceView { currency: Some(c.view(&i.template_name, i.version)), ..i.into() })
            .collect())
    }

    /// Pipelines matching `filter`, with staleness.
    pub async fn pipeline_views(&self, filter: &VersionFilter) -> Result<Vec<crate::views::PipelineView>> {
        let c = self.currency(TemplateKind::Service).await?;
        Ok(self
            .store
            .list_pipelines()
            .await?
            .iter()
            .filter(|p| filter.keeps(&c, &p.template_name, p.version))
            .map(|p| crate::views::PipelineView { currency: Some(c.view(&p.template_name, p.version)), ..p.into() })
            .collect())
    }

    /// One page of the service instances matching `q`, with staleness, and how many match in
    /// all. Filtered and paged by the store: version and currency filters become the set of
    /// `(template, version)` pairs they allow (every deployed version is in the registry).
    pub async fn instance_page(&self, q: &InstancePageQuery) -> Result<(Vec<crate::views::InstanceView>, u64)> {
        let c = self.currency(TemplateKind::Service).await?;
        let versions = (q.version.is_some() || !q.currency.is_empty()).then(|| {
            let mut pairs = Vec::new();
            for (template, list) in &c.versions {
                if q.template.as_deref().is_some_and(|t| t != template) {
                    continue;
                }
                for (v, _) in list {
                    let stale = c.staleness(template, *v);
                    if q.version.is_none_or(|want| want == *v) && (q.currency.is_empty() || q.currency.contains(&stale)) {
                        pairs.push((template.clone(), *v));
                    }
                }
            }
            pairs
        });
        let query = deuteron_store::InstanceQuery {
            service: q.service.clone(),
            environment: q.environment.clone(),
            template: q.template.clone(),
            deployment_status: q.status.clone(),
            versions,
            limit: q.limit,
            offset: q.offset,
            ..Default::default()
        };
        let total = u64::try_from(self.store.count_instances(&query).await?).unwrap_or(0);
        let rows = self.store.query_instances(&query).await?;
        let views =
            rows.iter().map(|i| crate::views::InstanceView { currency: Some(c.view(&i.template_name, i.version)), ..i.into() }).collect();
        Ok((views, total))
    }

    pub async fn environment_view(&self, name: &str) -> Result<crate::views::EnvironmentView> {
        let e = self.get_environment(name).await?;
        let c = self.currency(TemplateKind::Environment).await?;
        Ok(crate::views::EnvironmentView { currency: Some(c.view(&e.template_name, e.version)), ..(&e).into() })
    }

    pub async fn instance_view(&self, service: &str, name: &str) -> Result<crate::views::InstanceView> {
        let i = self.store.get_instance(service, name).await?;
        let c = self.currency(TemplateKind::Service).await?;
        Ok(crate::views::InstanceView { currency: Some(c.view(&i.template_name, i.version)), ..(&i).into() })
    }

    pub async fn pipeline_view(&self, service: &str) -> Result<crate::views::PipelineView> {
        let p = self.store.get_pipeline(service).await?;
        let c = self.currency(TemplateKind::Service).await?;
        Ok(crate::views::PipelineView { currency: Some(c.view(&p.template_name, p.version)), ..(&p).into() })
    }
}
