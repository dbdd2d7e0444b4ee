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

/// One statement of a batch.
#[derive(Debug)]
pub(crate) struct Statement {
    pub(crate) sql: String,
    pub(crate) args: Vec<Arg>,
    /// The batch stops, and its transaction is rolled back, if this statement changes no row.
    pub(crate) guarded: bool,
    /// It has a `RETURNING` clause whose rows the caller wants.
    pub(crate) returning: bool,
}

/// Statements, each with its own `$1..` parameters.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    pub(crate) statements: Vec<Statement>,
}

/// The temporary table a SQLite batch writes to when a guard fails: the write violates its
/// `NOT NULL` constraint, which stops the batch with an error naming the table.
pub(crate) const GUARD_TABLE_SQL: &str = "CREATE TEMP TABLE IF NOT EXISTS batch_guard (failed INTEGER NOT NULL)";
const GUARD_CHECK_SQL: &str = "INSERT INTO temp.batch_guard (failed) SELECT NULL WHERE changes() = 0";

/// `sql` with `args` bound as its `$1..` parameters.
pub(crate) fn bound_query<'q, 'a, Q: sqlx::Database>(
    sql: String,
    args: impl IntoIterator<Item = &'a Arg>,
) -> sqlx::query::Query<'q, Q, <Q as sqlx::Database>::Arguments>
where
    i64: sqlx::Encode<'q, Q> + sqlx::Type<Q>,
    String: sqlx::Encode<'q, Q> + sqlx::Type<Q>,
    Option<i64>: sqlx::Encode<'q, Q> + sqlx::Type<Q>,
    Option<String>: sqlx::Encode<'q, Q> + sqlx::Type<Q>,
{
    args.into_iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), bind_arg)
}

/// Binds `a` as the next parameter of `q`.
fn bind_arg<'q, Q: sqlx::Database>(
    q: sqlx::query::Query<'q, Q, <Q as sqlx::Database>::Arguments>,
    a: &Arg,
) -> sqlx::query::Query<'q, Q, <Q as sqlx::Database>::Arguments>
where
    i64: sqlx::Encode<'q, Q> + sqlx::Type<Q>,
    String: sqlx::Encode<'q, Q> + sqlx::Type<Q>,
    Option<i64>: sqlx::Encode<'q, Q> + sqlx::Type<Q>,
    Option<String>: sqlx::Encode<'q, Q> + sqlx::Type<Q>,
{
    match a {
        Arg::Int(v) => q.bind(*v),
        Arg::Text(v) => q.bind(v.clone()),
        Arg::OptInt(v) => q.bind(*v),
        Arg::OptText(v) => q.bind(v.clone()),
    }
}

/// Whether `e` is a SQLite batch stopping at a guard (see [`GUARD_TABLE_SQL`]).
pub(crate) fn is_guard_failure(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.message().contains("batch_guard.failed"))
}

impl Batch {
    pub(crate) fn push(&mut self, sql: impl Into<String>, args: Vec<Arg>) {
        self.statements.push(Statement { sql: sql.into(), args, guarded: false, returning: false });
    }

    /// Adds a statement that must change at least one row, else nothing of the batch is kept.
    pub(crate) fn push_guarded(&mut self, sql: impl Into<String>, args: Vec<Arg>) {
        self.statements.push(Statement { sql: sql.into(), args, guarded: true, returning: false });
    }

    /// Adds a guarded statement whose `RETURNING` rows the caller wants.
    pub(crate) fn push_returning(&mut self, sql: impl Into<String>, args: Vec<Arg>) {
        self.statements.push(Statement { sql: sql.into(), args, guarded: true, returning: true });
    }

    /// Adds a statement whose `RETURNING` rows the caller wants, however many there are (none
    /// included).
    pub(crate) fn push_returning_any(&mut self, sql: impl Into<String>, args: Vec<Arg>) {
        self.statements.push(Statement { sql: sql.into(), args, guarded: false, returning: true });
    }

    /// All statements as one text, parameters renumbered into one sequence; each guarded
    /// statement is followed by the check that fails the batch if it changed nothing.
    pub(crate) fn joined(&self) -> (String, Vec<&Arg>) {
        let mut sql = String::new();
        let mut args = Vec::new();
        for s in &self.statements {
            sql.push_str(&renumber(&s.sql, args.len()));
            sql.push_str(";\n");
            if s.guarded {
                sql.push_str(GUARD_CHECK_SQL);
                sql.push_str(";\n");
            }
            args.extend(s.args.iter());
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

    #[test]
    fn a_guarded_statement_is_followed_by_its_check() {
        let mut b = Batch::default();
        b.push_guarded("UPDATE t SET a = $1", vec![Arg::Int(1)]);
        b.push("DELETE FROM u WHERE b = $1", vec![Arg::Int(2)]);
        let (sql, args) = b.joined();
        assert_eq!(sql, format!("UPDATE t SET a = $1;\n{GUARD_CHECK_SQL};\nDELETE FROM u WHERE b = $2;\n"));
        assert_eq!(args.len(), 2);
    }
}
