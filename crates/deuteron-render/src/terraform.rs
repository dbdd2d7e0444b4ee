//! The files Proton generated next to a Terraform bundle's own `.tf` files:
//! `proton.<resource>.variables.tf` declaring the namespaces, and `proton.auto.tfvars.json`
//! holding their values.

use serde_json::{Map, Value};

use deuteron_bundle::InfraFolder;

use crate::{RenderError, RenderedFile, ResourceMeta};

pub const TFVARS_FILE: &str = "proton.auto.tfvars.json";

/// The variable declaration file's name for a folder.
pub fn variables_file_name(folder: InfraFolder) -> &'static str {
    match folder {
        InfraFolder::Infrastructure => "proton.environment.variables.tf",
        InfraFolder::InstanceInfrastructure => "proton.service_instance.variables.tf",
        InfraFolder::PipelineInfrastructure => "proton.service_pipeline.variables.tf",
    }
}

fn header(meta: &ResourceMeta) -> String {
    format!(
        "/*\nThis file is managed by Deuteron. Any changes made directly to this file will be overwritten the next time Deuteron performs an update.\n\nTo manage this resource, see Deuteron resource: {}\n\nIf the resource is no longer accessible within Deuteron, it may have been deleted and may require manual cleanup.\n*/\n\n",
        meta.arn
    )
}

const PROTON_TAGS: &str = "variable \"proton_tags\" {\n  type    = map(string)\n  default = null\n}\n";

/// `proton.<resource>.variables.tf` and `proton.auto.tfvars.json` for `ctx`.
pub fn generated_files(folder: InfraFolder, ctx: &Value, meta: &ResourceMeta) -> Result<Vec<RenderedFile>, RenderError> {
    let obj = ctx.as_object().ok_or_else(|| RenderError::Context("the Terraform context must be a mapping".into()))?;
    let need = |k: &str| obj.get(k).ok_or_else(|| RenderError::Context(format!("the {} context needs `{k}`", folder.dir())));
    let mut decl = header(meta);
    let mut vars = Map::new();
    match folder {
        InfraFolder::Infrastructure => {
            decl.push_str("variable \"environment\" {\n  type = object({\n    inputs = map(string)\n    name   = string\n  })\n  default = null\n}\n\n");
            vars.insert("environment".into(), need("environment")?.clone());
        }
        InfraFolder::InstanceInfrastructure => {
            decl.push_str("variable \"environment\" {\n  type = object({\n    account_id = string\n    name       = string\n    outputs    = map(string)\n  })\n  default = null\n}\n\n");
            let service = need("service")?;
            decl.push_str(&service_variable(service));
            let instance = need("service_instance")?;
            if instance.get("components").is_some() {
                decl.push_str("variable \"service_instance\" {\n  type = object({\n    name       = string\n    inputs     = any\n    components = map(any)\n  })\n  default = null\n}\n\n");
            } else {
                decl.push_str("variable \"service_instance\" {\n  type = object({\n    name   = string\n    inputs = map(string)\n  })\n  default = null\n}\n\n");
            }
            vars.insert("environment".into(), need("environment")?.clone());
            vars.insert("service".into(), service.clone());
            vars.insert("service_instance".into(), instance.clone());
        }
        InfraFolder::PipelineInfrastructure => {
            decl.push_str("variable \"service_instances\" {\n  type = list(object({\n    name        = string\n    inputs      = map(string)\n    outputs     = map(string)\n    environment = object({\n      account_id = string\n      name       = string\n      outputs    = map(string)\n    })\n  }))\n  default = null\n}\n\n");
            let service = need("service")?;
            decl.push_str(&service_variable(service));
            decl.push_str("variable \"pipeline\" {\n  type = object({\n    inputs = map(string)\n  })\n  default = null\n}\n\n");
            let instances: Vec<Value> = need("service_instances")?
                .as_array()
                .ok_or_else(|| RenderError::Context("service_instances must be a list".into()))?
                .iter()
                .map(|i| {
                    let mut m = Map::new();
                    for k in ["name", "inputs", "outputs", "environment"] {
                        if let Some(v) = i.get(k) {
                            m.insert(k.into(), v.clone());
                        }
                    }
                    Value::Object(m)
                })
                .collect();
            vars.insert("service_instances".into(), Value::Array(instances));
            vars.insert("service".into(), service.clone());
            vars.insert("pipeline".into(), need("pipeline")?.clone());
        }
    }
    decl.push_str(PROTON_TAGS);
    if !meta.proton_tags.is_empty() {
        vars.insert("proton_tags".into(), Value::Object(meta.proton_tags.clone()));
    }
    Ok(vec![RenderedFile { path: variables_file_name(folder).into(), contents: decl.into_bytes() }, tfvars_file(vars)])
}

/// `proton.component.variables.tf` and `proton.auto.tfvars.json` for a directly defined
/// component: the environment (with outputs), the component's name and, when attached, the
/// service and the instance with its inputs.
pub fn component_files(ctx: &Value, meta: &ResourceMeta) -> Result<Vec<RenderedFile>, RenderError> {
    let obj = ctx.as_object().ok_or_else(|| RenderError::Context("the Terraform context must be a mapping".into()))?;
    let mut decl = header(meta);
    decl.push_str("variable \"environment\" {\n  type = object({\n    account_id = string\n    name       = string\n    outputs    = map(string)\n  })\n  default = null\n}\n\n");
    decl.push_str("variable \"service\" {\n  type = object({\n    name = string\n  })\n  default = null\n}\n\n");
    decl.push_str(
        "variable \"service_instance\" {\n  type = object({\n    name   = string\n    inputs = any\n  })\n  default = null\n}\n\n",
    );
    decl.push_str("variable \"component\" {\n  type = object({\n    name = string\n  })\n  default = null\n}\n\n");
    decl.push_str(PROTON_TAGS);
    let mut vars = Map::new();
    for k in ["environment", "service", "service_instance", "component"] {
        if let Some(v) = obj.get(k) {
            vars.insert(k.into(), v.clone());
        }
    }
    if !meta.proton_tags.is_empty() {
        vars.insert("proton_tags".into(), Value::Object(meta.proton_tags.clone()));
    }
    Ok(vec![RenderedFile { path: "proton.component.variables.tf".into(), contents: decl.into_bytes() }, tfvars_file(vars)])
}

fn tfvars_file(vars: Map<String, Value>) -> RenderedFile {
    let mut tfvars = serde_json::to_string_pretty(&Value::Object(vars)).expect("JSON values serialise");
    tfvars.push('\n');
    RenderedFile { path: TFVARS_FILE.into(), contents: tfvars.into_bytes() }
}

/// `service` carries the repository fields only when the service has a pipeline.
fn service_variable(service: &Value) -> String {
    if service.get("repository_id").is_some() {
        "variable \"service\" {\n  type = object({\n    name                      = string\n    branch_name               = string\n    repository_connection_arn = string\n    repository_id             = string\n  })\n  default = null\n}\n\n".into()
    } else {
        "variable \"service\" {\n  type = object({\n    name = string\n  })\n  default = null\n}\n\n".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn environment_files() {
        let meta = ResourceMeta {
            arn: "arn:aws:proton:us-east-1:123456789012:environment/dev".into(),
            proton_tags: json!({"proton:environment": "arn:aws:proton:us-east-1:123456789012:environment/dev"})
                .as_object()
                .unwrap()
                .clone(),
        };
        let files =
            generated_files(InfraFolder::Infrastructure, &json!({"environment": {"name": "dev", "inputs": {"a": "b"}}}), &meta).unwrap();
        let decl = String::from_utf8(files[0].contents.clone()).unwrap();
        assert_eq!(files[0].path, "proton.environment.variables.tf");
        assert!(decl.contains("To manage this resource, see Deuteron resource: arn:aws:proton:us-east-1:123456789012:environment/dev"));
        assert!(decl.contains(
            "variable \"environment\" {\n  type = object({\n    inputs = map(string)\n    name   = string\n  })\n  default = null\n}\n"
        ));
        assert!(decl.ends_with(PROTON_TAGS));
        let vars: Value = serde_json::from_slice(&files[1].contents).unwrap();
        assert_eq!(
            vars,
            json!({"environment": {"name": "dev", "inputs": {"a": "b"}}, "proton_tags": {"proton:environment": "arn:aws:proton:us-east-1:123456789012:environment/dev"}})
        );
    }

    #[test]
    fn missing_namespace_is_an_error() {
        let e = generated_files(InfraFolder::InstanceInfrastructure, &json!({"environment": {}}), &ResourceMeta::default()).unwrap_err();
        assert_eq!(e.to_string(), "render context: the instance_infrastructure context needs `service`");
    }
}
