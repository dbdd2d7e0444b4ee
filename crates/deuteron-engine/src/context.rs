//! The namespaces a target's templates see, built as Proton built them: environment templates
//! see `environment.{name,inputs}`; instance templates see the environment's outputs, the
//! service and `service_instance`; pipeline templates see the service, `pipeline.inputs` and every
//! instance with its outputs and environment; component templates see the environment, the
//! component's name and, when attached, the service and instance.

use serde_json::{Map, Value, json};

use deuteron_core::ArnConfig;
use deuteron_store::{ResourceState, Store, StoreError, Target};

fn outputs_map(pairs: Vec<(String, String)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k, Value::String(v))).collect::<Map<_, _>>())
}

fn environment_value(arn: &ArnConfig, name: &str, outputs: Vec<(String, String)>) -> Value {
    json!({"name": name, "account_id": arn.account_id, "outputs": outputs_map(outputs)})
}

async fn environment_ns(store: &dyn Store, arn: &ArnConfig, name: &str) -> Result<Value, StoreError> {
    Ok(environment_value(arn, name, store.outputs(&Target::Environment(name.to_string())).await?))
}

/// The `service` namespace: the repository fields only when the service has a pipeline.
fn service_value(name: &str, pipeline_repo: Option<[Option<String>; 3]>) -> Value {
    match pipeline_repo {
        Some([branch, connection, repository]) => json!({
            "name": name,
            "branch_name": branch.unwrap_or_default(),
            "repository_connection_arn": connection.unwrap_or_default(),
            "repository_id": repository.unwrap_or_default(),
        }),
        None => json!({"name": name}),
    }
}

async fn service_ns(store: &dyn Store, name: &str) -> Result<Value, StoreError> {
    let svc = store.get_service(name).await?;
    let has_pipeline = store.get_pipeline(name).await.is_ok();
    Ok(service_value(name, has_pipeline.then_some([svc.branch_name, svc.repository_connection_arn, svc.repository_id])))
}

/// The namespaces for deploying `target` to `state`.
pub async fn build(store: &dyn Store, arn: &ArnConfig, target: &Target, state: &ResourceState) -> Result<Value, StoreError> {
    Ok(match target {
        Target::Environment(name) => json!({"environment": {"name": name, "inputs": state.inputs}}),
        Target::ServiceInstance { service, instance } => {
            let c = store.instance_context(service, instance).await?;
            let repo = [c.branch_name, c.repository_connection_arn, c.repository_id];
            // With no component attached it is `{"outputs": {}}`, so whole-object references
            // render empty as in Proton.
            let component = match c.component {
                Some((name, outputs)) => json!({"name": name, "outputs": outputs_map(outputs)}),
                None => json!({"outputs": {}}),
            };
            json!({
                "environment": environment_value(arn, &c.environment_name, c.environment_outputs),
                "service": service_value(service, c.has_pipeline.then_some(repo)),
                "service_instance": {
                    "name": instance,
                    "inputs": state.inputs,
                    "components": {"default": component},
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
