//! Reading `proton-outputs.json` in each form Proton accepted: a flat object, a list of
//! `{key, valueString}`, or the AWS CDK's per-stack object (`{"Stack": {"Key": "value"}}`).

use serde_json::Value;

/// Proton's limits on outputs: key and value 1-1024 characters.
const MAX_LEN: usize = 1024;

/// Parses outputs; every value becomes a string (numbers and booleans as JSON text).
pub fn parse_outputs(text: &str) -> Result<Vec<(String, String)>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("proton-outputs.json:{}: {e}", e.line()))?;
    let scalar = |k: &str, v: &Value| -> Result<String, String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(format!("proton-outputs.json: output {k:?} must be a string, got {other}")),
        }
    };
    let mut out: Vec<(String, String)> = Vec::new();
    match &doc {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let key =
                    item.get("key").and_then(Value::as_str).ok_or_else(|| format!("proton-outputs.json: $[{i}].key must be a string"))?;
                let value = item.get("valueString").ok_or_else(|| format!("proton-outputs.json: $[{i}].valueString is missing"))?;
                out.push((key.to_string(), scalar(key, value)?));
            }
        }
        Value::Object(map) => {
            let cdk = !map.is_empty() && map.values().all(Value::is_object);
            for (k, v) in map {
                if cdk {
                    for (ik, iv) in v.as_object().into_iter().flatten() {
                        out.push((ik.clone(), scalar(ik, iv)?));
                    }
                } else {
                    out.push((k.clone(), scalar(k, v)?));
                }
            }
        }
        other => return Err(format!("proton-outputs.json must be an object or a list of {{key, valueString}}, got {other}")),
    }
    for (k, v) in &out {
        if k.is_empty() || k.chars().count() > MAX_LEN || v.chars().count() > MAX_LEN {
            return Err(format!("proton-outputs.json: output {k:?}: keys must be 1 to {MAX_LEN} characters and values at most {MAX_LEN}"));
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn every_form_proton_accepted() {
        assert_eq!(parse_outputs(r#"{"Vpc": "vpc-1", "Port": 80}"#).unwrap(), kv(&[("Port", "80"), ("Vpc", "vpc-1")]));
        assert_eq!(parse_outputs(r#"[{"key": "Vpc", "valueString": "vpc-1"}]"#).unwrap(), kv(&[("Vpc", "vpc-1")]));
        assert_eq!(parse_outputs(r#"{"MyStack": {"Vpc": "vpc-1", "Bucket": "b"}}"#).unwrap(), kv(&[("Bucket", "b"), ("Vpc", "vpc-1")]));
        assert!(parse_outputs("[1]").unwrap_err().contains("$[0].key must be a string"));
        assert!(parse_outputs("{").unwrap_err().starts_with("proton-outputs.json:1:"));
        assert!(parse_outputs(r#"{"a": [1]}"#).unwrap_err().contains("must be a string"));
    }
}
