//! `nurture db copy --to URL`: everything this database holds (leads,
//! enrolments with their positions, deliveries, tasks, suppressions and
//! erased addresses, timers, pauses, inbound mail, history) into an empty
//! PostgreSQL database, in one transaction there, ids kept, sequences moved
//! past them, and each table's rows counted on both sides at the end. The
//! columns come from the destination's catalogue, so a column added by a
//! later migration is copied without a change here; a table missing from
//! the list below stops the copy (and fails the tests) instead of being
//! left behind.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::sql::{Arg, Row, Run, Sql, value_rows};
use super::{Database, Result, StoreError};

/// Tables in an order their foreign keys accept, each with the key it is
/// paged by.
const TABLES: [(&str, &str); 18] = [
    ("leads", "id"),
    ("suppressions", "email"),
    ("forgotten", "hash"),
    ("enrolments", "id"),
    ("deliveries", "id"),
    ("tasks", "id"),
    ("inbound", "id"),
    ("history", "id"),
    ("timers", "name"),
    ("counters", "name"),
    ("pauses", "scope"),
    ("signals", "id"),
    ("handoffs", "id"),
    ("readiness_checks", "lead_id"),
    ("webhook_events", "id"),
    ("webhook_deliveries", "id"),
    ("webhook_cursors", "webhook"),
    ("step_tests", "id"),
];

/// Not copied: the migrations' own ledger (the destination has its own),
/// the replicas' leases on leads, which belong to running processes, and
/// console sessions (people log in again on the new database).
const LEFT: [&str; 3] = ["_sqlx_migrations", "claims", "console_sessions"];

/// Columns not copied: a timer's claim by a running replica.
const TRANSIENT: [&str; 2] = ["claimed_by", "claimed_until"];

const PAGE: i64 = 1000;

/// One table's rows in the source and, after the copy, the destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub table: &'static str,
    pub from: i64,
    pub to: i64,
}

#[async_trait]
pub trait Transfer: Send + Sync {
    /// Copy everything into the empty PostgreSQL database at `url`.
    async fn copy_into(&self, url: &str) -> Result<Vec<Copied>>;
}

#[derive(Clone, Copy)]
enum Type {
    Int,
    Text,
    Time,
    Bool,
    Float,
}

async fn count(db: &Database, table: &str) -> Result<i64> {
    db.conn().await?.fetch_one(Sql::dynamic(format!("SELECT COUNT(*) AS n FROM {table}"))).await?.get("n")
}

fn value(row: &Row, column: &str, t: Type) -> Result<Arg> {
    Ok(match t {
        // INTEGER columns are 4 bytes in PostgreSQL, 8 in SQLite.
        Type::Int => Arg::Int(
            row.get::<Option<i64>>(column).or_else(|_| row.get::<Option<i32>>(column).map(|v| v.map(i64::from)))?,
        ),
        Type::Text => Arg::Text(row.get(column)?),
        Type::Time => Arg::Time(row.get::<Option<DateTime<Utc>>>(column)?),
        Type::Bool => Arg::Bool(row.get::<Option<bool>>(column)?.unwrap_or(false)),
        // Scores (never NULL in the schema).
        Type::Float => Arg::Float(row.get::<Option<f64>>(column)?),
    })
}

#[async_trait]
impl Transfer for Database {
    async fn copy_into(&self, url: &str) -> Result<Vec<Copied>> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::Unsupported(format!(
                "db copy writes to PostgreSQL: give --to postgres://USER@HOST/DB, not {url:?}"
            )));
        }
        let to = super::open_database(url, 2, crate::replica::DEFAULT_LEASE, &super::PgOptions::default()).await?;
        super::Store::migrate(&to).await?;
        let pg = to.postgres().ok_or_else(|| StoreError::Url(url.to_string()))?;

        // Every table the destination has must be known here.
        let mut c = pg.conn().await?;
        let q = Sql::new(
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
        );
        for row in c.fetch_all(q).await? {
            let name: String = row.get("name")?;
            if !TABLES.iter().any(|(t, _)| *t == name) && !LEFT.contains(&name.as_str()) {
                return Err(StoreError::Unsupported(format!(
                    "db copy does not know table {name}: nothing was copied (a nurture bug; report it)"
                )));
            }
        }
        drop(c);
        for (table, _) in TABLES {
            let n = count(&to, table).await?;
            if n > 0 {
                return Err(StoreError::Unsupported(format!(
                    "{url}: table {table} already holds {n} rows; db copy writes only to an empty database \
                     (create one: createdb nurture_new)"
                )));
            }
        }

        let mut dest = to.conn().await?;
        let mut tx = dest.begin().await?;
        for (table, key) in TABLES {
            let q = Sql::new(
                "SELECT column_name::text AS name, data_type::text AS type FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            );
            let mut columns: Vec<(String, Type)> = Vec::new();
            for row in tx.fetch_all(q.bind(table)).await? {
                let (name, ty): (String, String) = (row.get("name")?, row.get("type")?);
                if TRANSIENT.contains(&name.as_str()) {
                    continue;
                }
                let t = match ty.as_str() {
                    "bigint" | "integer" | "smallint" => Type::Int,
                    "text" | "character varying" => Type::Text,
                    "timestamp with time zone" => Type::Time,
                    "boolean" => Type::Bool,
                    "double precision" | "real" => Type::Float,
                    other => {
                        return Err(StoreError::Unsupported(format!(
                            "db copy does not know the type {other} of {table}.{name} (a nurture bug; report it)"
                        )));
                    }
                };
                columns.push((name, t));
            }
            let names = columns.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
            let numeric = key == "id";
            let (mut after_id, mut after_key) = (0i64, String::new());
            loop {
                let page =
                    Sql::dynamic(format!("SELECT {names} FROM {table} WHERE {key} > $1 ORDER BY {key} LIMIT {PAGE}"));
                let page = if numeric { page.bind(after_id) } else { page.bind(&after_key) };
                let rows = self.conn().await?.fetch_all(page).await?;
                let Some(last) = rows.last() else { break };
                if numeric {
                    after_id = last.get(key)?;
                } else {
                    after_key = last.get(key)?;
                }
                let mut args = Vec::with_capacity(rows.len() * columns.len());
                for row in &rows {
                    for (name, t) in &columns {
                        args.push(value(row, name, *t)?);
                    }
                }
                let insert =
                    format!("INSERT INTO {table} ({names}) VALUES {}", value_rows(1, rows.len(), columns.len(), ""));
                tx.execute(Sql::dynamic(insert).bind_all(args)).await?;
                if (rows.len() as i64) < PAGE {
                    break;
                }
            }
            if numeric {
                // New rows on PostgreSQL continue after the copied ids.
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                     (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
                );
                tx.execute(Sql::dynamic(sql)).await?;
            }
        }
        tx.commit().await?;
        drop(dest);

        let mut out = Vec::new();
        for (table, _) in TABLES {
            let (from, to) = (count(self, table).await?, count(&to, table).await?);
            if from != to {
                return Err(StoreError::Unsupported(format!(
                    "db copy: {table} has {from} rows here but {to} in {url}: rows changed during the copy \
                     (stop the daemon first), drop that database and copy again"
                )));
            }
            out.push(Copied { table, from, to });
        }
        Ok(out)
    }
}
