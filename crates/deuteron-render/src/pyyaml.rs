//! A flow-style YAML emitter that writes what PyYAML's `safe_dump(..., default_flow_style=True,
//! width=10**9)` writes, so Proton's `proton_cfn_*` filters match the reference byte for byte.
//! Keys are sorted (PyYAML's default), non-ASCII is escaped (`allow_unicode=False`), and scalar
//! quoting follows PyYAML's `analyze_scalar` and implicit resolvers.
//!
//! One known difference: PyYAML folds a string holding line breaks into a multi-line
//! single-quoted scalar; this emitter writes it double-quoted on one line (same value).

use serde_json::Value;

/// Dumps `value` as PyYAML would, with the trailing newline stripped.
pub fn flow_dump(value: &Value) -> String {
    let mut out = String::new();
    emit(value, &mut out, false);
    out
}

fn emit(value: &Value, out: &mut String, key: bool) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                out.push_str(&crate::pyfmt::float_repr(f));
            } else {
                out.push_str(&n.to_string());
            }
        }
        Value::String(s) => scalar(s, out, key),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                emit(item, out, false);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                scalar(k, out, true);
                out.push_str(": ");
                emit(v, out, false);
            }
            out.push('}');
        }
    }
}

const WS: &[char] = &['\0', ' ', '\t', '\r', '\n', '\u{85}', '\u{2028}', '\u{2029}'];
const BREAKS: &[char] = &['\n', '\u{85}', '\u{2028}', '\u{2029}'];

struct Analysis {
    empty: bool,
    multiline: bool,
    allow_flow_plain: bool,
    allow_single_quoted: bool,
}

fn analyze(s: &str) -> Analysis {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return Analysis { empty: true, multiline: false, allow_flow_plain: false, allow_single_quoted: true };
    }
    let (mut flow_ind, mut line_breaks, mut special) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break, mut prev_space, mut prev_break) = (false, false, false, false);
    if s.starts_with("---") || s.starts_with("...") {
        flow_ind = true;
    }
    let n = chars.len();
    let mut preceded_ws = true;
    let mut followed_ws = n == 1 || WS.contains(&chars[1]);
    for (i, &ch) in chars.iter().enumerate() {
        if i == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(ch) || "?:".contains(ch) || (ch == '-' && followed_ws) {
                flow_ind = true;
            }
        } else {
            if ",?[]{}:".contains(ch) {
                flow_ind = true;
            }
            if ch == '#' && preceded_ws {
                flow_ind = true;
            }
        }
        if BREAKS.contains(&ch) {
            line_breaks = true;
        }
        if !(ch == '\n' || (' '..='~').contains(&ch)) {
            // allow_unicode is False in safe_dump: any non-ASCII character is special.
            special = true;
        }
        if ch == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i == n - 1 {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if BREAKS.contains(&ch) {
            if i == 0 {
                leading_break = true;
            }
            if i == n - 1 {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = WS.contains(&ch);
        followed_ws = i + 2 >= n || WS.contains(&chars[i + 2]);
    }
    let mut allow_flow_plain = true;
    let mut allow_single_quoted = true;
    if leading_space || leading_break || trailing_space || trailing_break {
        allow_flow_plain = false;
    }
    if break_space {
        allow_flow_plain = false;
        allow_single_quoted = false;
    }
    if space_break || special {
        allow_flow_plain = false;
        allow_single_quoted = false;
    }
    if line_breaks || flow_ind {
        allow_flow_plain = false;
    }
    Analysis { empty: false, multiline: line_breaks, allow_flow_plain, allow_single_quoted }
}

/// Whether PyYAML's resolver would read the plain scalar as something other than a string.
fn resolves_to_non_string(s: &str) -> bool {
    use std::sync::LazyLock;
    static RES: LazyLock<Vec<regex::Regex>> = LazyLock::new(|| {
        [
            r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$",
            r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
            r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
            r"^(?:<<)$",
            r"^(?:~|null|Null|NULL|)$",
            r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
            r"^(?:=)$",
            r"^(?:!|&|\*)$",
        ]
        .iter()
        .map(|r| regex::Regex::new(r).expect("static regex"))
        .collect()
    });
    RES.iter().any(|r| r.is_match(s))
}

fn scalar(s: &str, out: &mut String, simple_key: bool) {
    let a = analyze(s);
    let implicit = !resolves_to_non_string(s);
    if implicit && !(simple_key && (a.empty || a.multiline)) && a.allow_flow_plain {
        out.push_str(s);
    } else if a.allow_single_quoted && !a.multiline {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
    } else {
        double_quoted(s, out);
    }
}

fn double_quoted(s: &str, out: &mut String) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\x1b' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if (' '..='~').contains(&c) => out.push(c),
            c if (c as u32) <= 0xff => out.push_str(&format!("\\x{:02X}", c as u32)),
            c if (c as u32) <= 0xffff => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push_str(&format!("\\U{:08X}", c as u32)),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_pyyaml_quoting() {
        // Expected strings were produced by PyYAML 6 safe_dump(default_flow_style=True, width=10**9).
        let v = json!([{"Name": "PolicyArn", "Value": "arn:aws:iam::123456789012:policy/example-policy"}, {"Value": "example-bucket", "Name": "BucketName"}]);
        assert_eq!(
            flow_dump(&v),
            "[{Name: PolicyArn, Value: 'arn:aws:iam::123456789012:policy/example-policy'}, {Name: BucketName, Value: example-bucket}]"
        );
        assert_eq!(
            flow_dump(&json!({"b": "yes", "a": "123", "c": "", "d": "it's", "e": " x"})),
            "{a: '123', b: 'yes', c: '', d: it's, e: ' x'}"
        );
        assert_eq!(
            flow_dump(&json!(["1.5", "0x1F", "null", "~", "2020-01-01", "a b", "-x", "- x", "a#b", "a #b"])),
            "['1.5', '0x1F', 'null', '~', '2020-01-01', a b, -x, '- x', a#b, 'a #b']"
        );
        assert_eq!(flow_dump(&json!(["é", 3, 1.0, true, null])), "[\"\\xE9\", 3, 1.0, true, null]");
        assert_eq!(flow_dump(&json!([])), "[]");
        assert_eq!(flow_dump(&json!({})), "{}");
    }
}
