//! Proton spec files: `proton: EnvironmentSpec` and `proton: ServiceSpec`.

use serde_json::{Map, Value};

use deuteron_core::ResourceName;

use crate::bundle::BundleError;
use crate::schema::{InputError, InputKind, TemplateSchema, compact};
use crate::yaml;

/// A parsed spec file.
#[derive(Debug, Clone, PartialEq)]
pub enum SpecFile {
    Environment(EnvironmentSpec),
    Service(ServiceSpec),
}

/// `proton: EnvironmentSpec` with the environment's inputs under `spec`.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvironmentSpec {
    pub spec: Value,
}

/// `proton: ServiceSpec`: pipeline inputs and one entry per service instance.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    pub pipeline: Option<Value>,
    pub instances: Vec<ServiceSpecInstance>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpecInstance {
    pub name: String,
    pub environment: String,
    pub spec: Value,
}

impl SpecFile {
    /// Parses the spec in `text`; errors name `file` and the JSON path of the problem.
    pub fn parse(file: &str, text: &str) -> Result<Self, BundleError> {
        let doc: Value = yaml::parse(file, text)?;
        let err = |key: &str, message: String| BundleError::Invalid {
            file: file.to_string(),
            line: Some(yaml::line_of_key(text, key, 0)),
            message,
        };
        let root = doc
            .as_object()
            .ok_or_else(|| err("proton", "$: a spec must be a mapping with `proton: EnvironmentSpec` or `proton: ServiceSpec`".into()))?;
        let object_or_empty = |key: &str, v: Option<&Value>| -> Result<Value, BundleError> {
            match v {
                None | Some(Value::Null) => Ok(Value::Object(Map::new())),
                Some(v @ Value::Object(_)) => Ok(v.clone()),
                Some(other) => Err(err(key, format!("$.{key}: must be a mapping of inputs, got {}", compact(other)))),
            }
        };
        match root.get("proton").and_then(Value::as_str) {
            Some("EnvironmentSpec") => {
                if let Some(k) = root.keys().find(|k| *k != "proton" && *k != "spec") {
                    return Err(err(k, format!("$.{k}: unknown key in an EnvironmentSpec (expected proton, spec)")));
                }
                Ok(SpecFile::Environment(EnvironmentSpec { spec: object_or_empty("spec", root.get("spec"))? }))
            }
            Some("ServiceSpec") => {
                if let Some(k) = root.keys().find(|k| !matches!(k.as_str(), "proton" | "pipeline" | "instances")) {
                    return Err(err(k, format!("$.{k}: unknown key in a ServiceSpec (expected proton, pipeline, instances)")));
                }
                let pipeline = match root.get("pipeline") {
                    None => None,
                    v => Some(object_or_empty("pipeline", v)?),
                };
                let list = match root.get("instances") {
                    Some(Value::Array(items)) if !items.is_empty() => items,
                    _ => {
                        return Err(err("instances", "$.instances: a ServiceSpec needs a list of at least one instance".into()));
                    }
                };
                let mut instances: Vec<ServiceSpecInstance> = Vec::new();
                let mut after = 0;
                for (i, item) in list.iter().enumerate() {
                    after = yaml::line_of_key(text, "name", after);
                    let at = format!("$.instances[{i}]");
                    let ierr = |m: String| BundleError::Invalid { file: file.to_string(), line: Some(after), message: format!("{at}{m}") };
                    let obj = item.as_object().ok_or_else(|| ierr(format!(": must be a mapping, got {}", compact(item))))?;
                    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "name" | "environment" | "spec")) {
                        return Err(ierr(format!(".{k}: unknown key (expected name, environment, spec)")));
                    }
                    let field = |k: &str| -> Result<String, BundleError> {
                        let v = obj.get(k).and_then(Value::as_str).ok_or_else(|| ierr(format!(".{k}: is required and must be a name")))?;
                        ResourceName::parse(v).map_err(|e| ierr(format!(".{k}: {e}")))?;
                        Ok(v.to_string())
                    };
                    let name = field("name")?;
                    let environment = field("environment")?;
                    if instances.iter().any(|x| x.name == name) {
                        return Err(ierr(format!(".name: instance {name:?} is listed twice")));
                    }
                    let spec = match obj.get("spec") {
                        None | Some(Value::Null) => Value::Object(Map::new()),
                        Some(v @ Value::Object(_)) => v.clone(),
                        Some(other) => {
                            return Err(ierr(format!(".spec: must be a mapping of inputs, got {}", compact(other))));
                        }
                    };
                    instances.push(ServiceSpecInstance { name, environment, spec });
                }
                Ok(SpecFile::Service(ServiceSpec { pipeline, instances }))
            }
            Some(other) => Err(err("proton", format!("$.proton: {other:?} is not EnvironmentSpec or ServiceSpec"))),
            None => Err(err("proton", "$.proton: is required (EnvironmentSpec or ServiceSpec)".into())),
        }
    }
}

impl EnvironmentSpec {
    /// The inputs with defaults applied, or every rule they break.
    pub fn validate(&self, schema: &TemplateSchema) -> Result<Value, Vec<InputError>> {
        schema.validate(InputKind::Environment, &self.spec, "$.spec")
    }
}

impl ServiceSpec {
    /// Validates the pipeline and every instance, collecting all errors. Returns the pipeline
    /// inputs (when the schema has a pipeline type) and each instance's inputs, defaults applied.
    pub fn validate(&self, schema: &TemplateSchema) -> Result<(Option<Value>, Vec<Value>), Vec<InputError>> {
        let mut errors = Vec::new();
        let pipeline = if schema.has(InputKind::Pipeline) {
            let given = self.pipeline.clone().unwrap_or(Value::Null);
            match schema.validate(InputKind::Pipeline, &given, "$.pipeline") {
                Ok(v) => Some(v),
                Err(e) => {
                    errors.extend(e);
                    None
                }
            }
        } else {
            if let Err(e) = schema.validate(InputKind::Pipeline, self.pipeline.as_ref().unwrap_or(&Value::Null), "$.pipeline") {
                errors.extend(e);
            }
            None
        };
        let mut instances = Vec::new();
        for (i, inst) in self.instances.iter().enumerate() {
            match schema.validate(InputKind::ServiceInstance, &inst.spec, &format!("$.instances[{i}].spec")) {
                Ok(v) => instances.push(v),
                Err(e) => errors.extend(e),
            }
        }
        if errors.is_empty() { Ok((pipeline, instances)) } else { Err(errors) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_kinds() {
        let SpecFile::Environment(e) = SpecFile::parse("spec.yaml", "proton: EnvironmentSpec\nspec:\n  a: 1\n").unwrap() else { panic!() };
        assert_eq!(e.spec, serde_json::json!({"a": 1}));
        let s = SpecFile::parse(
            "spec.yaml",
            "proton: ServiceSpec\npipeline:\n  x: y\ninstances:\n  - name: one\n    environment: dev\n    spec:\n      port: 80\n  - name: two\n    environment: prod\n",
        )
        .unwrap();
        let SpecFile::Service(s) = s else { panic!() };
        assert_eq!(s.instances.len(), 2);
        assert_eq!(s.instances[1].spec, serde_json::json!({}));
        assert_eq!(s.pipeline, Some(serde_json::json!({"x": "y"})));
    }

    #[test]
    fn errors_name_file_line_and_path() {
        let e = SpecFile::parse(
            "spec.yaml",
            "proton: ServiceSpec\ninstances:\n  - name: one\n    environment: dev\n  - name: one\n    environment: prod\n",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "spec.yaml:5: $.instances[1].name: instance \"one\" is listed twice");
        let e = SpecFile::parse("spec.yaml", "proton: ServiceSpec\ninstances:\n  - name: bad/name\n    environment: dev\n").unwrap_err();
        assert!(e.to_string().starts_with("spec.yaml:3: $.instances[0].name: name \"bad/name\" contains '/'"), "{e}");
        let e = SpecFile::parse("spec.yaml", "proton: Spec\n").unwrap_err();
        assert_eq!(e.to_string(), "spec.yaml:1: $.proton: \"Spec\" is not EnvironmentSpec or ServiceSpec");
        let e = SpecFile::parse("spec.yaml", "proton: EnvironmentSpec\nspec: [1]\n").unwrap_err();
        assert_eq!(e.to_string(), "spec.yaml:2: $.spec: must be a mapping of inputs, got [1]");
    }
}
