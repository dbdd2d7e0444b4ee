//! Proton's `proton_cfn_*` filters and the Jinja2 built-ins whose minijinja versions differ.

use std::sync::LazyLock;

use minijinja::value::{Kwargs, Rest, Value};
use minijinja::{Error, ErrorKind};

use crate::pyfmt;
use crate::pyyaml::flow_dump;

static SAFE: LazyLock<regex::Regex> = LazyLock::new(|| regex::Regex::new(r"^[a-zA-Z0-9_-]*$").expect("static regex"));
static ARN: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^arn:[a-zA-Z0-9-]+:[a-zA-Z0-9-]*:[a-zA-Z0-9-]*:[0-9]*:.+$").expect("static regex"));
static POLICY_ARN: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^arn:[a-zA-Z-]+:iam::\d{12}:policy/").expect("static regex"));

pub(crate) fn to_json(v: &Value) -> Result<serde_json::Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("value cannot be used here: {e}")))
}

fn py_text(v: &serde_json::Value) -> String {
    pyfmt::py_str(v)
}

fn check_safe(v: &serde_json::Value) -> Result<(), Error> {
    let s = py_text(v);
    if SAFE.is_match(&s) || ARN.is_match(&s) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("Illegal character(s) detected in \"{s}\". Must match regex ^[a-zA-Z0-9_-]*$ or be a valid ARN"),
        ))
    }
}

fn outputs_map(v: &Value, filter: &str) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    match to_json(v)? {
        serde_json::Value::Object(m) => Ok(m),
        other => Err(Error::new(ErrorKind::InvalidOperation, format!("{filter} expects a mapping of outputs, got {other}"))),
    }
}

fn raw_flag(raw: Option<bool>, kwargs: &Kwargs) -> Result<bool, Error> {
    let kw: Option<bool> = kwargs.get("raw")?;
    kwargs.assert_all_used()?;
    Ok(kw.or(raw).unwrap_or(true))
}

/// `proton_cfn_sanitize`: passes names and ARNs, fails the render on anything else.
pub fn proton_cfn_sanitize(value: Value) -> Result<Value, Error> {
    check_safe(&to_json(&value)?)?;
    Ok(value)
}

/// `proton_cfn_ecs_task_definition_formatted_env_vars`: outputs as an ECS `Environment` list.
pub fn ecs_env_vars(value: Value, raw: Option<bool>, kwargs: Kwargs) -> Result<String, Error> {
    let raw = raw_flag(raw, &kwargs)?;
    let mut items = Vec::new();
    for (k, v) in outputs_map(&value, "proton_cfn_ecs_task_definition_formatted_env_vars")? {
        if !raw {
            check_safe(&v)?;
        }
        items.push(serde_json::json!({"Name": k, "Value": v}));
    }
    Ok(flow_dump(&serde_json::Value::Array(items)))
}

/// `proton_cfn_lambda_function_formatted_env_vars`: outputs as a Lambda `Variables` mapping.
pub fn lambda_env_vars(value: Value, raw: Option<bool>, kwargs: Kwargs) -> Result<String, Error> {
    let raw = raw_flag(raw, &kwargs)?;
    let map = outputs_map(&value, "proton_cfn_lambda_function_formatted_env_vars")?;
    if !raw {
        for v in map.values() {
            check_safe(v)?;
        }
    }
    Ok(flow_dump(&serde_json::Value::Object(map)))
}

/// `proton_cfn_iam_policy_arns`: the outputs that are IAM policy ARNs, as a list.
pub fn iam_policy_arns(value: Value) -> Result<String, Error> {
    let arns: Vec<serde_json::Value> = outputs_map(&value, "proton_cfn_iam_policy_arns")?
        .into_iter()
        .map(|(_, v)| v)
        .filter(|v| POLICY_ARN.is_match(&py_text(v)))
        .collect();
    Ok(flow_dump(&serde_json::Value::Array(arns)))
}

/// Jinja2's `truncate(s, length=255, killwords=False, end='...', leeway=5)`, positional or
/// keyword arguments.
pub fn truncate(value: Value, args: Rest<Value>) -> Result<String, Error> {
    let mut positional: Vec<Value> = Vec::new();
    let mut kwargs = Kwargs::from_iter(std::iter::empty::<(String, Value)>());
    for a in args.iter() {
        if a.is_kwargs() {
            kwargs = Kwargs::try_from(a.clone())?;
        } else {
            positional.push(a.clone());
        }
    }
    if positional.len() > 4 {
        return Err(Error::new(ErrorKind::TooManyArguments, "truncate takes at most 4 arguments"));
    }
    let pos = |i: usize| positional.get(i).filter(|v| !v.is_none()).cloned();
    let as_usize = |v: Value, what: &str| -> Result<usize, Error> {
        v.as_i64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("truncate: {what} must be a non-negative integer")))
    };
    let length = match kwargs.get::<Option<Value>>("length")?.or(pos(0)) {
        Some(v) => as_usize(v, "length")?,
        None => 255,
    };
    let killwords = kwargs.get::<Option<Value>>("killwords")?.or(pos(1)).is_some_and(|v| v.is_true());
    let end = match kwargs.get::<Option<Value>>("end")?.or(pos(2)) {
        Some(v) => {
            v.as_str().map(str::to_string).ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "truncate: end must be a string"))?
        }
        None => "...".to_string(),
    };
    let leeway = match kwargs.get::<Option<Value>>("leeway")?.or(pos(3)) {
        Some(v) => as_usize(v, "leeway")?,
        None => 5,
    };
    kwargs.assert_all_used()?;
    if length < end.chars().count() {
        return Err(Error::new(ErrorKind::InvalidOperation, format!("truncate: expected length >= {}, got {length}", end.chars().count())));
    }
    let s = match value.as_str() {
        Some(s) => s.to_string(),
        None => py_text(&to_json(&value)?),
    };
    Ok(truncate_str(&s, length, killwords, &end, leeway))
}

fn truncate_str(s: &str, length: usize, killwords: bool, end: &str, leeway: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= length + leeway {
        return s.to_string();
    }
    // Jinja2 asserts length >= len(end); the filter entry point reports that as an error.
    let keep = length.saturating_sub(end.chars().count()).min(chars.len());
    let head: String = chars[..keep].iter().collect();
    if killwords {
        return head + end;
    }
    let cut = match head.rfind(' ') {
        Some(i) => head[..i].to_string(),
        None => head,
    };
    cut + end
}

/// Jinja2's `tojson`: Python's `json.dumps` with sorted keys, made HTML-safe.
pub fn tojson(value: Value, indent: Option<Value>) -> Result<Value, Error> {
    if indent.is_some_and(|i| !i.is_none()) {
        return Err(Error::new(ErrorKind::InvalidOperation, "tojson: the indent argument is not supported"));
    }
    Ok(Value::from_safe_string(pyfmt::jinja_tojson(&to_json(&value)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str, length: usize, killwords: bool, end: &str, leeway: Option<usize>) -> String {
        truncate_str(s, length, killwords, end, leeway.unwrap_or(5))
    }

    #[test]
    fn truncate_matches_jinja2() {
        // Values from Python Jinja2 3.1: env.from_string(...).render().
        assert_eq!(
            t("load-balanced-fargate-svc--load-balanced-fargate-svc-prod", 29, true, "zzz", Some(0)),
            "load-balanced-fargate-svc-zzz"
        );
        assert_eq!(t("short", 29, true, "zzz", Some(0)), "short");
        assert_eq!(t("foo bar baz qux", 9, false, "...", Some(0)), "foo...");
        assert_eq!(t("foo bar baz qux", 12, false, "...", None), "foo bar baz qux");
        assert_eq!(t("abcdefghijklmnop", 10, false, "...", Some(0)), "abcdefg...");
    }
}
