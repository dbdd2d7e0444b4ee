//! Printing results: aligned tables for people, JSON for scripts.

use serde::Serialize;

use crate::cli::Output;

/// Prints `value` as JSON, or `rows` under `headers` as a table.
pub fn print<T: Serialize>(output: Output, value: &T, headers: &[&str], rows: Vec<Vec<String>>) {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value).expect("views serialise")),
        Output::Table => print!("{}", table(headers, &rows)),
    }
}

/// Prints `value` as JSON, or `pairs` as `key: value` lines.
pub fn print_fields<T: Serialize>(output: Output, value: &T, pairs: Vec<(&str, String)>) {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value).expect("views serialise")),
        Output::Table => {
            let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            for (k, v) in pairs {
                println!("{k:width$}  {v}");
            }
        }
    }
}

pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = cells.iter().enumerate().map(|(i, c)| format!("{c:w$}", w = widths[i])).collect::<Vec<_>>().join("  ");
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(headers.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

pub fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_columns() {
        let t = super::table(&["NAME", "VERSION"], &[vec!["a".into(), "1.0".into()], vec!["long-name".into(), "-".into()]]);
        assert_eq!(t, "NAME       VERSION\na          1.0\nlong-name  -\n");
    }
}
