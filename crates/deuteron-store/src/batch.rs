//! Statements collected to run one after the other in a transaction. SQLite runs them in one
//! call to the connection's thread (sqlx runs every SQLite connection on a thread of its own, and
//! each call costs two thread hand-offs while the single writer is held); PostgreSQL runs them
//! one by one (its extended protocol takes one statement per prepared query).

/// A bound value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
    OptInt(Option<i64>),
    OptText(Option<String>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_string())
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(v.clone())
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::OptInt(v)
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::OptText(v.map(str::to_string))
    }
}
impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Self {
        Arg::OptText(v.clone())
    }
}

/// Statements, each with its own `$1..` parameters.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) statements: Vec<(String, Vec<Arg>)>,
}

impl Batch {
    pub(crate) fn push(&mut self, sql: impl Into<String>, args: Vec<Arg>) {
        self.statements.push((sql.into(), args));
    }

    /// All statements as one text, parameters renumbered into one sequence.
    pub(crate) fn joined(&self) -> (String, Vec<&Arg>) {
        let mut sql = String::new();
        let mut args = Vec::new();
        for (text, own) in &self.statements {
            sql.push_str(&renumber(text, args.len()));
            sql.push_str(";\n");
            args.extend(own.iter());
        }
        (sql, args)
    }
}

/// `sql` with every `$N` parameter shifted by `base` (the statements are ours: no `$` appears
/// in a literal).
fn renumber(sql: &str, base: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        out.push(c);
        if c != '$' {
            continue;
        }
        let mut n = String::new();
        while let Some(&(_, d)) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            n.push(d);
            chars.next();
        }
        match n.parse::<usize>() {
            Ok(v) => out.push_str(&(v + base).to_string()),
            Err(_) => out.push_str(&n),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_statements_with_one_parameter_sequence() {
        let mut b = Batch::default();
        b.push("UPDATE t SET a = $1 WHERE id = $2", vec![Arg::Int(1), "x".into()]);
        b.push("INSERT INTO u VALUES ($1, $2, $1, $10)", vec![Arg::OptText(None), Arg::Int(2)]);
        let (sql, args) = b.joined();
        assert_eq!(sql, "UPDATE t SET a = $1 WHERE id = $2;\nINSERT INTO u VALUES ($3, $4, $3, $12);\n");
        assert_eq!(args, vec![&Arg::Int(1), &Arg::Text("x".into()), &Arg::OptText(None), &Arg::Int(2)]);
    }
}
