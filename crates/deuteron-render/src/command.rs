//! The inputs file of CodeBuild-style provisioning: `proton-inputs.json`, in the shapes Proton
//! wrote for environments, service instances and pipelines. Values keep their JSON types.

use serde_json::{Map, Value};

use deuteron_bundle::InfraFolder;

use crate::{RenderError, RenderedFile};

pub const INPUTS_FILE: &str = "proton-inputs.json";

/// The document Proton wrote for `folder` from its namespaces `ctx`.
pub fn inputs_document(folder: InfraFolder, ctx: &Value) -> Result<Value, RenderError> {
    let get = |v: &Value, k: &str| v.get(k).cloned();
    let need = |k: &str| ctx.get(k).ok_or_else(|| RenderError::Context(format!("the {} context needs `{k}`", folder.dir())));
    let pick = |v: &Value, keys: &[&str], default_empty: bool| -> Value {
        let mut m = Map::new();
        for k in keys {
            match get(v, k) {
                Some(x) => {
                    m.insert((*k).into(), x);
                }
                None if default_empty => {
                    m.insert((*k).into(), Value::String(String::new()));
                }
                None => {}
            }
        }
        Value::Object(m)
    };
    const SERVICE: &[&str] = &["name", "repository_connection_arn", "repository_id", "branch_name"];
    const ENV: &[&str] = &["account_id", "name", "outputs"];
    let mut doc = Map::new();
    match folder {
        InfraFolder::Infrastructure => {
            doc.insert("environment".into(), pick(need("environment")?, &["name", "inputs"], false));
        }
        InfraFolder::InstanceInfrastructure => {
            doc.insert("environment".into(), pick(need("environment")?, ENV, false));
            doc.insert("service".into(), pick(need("service")?, SERVICE, true));
            doc.insert("service_instance".into(), pick(need("service_instance")?, &["name", "inputs"], false));
        }
        InfraFolder::PipelineInfrastructure => {
            doc.insert("pipeline".into(), pick(need("pipeline")?, &["inputs"], false));
            doc.insert("service".into(), pick(need("service")?, SERVICE, true));
            let instances = need("service_instances")?
                .as_array()
                .ok_or_else(|| RenderError::Context("service_instances must be a list".into()))?
                .iter()
                .map(|i| {
                    let mut m = pick(i, &["name", "inputs", "outputs"], false);
                    if let (Value::Object(m), Some(env)) = (&mut m, i.get("environment")) {
                        m.insert("environment".into(), pick(env, ENV, false));
                    }
                    m
                })
                .collect();
            doc.insert("service_instances".into(), Value::Array(instances));
        }
    }
    Ok(Value::Object(doc))
}

/// `proton-inputs.json` for `folder`.
pub fn inputs_file(folder: InfraFolder, ctx: &Value) -> Result<RenderedFile, RenderError> {
    let mut text = serde_json::to_string_pretty(&inputs_document(folder, ctx)?).expect("JSON values serialise");
    text.push('\n');
    Ok(RenderedFile { path: INPUTS_FILE.into(), contents: text.into_bytes() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn instance_shape_with_empty_repository_fields() {
        let ctx = json!({
            "environment": {"name": "dev", "account_id": "111122223333", "outputs": {"Vpc": "vpc-1"}},
            "service": {"name": "api"},
            "service_instance": {"name": "api-dev", "inputs": {"port": 80, "tags": ["a"]}, "components": {}}
        });
        assert_eq!(
            inputs_document(InfraFolder::InstanceInfrastructure, &ctx).unwrap(),
            json!({
                "environment": {"account_id": "111122223333", "name": "dev", "outputs": {"Vpc": "vpc-1"}},
                "service": {"name": "api", "repository_connection_arn": "", "repository_id": "", "branch_name": ""},
                "service_instance": {"name": "api-dev", "inputs": {"port": 80, "tags": ["a"]}}
            })
        );
    }
}
