//! PostgreSQL, the production backend, where several replicas share one
//! database: its connections, its migrations, and the SQL only it runs,
//! claiming leads and timers (`FOR UPDATE SKIP LOCKED`, leases timed by the
//! server's clock; see migrations/postgres/0002).

use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{Connection, PgPool};

use super::enrolments::{due_condition, due_select, not_in};
use super::sql::{Conn, Pooling, Run, Sql};
use super::{PgOptions, Result};
use crate::replica::Claimer;

pub(super) struct PgDb {
    pool: PgPool,
    /// Steps' attempts and outcomes (`record_steps`) go through connections
    /// of their own, set up to update by primary key even while the
    /// planner's statistics still say a table is empty (a new database's
    /// first big send chose a sequential scan per write, O(deliveries)
    /// each). A group with attempts waits for the disk (its outcomes share
    /// that flush); one of outcomes alone does not (see `Script::run`).
    steps: PgPool,
    /// Replicas share the work by claiming leads.
    claimer: Claimer,
    /// Behind a transaction pooler: how each pool's statements run.
    pooling: Pooling,
    steps_pooling: Pooling,
}

/// `url` as sqlx connects with it: `sslmode` and `sslrootcert` as libpq
/// reads them (`require` with a root certificate, from the URL or
/// `ca_file`, verifies the server's chain as `verify-ca` does), the
/// system's CA store besides, and no statement cache behind a pooler.
fn connect_options(url: &str, pg: &PgOptions) -> Result<PgConnectOptions> {
    let mut options = PgConnectOptions::from_str(url)?;
    let root_in_url = url::Url::parse(url).is_ok_and(|u| u.query_pairs().any(|(k, _)| k == "sslrootcert"));
    if let Some(ca) = &pg.ca_file {
        options = options.ssl_root_cert(ca);
    }
    if (root_in_url || pg.ca_file.is_some()) && matches!(options.get_ssl_mode(), PgSslMode::Require) {
        options = options.ssl_mode(PgSslMode::VerifyCa);
    }
    if pg.pooler {
        options = options.statement_cache_capacity(0);
    }
    Ok(options)
}

impl PgDb {
    pub async fn open(url: &str, max_connections: u32, claimer: Claimer, pg: &PgOptions) -> Result<PgDb> {
        let options = connect_options(url, pg)?;
        // One plain connection first: an unreachable server fails now, not
        // after the pool has retried for its whole acquire timeout.
        sqlx::PgConnection::connect_with(&options).await?.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(std::time::Duration::from_secs(10))
            // sqlx pings every connection it lends by default: a second
            // round trip per query. A connection that died (a database
            // restart) fails its next query instead, is dropped, and the
            // engine retries at the next tick.
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        // A pooler passes no startup `options` on (PgBouncer refuses them):
        // there the setting is made in each statement's transaction.
        const BY_KEY: &str = "SET LOCAL enable_seqscan = off";
        let (by_key, pooling, steps_pooling) = match pg.pooler {
            false => (options.options([("enable_seqscan", "off")]), Pooling::Off, Pooling::Off),
            true => (options, Pooling::On(None), Pooling::On(Some(BY_KEY))),
        };
        let steps = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .test_before_acquire(false)
            .connect_with(by_key)
            .await?;
        Ok(PgDb { pool, steps, claimer, pooling, steps_pooling })
    }

    pub async fn conn(&self) -> Result<Conn<'_>> {
        Ok(Conn::Pg(self.pool.acquire().await?, self.pooling))
    }

    pub async fn step_conn(&self) -> Result<Conn<'_>> {
        Ok(Conn::Pg(self.steps.acquire().await?, self.steps_pooling))
    }

    /// Behind a pooler, the migrator's session-level advisory lock would
    /// be taken on one server connection and released (or not) on
    /// another: it runs without it, and only when a migration is pending
    /// (README: run `nurture migrate` once before starting replicas on a
    /// new version).
    pub async fn migrate(&self) -> Result<()> {
        let mut migrator = sqlx::migrate!("migrations/postgres");
        if let Pooling::On(_) = self.pooling {
            let latest = migrator.iter().map(|m| m.version).max().unwrap_or(0);
            let applied = Sql::new("SELECT COALESCE(MAX(version), 0) AS v FROM _sqlx_migrations WHERE success");
            let found = match self.conn().await?.fetch_one(applied).await {
                Ok(row) => row.get::<i64>("v")?,
                Err(_) => 0,
            };
            if found >= latest {
                return Ok(());
            }
            migrator.set_locking(false);
        }
        migrator.run(&self.pool).await?;
        Ok(())
    }

    /// Claim the leads of the first `limit` due steps that no live replica
    /// holds (SKIP LOCKED: replicas claiming at the same moment take
    /// different rows, not the same ones in turn), in lead order (two
    /// replicas never wait on each other in a cycle), and return every due
    /// step of the leads claimed, as `enrolments::due` reads them: one
    /// lead's steps stay with one replica, so its caps see each send before
    /// the next. They stay claimed until [`PgDb::release_claims_except`].
    pub fn claim_due(&self, now: DateTime<Utc>, campaigns: &[String], limit: i64, exclude: &[i64]) -> Sql {
        let due = due_condition(5, campaigns.len());
        let other = not_in("e.lead_id", 5 + campaigns.len(), exclude.len());
        let sql = format!(
            "WITH candidates AS (SELECT DISTINCT lead_id FROM (SELECT e.lead_id FROM enrolments e \
             WHERE {due}{other} AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.lead_id = e.lead_id \
             AND c.until > now() AND c.owner <> $3) ORDER BY e.due_at, e.id LIMIT $2 \
             FOR UPDATE OF e SKIP LOCKED) d), \
             claimed AS (INSERT INTO claims (lead_id, owner, until) \
             SELECT lead_id, $3, now() + make_interval(secs => $4) FROM candidates ORDER BY lead_id \
             ON CONFLICT (lead_id) DO UPDATE SET owner = excluded.owner, until = excluded.until \
             WHERE claims.until <= now() OR claims.owner = excluded.owner RETURNING lead_id) \
             {} JOIN claimed k ON k.lead_id = e.lead_id WHERE {due} ORDER BY e.due_at, e.id",
            due_select()
        );
        Sql::dynamic(sql)
            .bind(now)
            .bind(limit)
            .bind(&self.claimer.owner)
            .bind(self.claimer.lease_seconds)
            .bind_all(campaigns.iter().map(Into::into))
            .bind_all(exclude.iter().copied().map(Into::into))
    }

    /// Extend this replica's claims on leads and timers by a lease.
    pub async fn renew_claims(&self) -> Result<()> {
        let mut conn = self.conn().await?;
        let c = &self.claimer;
        let leads = Sql::new("UPDATE claims SET until = now() + make_interval(secs => $2) WHERE owner = $1");
        conn.execute(leads.bind(&c.owner).bind(c.lease_seconds)).await?;
        let timers =
            Sql::new("UPDATE timers SET claimed_until = now() + make_interval(secs => $2) WHERE claimed_by = $1");
        conn.execute(timers.bind(&c.owner).bind(c.lease_seconds)).await?;
        Ok(())
    }

    /// Give up this replica's claims on leads but those in `keep` (still
    /// being worked on).
    pub async fn release_claims_except(&self, keep: &[i64]) -> Result<()> {
        let sql = format!("DELETE FROM claims WHERE owner = $1{}", not_in("lead_id", 2, keep.len()));
        let q = Sql::dynamic(sql).bind(&self.claimer.owner).bind_all(keep.iter().copied().map(Into::into));
        self.conn().await?.execute(q).await?;
        Ok(())
    }

    /// The right to run a timer's fire whose last run was at `last`. A
    /// claim this replica holds already is taken again: a fire it left
    /// half-done (a database error) is its own to finish, not blocked by
    /// the claim its heartbeat keeps renewing.
    pub async fn claim_timer(&self, name: &str, last: DateTime<Utc>) -> Result<bool> {
        let q = Sql::new(
            "UPDATE timers SET claimed_by = $3, claimed_until = now() + make_interval(secs => $4) \
             WHERE name = $1 AND last_at = $2 \
               AND (claimed_until IS NULL OR claimed_until <= now() OR claimed_by = $3)",
        );
        let q = q.bind(name).bind(last).bind(&self.claimer.owner).bind(self.claimer.lease_seconds);
        Ok(self.conn().await?.execute(q).await? == 1)
    }
}
