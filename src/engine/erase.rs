//! Erasure on request and what keeps it: `forget` removes the lead and
//! keeps its address as a keyed hash (see `store::erase`); an address
//! that comes back (an import, the API, a CRM writing into `leads`) is
//! recognised by that hash and suppressed before any campaign sees it, so
//! it is never contacted again.

use chrono::{DateTime, Utc};

use super::{Engine, Result};
use crate::store::{Erased, Source};

/// The suppression reason of an erased address seen again.
pub const REASON: &str = "erased on request earlier (leads forget): never contact";

/// The suppression reason of an address nurture cannot mail (a CRM wrote
/// it straight into `leads`; imports, the API and the CLI refuse them).
pub const UNMAILABLE: &str = "not an address nurture can mail";

/// Timer whose note is the highest lead id already checked against the
/// erased addresses and for an address nurture can mail (leads a CRM
/// wrote straight into the table).
const TIMER: &str = "forgotten:checked";

/// Leads checked per query.
const PAGE: i64 = 5000;

impl Engine {
    /// Erase the lead with this address and everything recorded about it;
    /// the address stays suppressed as a keyed hash. Rows removed per table
    /// (empty when there was no such lead: the hash is kept all the same,
    /// so an address erased before its import is never contacted either).
    pub async fn forget(&self, email: &str, now: DateTime<Utc>) -> Result<Erased> {
        let hash = self.links().erasure_hashes(email).swap_remove(0);
        let erased = self.store.forget(email, &hash, now).await?;
        tracing::info!(tables = erased.len(), "A lead was erased on request; its address is kept as a hash.");
        Ok(erased)
    }

    /// Suppress those of `emails` that were erased before; how many.
    pub(super) async fn refuse_forgotten<'a>(
        &self,
        emails: impl IntoIterator<Item = &'a str>,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        if !self.store.any_forgotten().await? {
            return Ok(0);
        }
        self.suppress_forgotten(emails, now).await
    }

    /// [`Engine::refuse_forgotten`] once it is known that some address was
    /// erased.
    async fn suppress_forgotten<'a>(
        &self,
        emails: impl IntoIterator<Item = &'a str>,
        now: DateTime<Utc>,
    ) -> Result<usize> {
        let mut by_hash = std::collections::HashMap::new();
        for email in emails {
            for h in self.links().erasure_hashes(email) {
                by_hash.insert(h, email.to_string());
            }
        }
        let hashes: Vec<String> = by_hash.keys().cloned().collect();
        let mut refused = 0;
        for h in self.store.forgotten_among(&hashes).await? {
            if let Some(email) = by_hash.get(&h) {
                refused += usize::from(self.store.suppress(email, REASON, Source::Engine, now).await?);
            }
        }
        if refused > 0 {
            tracing::warn!(leads = refused, "Addresses erased earlier came back; suppressed, never contacted.");
        }
        Ok(refused)
    }

    /// Check the leads added since the last look (a CRM may insert into
    /// `leads` directly) against the erased addresses, and their addresses
    /// with the intake's own rule, before a sweep can enrol them: an
    /// address nurture cannot mail is suppressed and logged, so it never
    /// reaches the mailer (where it would fail every time).
    pub(super) async fn guard_new_leads(&self, now: DateTime<Utc>) -> Result<()> {
        let forgotten = self.store.any_forgotten().await?;
        let (last, note) = self.store.timer_or_start(TIMER).await?;
        let mut after: i64 = note.parse().unwrap_or(0);
        loop {
            let page = self.store.leads_after(after, PAGE).await?;
            let Some((last_id, _)) = page.last() else { break };
            after = *last_id;
            if forgotten {
                self.suppress_forgotten(page.iter().map(|(_, e)| e.as_str()), now).await?;
            }
            for (id, email) in &page {
                if let Err(why) = crate::email::parse_address(email) {
                    tracing::warn!(
                        lead_id = id,
                        reason = why,
                        "A lead written into the table cannot be mailed; suppressed."
                    );
                    self.store.suppress(email, UNMAILABLE, Source::Engine, now).await?;
                }
            }
            if (page.len() as i64) < PAGE {
                break;
            }
        }
        self.store.set_timer(TIMER, crate::store::timers::after(last, now), &after.to_string()).await?;
        Ok(())
    }
}
