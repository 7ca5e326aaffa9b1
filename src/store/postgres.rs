//! PostgreSQL, the production backend, where several replicas share one
//! database.

use sqlx::pool::PoolConnection;
use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool, Postgres};

use super::{Claimer, Result};

pub struct PgStore {
    pool: PgPool,
    /// Outcome writes (`finish_deliveries`) go through connections of
    /// their own, set up so that they do not wait for the WAL to reach the
    /// disk (an outcome lost to a database crash leaves its step `sending`,
    /// later recorded `uncertain`, never resent; attempts stay durable),
    /// and update by primary key even while the planner's statistics still
    /// say a table is empty (a new database's first big send chose a
    /// sequential scan per write, O(deliveries) each).
    outcomes: PgPool,
    /// Replicas share the work by claiming leads (see migrations/postgres/0002).
    claimer: Claimer,
}

impl PgStore {
    pub async fn open(url: &str, max_connections: u32, claimer: Claimer) -> Result<PgStore> {
        // One plain connection first: an unreachable server fails now, not
        // after the pool has retried for its whole acquire timeout.
        sqlx::PgConnection::connect(url).await?.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(std::time::Duration::from_secs(10))
            // sqlx pings every connection it lends by default: a second
            // round trip per query. A connection that died (a database
            // restart) fails its next query instead, is dropped, and the
            // engine retries at the next tick.
            .test_before_acquire(false)
            .connect(url)
            .await?;
        let relaxed =
            PgConnectOptions::from_str(url)?.options([("synchronous_commit", "off"), ("enable_seqscan", "off")]);
        let outcomes = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .test_before_acquire(false)
            .connect_with(relaxed)
            .await?;
        Ok(PgStore { pool, outcomes, claimer })
    }

    const BEGIN: &'static str = "BEGIN";

    fn claimer(&self) -> Option<&Claimer> {
        Some(&self.claimer)
    }

    async fn conn(&self) -> Result<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    async fn outcome_conn(&self) -> Result<PoolConnection<Postgres>> {
        Ok(self.outcomes.acquire().await?)
    }

    async fn run_migrations(&self) -> Result<()> {
        sqlx::migrate!("migrations/postgres").run(&self.pool).await?;
        Ok(())
    }
}

super::sql::sql_store!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
