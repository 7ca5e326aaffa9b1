//! PostgreSQL, the production backend, where several replicas share one
//! database.

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgPool, Postgres};

use super::{Claimer, Result};

pub struct PgStore {
    pool: PgPool,
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
            .connect(url)
            .await?;
        Ok(PgStore { pool, claimer })
    }

    fn claimer(&self) -> Option<&Claimer> {
        Some(&self.claimer)
    }

    async fn conn(&self) -> Result<PoolConnection<Postgres>> {
        Ok(self.pool.acquire().await?)
    }

    async fn run_migrations(&self) -> Result<()> {
        sqlx::migrate!("migrations/postgres").run(&self.pool).await?;
        Ok(())
    }
}

super::sql::sql_store!(PgStore, sqlx::Postgres, sqlx::postgres::PgRow);
