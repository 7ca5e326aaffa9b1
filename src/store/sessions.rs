//! Console sessions, kept by the server: a login stores one, each request
//! looks it up, a logout deletes it (on every replica at once). Keyed by
//! the SHA-256 of the cookie's secret; expired ones are deleted as new
//! ones are made.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::sql::{Run, Sql};
use super::{Database, Result};

#[async_trait]
pub trait Sessions: Send + Sync {
    /// Store session `id` of `user` until `expires` (and drop the expired).
    async fn create_session(&self, id: &str, user: &str, now: DateTime<Utc>, expires: DateTime<Utc>) -> Result<()>;
    /// The user of session `id`, if it exists and has not expired.
    async fn session_user(&self, id: &str, now: DateTime<Utc>) -> Result<Option<String>>;
    /// End session `id`; whether there was one.
    async fn end_session(&self, id: &str) -> Result<bool>;
}

#[async_trait]
impl Sessions for Database {
    async fn create_session(&self, id: &str, user: &str, now: DateTime<Utc>, expires: DateTime<Utc>) -> Result<()> {
        let mut c = self.conn().await?;
        c.execute(Sql::new("DELETE FROM console_sessions WHERE expires_at <= $1").bind(now)).await?;
        let q =
            Sql::new("INSERT INTO console_sessions (id, user_name, created_at, expires_at) VALUES ($1, $2, $3, $4)");
        c.execute(q.bind(id).bind(user).bind(now).bind(expires)).await?;
        Ok(())
    }

    async fn session_user(&self, id: &str, now: DateTime<Utc>) -> Result<Option<String>> {
        let q = Sql::new("SELECT user_name FROM console_sessions WHERE id = $1 AND expires_at > $2").bind(id).bind(now);
        match self.conn().await?.fetch_optional(q).await? {
            Some(row) => Ok(Some(row.get("user_name")?)),
            None => Ok(None),
        }
    }

    async fn end_session(&self, id: &str) -> Result<bool> {
        let q = Sql::new("DELETE FROM console_sessions WHERE id = $1").bind(id);
        Ok(self.conn().await?.execute(q).await? > 0)
    }
}
