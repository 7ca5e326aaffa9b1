//! What every concept file of the store uses to talk to either database:
//! a statement as a value ([`Sql`]: text and bound arguments), a row of
//! either backend ([`Row`]), and a connection or transaction to run it on
//! ([`Conn`], [`Tx`]). The SQL text is written once: `$N` placeholders work
//! in SQLite and PostgreSQL alike, and times bind as `DateTime<Utc>` (TEXT
//! in SQLite, TIMESTAMPTZ in PostgreSQL).
//!
//! Plain values and two small enums rather than sqlx's generic executors,
//! whose bounds would have to be repeated on every query function, or a
//! macro, whose compile errors land at its call site.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Postgres, Sqlite, SqliteConnection};
use tokio::sync::MutexGuard;

use super::Result;

/// A bound value. Every variant is nullable, so `Option`s bind as they are.
#[derive(Debug, Clone)]
pub(super) enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Time(Option<DateTime<Utc>>),
    Bool(bool),
    Float(Option<f64>),
}

impl Arg {
    /// PostgreSQL refuses a NUL in text (SQLite keeps it): a stranger's
    /// mail or form field with one would fail the same way every time, so
    /// it is stored as U+FFFD on both.
    fn clean(self) -> Arg {
        match self {
            Arg::Text(Some(t)) if t.contains('\0') => Arg::Text(Some(t.replace('\0', "\u{FFFD}"))),
            other => other,
        }
    }
}

macro_rules! arg_from {
    ($($t:ty => $variant:ident $(via $f:expr)?),* $(,)?) => {
        $(impl From<$t> for Arg {
            fn from(v: $t) -> Arg {
                Arg::$variant($($f)?(v))
            }
        })*
    };
}

arg_from! {
    String => Text via Some,
    &str => Text via (|s: &str| Some(s.to_string())),
    &String => Text via (|s: &String| Some(s.clone())),
    Option<String> => Text,
    Option<&str> => Text via (|s: Option<&str>| s.map(str::to_string)),
    i64 => Int via Some,
    Option<i64> => Int,
    DateTime<Utc> => Time via Some,
    Option<DateTime<Utc>> => Time,
    bool => Bool,
    f64 => Float via Some,
    Option<f64> => Float,
}

/// One statement and its arguments, in placeholder order.
#[derive(Debug, Clone)]
pub(super) struct Sql {
    text: Cow<'static, str>,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &'static str) -> Sql {
        Sql { text: Cow::Borrowed(text), args: Vec::new() }
    }

    /// SQL assembled at run time from this crate's constants and `$N`
    /// placeholders only; values from users are always bound.
    pub fn dynamic(text: String) -> Sql {
        Sql { text: Cow::Owned(text), args: Vec::new() }
    }

    pub fn bind(mut self, value: impl Into<Arg>) -> Sql {
        self.args.push(value.into().clean());
        self
    }

    pub fn bind_all(mut self, values: impl IntoIterator<Item = Arg>) -> Sql {
        self.args.extend(values.into_iter().map(Arg::clean));
        self
    }

    fn query<DB: sqlx::Database>(self) -> sqlx::query::Query<'static, DB, DB::Arguments>
    where
        Option<String>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<i64>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<DateTime<Utc>>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        bool: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        Option<f64>: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        let mut q = sqlx::query(AssertSqlSafe(self.text));
        for a in self.args {
            q = match a {
                Arg::Text(v) => q.bind(v),
                Arg::Int(v) => q.bind(v),
                Arg::Time(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Float(v) => q.bind(v),
            };
        }
        q
    }
}

/// `$from, $from+1, ...` for `n` values.
pub(super) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// `rows` tuples of `width` consecutive placeholders from `$first`, each
/// followed by `tail` (constants shared by every row): a VALUES list.
pub(super) fn value_rows(first: usize, rows: usize, width: usize, tail: &str) -> String {
    (0..rows).map(|r| format!("({}{tail})", placeholders(first + r * width, width))).collect::<Vec<_>>().join(", ")
}

/// A type that both databases can decode a column into.
pub(super) trait Column:
    for<'r> sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite> + for<'r> sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>
{
}

impl<T> Column for T where
    T: for<'r> sqlx::Decode<'r, Sqlite>
        + sqlx::Type<Sqlite>
        + for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
{
}

/// A result row of either database.
pub(super) enum Row {
    Sqlite(sqlx::sqlite::SqliteRow),
    Pg(sqlx::postgres::PgRow),
}

impl Row {
    pub fn get<T: Column>(&self, column: &str) -> Result<T> {
        use sqlx::Row as _;
        Ok(match self {
            Row::Sqlite(r) => r.try_get(column)?,
            Row::Pg(r) => r.try_get(column)?,
        })
    }
}

/// How PostgreSQL statements run. Behind a transaction pooler
/// (PgBouncer's `pool_mode = transaction`), each transaction may run on
/// another server connection: a named prepared statement made on one is
/// missing (or, made by another client, already there) on the next, and
/// an unnamed one lives only until the next Sync, which sqlx sends between
/// preparing and executing. So there every statement is unnamed and runs
/// inside a transaction (its own, or the caller's), with the setting given
/// (`SET LOCAL ...`) first.
#[derive(Debug, Clone, Copy)]
pub(super) enum Pooling {
    Off,
    On(Option<&'static str>),
}

/// A connection of either database, lent for a few statements.
pub(super) enum Conn<'a> {
    /// The one SQLite connection, held for as long as this lives.
    Sqlite(MutexGuard<'a, SqliteConnection>),
    Pg(PoolConnection<Postgres>, Pooling),
}

/// An open transaction: committed by [`Tx::commit`], rolled back when
/// dropped without it.
pub(super) enum Tx<'a> {
    Sqlite(sqlx::Transaction<'a, Sqlite>),
    Pg(sqlx::Transaction<'a, Postgres>, Pooling),
}

/// Where a statement runs: a plain connection or one inside a transaction.
pub(super) enum Target<'a> {
    Sqlite(&'a mut SqliteConnection),
    /// Named (cached) prepared statements, as sqlx does by default.
    Pg(&'a mut sqlx::PgConnection),
    /// Behind a pooler, inside a transaction already: unnamed statements.
    PgUnnamed(&'a mut sqlx::PgConnection),
    /// Behind a pooler, outside a transaction: each statement in its own.
    PgAlone(&'a mut sqlx::PgConnection, Option<&'static str>),
}

/// The rows of `q` on PostgreSQL, named or unnamed.
async fn pg_rows(c: &mut sqlx::PgConnection, q: Sql, named: bool) -> Result<Vec<Row>> {
    Ok(q.query().persistent(named).fetch_all(c).await?.into_iter().map(Row::Pg).collect())
}

async fn pg_execute(c: &mut sqlx::PgConnection, q: Sql, named: bool) -> Result<u64> {
    Ok(q.query().persistent(named).execute(c).await?.rows_affected())
}

/// A transaction of its own on `c`, with `setup` first.
async fn pg_begin<'c>(
    c: &'c mut sqlx::PgConnection,
    setup: Option<&'static str>,
) -> Result<sqlx::Transaction<'c, Postgres>> {
    use sqlx::Connection;
    let mut tx = c.begin().await?;
    if let Some(s) = setup {
        sqlx::raw_sql(AssertSqlSafe(s)).execute(&mut *tx).await?;
    }
    Ok(tx)
}

impl Target<'_> {
    async fn fetch_all(self, q: Sql) -> Result<Vec<Row>> {
        Ok(match self {
            Target::Sqlite(c) => q.query().fetch_all(c).await?.into_iter().map(Row::Sqlite).collect(),
            Target::Pg(c) => pg_rows(c, q, true).await?,
            Target::PgUnnamed(c) => pg_rows(c, q, false).await?,
            Target::PgAlone(c, setup) => {
                let mut tx = pg_begin(c, setup).await?;
                let rows = pg_rows(&mut tx, q, false).await?;
                tx.commit().await?;
                rows
            }
        })
    }

    async fn fetch_optional(self, q: Sql) -> Result<Option<Row>> {
        Ok(match self {
            Target::Sqlite(c) => q.query().fetch_optional(c).await?.map(Row::Sqlite),
            Target::Pg(c) => q.query().fetch_optional(c).await?.map(Row::Pg),
            pooled => pooled.fetch_all(q).await?.into_iter().next(),
        })
    }

    async fn fetch_one(self, q: Sql) -> Result<Row> {
        self.fetch_optional(q).await?.ok_or(super::StoreError::Db(sqlx::Error::RowNotFound))
    }

    async fn execute(self, q: Sql) -> Result<u64> {
        Ok(match self {
            Target::Sqlite(c) => q.query().execute(c).await?.rows_affected(),
            Target::Pg(c) => pg_execute(c, q, true).await?,
            Target::PgUnnamed(c) => pg_execute(c, q, false).await?,
            Target::PgAlone(c, setup) => {
                let mut tx = pg_begin(c, setup).await?;
                let n = pg_execute(&mut tx, q, false).await?;
                tx.commit().await?;
                n
            }
        })
    }
}

/// The statements a connection and a transaction both run.
pub(super) trait Run: Send {
    fn target(&mut self) -> Target<'_>;

    fn fetch_all(&mut self, q: Sql) -> impl Future<Output = Result<Vec<Row>>> + Send {
        async move { self.target().fetch_all(q).await }
    }

    fn fetch_optional(&mut self, q: Sql) -> impl Future<Output = Result<Option<Row>>> + Send {
        async move { self.target().fetch_optional(q).await }
    }

    /// Exactly one row, or `RowNotFound`.
    fn fetch_one(&mut self, q: Sql) -> impl Future<Output = Result<Row>> + Send {
        async move { self.target().fetch_one(q).await }
    }

    /// Rows affected.
    fn execute(&mut self, q: Sql) -> impl Future<Output = Result<u64>> + Send {
        async move { self.target().execute(q).await }
    }

    /// Whether this runs on PostgreSQL (for the few statements SQLite's
    /// single writer makes needless there, as row locks).
    fn postgres(&mut self) -> bool {
        !matches!(self.target(), Target::Sqlite(_))
    }
}

impl Run for Conn<'_> {
    fn target(&mut self) -> Target<'_> {
        match self {
            Conn::Sqlite(c) => Target::Sqlite(c),
            Conn::Pg(c, Pooling::Off) => Target::Pg(c),
            Conn::Pg(c, Pooling::On(setup)) => Target::PgAlone(c, *setup),
        }
    }
}

impl Run for Tx<'_> {
    fn target(&mut self) -> Target<'_> {
        match self {
            Tx::Sqlite(t) => Target::Sqlite(t),
            Tx::Pg(t, Pooling::Off) => Target::Pg(t),
            Tx::Pg(t, Pooling::On(_)) => Target::PgUnnamed(t),
        }
    }
}

impl Conn<'_> {
    /// SQLite's write transactions take the write lock up front: a
    /// deferred one that reads first cannot upgrade once another process
    /// (the daemon beside a CLI command) has written meanwhile
    /// (SQLITE_BUSY_SNAPSHOT, which waiting does not cure); an immediate
    /// one waits its turn instead.
    pub async fn begin(&mut self) -> Result<Tx<'_>> {
        use sqlx::Connection;
        Ok(match self {
            Conn::Sqlite(c) => Tx::Sqlite(c.begin_with("BEGIN IMMEDIATE").await?),
            Conn::Pg(c, Pooling::Off) => Tx::Pg(c.begin().await?, Pooling::Off),
            Conn::Pg(c, Pooling::On(setup)) => {
                let setup = *setup;
                Tx::Pg(pg_begin(c, setup).await?, Pooling::On(setup))
            }
        })
    }
}

impl Tx<'_> {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Pg(t, _) => t.commit().await?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Arg, Sql, value_rows};

    #[test]
    fn a_nul_in_text_is_bound_as_a_replacement_character() {
        let q = Sql::new("SELECT $1, $2").bind("a\0b").bind_all([Arg::Text(Some("\0".into()))]);
        let texts: Vec<String> =
            q.args.iter().map(|a| if let Arg::Text(Some(t)) = a { t.clone() } else { String::new() }).collect();
        assert_eq!(texts, ["a\u{FFFD}b", "\u{FFFD}"]);
    }

    #[test]
    fn value_rows_number_placeholders_row_by_row() {
        assert_eq!(value_rows(2, 2, 3, ", 'x'"), "($2, $3, $4, 'x'), ($5, $6, $7, 'x')");
        assert_eq!(value_rows(1, 1, 1, ""), "($1)");
    }
}
