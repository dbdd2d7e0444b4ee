//! `schema/schema.yaml`: the inputs of a template version, in Proton's OpenAPI 3.0 subset.
//!
//! Each input type is converted into a JSON Schema (draft 2020-12) and compiled once; spec inputs
//! are then completed with the schema's defaults and validated. Every error names the JSON path,
//! the rule and the offending value.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{Map, Value};

use crate::bundle::BundleError;
use crate::yaml;

/// Largest schema Proton accepted (`schema` ≤ 51200 characters).
pub const MAX_SCHEMA_CHARS: usize = 51_200;

/// Which input type of a schema a spec section is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InputKind {
    Environment,
    ServiceInstance,
    Pipeline,
}

impl InputKind {
    /// The schema key that names this kind's type.
    pub fn schema_key(self) -> &'static str {
        match self {
            InputKind::Environment => "environment_input_type",
            InputKind::ServiceInstance => "service_input_type",
            InputKind::Pipeline => "pipeline_input_type",
        }
    }
}

/// One input value that broke a rule of the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    /// JSON path of the value, e.g. `$.instances[0].spec.port`.
    pub path: String,
    /// The schema keyword that failed, e.g. `maximum`, `required`, `type`.
    pub rule: String,
    /// The offending value as JSON.
    pub value: String,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} (rule: {}, value: {})", self.path, self.message, self.rule, self.value)
    }
}

/// A compiled input type.
struct InputType {
    name: String,
    json_schema: Value,
    validator: jsonschema::Validator,
}

/// A parsed, converted and compiled `schema.yaml`.
pub struct TemplateSchema {
    text: String,
    input_types: BTreeMap<InputKind, InputType>,
}

impl fmt::Debug for TemplateSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateSchema")
            .field("input_types", &self.input_types.iter().map(|(k, t)| (k, &t.name)).collect::<Vec<_>>())
            .finish()
    }
}

const ANNOTATIONS_KEPT: &[&str] = &["description", "title", "deprecated", "readOnly", "writeOnly", "format"];
const ANNOTATIONS_DROPPED: &[&str] = &["externalDocs", "xml", "discriminator"];

impl TemplateSchema {
    /// Parses `text`, the contents of `file` (named in errors).
    pub fn parse(file: &str, text: &str) -> Result<Self, BundleError> {
        if text.chars().count() > MAX_SCHEMA_CHARS {
            return Err(BundleError::Invalid {
                file: file.into(),
                line: None,
                message: format!("schema is longer than {MAX_SCHEMA_CHARS} characters"),
            });
        }
        let doc: Value = yaml::parse(file, text)?;
        let err =
            |key: &str, message: String| BundleError::Invalid { file: file.into(), line: Some(yaml::line_of_key(text, key, 0)), message };
        let root = doc.as_object().ok_or_else(|| err("schema", "the document must be a mapping with a `schema` key".into()))?;
        if let Some(k) = root.keys().find(|k| *k != "schema") {
            return Err(err(k, format!("unknown top-level key `{k}`; the document holds only `schema`")));
        }
        let schema = root
            .get("schema")
            .and_then(Value::as_object)
            .ok_or_else(|| err("schema", "`schema` is required and must be a mapping".into()))?;
        for k in schema.keys() {
            if !matches!(k.as_str(), "format" | "types" | "environment_input_type" | "service_input_type" | "pipeline_input_type") {
                return Err(err(
                    k,
                    format!(
                        "schema.{k} is not a known key (format, types, environment_input_type, service_input_type, pipeline_input_type)"
                    ),
                ));
            }
        }
        let openapi = schema.get("format").and_then(|f| f.get("openapi")).and_then(Value::as_str);
        match openapi {
            Some(v) if v.starts_with("3.0") => {}
            Some(v) => {
                return Err(err("openapi", format!("schema.format.openapi is {v:?}; only \"3.0.0\" is supported")));
            }
            None => {
                return Err(err("format", "schema.format.openapi is required (\"3.0.0\")".into()));
            }
        }
        let types = schema
            .get("types")
            .and_then(Value::as_object)
            .ok_or_else(|| err("types", "schema.types is required and must be a mapping of type names to schemas".into()))?;
        let mut input_types = BTreeMap::new();
        for kind in [InputKind::Environment, InputKind::ServiceInstance, InputKind::Pipeline] {
            let key = kind.schema_key();
            let Some(name) = schema.get(key) else {
                continue;
            };
            let name = name.as_str().ok_or_else(|| err(key, format!("schema.{key} must be a type name")))?;
            let ty = types
                .get(name)
                .ok_or_else(|| err(key, format!("schema.{key} names type {name:?}, which is not defined under schema.types")))?;
            let at = format!("schema.types.{name}");
            if ty.get("type").and_then(Value::as_str) != Some("object") {
                return Err(err(name, format!("{at} must have `type: object`: its properties are the inputs")));
            }
            let at_path = |path: &str, m: String| BundleError::Invalid {
                file: file.into(),
                line: Some(yaml::line_of_path(text, path)),
                message: format!("{path}: {m}"),
            };
            let mut json_schema = convert(ty, &at, types, 0).map_err(|(path, m)| at_path(&path, m))?;
            if let Some(obj) = json_schema.as_object_mut() {
                obj.entry("additionalProperties").or_insert(Value::Bool(false));
                obj.entry("properties").or_insert_with(|| Value::Object(Map::new()));
                obj.insert("$schema".into(), Value::String("https://json-schema.org/draft/2020-12/schema".into()));
            }
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(false)
                .build(&json_schema)
                .map_err(|e| err(name, format!("{at}: {e}")))?;
            check_defaults(ty, &at).map_err(|(path, m)| at_path(&path, m))?;
            input_types.insert(kind, InputType { name: name.to_string(), json_schema, validator });
        }
        if input_types.is_empty() {
            return Err(err(
                "schema",
                "schema names no input type: set environment_input_type (environment templates) or service_input_type (service templates)"
                    .into(),
            ));
        }
        Ok(Self { text: text.to_string(), input_types })
    }

    /// The schema text as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn has(&self, kind: InputKind) -> bool {
        self.input_types.contains_key(&kind)
    }

    /// The type name a kind points at.
    pub fn type_name(&self, kind: InputKind) -> Option<&str> {
        self.input_types.get(&kind).map(|t| t.name.as_str())
    }

    /// The JSON Schema an input kind was converted into.
    pub fn json_schema(&self, kind: InputKind) -> Option<&Value> {
        self.input_types.get(&kind).map(|t| &t.json_schema)
    }

    /// Fills defaults into `inputs` and validates them. `base_path` prefixes the JSON paths of
    /// errors (`$.spec`, `$.instances[0].spec`, ...). A kind the schema lacks accepts no inputs.
    pub fn validate(&self, kind: InputKind, inputs: &Value, base_path: &str) -> Result<Value, Vec<InputError>> {
        let Some(ty) = self.input_types.get(&kind) else {
            let empty = inputs.is_null() || inputs.as_object().is_some_and(Map::is_empty);
            return if empty {
                Ok(Value::Object(Map::new()))
            } else {
                Err(vec![InputError {
                    path: base_path.to_string(),
                    rule: kind.schema_key().to_string(),
                    value: compact(inputs),
                    message: format!("this template takes no {} inputs (its schema has no {})", kind_noun(kind), kind.schema_key()),
                }])
            };
        };
        let mut value = if inputs.is_null() { Value::Object(Map::new()) } else { inputs.clone() };
        apply_defaults(&ty.json_schema, &mut value);
        let errors: Vec<InputError> = ty
            .validator
            .iter_errors(&value)
            .map(|e| {
                let pointer = e.instance_path().to_string();
                let mut path = pointer_to_path(base_path, &pointer);
                let rule = e.kind().keyword().to_string();
                let mut shown = e.instance().as_ref().clone();
                if let jsonschema::error::ValidationErrorKind::Required { property } = e.kind() {
                    if let Some(p) = property.as_str() {
                        path = format!("{path}.{p}");
                    }
                    shown = Value::Null;
                }
                if let jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } = e.kind()
                    && let [one] = unexpected.as_slice()
                {
                    path = format!("{path}.{one}");
                    shown = value_at(&value, &pointer).and_then(|o| o.get(one)).cloned().unwrap_or(Value::Null);
                }
                InputError { path, rule: rule.clone(), value: compact(&shown), message: message_for(&e, &rule) }
            })
            .collect();
        if errors.is_empty() { Ok(value) } else { Err(errors) }
    }

    /// Changes from `older` that break inputs valid for it: what makes a new minor version
    /// incompatible. Empty when `self` may be a minor version after `older`.
    pub fn breaking_changes_from(&self, older: &TemplateSchema) -> Vec<String> {
        let mut out = Vec::new();
        for kind in [InputKind::Environment, InputKind::ServiceInstance, InputKind::Pipeline] {
            match (older.input_types.get(&kind), self.input_types.get(&kind)) {
                (None, None) => {}
                (Some(_), None) => out.push(format!("{} was removed", kind.schema_key())),
                (None, Some(_)) => out.push(format!("{} was added", kind.schema_key())),
                (Some(o), Some(n)) => compare(&o.json_schema, &n.json_schema, &format!("{}.{}", kind.schema_key(), n.name), &mut out),
            }
        }
        out
    }
}

fn kind_noun(kind: InputKind) -> &'static str {
    match kind {
        InputKind::Environment => "environment",
        InputKind::ServiceInstance => "service instance",
        InputKind::Pipeline => "pipeline",
    }
}

/// Converts one OpenAPI 3.0 Schema Object to JSON Schema 2020-12. Errors are `(path, message)`.
fn convert(v: &Value, at: &str, types: &Map<String, Value>, depth: usize) -> Result<Value, (String, String)> {
    if depth > 32 {
        return Err((at.into(), "schema nests deeper than 32 levels (a $ref cycle?)".into()));
    }
    let obj = v.as_object().ok_or_else(|| (at.to_string(), format!("must be a schema mapping, got {}", compact(v))))?;
    let mut out = Map::new();
    let mut nullable = false;
    for (k, val) in obj {
        let here = format!("{at}.{k}");
        let bad = |what: &str| Err((here.clone(), format!("{what}, got {}", compact(val))));
        match k.as_str() {
            "type" => match val.as_str() {
                Some("string" | "number" | "integer" | "boolean" | "array" | "object") => {
                    out.insert(k.clone(), val.clone());
                }
                _ => return bad("must be one of string, number, integer, boolean, array, object"),
            },
            "nullable" => nullable = val.as_bool().ok_or_else(|| (here.clone(), "must be true or false".to_string()))?,
            "default" => {
                out.insert(k.clone(), val.clone());
            }
            "example" => {
                out.insert("examples".into(), Value::Array(vec![val.clone()]));
            }
            "enum" => match val.as_array() {
                Some(a) if !a.is_empty() => {
                    out.insert(k.clone(), val.clone());
                }
                _ => return bad("must be a non-empty list"),
            },
            "pattern" => match val.as_str() {
                Some(p) => {
                    if let Err(e) = regex::Regex::new(p) {
                        return Err((here, format!("is not a valid regular expression: {e}")));
                    }
                    out.insert(k.clone(), val.clone());
                }
                None => return bad("must be a string"),
            },
            "minLength" | "maxLength" | "minItems" | "maxItems" | "minProperties" | "maxProperties" => {
                if val.as_u64().is_none() {
                    return bad("must be a non-negative integer");
                }
                out.insert(k.clone(), val.clone());
            }
            "minimum" | "maximum" | "multipleOf" => {
                if !val.is_number() {
                    return bad("must be a number");
                }
                out.insert(k.clone(), val.clone());
            }
            "exclusiveMinimum" | "exclusiveMaximum" => {
                let Some(on) = val.as_bool() else {
                    return bad("must be true or false (OpenAPI 3.0)");
                };
                let base = if k == "exclusiveMinimum" { "minimum" } else { "maximum" };
                if on {
                    let limit = obj.get(base).cloned().ok_or_else(|| (here.clone(), format!("needs `{base}`")))?;
                    out.insert(k.clone(), limit);
                }
            }
            "uniqueItems" => {
                if !val.is_boolean() {
                    return bad("must be true or false");
                }
                out.insert(k.clone(), val.clone());
            }
            "items" | "not" => {
                out.insert(k.clone(), convert(val, &here, types, depth + 1)?);
            }
            "additionalProperties" => {
                let conv = if val.is_boolean() { val.clone() } else { convert(val, &here, types, depth + 1)? };
                out.insert(k.clone(), conv);
            }
            "properties" => {
                let props = val.as_object().ok_or_else(|| (here.clone(), "must be a mapping of input names to schemas".to_string()))?;
                let mut conv = Map::new();
                for (name, p) in props {
                    conv.insert(name.clone(), convert(p, &format!("{here}.{name}"), types, depth + 1)?);
                }
                out.insert(k.clone(), Value::Object(conv));
            }
            "required" => {
                let names = val.as_array().filter(|a| a.iter().all(Value::is_string));
                let Some(names) = names else {
                    return bad("must be a list of property names");
                };
                let props = obj.get("properties").and_then(Value::as_object);
                if let Some(missing) = names.iter().filter_map(Value::as_str).find(|n| !props.is_some_and(|p| p.contains_key(*n))) {
                    return Err((here, format!("names {missing:?}, which is not under properties")));
                }
                out.insert(k.clone(), val.clone());
            }
            "allOf" | "anyOf" | "oneOf" => {
                let items = val.as_array().ok_or_else(|| (here.clone(), "must be a list of schemas".to_string()))?;
                let conv = items
                    .iter()
                    .enumerate()
                    .map(|(i, s)| convert(s, &format!("{here}[{i}]"), types, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                out.insert(k.clone(), Value::Array(conv));
            }
            "$ref" => {
                let r = val.as_str().unwrap_or_default();
                let name = r.strip_prefix("#/types/").or_else(|| r.strip_prefix("#/components/schemas/"));
                let target = name.and_then(|n| types.get(n));
                let Some(target) = target else {
                    return bad("must be \"#/types/<TypeName>\" naming a type under schema.types");
                };
                let conv = convert(target, &here, types, depth + 1)?;
                if let Value::Object(m) = conv {
                    for (ck, cv) in m {
                        out.entry(ck).or_insert(cv);
                    }
                }
            }
            a if ANNOTATIONS_KEPT.contains(&a) => {
                out.insert(k.clone(), val.clone());
            }
            a if ANNOTATIONS_DROPPED.contains(&a) || a.starts_with("x-") => {}
            other => {
                return Err((here.clone(), format!("`{other}` is not a supported OpenAPI 3.0 schema keyword")));
            }
        }
    }
    if nullable && let Some(Value::String(t)) = out.get("type").cloned() {
        out.insert("type".into(), Value::Array(vec![Value::String(t), Value::String("null".into())]));
    }
    Ok(Value::Object(out))
}

/// Every `default` must satisfy its own property's schema.
fn check_defaults(ty: &Value, at: &str) -> Result<(), (String, String)> {
    let Some(props) = ty.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    for (name, p) in props {
        let here = format!("{at}.properties.{name}");
        if let Some(default) = p.get("default") {
            let converted = convert(p, &here, &Map::new(), 0).unwrap_or(Value::Bool(true));
            if let Ok(v) = jsonschema::validator_for(&converted)
                && let Some(e) = v.iter_errors(default).next()
            {
                return Err((format!("{here}.default"), format!("default {} does not satisfy its own schema: {e}", compact(default))));
            }
        }
        if p.get("type").and_then(Value::as_str) == Some("object") {
            check_defaults(p, &here)?;
        }
    }
    Ok(())
}

/// Fills in `default`s of absent properties, recursing into present objects and array items.
fn apply_defaults(schema: &Value, value: &mut Value) {
    match value {
        Value::Object(obj) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, p) in props {
                    match obj.get_mut(name) {
                        Some(v) => apply_defaults(p, v),
                        None => {
                            if let Some(d) = p.get("default") {
                                obj.insert(name.clone(), d.clone());
                            }
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply_defaults(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

/// Records schema changes that would reject inputs the old schema accepted.
fn compare(old: &Value, new: &Value, at: &str, out: &mut Vec<String>) {
    let old_type = old.get("type");
    if old_type != new.get("type") {
        out.push(format!("{at}: type changed from {} to {}", show(old_type), show(new.get("type"))));
        return;
    }
    let old_props = old.get("properties").and_then(Value::as_object);
    let new_props = new.get("properties").and_then(Value::as_object);
    if let (Some(op), Some(np)) = (old_props, new_props) {
        for (name, o) in op {
            match np.get(name) {
                None => out.push(format!("{at}.{name}: input was removed")),
                Some(n) => compare(o, n, &format!("{at}.{name}"), out),
            }
        }
        let old_req: Vec<&str> =
            old.get("required").and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        for name in new.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            let defaulted = np.get(name).is_some_and(|p| p.get("default").is_some());
            if !old_req.contains(&name) && !defaulted {
                out.push(format!("{at}.{name}: input became required without a default"));
            }
        }
    }
    for (kw, tighter) in
        [("minimum", 1.0), ("minLength", 1.0), ("minItems", 1.0), ("maximum", -1.0), ("maxLength", -1.0), ("maxItems", -1.0)]
    {
        let o = old.get(kw).and_then(Value::as_f64);
        let n = new.get(kw).and_then(Value::as_f64);
        match (o, n) {
            (_, None) => {}
            (None, Some(n)) => out.push(format!("{at}: {kw} {n} was added")),
            (Some(o), Some(n)) if (n - o) * tighter > 0.0 => out.push(format!("{at}: {kw} tightened from {o} to {n}")),
            _ => {}
        }
    }
    if let Some(ne) = new.get("enum").and_then(Value::as_array) {
        match old.get("enum").and_then(Value::as_array) {
            None => out.push(format!("{at}: enum was added")),
            Some(oe) => {
                for v in oe.iter().filter(|v| !ne.contains(v)) {
                    out.push(format!("{at}: enum value {} was removed", compact(v)));
                }
            }
        }
    }
    if new.get("pattern").is_some() && old.get("pattern") != new.get("pattern") {
        out.push(format!("{at}: pattern changed to {}", show(new.get("pattern"))));
    }
    if let (Some(o), Some(n)) = (old.get("items"), new.get("items")) {
        compare(o, n, &format!("{at}[]"), out);
    }
}

fn show(v: Option<&Value>) -> String {
    v.map(compact).unwrap_or_else(|| "none".into())
}

pub(crate) fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 200 { format!("{}...", s.chars().take(200).collect::<String>()) } else { s }
}

fn value_at<'a>(root: &'a Value, pointer: &str) -> Option<&'a Value> {
    root.pointer(pointer)
}

/// `/instances/0/spec/port` under `$` becomes `$.instances[0].spec.port`.
fn pointer_to_path(base: &str, pointer: &str) -> String {
    let mut out = base.to_string();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{seg}]"));
        } else if seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            out.push('.');
            out.push_str(&seg);
        } else {
            out.push_str(&format!("[{}]", Value::String(seg)));
        }
    }
    out
}

fn message_for(e: &jsonschema::ValidationError<'_>, rule: &str) -> String {
    use jsonschema::error::ValidationErrorKind as K;
    match e.kind() {
        K::Required { property } => format!("required input {} is missing", compact(property)),
        K::AdditionalProperties { unexpected } => {
            format!("unknown input{} {} (not in the schema)", if unexpected.len() == 1 { "" } else { "s" }, unexpected.join(", "))
        }
        K::Type { kind } => format!("must be of type {}", type_kind(kind)),
        K::Enum { options } => format!("must be one of {}", compact(options)),
        K::Pattern { pattern } => format!("must match pattern {pattern:?}"),
        K::Minimum { limit } => format!("must be at least {limit}"),
        K::Maximum { limit } => format!("must be at most {limit}"),
        K::ExclusiveMinimum { limit } => format!("must be greater than {limit}"),
        K::ExclusiveMaximum { limit } => format!("must be less than {limit}"),
        K::MinLength { limit } => format!("must be at least {limit} characters long"),
        K::MaxLength { limit } => format!("must be at most {limit} characters long"),
        K::MinItems { limit } => format!("must have at least {limit} items"),
        K::MaxItems { limit } => format!("must have at most {limit} items"),
        K::UniqueItems => "items must be unique".into(),
        _ => format!("{} ({rule})", e.masked()),
    }
}

fn type_kind(kind: &jsonschema::error::TypeKind) -> String {
    match kind {
        jsonschema::error::TypeKind::Single(t) => t.to_string(),
        jsonschema::error::TypeKind::Multiple(ts) => format!("{ts:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCHEMA: &str = r#"schema:
  format:
    openapi: "3.0.0"
  service_input_type: "SvcInput"
  types:
    SvcInput:
      type: object
      required: [name]
      properties:
        name:
          type: string
          minLength: 1
          maxLength: 10
          pattern: "^[a-z]+$"
        port:
          type: number
          default: 80
          minimum: 0
          maximum: 65535
        size:
          type: string
          enum: [small, large]
          default: small
        tags:
          type: array
          items:
            type: string
        db:
          type: object
          properties:
            engine:
              type: string
              default: postgres
"#;

    #[test]
    fn defaults_are_filled_and_rules_checked() {
        let s = TemplateSchema::parse("schema/schema.yaml", SCHEMA).unwrap();
        let v = s.validate(InputKind::ServiceInstance, &json!({"name": "api", "db": {}}), "$.spec").unwrap();
        assert_eq!(v, json!({"name": "api", "db": {"engine": "postgres"}, "port": 80, "size": "small"}));
        let errs = s
            .validate(InputKind::ServiceInstance, &json!({"port": 70000, "size": "huge", "tags": [1], "nme": "x"}), "$.instances[0].spec")
            .unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(text.contains(&"$.instances[0].spec.port: must be at most 65535 (rule: maximum, value: 70000)".to_string()), "{text:?}");
        assert!(
            text.contains(&"$.instances[0].spec.size: must be one of [\"small\",\"large\"] (rule: enum, value: \"huge\")".to_string()),
            "{text:?}"
        );
        assert!(text.contains(&"$.instances[0].spec.tags[0]: must be of type string (rule: type, value: 1)".to_string()), "{text:?}");
        assert!(
            text.contains(&"$.instances[0].spec.name: required input \"name\" is missing (rule: required, value: null)".to_string()),
            "{text:?}"
        );
        assert!(
            text.contains(
                &"$.instances[0].spec.nme: unknown input nme (not in the schema) (rule: additionalProperties, value: \"x\")".to_string()
            ),
            "{text:?}"
        );
        let errs = s.validate(InputKind::ServiceInstance, &json!({"name": "ABC"}), "$").unwrap_err();
        assert_eq!(errs[0].rule, "pattern");
        assert!(s.validate(InputKind::Pipeline, &json!({"a": 1}), "$.pipeline").is_err());
        assert!(s.validate(InputKind::Pipeline, &json!(null), "$.pipeline").is_ok());
    }

    #[test]
    fn bad_schemas_name_file_line_and_path() {
        let bad = SCHEMA.replace("minLength: 1", "minLength: one");
        let e = TemplateSchema::parse("schema/schema.yaml", &bad).unwrap_err().to_string();
        assert_eq!(
            e,
            "schema/schema.yaml:12: schema.types.SvcInput.properties.name.minLength: must be a non-negative integer, got \"one\""
        );
        let bad = SCHEMA.replace("service_input_type: \"SvcInput\"", "service_input_type: \"Missing\"");
        let e = TemplateSchema::parse("schema/schema.yaml", &bad).unwrap_err().to_string();
        assert_eq!(e, "schema/schema.yaml:4: schema.service_input_type names type \"Missing\", which is not defined under schema.types");
        let bad = SCHEMA.replace("default: 80", "default: \"eighty\"");
        let e = TemplateSchema::parse("schema/schema.yaml", &bad).unwrap_err().to_string();
        assert!(e.contains("schema.types.SvcInput.properties.port.default: default \"eighty\" does not satisfy its own schema"), "{e}");
        let bad = SCHEMA.replace("openapi: \"3.0.0\"", "openapi: \"2.0\"");
        assert!(TemplateSchema::parse("s", &bad).unwrap_err().to_string().contains("only \"3.0.0\" is supported"));
        let bad = SCHEMA.replace("enum: [small, large]", "oneOff: [small]");
        let e = TemplateSchema::parse("s", &bad).unwrap_err().to_string();
        assert!(e.contains("`oneOff` is not a supported OpenAPI 3.0 schema keyword"), "{e}");
        let e = TemplateSchema::parse("s", "schema: [").unwrap_err().to_string();
        assert!(e.starts_with("s:2: column 1: "), "{e}");
        let bad = SCHEMA.replace("          default: postgres", "          default: 5");
        let e = TemplateSchema::parse("schema/schema.yaml", &bad).unwrap_err().to_string();
        assert!(e.starts_with("schema/schema.yaml:33: schema.types.SvcInput.properties.db.properties.engine.default: default 5"), "{e}");
    }

    #[test]
    fn minor_compatibility() {
        let old = TemplateSchema::parse("s", SCHEMA).unwrap();
        let same = TemplateSchema::parse("s", &SCHEMA.replace("maximum: 65535", "maximum: 70000")).unwrap();
        assert!(same.breaking_changes_from(&old).is_empty());
        let added_optional = SCHEMA.replace("        tags:", "        extra:\n          type: string\n        tags:");
        assert!(TemplateSchema::parse("s", &added_optional).unwrap().breaking_changes_from(&old).is_empty());
        let required = SCHEMA.replace("required: [name]", "required: [name, tags]");
        let changes = TemplateSchema::parse("s", &required).unwrap().breaking_changes_from(&old);
        assert_eq!(changes, vec!["service_input_type.SvcInput.tags: input became required without a default"]);
        let removed = SCHEMA.replace("enum: [small, large]", "enum: [large]").replace("default: small", "default: large");
        let changes = TemplateSchema::parse("s", &removed).unwrap().breaking_changes_from(&old);
        assert_eq!(changes, vec!["service_input_type.SvcInput.size: enum value \"small\" was removed"]);
    }
}
