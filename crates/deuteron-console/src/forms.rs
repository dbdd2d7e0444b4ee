//! Input forms generated from a template's schema, and the way back: submitted form values into
//! the JSON inputs of a spec, with errors named by the form field they belong to. No IO.
//!
//! Field names are `<prefix>.<property>`: `in.` for an environment's inputs, `i<N>.` for the
//! N-th service instance, `pipeline.` for the pipeline. Schema validation is run with the prefix
//! as base path, so its error paths (`i0.port`, `in.tags[1]`) lead back to the field.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// Submitted form values, in order; a name may repeat.
pub type FormValues = Vec<(String, String)>;

/// The first value submitted under `name`.
pub fn value<'a>(form: &'a FormValues, name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// One input of a form, ready for the page.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Field {
    /// The form field name: `<prefix>.<property>`.
    pub name: String,
    pub label: String,
    /// `text`, `number`, `integer`, `checkbox`, `select`, `lines` (an array, one item per line)
    /// or `json` (anything else, as JSON).
    pub widget: &'static str,
    pub type_name: String,
    pub description: Option<String>,
    pub required: bool,
    /// The schema's default, shown as a placeholder and applied when the field is left empty.
    pub default: Option<String>,
    pub options: Vec<String>,
    pub value: String,
    pub checked: bool,
    pub error: Option<String>,
    /// Constraints shown next to the field, e.g. `1 to 65535`, `at most 20 characters`.
    pub hints: Vec<String>,
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            items.iter().map(text_of).collect::<Vec<_>>().join("\n")
        }
        Value::Null => String::new(),
        Value::Number(_) | Value::Bool(_) => v.to_string(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn scalar_items(schema: &Value) -> bool {
    matches!(schema.pointer("/items/type").and_then(Value::as_str), Some("string" | "number" | "integer" | "boolean") | None)
        && schema.pointer("/items/properties").is_none()
}

fn widget(schema: &Value) -> (&'static str, String) {
    let ty = schema.get("type").and_then(Value::as_str).unwrap_or("string").to_string();
    let w = if schema.get("enum").is_some_and(Value::is_array) {
        "select"
    } else {
        match ty.as_str() {
            "string" => "text",
            "number" => "number",
            "integer" => "integer",
            "boolean" => "checkbox",
            "array" if scalar_items(schema) => "lines",
            _ => "json",
        }
    };
    (w, ty)
}

fn hints(schema: &Value) -> Vec<String> {
    let n = |k: &str| schema.get(k).filter(|v| v.is_number()).map(ToString::to_string);
    let mut out = Vec::new();
    match (n("minimum"), n("maximum")) {
        (Some(a), Some(b)) => out.push(format!("{a} to {b}")),
        (Some(a), None) => out.push(format!("at least {a}")),
        (None, Some(b)) => out.push(format!("at most {b}")),
        _ => {}
    }
    match (n("minLength"), n("maxLength")) {
        (Some(a), Some(b)) => out.push(format!("{a} to {b} characters")),
        (Some(a), None) => out.push(format!("at least {a} characters")),
        (None, Some(b)) => out.push(format!("at most {b} characters")),
        _ => {}
    }
    match (n("minItems"), n("maxItems")) {
        (Some(a), Some(b)) => out.push(format!("{a} to {b} items, one per line")),
        (Some(a), None) => out.push(format!("at least {a} items, one per line")),
        (None, Some(b)) => out.push(format!("at most {b} items, one per line")),
        _ => {}
    }
    if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
        out.push(format!("pattern {p}"));
    }
    out
}

/// The fields of one input type (`schema` is the JSON Schema of an object), prefilled from the
/// submitted `form` or else from `current` inputs, with `errors` attached by field name.
pub fn fields(schema: &Value, prefix: &str, form: Option<&FormValues>, current: &Value, errors: &BTreeMap<String, String>) -> Vec<Field> {
    let required: Vec<&str> =
        schema.get("required").and_then(Value::as_array).map(|r| r.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else { return Vec::new() };
    props
        .iter()
        .map(|(key, prop)| {
            let name = format!("{prefix}.{key}");
            let (widget, type_name) = widget(prop);
            let submitted = form.map(|f| value(f, &name).unwrap_or_default().to_string());
            let value = submitted.clone().unwrap_or_else(|| current.get(key).map(text_of).unwrap_or_default());
            let checked = match (widget, form) {
                ("checkbox", Some(f)) => value_of_checkbox(f, &name),
                ("checkbox", None) => current.get(key).or_else(|| prop.get("default")).and_then(Value::as_bool).unwrap_or(false),
                _ => false,
            };
            Field {
                label: prop.get("title").and_then(Value::as_str).unwrap_or(key).to_string(),
                widget,
                type_name,
                description: prop.get("description").and_then(Value::as_str).map(str::to_string),
                required: required.contains(&key.as_str()),
                default: prop.get("default").map(text_of),
                options: prop.get("enum").and_then(Value::as_array).map(|e| e.iter().map(text_of).collect()).unwrap_or_default(),
                value,
                checked,
                error: errors.get(&name).cloned(),
                hints: hints(prop),
                name,
            }
        })
        .collect()
}

fn value_of_checkbox(form: &FormValues, name: &str) -> bool {
    form.iter().any(|(k, v)| k == name && (v == "on" || v == "true"))
}

fn convert_scalar(ty: &str, raw: &str) -> Result<Value, String> {
    match ty {
        "integer" => raw.parse::<i64>().map(Value::from).map_err(|_| format!("{raw:?} is not a whole number")),
        "number" => raw
            .parse::<f64>()
            .ok()
            .and_then(|f| {
                if f.fract() == 0.0 && f.abs() < 9.0e15 {
                    #[allow(clippy::cast_possible_truncation)]
                    Some(Value::from(f as i64))
                } else {
                    serde_json::Number::from_f64(f).map(Value::Number)
                }
            })
            .ok_or_else(|| format!("{raw:?} is not a number")),
        "boolean" => match raw {
            "true" | "on" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("{raw:?} is neither true nor false")),
        },
        _ => Ok(Value::String(raw.to_string())),
    }
}

/// The inputs a form submitted for one input type: empty fields are left out (so the schema's
/// defaults apply), values are converted to the property's type. Conversion errors are returned
/// by field name; what converts is then for the schema to judge.
pub fn inputs(schema: &Value, prefix: &str, form: &FormValues) -> Result<Value, BTreeMap<String, String>> {
    let mut out = Map::new();
    let mut errors = BTreeMap::new();
    let Some(props) = schema.get("properties").and_then(Value::as_object) else { return Ok(Value::Object(out)) };
    for (key, prop) in props {
        let name = format!("{prefix}.{key}");
        let (widget, ty) = widget(prop);
        if widget == "checkbox" {
            // An unchecked box sends nothing: false, unless the form never showed it.
            if form.iter().any(|(k, _)| k == &format!("{name}.present")) || value_of_checkbox(form, &name) {
                out.insert(key.clone(), Value::Bool(value_of_checkbox(form, &name)));
            }
            continue;
        }
        let raw = value(form, &name).unwrap_or_default().trim();
        if raw.is_empty() {
            continue;
        }
        let converted = match widget {
            "lines" => {
                let item_ty = prop.pointer("/items/type").and_then(Value::as_str).unwrap_or("string");
                raw.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .enumerate()
                    .map(|(n, l)| convert_scalar(item_ty, l).map_err(|e| format!("line {}: {e}", n + 1)))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Array)
            }
            "json" => serde_json::from_str::<Value>(raw).map_err(|e| format!("not valid JSON: {e}")),
            "select" => Ok(prop
                .get("enum")
                .and_then(Value::as_array)
                .and_then(|opts| opts.iter().find(|o| text_of(o) == raw).cloned())
                .unwrap_or_else(|| Value::String(raw.to_string()))),
            _ => convert_scalar(&ty, raw),
        };
        match converted {
            Ok(v) => {
                out.insert(key.clone(), v);
            }
            Err(e) => {
                errors.insert(name, e);
            }
        }
    }
    if errors.is_empty() { Ok(Value::Object(out)) } else { Err(errors) }
}

/// The form field an error path (`i0.port`, `in.tags[2]`, `in.limits.cpu`) belongs to: the
/// longest field name it starts with, or the path itself when none matches.
pub fn field_of(path: &str, fields: &[&str]) -> String {
    fields
        .iter()
        .filter(|f| path == **f || path.strip_prefix(**f).is_some_and(|rest| rest.starts_with('.') || rest.starts_with('[')))
        .max_by_key(|f| f.len())
        .map_or_else(|| path.to_string(), |f| (*f).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["port"],
            "properties": {
                "port": {"type": "integer", "minimum": 1, "maximum": 65535, "description": "Listening port"},
                "size": {"type": "string", "enum": ["small", "large"], "default": "small"},
                "ratio": {"type": "number"},
                "public": {"type": "boolean", "default": true},
                "subnets": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
                "limits": {"type": "object", "properties": {"cpu": {"type": "string"}}}
            }
        })
    }

    fn form(pairs: &[(&str, &str)]) -> FormValues {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    #[test]
    fn fields_follow_the_schema() {
        let f = fields(&schema(), "in", None, &json!({"port": 8080, "subnets": ["a", "b"]}), &BTreeMap::new());
        let by = |n: &str| f.iter().find(|x| x.name == n).unwrap().clone();
        assert_eq!(f.len(), 6);
        let port = by("in.port");
        assert_eq!((port.widget, port.required, port.value.as_str()), ("integer", true, "8080"));
        assert_eq!(port.hints, vec!["1 to 65535"]);
        assert_eq!(port.description.as_deref(), Some("Listening port"));
        let size = by("in.size");
        assert_eq!(
            (size.widget, size.options.clone(), size.default.as_deref()),
            ("select", vec!["small".into(), "large".into()], Some("small"))
        );
        assert!(by("in.public").checked, "a checkbox takes its default");
        assert_eq!(by("in.subnets").value, "a\nb");
        assert_eq!(by("in.subnets").widget, "lines");
        assert_eq!(by("in.limits").widget, "json");
    }

    #[test]
    fn submitted_values_are_typed_and_errors_named() {
        let ok = inputs(
            &schema(),
            "in",
            &form(&[
                ("in.port", " 80 "),
                ("in.size", "large"),
                ("in.ratio", "0.5"),
                ("in.public.present", "1"),
                ("in.subnets", "a\n\n b \n"),
                ("in.limits", r#"{"cpu": "1"}"#),
            ]),
        )
        .unwrap();
        assert_eq!(ok, json!({"port": 80, "size": "large", "ratio": 0.5, "public": false, "subnets": ["a", "b"], "limits": {"cpu": "1"}}));
        let empty = inputs(&schema(), "in", &form(&[("in.port", ""), ("in.size", "")])).unwrap();
        assert_eq!(empty, json!({}), "empty fields are left to the schema's defaults");
        let bad = inputs(&schema(), "in", &form(&[("in.port", "eighty"), ("in.ratio", "1e"), ("in.limits", "{")])).unwrap_err();
        assert_eq!(bad.get("in.port").unwrap(), "\"eighty\" is not a whole number");
        assert_eq!(bad.get("in.ratio").unwrap(), "\"1e\" is not a number");
        assert!(bad.get("in.limits").unwrap().starts_with("not valid JSON"));
    }

    #[test]
    fn submitted_values_win_over_current_ones() {
        let mut errors = BTreeMap::new();
        errors.insert("i0.port".to_string(), "must be at most 65535".to_string());
        let f = fields(&schema(), "i0", Some(&form(&[("i0.port", "70000")])), &json!({"port": 1}), &errors);
        let port = f.iter().find(|x| x.name == "i0.port").unwrap();
        assert_eq!((port.value.as_str(), port.error.as_deref()), ("70000", Some("must be at most 65535")));
        assert!(!f.iter().find(|x| x.name == "i0.public").unwrap().checked, "an unticked box in a submitted form stays unticked");
    }

    #[test]
    fn error_paths_lead_to_fields() {
        let names = ["in.port", "in.limits", "i0.port", "i10.port"];
        assert_eq!(field_of("in.limits.cpu", &names), "in.limits");
        assert_eq!(field_of("in.port", &names), "in.port");
        assert_eq!(field_of("i10.port", &names), "i10.port");
        assert_eq!(field_of("in.portal", &names), "in.portal");
        assert_eq!(field_of("in", &names), "in");
    }
}
