//! Finding what people name: deployments and rollouts by any unique prefix of their id, and a
//! resource by the name it is known by (`SERVICE/INSTANCE`, an environment, a pipeline, a
//! component).

use deuteron_store::{DeploymentFilter, DeploymentRecord, StoreError, Target};

use crate::{Deuteron, Result, ServiceError};

impl Deuteron {
    /// The full id of a deployment or rollout given by its id or any unique prefix of it (at
    /// least 4 characters), as people type them.
    pub async fn resolve_id(&self, table: deuteron_store::IdTable, given: &str) -> Result<String> {
        let what = match table {
            deuteron_store::IdTable::Deployments => "deployment",
            deuteron_store::IdTable::Rollouts => "rollout",
        };
        let given = given.trim().to_ascii_lowercase();
        // A whole id (what APIs pass) is looked up as it is.
        if given.len() >= 36 {
            return Ok(given);
        }
        if given.len() < 4 {
            return Err(ServiceError::validation(format!("{what} id {given:?}: give at least 4 characters of it")));
        }
        let found = self.store.ids_with_prefix(table, &given, 6).await?;
        match found.as_slice() {
            [] => Err(ServiceError::NotFound(format!("{what} {given}"))),
            [one] => Ok(one.clone()),
            many if many.contains(&given) => Ok(given),
            many => Err(ServiceError::validation(format!(
                "{what} id prefix {given} is ambiguous: it starts {}{}; give more characters",
                many.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
                if many.len() > 5 { ", ..." } else { "" }
            ))),
        }
    }

    /// The resource a person names: `SERVICE/INSTANCE`, or a name that is an environment, a
    /// service's pipeline or a component (`env:`, `pipeline:` or `component:` in front when it
    /// is more than one of them).
    pub async fn resource_target(&self, name: &str) -> Result<Target> {
        let name = name.trim();
        if let Some((kind, rest)) = name.split_once(':') {
            return match kind {
                "env" | "environment" => Ok(Target::Environment(self.store.get_environment(rest).await?.name)),
                "pipeline" => Ok(Target::ServicePipeline(self.store.get_pipeline(rest).await?.service_name)),
                "component" => Ok(Target::Component(self.store.get_component(rest).await?.name)),
                other => Err(ServiceError::validation(format!("{name:?}: {other:?} is not env, pipeline or component"))),
            };
        }
        if let Some((service, instance)) = name.split_once('/') {
            let i = self.store.get_instance(service, instance).await?;
            return Ok(Target::ServiceInstance { service: i.service_name, instance: i.name });
        }
        let mut found = Vec::new();
        if self.store.get_environment(name).await.is_ok() {
            found.push(("env", Target::Environment(name.to_string())));
        }
        if self.store.get_pipeline(name).await.is_ok() {
            found.push(("pipeline", Target::ServicePipeline(name.to_string())));
        }
        if self.store.get_component(name).await.is_ok() {
            found.push(("component", Target::Component(name.to_string())));
        }
        match found.len() {
            0 => Err(ServiceError::NotFound(format!("environment, pipeline, component or service instance (SERVICE/INSTANCE) {name}"))),
            1 => Ok(found.remove(0).1),
            _ => Err(ServiceError::validation(format!(
                "{name} names {}; say which: {}",
                found.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(" and "),
                found.iter().map(|(k, _)| format!("{k}:{name}")).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// The newest deployment of the resource `name` names ([`Deuteron::resource_target`]).
    pub async fn latest_deployment(&self, name: &str) -> Result<DeploymentRecord> {
        let target = self.resource_target(name).await?;
        let filter = DeploymentFilter { target: Some(target.clone()), limit: Some(1), ..Default::default() };
        self.store
            .list_deployments(&filter)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::NotFound(format!("a deployment of {target}")))
    }

    /// A store error, with a not-found one naming the closest existing name.
    async fn hinted(&self, e: StoreError, kind: Named<'_>) -> ServiceError {
        if !matches!(e, StoreError::NotFound(_)) {
            return e.into();
        }
        let names: Vec<String> = match kind {
            Named::Environment(_) => self.store.list_environments().await.map(|l| l.into_iter().map(|e| e.name).collect()),
            Named::Service(_) => self.store.list_services().await.map(|l| l.into_iter().map(|s| s.name).collect()),
            Named::Instance(service, _) => {
                self.store.list_instances(Some(service), None).await.map(|l| l.into_iter().map(|i| i.name).collect())
            }
            Named::Template(k, _) => self.store.list_templates(Some(k)).await.map(|l| l.into_iter().map(|t| t.name).collect()),
        }
        .unwrap_or_default();
        let (what, name) = match kind {
            Named::Environment(n) => (format!("environment {n}"), n),
            Named::Service(n) => (format!("service {n}"), n),
            Named::Instance(s, n) => (format!("service instance {s}/{n}"), n),
            Named::Template(k, n) => (format!("{k} template {n}"), n),
        };
        crate::not_found(what, name, names.iter().map(String::as_str))
    }

    /// Reads with `read`; a not-found answer names the closest existing name.
    pub(crate) async fn named<T>(
        &self,
        kind: Named<'_>,
        read: impl std::future::Future<Output = std::result::Result<T, StoreError>>,
    ) -> Result<T> {
        match read.await {
            Ok(v) => Ok(v),
            Err(e) => Err(self.hinted(e, kind).await),
        }
    }
}

/// What a person named, to suggest a close name when it does not exist.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Named<'a> {
    Environment(&'a str),
    Service(&'a str),
    Instance(&'a str, &'a str),
    Template(deuteron_core::TemplateKind, &'a str),
}
