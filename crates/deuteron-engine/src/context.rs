//! The namespaces a target's templates see, built as Proton built them: environment templates
//! see `environment.{name,inputs}`; instance templates see the environment's outputs, the
//! service and `service_instance`; pipeline templates see the service, `pipeline.inputs` and every
//! instance with its outputs and environment; component templates see the environment, the
//! component's name and, when attached, the service and instance.

use serde_json::{Map, Value, json};

use deuteron_core::ArnConfig;
use deuteron_store::{ComponentFilter, ResourceState, Store, StoreError, Target};

fn outputs_map(pairs: Vec<(String, String)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect::<Map<_, _>>())
}

async fn environment_ns(store: &dyn Store, arn: &ArnConfig, name: &str) -> Result<Value, StoreError> {
    let outputs = store.outputs(&Target::Environment(name.to_string())).await?;
    Ok(json!({"name": name, "account_id": arn.account_id, "outputs": outputs_map(outputs)}))
}

async fn service_ns(store: &dyn Store, name: &str) -> Result<Value, StoreError> {
    let svc = store.get_service(name).await?;
    let has_pipeline = store.get_pipeline(name).await.is_ok();
    Ok(if has_pipeline {
        json!({
            "name": name,
            "branch_name": svc.branch_name.unwrap_or_default(),
            "repository_connection_arn": svc.repository_connection_arn.unwrap_or_default(),
            "repository_id": svc.repository_id.unwrap_or_default(),
        })
    } else {
        json!({"name": name})
    })
}

/// `service_instance.components.default`: the attached component's name and outputs. With no
/// component attached it is `{"outputs": {}}`, so whole-object references render empty as in
/// Proton.
async fn attached_component(store: &dyn Store, service: &str, instance: &str) -> Result<Value, StoreError> {
    let filter = ComponentFilter {
        service_name: Some(service.to_string()),
        service_instance_name: Some(instance.to_string()),
        ..Default::default()
    };
    Ok(match store.list_components(&filter).await?.into_iter().next() {
        Some(c) => {
            let outputs = store.outputs(&Target::Component(c.name.clone())).await?;
            json!({"name": c.name, "outputs": outputs_map(outputs)})
        }
        None => json!({"outputs": {}}),
    })
}

/// The namespaces for deploying `target` to `state`.
pub async fn build(store: &dyn Store, arn: &ArnConfig, target: &Target, state: &ResourceState) -> Result<Value, StoreError> {
    Ok(match target {
        Target::Environment(name) => json!({"environment": {"name": name, "inputs": state.inputs}}),
        Target::ServiceInstance { service, instance } => {
            let rec = store.get_instance(service, instance).await?;
            json!({
                "environment": environment_ns(store, arn, &rec.environment_name).await?,
                "service": service_ns(store, service).await?,
                "service_instance": {
                    "name": instance,
                    "inputs": state.inputs,
                    "components": {"default": attached_component(store, service, instance).await?},
                },
            })
        }
        Target::Component(name) => {
            let comp = store.get_component(name).await?;
            let mut ns = json!({
                "environment": environment_ns(store, arn, &comp.environment_name).await?,
                "component": {"name": name},
            });
            let attached = state.component.as_ref();
            if let (Some(s), Some(i)) =
                (attached.and_then(|c| c.service_name.as_ref()), attached.and_then(|c| c.service_instance_name.as_ref()))
            {
                ns["service"] = json!({"name": s});
                ns["service_instance"] = json!({"name": i, "inputs": state.inputs});
            }
            ns
        }
        Target::ServicePipeline(service) => {
            let mut items = Vec::new();
            for i in store.list_instances(Some(service), None).await? {
                let outputs = store.outputs(&Target::ServiceInstance { service: service.clone(), instance: i.name.clone() }).await?;
                items.push(json!({
                    "name": i.name,
                    "inputs": serde_json::from_str::<Value>(&i.inputs).unwrap_or_else(|_| json!({})),
                    "outputs": outputs_map(outputs),
                    "environment": environment_ns(store, arn, &i.environment_name).await?,
                }));
            }
            json!({"service": service_ns(store, service).await?, "pipeline": {"inputs": state.inputs}, "service_instances": items})
        }
    })
}
