//! YAML helpers shared by manifests, schemas and specs: parse errors with file and line.

use serde::de::DeserializeOwned;

use crate::bundle::BundleError;

/// Parses YAML text; a syntax or shape error becomes [`BundleError::Invalid`] with its line.
pub(crate) fn parse<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, BundleError> {
    serde_norway::from_str(text).map_err(|e| BundleError::Invalid {
        file: file.to_string(),
        line: e.location().map(|l| l.line()),
        message: match e.location() {
            Some(loc) => format!("column {}: {}", loc.column(), strip_location(&e.to_string())),
            None => e.to_string(),
        },
    })
}

/// serde_norway puts " at line X column Y" into its messages; the prefix already says where.
fn strip_location(msg: &str) -> String {
    let Some(i) = msg.find(" at line ") else { return msg.to_string() };
    let rest = &msg[i + " at line ".len()..];
    // Skip "X column Y" (digits, " column ", digits), keep what follows (", while parsing ...").
    let after = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let after = after.strip_prefix(" column ").map_or(after, |a| a.trim_start_matches(|c: char| c.is_ascii_digit()));
    format!("{}{after}", &msg[..i])
}

/// The 1-based line of the first line in `text` that contains `needle` as a YAML key
/// (`needle:`), searching from the line after `after_line`. Falls back to `after_line` (or 1).
pub(crate) fn line_of_key(text: &str, needle: &str, after_line: usize) -> usize {
    let key = format!("{needle}:");
    text.lines()
        .enumerate()
        .skip(after_line)
        .find(|(_, l)| {
            let t = l.trim_start().trim_start_matches("- ");
            t.starts_with(&key) || t.starts_with(&format!("\"{needle}\":")) || t.starts_with(&format!("'{needle}':"))
        })
        .map(|(i, _)| i + 1)
        .unwrap_or(after_line.max(1))
}

/// The line of a dotted path such as `schema.types.Svc.properties.port.default`: each key is
/// searched after the line of the one before, so equal keys in other types are not confused.
pub(crate) fn line_of_path(text: &str, path: &str) -> usize {
    let mut line = 0;
    for key in path.split('.').map(|k| k.split('[').next().unwrap_or(k)).filter(|k| !k.is_empty()) {
        line = line_of_key(text, key, line.max(1) - 1 + usize::from(line > 0));
    }
    line.max(1)
}
