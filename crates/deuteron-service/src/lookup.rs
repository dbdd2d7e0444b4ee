//! Finding what people name: deployments and rollouts by any unique prefix of their id, and a
//! resource by the name it is known by (`SERVICE/INSTANCE`, an environment, a pipeline, a
//! component).

use deuteron_store::{DeploymentFilter, DeploymentRecord, Target};

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
}
