//! The SQL both backends run, written once. `$N` placeholders work in
//! SQLite and PostgreSQL alike; times bind as `DateTime<Utc>` (TEXT in
//! SQLite, TIMESTAMPTZ in PostgreSQL). A macro rather than generics: sqlx's
//! generic executor bounds cost more to read than this does.

use chrono::{DateTime, Utc};

/// A bind value for queries built at run time (IN lists, optional filters).
pub(super) enum Arg {
    Text(String),
    Time(DateTime<Utc>),
    Int(i64),
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

pub(super) const LEAD_COLUMNS: &str = "l.id, l.email, l.first_name, l.last_name, l.company, l.owner, l.status, \
     l.status_changed_at, l.lost_reason, l.timezone, l.attributes, l.replied_at, l.created_at, l.updated_at";

pub(super) const DUE_COLUMNS: &str = "id, campaign, lead_id, step_id, due_at, enrolled_at";

macro_rules! sql_store {
    ($store:ident, $db:ty, $row:ty) => {
        mod shared {
            use std::collections::BTreeMap;

            use async_trait::async_trait;
            use chrono::{DateTime, Utc};
            use sqlx::Row;

            use super::$store;
            use crate::lead::Lead;
            use crate::store::sql::{Arg, DUE_COLUMNS, LEAD_COLUMNS, placeholders, value_rows};
            use crate::store::*;
            use crate::template::context::{HistoryLine, rfc3339};

            type Query<'q> = sqlx::query::Query<'q, $db, <$db as sqlx::Database>::Arguments>;

            /// SQL assembled from this module's constants and `$N`
            /// placeholders only; user values are always bound.
            fn dynamic<'q>(sql: String) -> Query<'q> {
                sqlx::query(sqlx::AssertSqlSafe(sql))
            }

            fn bind_all<'q>(mut q: Query<'q>, args: Vec<Arg>) -> Query<'q> {
                for a in args {
                    q = match a {
                        Arg::Text(s) => q.bind(s),
                        Arg::Time(t) => q.bind(t),
                        Arg::Int(i) => q.bind(i),
                    };
                }
                q
            }

            fn lead_from(r: &$row) -> Result<Lead> {
                let attributes: String = r.try_get("attributes")?;
                let timezone: String = r.try_get("timezone")?;
                Ok(Lead {
                    id: r.try_get("id")?,
                    email: r.try_get("email")?,
                    first_name: r.try_get("first_name")?,
                    last_name: r.try_get("last_name")?,
                    company: r.try_get("company")?,
                    owner: r.try_get("owner")?,
                    status: r.try_get("status")?,
                    status_changed_at: r.try_get("status_changed_at")?,
                    lost_reason: r.try_get("lost_reason")?,
                    timezone: timezone.parse().ok(),
                    attributes: serde_json::from_str(&attributes).unwrap_or_default(),
                    created_at: r.try_get("created_at")?,
                    updated_at: r.try_get("updated_at")?,
                    replied_at: r.try_get("replied_at")?,
                })
            }

            fn due_from(r: &$row) -> Result<Due> {
                Ok(Due {
                    enrolment_id: r.try_get("id")?,
                    campaign: r.try_get("campaign")?,
                    lead_id: r.try_get("lead_id")?,
                    step_id: r.try_get::<Option<String>, _>("step_id")?.unwrap_or_default(),
                    due_at: r.try_get::<Option<DateTime<Utc>>, _>("due_at")?.unwrap_or(DateTime::<Utc>::MIN_UTC),
                    enrolled_at: r.try_get("enrolled_at")?,
                })
            }

            fn task_from(r: &$row) -> Result<TaskRow> {
                let first: String = r.try_get("first_name")?;
                let last: String = r.try_get("last_name")?;
                Ok(TaskRow {
                    id: r.try_get("id")?,
                    lead_id: r.try_get("lead_id")?,
                    lead_email: r.try_get("email")?,
                    lead_name: format!("{first} {last}").trim().to_string(),
                    company: r.try_get("company")?,
                    campaign: r.try_get("campaign")?,
                    step_id: r.try_get("step_id")?,
                    rep: r.try_get("rep")?,
                    text: r.try_get("text")?,
                    due_at: r.try_get("due_at")?,
                    created_at: r.try_get("created_at")?,
                    done_at: r.try_get("done_at")?,
                })
            }

            const TASK_SELECT: &str = "SELECT t.id, t.lead_id, t.campaign, t.step_id, t.rep, t.text, t.due_at, \
                 t.created_at, t.done_at, l.email, l.first_name, l.last_name, l.company \
                 FROM tasks t JOIN leads l ON l.id = t.lead_id";

            /// The conditions on `leads l` of an audience query, and their
            /// values: `$1` is the id leads must be above, `$2` the
            /// campaign, `$3` is `third` (a page size or an upper id).
            fn audience_where(q: &AudienceQuery, after_id: i64, third: Arg) -> (String, Vec<Arg>) {
                let mut args = vec![Arg::Int(after_id), Arg::Text(q.campaign.clone()), third];
                // `(x || '') IN` hides the column from the planner: paging
                // must walk the primary key; an index on status would make
                // every page re-read and re-sort all matching leads.
                let mut sql = format!(
                    "l.id > $1 AND (l.status || '') IN ({})",
                    placeholders(args.len() + 1, q.statuses.len())
                );
                args.extend(q.statuses.iter().cloned().map(Arg::Text));
                if !q.lost_reasons.is_empty() {
                    sql += &format!(
                        " AND l.lost_reason IN ({})",
                        placeholders(args.len() + 1, q.lost_reasons.len())
                    );
                    args.extend(q.lost_reasons.iter().cloned().map(Arg::Text));
                }
                if let Some(id) = q.only_lead {
                    args.push(Arg::Int(id));
                    sql += &format!(" AND l.id = ${}", args.len());
                }
                if let Some(t) = q.changed_before {
                    args.push(Arg::Time(t));
                    sql += &format!(" AND l.status_changed_at <= ${}", args.len());
                }
                if let Some(t) = q.changed_after {
                    args.push(Arg::Time(t));
                    sql += &format!(" AND l.status_changed_at >= ${}", args.len());
                }
                if let Some(since) = &q.since {
                    args.push(Arg::Time(since.from));
                    let mut parts = vec![format!("SELECT id FROM leads WHERE updated_at > ${}", args.len())];
                    if let Some(min) = since.min_age {
                        // Status first, so the (status, status_changed_at) index serves it.
                        let first = args.len() + 1;
                        args.push(Arg::Time(since.from - min));
                        args.push(Arg::Time(since.until - min));
                        parts.push(format!(
                            "SELECT id FROM leads WHERE status IN ({}) AND status_changed_at > ${first} \
                             AND status_changed_at <= ${}",
                            placeholders(4, q.statuses.len()),
                            first + 1
                        ));
                    }
                    if let Some(gap) = since.again_after {
                        let first = args.len() + 1;
                        args.push(Arg::Time(since.from - gap));
                        args.push(Arg::Time(since.until - gap));
                        parts.push(format!(
                            "SELECT lead_id FROM enrolments WHERE campaign = $2 AND NOT active \
                             AND ended_at > ${first} AND ended_at <= ${}",
                            first + 1
                        ));
                    }
                    sql += &format!(" AND l.id IN ({})", parts.join(" UNION "));
                }
                let barred = match q.left_before {
                    Some(t) => {
                        args.push(Arg::Time(t));
                        format!("(e.active OR e.ended_at > ${})", args.len())
                    }
                    None => "TRUE".to_string(),
                };
                sql += &format!(
                    " AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email = l.email) \
                     AND NOT EXISTS (SELECT 1 FROM enrolments e WHERE e.lead_id = l.id AND e.campaign = $2 \
                     AND {barred})"
                );
                (sql, args)
            }

            #[async_trait]
            impl Store for $store {
                async fn migrate(&self) -> Result<()> {
                    self.run_migrations().await
                }

                async fn ping(&self) -> Result<()> {
                    sqlx::query("SELECT 1").execute(&mut *self.conn().await?).await?;
                    Ok(())
                }

                async fn upsert_leads(&self, leads: &[NewLead], now: DateTime<Utc>) -> Result<Vec<i64>> {
                    let mut c = self.conn().await?;
                    let mut tx = sqlx::Connection::begin_with(&mut *c, $store::BEGIN).await?;
                    let mut ids = Vec::with_capacity(leads.len());
                    for n in leads {
                        let existing = dynamic(format!("SELECT {LEAD_COLUMNS} FROM leads l WHERE l.email = $1"))
                            .bind(&n.email)
                            .fetch_optional(&mut *tx)
                            .await?;
                        let old = existing.as_ref().map(lead_from).transpose()?;
                        let pick = |new: &Option<String>, old: Option<&str>| {
                            new.clone().unwrap_or_else(|| old.unwrap_or_default().to_string())
                        };
                        let status = pick(&n.status, old.as_ref().map(|o| o.status.as_str()).or(Some("new")));
                        let changed_at = match (&old, n.status_changed_at) {
                            (_, Some(t)) => t,
                            (Some(o), None) if o.status == status => o.status_changed_at,
                            _ => now,
                        };
                        let mut attributes = old.as_ref().map(|o| o.attributes.clone()).unwrap_or_default();
                        attributes.extend(n.attributes.clone());
                        let zone = old.as_ref().and_then(|o| o.timezone).map(|t| t.name().to_string());
                        let args = [
                            pick(&n.first_name, old.as_ref().map(|o| o.first_name.as_str())),
                            pick(&n.last_name, old.as_ref().map(|o| o.last_name.as_str())),
                            pick(&n.company, old.as_ref().map(|o| o.company.as_str())),
                            pick(&n.owner, old.as_ref().map(|o| o.owner.as_str())),
                            status,
                            pick(&n.lost_reason, old.as_ref().map(|o| o.lost_reason.as_str())),
                            pick(&n.timezone, zone.as_deref()),
                            serde_json::to_string(&attributes).unwrap_or_else(|_| "{}".into()),
                        ];
                        let sql = match &old {
                            Some(_) => "UPDATE leads SET first_name = $2, last_name = $3, company = $4, owner = $5, \
                                 status = $6, lost_reason = $7, timezone = $8, attributes = $9, \
                                 status_changed_at = $10, updated_at = $11 WHERE email = $1 RETURNING id",
                            None => "INSERT INTO leads (email, first_name, last_name, company, owner, status, \
                                 lost_reason, timezone, attributes, status_changed_at, updated_at, created_at) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
                        };
                        let mut q = sqlx::query(sql).bind(&n.email);
                        for a in args {
                            q = q.bind(a);
                        }
                        let row = q.bind(changed_at).bind(now).fetch_one(&mut *tx).await?;
                        ids.push(row.try_get("id")?);
                    }
                    tx.commit().await?;
                    Ok(ids)
                }

                async fn lead(&self, id: i64) -> Result<Option<Lead>> {
                    let row = dynamic(format!("SELECT {LEAD_COLUMNS} FROM leads l WHERE l.id = $1"))
                        .bind(id)
                        .fetch_optional(&mut *self.conn().await?)
                        .await?;
                    row.as_ref().map(lead_from).transpose()
                }

                async fn lead_by_email(&self, email: &str) -> Result<Option<Lead>> {
                    let row = dynamic(format!("SELECT {LEAD_COLUMNS} FROM leads l WHERE l.email = $1"))
                        .bind(email.trim().to_lowercase())
                        .fetch_optional(&mut *self.conn().await?)
                        .await?;
                    row.as_ref().map(lead_from).transpose()
                }

                async fn set_status(
                    &self,
                    lead_id: i64,
                    status: &str,
                    reason: Option<&str>,
                    now: DateTime<Utc>,
                ) -> Result<()> {
                    sqlx::query(
                        "UPDATE leads SET status_changed_at = CASE WHEN status = $2 THEN status_changed_at ELSE $3 END, \
                         status = $2, lost_reason = COALESCE($4, lost_reason), updated_at = $3 WHERE id = $1",
                    )
                    .bind(lead_id)
                    .bind(status)
                    .bind(now)
                    .bind(reason)
                    .execute(&mut *self.conn().await?)
                    .await?;
                    Ok(())
                }

                async fn record_reply(&self, lead_id: i64, now: DateTime<Utc>) -> Result<()> {
                    sqlx::query("UPDATE leads SET replied_at = $2, updated_at = $2 WHERE id = $1")
                        .bind(lead_id)
                        .bind(now)
                        .execute(&mut *self.conn().await?)
                        .await?;
                    Ok(())
                }

                async fn audience_page(&self, q: &AudienceQuery, after_id: i64, limit: i64) -> Result<Vec<Lead>> {
                    if q.statuses.is_empty() {
                        return Ok(Vec::new());
                    }
                    let (conditions, args) = audience_where(q, after_id, Arg::Int(limit));
                    let sql = format!("SELECT {LEAD_COLUMNS} FROM leads l WHERE {conditions} ORDER BY l.id LIMIT $3");
                    let rows = bind_all(dynamic(sql), args).fetch_all(&mut *self.conn().await?).await?;
                    rows.iter().map(lead_from).collect()
                }

                async fn enrol_matching(
                    &self,
                    q: &AudienceQuery,
                    ids: (i64, i64),
                    step_id: &str,
                    due_at: DateTime<Utc>,
                    now: DateTime<Utc>,
                ) -> Result<u64> {
                    if q.statuses.is_empty() {
                        return Ok(0);
                    }
                    let (conditions, mut args) = audience_where(q, ids.0, Arg::Int(ids.1));
                    let n = args.len();
                    args.extend([Arg::Time(now), Arg::Text(step_id.to_string()), Arg::Time(due_at)]);
                    let sql = format!(
                        "INSERT INTO enrolments (campaign, lead_id, active, enrolled_at, step_id, due_at) \
                         SELECT $2, l.id, TRUE, ${}, ${}, ${} FROM leads l WHERE {conditions} AND l.id <= $3 \
                         ON CONFLICT DO NOTHING",
                        n + 1,
                        n + 2,
                        n + 3
                    );
                    Ok(bind_all(dynamic(sql), args).execute(&mut *self.conn().await?).await?.rows_affected())
                }

                async fn max_lead_id(&self) -> Result<i64> {
                    let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS m FROM leads")
                        .fetch_one(&mut *self.conn().await?)
                        .await?;
                    Ok(row.try_get::<i64, _>("m")?)
                }

                async fn suppress(&self, email: &str, reason: &str, now: DateTime<Utc>) -> Result<bool> {
                    let r = sqlx::query(
                        "INSERT INTO suppressions (email, reason, created_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (email) DO NOTHING",
                    )
                    .bind(email.trim().to_lowercase())
                    .bind(reason)
                    .bind(now)
                    .execute(&mut *self.conn().await?)
                    .await?;
                    Ok(r.rows_affected() == 1)
                }

                async fn unsuppress(&self, email: &str, now: DateTime<Utc>) -> Result<bool> {
                    let email = email.trim().to_lowercase();
                    let mut c = self.conn().await?;
                    let mut tx = sqlx::Connection::begin_with(&mut *c, $store::BEGIN).await?;
                    let r = sqlx::query("DELETE FROM suppressions WHERE email = $1").bind(&email).execute(&mut *tx).await?;
                    sqlx::query("UPDATE leads SET updated_at = $2 WHERE email = $1")
                        .bind(&email)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(r.rows_affected() > 0)
                }

                async fn is_suppressed(&self, email: &str) -> Result<bool> {
                    let row = sqlx::query("SELECT 1 AS one FROM suppressions WHERE email = $1")
                        .bind(email.trim().to_lowercase())
                        .fetch_optional(&mut *self.conn().await?)
                        .await?;
                    Ok(row.is_some())
                }

                async fn timer(&self, name: &str) -> Result<Option<(DateTime<Utc>, String)>> {
                    let row = sqlx::query("SELECT last_at, note FROM timers WHERE name = $1")
                        .bind(name)
                        .fetch_optional(&mut *self.conn().await?)
                        .await?;
                    Ok(row.map(|r| Ok::<_, sqlx::Error>((r.try_get("last_at")?, r.try_get("note")?))).transpose()?)
                }

                async fn set_timer(&self, name: &str, at: DateTime<Utc>, note: &str) -> Result<()> {
                    sqlx::query(
                        "INSERT INTO timers (name, last_at, note) VALUES ($1, $2, $3) \
                         ON CONFLICT (name) DO UPDATE SET last_at = excluded.last_at, note = excluded.note, \
                         claimed_by = NULL, claimed_until = NULL",
                    )
                    .bind(name)
                    .bind(at)
                    .bind(note)
                    .execute(&mut *self.conn().await?)
                    .await?;
                    Ok(())
                }

                async fn next_counter(&self, name: &str) -> Result<i64> {
                    let row = sqlx::query(
                        "INSERT INTO counters (name, value) VALUES ($1, 1) \
                         ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
                    )
                    .bind(name)
                    .fetch_one(&mut *self.conn().await?)
                    .await?;
                    Ok(row.try_get("value")?)
                }

                async fn enrol_many(
                    &self,
                    campaign: &str,
                    step_id: &str,
                    leads: &[(i64, DateTime<Utc>)],
                    now: DateTime<Utc>,
                ) -> Result<Vec<i64>> {
                    let mut enrolled = Vec::with_capacity(leads.len());
                    // 2 values a row, 3 shared: well under both databases'
                    // limit on bound values per statement.
                    for chunk in leads.chunks(1000) {
                        let rows: Vec<String> = (0..chunk.len())
                            .map(|i| format!("($1, ${}, TRUE, $2, $3, ${})", 4 + 2 * i, 5 + 2 * i))
                            .collect();
                        let sql = format!(
                            "INSERT INTO enrolments (campaign, lead_id, active, enrolled_at, step_id, due_at) \
                             VALUES {} ON CONFLICT DO NOTHING RETURNING lead_id",
                            rows.join(", ")
                        );
                        let mut q = dynamic(sql).bind(campaign.to_string()).bind(now).bind(step_id.to_string());
                        for (lead, due) in chunk {
                            q = q.bind(*lead).bind(*due);
                        }
                        for r in q.fetch_all(&mut *self.conn().await?).await? {
                            enrolled.push(r.try_get("lead_id")?);
                        }
                    }
                    Ok(enrolled)
                }

                async fn due(&self, now: DateTime<Utc>, campaigns: &[String], limit: i64) -> Result<Vec<DueLead>> {
                    // The campaign filter is hidden from the planner (`|| ''`)
                    // so it walks the due_at index and stops at LIMIT: O(due),
                    // not O(active enrolments of these campaigns).
                    if campaigns.is_empty() {
                        return Ok(Vec::new());
                    }
                    let n = campaigns.len();
                    let due = |from: usize| {
                        format!("e.active AND e.due_at <= $1 AND (e.campaign || '') IN ({})", placeholders(from, n))
                    };
                    let select = format!(
                        "SELECT e.id AS enrolment_id, e.campaign, e.step_id, e.due_at, e.enrolled_at, {LEAD_COLUMNS}, \
                         EXISTS (SELECT 1 FROM suppressions s WHERE s.email = l.email) AS suppressed \
                         FROM enrolments e JOIN leads l ON l.id = e.lead_id"
                    );
                    let (sql, claimer) = match self.claimer() {
                        None => (format!("{select} WHERE {} ORDER BY e.due_at, e.id LIMIT $2", due(3)), None),
                        // Claim the leads of the first `limit` due steps that
                        // no live replica holds (SKIP LOCKED: replicas
                        // claiming at the same moment take different rows,
                        // not the same ones in turn), in lead order (two
                        // replicas never wait on each other in a cycle), and
                        // return every due step of the leads claimed: one
                        // lead's steps stay with one replica, so its caps
                        // see each send before the next.
                        Some(c) => (
                            format!(
                                "WITH candidates AS (SELECT DISTINCT lead_id FROM (SELECT e.lead_id FROM enrolments e \
                                 WHERE {} AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.lead_id = e.lead_id \
                                 AND c.until > now() AND c.owner <> $3) ORDER BY e.due_at, e.id LIMIT $2 \
                                 FOR UPDATE OF e SKIP LOCKED) d), \
                                 claimed AS (INSERT INTO claims (lead_id, owner, until) \
                                 SELECT lead_id, $3, now() + make_interval(secs => $4) FROM candidates ORDER BY lead_id \
                                 ON CONFLICT (lead_id) DO UPDATE SET owner = excluded.owner, until = excluded.until \
                                 WHERE claims.until <= now() OR claims.owner = excluded.owner RETURNING lead_id) \
                                 {select} JOIN claimed k ON k.lead_id = e.lead_id WHERE {} ORDER BY e.due_at, e.id",
                                due(5),
                                due(5)
                            ),
                            Some(c),
                        ),
                    };
                    let mut q = dynamic(sql).bind(now).bind(limit);
                    if let Some(c) = claimer {
                        q = q.bind(c.owner.clone()).bind(c.lease_seconds);
                    }
                    for c in campaigns {
                        q = q.bind(c);
                    }
                    let rows = q.fetch_all(&mut *self.conn().await?).await?;
                    rows.iter()
                        .map(|r| {
                            let lead = lead_from(r)?;
                            Ok(DueLead {
                                due: Due {
                                    enrolment_id: r.try_get("enrolment_id")?,
                                    campaign: r.try_get("campaign")?,
                                    lead_id: lead.id,
                                    step_id: r.try_get::<Option<String>, _>("step_id")?.unwrap_or_default(),
                                    due_at: r.try_get("due_at")?,
                                    enrolled_at: r.try_get("enrolled_at")?,
                                },
                                lead,
                                suppressed: r.try_get("suppressed")?,
                            })
                        })
                        .collect()
                }

                async fn renew_claims(&self) -> Result<()> {
                    let Some(c) = self.claimer() else { return Ok(()) };
                    let mut conn = self.conn().await?;
                    sqlx::query("UPDATE claims SET until = now() + make_interval(secs => $2) WHERE owner = $1")
                        .bind(&c.owner)
                        .bind(c.lease_seconds)
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query(
                        "UPDATE timers SET claimed_until = now() + make_interval(secs => $2) WHERE claimed_by = $1",
                    )
                    .bind(&c.owner)
                    .bind(c.lease_seconds)
                    .execute(&mut *conn)
                    .await?;
                    Ok(())
                }

                async fn release_claims(&self) -> Result<()> {
                    let Some(c) = self.claimer() else { return Ok(()) };
                    sqlx::query("DELETE FROM claims WHERE owner = $1")
                        .bind(&c.owner)
                        .execute(&mut *self.conn().await?)
                        .await?;
                    Ok(())
                }

                async fn claim_timer(&self, name: &str, last: DateTime<Utc>) -> Result<bool> {
                    let Some(c) = self.claimer() else { return Ok(true) };
                    let r = sqlx::query(
                        "UPDATE timers SET claimed_by = $3, claimed_until = now() + make_interval(secs => $4) \
                         WHERE name = $1 AND last_at = $2 AND (claimed_until IS NULL OR claimed_until <= now())",
                    )
                    .bind(name)
                    .bind(last)
                    .bind(&c.owner)
                    .bind(c.lease_seconds)
                    .execute(&mut *self.conn().await?)
                    .await?;
                    Ok(r.rows_affected() == 1)
                }

                async fn next_due_at(&self, campaigns: &[String]) -> Result<Option<DateTime<Utc>>> {
                    if campaigns.is_empty() {
                        return Ok(None);
                    }
                    let sql = format!(
                        "SELECT due_at FROM enrolments WHERE active AND due_at IS NOT NULL \
                         AND (campaign || '') IN ({}) ORDER BY due_at LIMIT 1",
                        placeholders(1, campaigns.len())
                    );
                    let mut q = dynamic(sql);
                    for c in campaigns {
                        q = q.bind(c);
                    }
                    let row = q.fetch_optional(&mut *self.conn().await?).await?;
                    Ok(row.map(|r| r.try_get("due_at")).transpose()?)
                }

                async fn reschedule(&self, enrolment_id: i64, due_at: DateTime<Utc>) -> Result<()> {
                    sqlx::query("UPDATE enrolments SET due_at = $2 WHERE id = $1 AND active")
                        .bind(enrolment_id)
                        .bind(due_at)
                        .execute(&mut *self.conn().await?)
                        .await?;
                    Ok(())
                }

                async fn active_enrolments(&self, lead_id: i64) -> Result<Vec<Due>> {
                    let rows = dynamic(format!(
                        "SELECT {DUE_COLUMNS} FROM enrolments WHERE lead_id = $1 AND active ORDER BY id"
                    ))
                    .bind(lead_id)
                    .fetch_all(&mut *self.conn().await?)
                    .await?;
                    rows.iter().map(due_from).collect()
                }

                async fn end_enrolment(
                    &self,
                    due: &Due,
                    reason: &str,
                    cancelled: &[(String, Kind)],
                    now: DateTime<Utc>,
                ) -> Result<()> {
                    let mut c = self.conn().await?;
                    let mut tx = sqlx::Connection::begin_with(&mut *c, $store::BEGIN).await?;
                    let r = sqlx::query(
                        "UPDATE enrolments SET active = FALSE, ended_at = $2, end_reason = $3, step_id = NULL, \
                         due_at = NULL WHERE id = $1 AND active",
                    )
                    .bind(due.enrolment_id)
                    .bind(now)
                    .bind(reason)
                    .execute(&mut *tx)
                    .await?;
                    if r.rows_affected() == 1 {
                        for (step, kind) in cancelled {
                            sqlx::query(
                                "INSERT INTO deliveries (enrolment_id, lead_id, campaign, step_id, kind, state, reason, \
                                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'cancelled', $6, $7, $7) \
                                 ON CONFLICT (enrolment_id, step_id) DO NOTHING",
                            )
                            .bind(due.enrolment_id)
                            .bind(due.lead_id)
                            .bind(&due.campaign)
                            .bind(step)
                            .bind(kind.as_str())
                            .bind(reason)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        }
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn begin_deliveries(
                    &self,
                    steps: &[(Due, Kind)],
                    now: DateTime<Utc>,
                ) -> Result<Vec<Option<(i64, i64)>>> {
                    // Insert, or take over a row waiting for its retry; a row
                    // in any other state means "attempted before".
                    let mut found: std::collections::HashMap<i64, (i64, i64)> = std::collections::HashMap::new();
                    for chunk in steps.chunks(500) {
                        let rows = value_rows(2, chunk.len(), 5, ", 'sending', 1, $1, $1");
                        let sql = format!(
                            "INSERT INTO deliveries (enrolment_id, lead_id, campaign, step_id, kind, state, attempts, \
                             created_at, updated_at) VALUES {} \
                             ON CONFLICT (enrolment_id, step_id) DO UPDATE SET state = 'sending', \
                             attempts = deliveries.attempts + 1, updated_at = excluded.updated_at \
                             WHERE deliveries.state = 'retrying' RETURNING enrolment_id, id, attempts",
                            rows
                        );
                        let mut q = dynamic(sql).bind(now);
                        for (due, kind) in chunk {
                            q = q
                                .bind(due.enrolment_id)
                                .bind(due.lead_id)
                                .bind(due.campaign.clone())
                                .bind(due.step_id.clone())
                                .bind(kind.as_str());
                        }
                        for r in q.fetch_all(&mut *self.conn().await?).await? {
                            let attempts: i32 = r.try_get("attempts")?;
                            found.insert(r.try_get("enrolment_id")?, (r.try_get("id")?, attempts.into()));
                        }
                    }
                    Ok(steps.iter().map(|(due, _)| found.get(&due.enrolment_id).copied()).collect())
                }

                async fn retry_later(&self, delivery_id: i64, due: &Due, reason: &str, at: DateTime<Utc>) -> Result<()> {
                    let mut c = self.conn().await?;
                    let mut tx = sqlx::Connection::begin_with(&mut *c, $store::BEGIN).await?;
                    sqlx::query("UPDATE deliveries SET state = 'retrying', reason = $2 WHERE id = $1")
                        .bind(delivery_id)
                        .bind(reason)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("UPDATE enrolments SET due_at = $2 WHERE id = $1 AND active AND step_id = $3")
                        .bind(due.enrolment_id)
                        .bind(at)
                        .bind(&due.step_id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn finish_deliveries(&self, steps: &[Finish]) -> Result<()> {
                    // Deliveries first, then enrolments, without a
                    // transaction: a crash between them leaves a finished
                    // delivery and an enrolment still on its step, which the
                    // next try finds "attempted before" and moves on from
                    // without resending. On connections that need not wait
                    // for the disk (see the backends' `outcome_conn`).
                    let mut c = self.outcome_conn().await?;
                    let (known, found_before): (Vec<&Finish>, Vec<&Finish>) =
                        steps.iter().partition(|f| f.delivery_id.is_some());
                    for chunk in known.chunks(200) {
                        let rows = value_rows(1, chunk.len(), 5, "");
                        let sql = format!(
                            "UPDATE deliveries SET state = v.column2, reason = v.column3, subject = v.column4, \
                             updated_at = v.column5 FROM (VALUES {}) AS v WHERE deliveries.id = v.column1",
                            rows
                        );
                        let mut q = dynamic(sql);
                        for f in chunk {
                            q = q
                                .bind(f.delivery_id)
                                .bind(f.outcome.state.as_str())
                                .bind(f.outcome.reason.clone())
                                .bind(f.outcome.subject.clone())
                                .bind(f.outcome.at);
                        }
                        q.execute(&mut *c).await?;
                    }
                    // Found attempted before: an attempt cut off mid-send
                    // becomes the outcome given (uncertain); a finished one stays.
                    for f in &found_before {
                        sqlx::query(
                            "UPDATE deliveries SET state = $3, reason = $4, updated_at = $5 \
                             WHERE enrolment_id = $1 AND step_id = $2 AND state = 'sending'",
                        )
                        .bind(f.due.enrolment_id)
                        .bind(&f.due.step_id)
                        .bind(f.outcome.state.as_str())
                        .bind(&f.outcome.reason)
                        .bind(f.outcome.at)
                        .execute(&mut *c)
                        .await?;
                    }
                    // Fenced on the step: a replica that lost its claim (its
                    // lease ran out mid-send) cannot move an enrolment that
                    // another one already moved.
                    for chunk in steps.chunks(200) {
                        let rows = value_rows(1, chunk.len(), 7, "");
                        let sql = format!(
                            "UPDATE enrolments SET last_step_id = enrolments.step_id, step_id = v.column2, \
                             due_at = v.column3, active = v.column4, ended_at = v.column5, end_reason = v.column6 \
                             FROM (VALUES {}) AS v \
                             WHERE enrolments.id = v.column1 AND enrolments.active AND enrolments.step_id = v.column7",
                            rows
                        );
                        let mut q = dynamic(sql);
                        for f in chunk {
                            let (step, due_at, active, ended_at, reason) = match &f.next {
                                Next::Step { step_id, due_at } => (Some(step_id.clone()), Some(*due_at), true, None, None),
                                Next::Done => (None, None, false, Some(f.outcome.at), Some("completed")),
                            };
                            q = q
                                .bind(f.due.enrolment_id)
                                .bind(step)
                                .bind(due_at)
                                .bind(active)
                                .bind(ended_at)
                                .bind(reason)
                                .bind(f.due.step_id.clone());
                        }
                        q.execute(&mut *c).await?;
                    }
                    Ok(())
                }

                async fn recent_emails_of(
                    &self,
                    lead_ids: &[i64],
                    since: DateTime<Utc>,
                ) -> Result<std::collections::HashMap<i64, Vec<DateTime<Utc>>>> {
                    let mut out: std::collections::HashMap<i64, Vec<DateTime<Utc>>> =
                        lead_ids.iter().map(|id| (*id, Vec::new())).collect();
                    for chunk in lead_ids.chunks(1000) {
                        let sql = format!(
                            "SELECT lead_id, updated_at FROM deliveries WHERE lead_id IN ({}) AND kind = 'email' \
                             AND state IN ('sent', 'sending', 'uncertain') AND updated_at >= $1",
                            placeholders(2, chunk.len())
                        );
                        let mut q = dynamic(sql).bind(since);
                        for id in chunk {
                            q = q.bind(*id);
                        }
                        for r in q.fetch_all(&mut *self.conn().await?).await? {
                            out.entry(r.try_get("lead_id")?).or_default().push(r.try_get("updated_at")?);
                        }
                    }
                    Ok(out)
                }

                async fn history(&self, lead_id: i64, limit: i64) -> Result<Vec<HistoryLine>> {
                    let rows = sqlx::query(
                        "SELECT updated_at, campaign, step_id, kind, state FROM deliveries \
                         WHERE lead_id = $1 AND state <> 'cancelled' ORDER BY updated_at DESC, id DESC LIMIT $2",
                    )
                    .bind(lead_id)
                    .bind(limit)
                    .fetch_all(&mut *self.conn().await?)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            Ok(HistoryLine {
                                at: rfc3339(r.try_get("updated_at")?),
                                campaign: r.try_get("campaign")?,
                                step: r.try_get("step_id")?,
                                kind: r.try_get("kind")?,
                                outcome: r.try_get("state")?,
                            })
                        })
                        .collect()
                }

                async fn create_task(&self, delivery_id: i64, due: &Due, task: &NewTask) -> Result<i64> {
                    let row = sqlx::query(
                        "INSERT INTO tasks (delivery_id, lead_id, campaign, step_id, rep, text, due_at, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    )
                    .bind(delivery_id)
                    .bind(due.lead_id)
                    .bind(&due.campaign)
                    .bind(&due.step_id)
                    .bind(&task.rep)
                    .bind(&task.text)
                    .bind(task.due_at)
                    .bind(task.created_at)
                    .fetch_one(&mut *self.conn().await?)
                    .await?;
                    Ok(row.try_get("id")?)
                }

                async fn open_tasks(&self, rep: Option<&str>) -> Result<Vec<TaskRow>> {
                    let rows = match rep {
                        Some(rep) => {
                            dynamic(format!(
                                "{TASK_SELECT} WHERE t.done_at IS NULL AND t.rep = $1 ORDER BY t.due_at, t.id"
                            ))
                            .bind(rep.trim().to_lowercase())
                            .fetch_all(&mut *self.conn().await?)
                            .await?
                        }
                        None => {
                            dynamic(format!("{TASK_SELECT} WHERE t.done_at IS NULL ORDER BY t.rep, t.due_at, t.id"))
                                .fetch_all(&mut *self.conn().await?)
                                .await?
                        }
                    };
                    rows.iter().map(task_from).collect()
                }

                async fn reps_with_open_tasks(&self) -> Result<Vec<String>> {
                    let rows = sqlx::query("SELECT DISTINCT rep FROM tasks WHERE done_at IS NULL ORDER BY rep")
                        .fetch_all(&mut *self.conn().await?)
                        .await?;
                    Ok(rows.iter().map(|r| r.try_get("rep")).collect::<std::result::Result<_, _>>()?)
                }

                async fn task(&self, id: i64) -> Result<Option<TaskRow>> {
                    let row = dynamic(format!("{TASK_SELECT} WHERE t.id = $1"))
                        .bind(id)
                        .fetch_optional(&mut *self.conn().await?)
                        .await?;
                    row.as_ref().map(task_from).transpose()
                }

                async fn task_done(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
                    let r = sqlx::query("UPDATE tasks SET done_at = $2 WHERE id = $1 AND done_at IS NULL")
                        .bind(id)
                        .bind(now)
                        .execute(&mut *self.conn().await?)
                        .await?;
                    Ok(r.rows_affected() == 1)
                }

                async fn status(&self, now: DateTime<Utc>) -> Result<StatusReport> {
                    let count = |sql: &'static str| async move {
                        let row = sqlx::query(sql).bind(now).fetch_one(&mut *self.conn().await?).await?;
                        Ok::<i64, StoreError>(row.try_get("n")?)
                    };
                    let by_state = |since: Option<DateTime<Utc>>| async move {
                        let rows = sqlx::query(
                            "SELECT state, COUNT(*) AS n FROM deliveries WHERE updated_at >= $1 GROUP BY state",
                        )
                        .bind(since.unwrap_or(DateTime::<Utc>::UNIX_EPOCH))
                        .fetch_all(&mut *self.conn().await?)
                        .await?;
                        let mut out: BTreeMap<String, i64> =
                            State::FINAL.iter().map(|s| (s.as_str().to_string(), 0)).collect();
                        for r in rows {
                            out.insert(r.try_get("state")?, r.try_get("n")?);
                        }
                        Ok::<_, StoreError>(out)
                    };
                    let next = sqlx::query("SELECT MIN(due_at) AS t FROM enrolments WHERE active AND $1 = $1")
                        .bind(now)
                        .fetch_one(&mut *self.conn().await?)
                        .await?;
                    Ok(StatusReport {
                        active_enrolments: count("SELECT COUNT(*) AS n FROM enrolments WHERE active AND $1 = $1").await?,
                        due_now: count("SELECT COUNT(*) AS n FROM enrolments WHERE active AND due_at <= $1").await?,
                        open_tasks: count("SELECT COUNT(*) AS n FROM tasks WHERE done_at IS NULL AND $1 = $1").await?,
                        next_due_at: next.try_get::<Option<DateTime<Utc>>, _>("t").ok().flatten(),
                        last_24h: by_state(Some(now - chrono::TimeDelta::hours(24))).await?,
                        total: by_state(None).await?,
                    })
                }

                async fn copy_page(&self, table: Table, after_id: i64, limit: i64) -> Result<Vec<Copied>> {
                    let mut c = self.conn().await?;
                    match table {
                        Table::Leads => {
                            let sql = format!("SELECT {LEAD_COLUMNS} FROM leads l WHERE l.id > $1 ORDER BY l.id LIMIT $2");
                            let rows = dynamic(sql).bind(after_id).bind(limit).fetch_all(&mut *c).await?;
                            rows.iter().map(|r| lead_from(r).map(Copied::Lead)).collect()
                        }
                        Table::Enrolments => {
                            let rows = sqlx::query(
                                "SELECT id, campaign, lead_id, active, enrolled_at, step_id, due_at, last_step_id, \
                                 ended_at, end_reason FROM enrolments WHERE id > $1 ORDER BY id LIMIT $2",
                            )
                            .bind(after_id)
                            .bind(limit)
                            .fetch_all(&mut *c)
                            .await?;
                            rows.iter()
                                .map(|r| {
                                    Ok(Copied::Enrolment {
                                        id: r.try_get("id")?,
                                        campaign: r.try_get("campaign")?,
                                        lead_id: r.try_get("lead_id")?,
                                        active: r.try_get("active")?,
                                        enrolled_at: r.try_get("enrolled_at")?,
                                        step_id: r.try_get("step_id")?,
                                        due_at: r.try_get("due_at")?,
                                        last_step_id: r.try_get("last_step_id")?,
                                        ended_at: r.try_get("ended_at")?,
                                        end_reason: r.try_get("end_reason")?,
                                    })
                                })
                                .collect()
                        }
                        Table::Deliveries(since) => {
                            let rows = sqlx::query(
                                "SELECT id, enrolment_id, lead_id, campaign, step_id, kind, state, updated_at \
                                 FROM deliveries WHERE id > $1 AND updated_at >= $3 ORDER BY id LIMIT $2",
                            )
                            .bind(after_id)
                            .bind(limit)
                            .bind(since)
                            .fetch_all(&mut *c)
                            .await?;
                            rows.iter()
                                .map(|r| {
                                    Ok(Copied::Delivery {
                                        id: r.try_get("id")?,
                                        enrolment_id: r.try_get("enrolment_id")?,
                                        lead_id: r.try_get("lead_id")?,
                                        campaign: r.try_get("campaign")?,
                                        step_id: r.try_get("step_id")?,
                                        kind: r.try_get("kind")?,
                                        state: r.try_get("state")?,
                                        updated_at: r.try_get("updated_at")?,
                                    })
                                })
                                .collect()
                        }
                        Table::OpenTasks => {
                            let sql = format!("{TASK_SELECT} WHERE t.done_at IS NULL AND t.id > $1 ORDER BY t.id LIMIT $2");
                            let rows = dynamic(sql).bind(after_id).bind(limit).fetch_all(&mut *c).await?;
                            rows.iter().map(|r| task_from(r).map(Copied::Task)).collect()
                        }
                        Table::Small if after_id > 0 => Ok(Vec::new()),
                        Table::Small => {
                            let mut out = Vec::new();
                            for r in sqlx::query("SELECT name, last_at, note FROM timers").fetch_all(&mut *c).await? {
                                out.push(Copied::Timer(r.try_get("name")?, r.try_get("last_at")?, r.try_get("note")?));
                            }
                            for r in sqlx::query("SELECT name, value FROM counters").fetch_all(&mut *c).await? {
                                out.push(Copied::Counter(r.try_get("name")?, r.try_get("value")?));
                            }
                            let rows = sqlx::query("SELECT email, reason, created_at FROM suppressions").fetch_all(&mut *c).await?;
                            for r in rows {
                                out.push(Copied::Suppression(
                                    r.try_get("email")?,
                                    r.try_get("reason")?,
                                    r.try_get("created_at")?,
                                ));
                            }
                            Ok(out)
                        }
                    }
                }

                async fn paste(&self, rows: &[Copied]) -> Result<()> {
                    let mut c = self.conn().await?;
                    let mut tx = sqlx::Connection::begin_with(&mut *c, $store::BEGIN).await?;
                    for row in rows {
                        let q = match row {
                            Copied::Lead(l) => sqlx::query(
                                "INSERT INTO leads (id, email, first_name, last_name, company, owner, status, \
                                 status_changed_at, lost_reason, timezone, attributes, replied_at, created_at, updated_at) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
                            )
                            .bind(l.id)
                            .bind(&l.email)
                            .bind(&l.first_name)
                            .bind(&l.last_name)
                            .bind(&l.company)
                            .bind(&l.owner)
                            .bind(&l.status)
                            .bind(l.status_changed_at)
                            .bind(&l.lost_reason)
                            .bind(l.timezone.map(|t| t.name().to_string()).unwrap_or_default())
                            .bind(serde_json::to_string(&l.attributes).unwrap_or_else(|_| "{}".into()))
                            .bind(l.replied_at)
                            .bind(l.created_at)
                            .bind(l.updated_at),
                            Copied::Enrolment {
                                id,
                                campaign,
                                lead_id,
                                active,
                                enrolled_at,
                                step_id,
                                due_at,
                                last_step_id,
                                ended_at,
                                end_reason,
                            } => sqlx::query(
                                "INSERT INTO enrolments (id, campaign, lead_id, active, enrolled_at, step_id, due_at, \
                                 last_step_id, ended_at, end_reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                            )
                            .bind(*id)
                            .bind(campaign)
                            .bind(*lead_id)
                            .bind(*active)
                            .bind(*enrolled_at)
                            .bind(step_id)
                            .bind(*due_at)
                            .bind(last_step_id)
                            .bind(*ended_at)
                            .bind(end_reason),
                            Copied::Delivery { id, enrolment_id, lead_id, campaign, step_id, kind, state, updated_at } => {
                                sqlx::query(
                                    "INSERT INTO deliveries (id, enrolment_id, lead_id, campaign, step_id, kind, state, \
                                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                                )
                                .bind(*id)
                                .bind(*enrolment_id)
                                .bind(*lead_id)
                                .bind(campaign)
                                .bind(step_id)
                                .bind(kind)
                                .bind(state)
                                .bind(*updated_at)
                            }
                            // The task's delivery may be older than the copied
                            // ones: -id keeps delivery_id unique without it.
                            Copied::Task(t) => sqlx::query(
                                "INSERT INTO tasks (id, delivery_id, lead_id, campaign, step_id, rep, text, due_at, \
                                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                            )
                            .bind(t.id)
                            .bind(-t.id)
                            .bind(t.lead_id)
                            .bind(&t.campaign)
                            .bind(&t.step_id)
                            .bind(&t.rep)
                            .bind(&t.text)
                            .bind(t.due_at)
                            .bind(t.created_at),
                            Copied::Timer(name, at, note) => {
                                sqlx::query("INSERT INTO timers (name, last_at, note) VALUES ($1, $2, $3)")
                                    .bind(name)
                                    .bind(*at)
                                    .bind(note)
                            }
                            Copied::Counter(name, value) => {
                                sqlx::query("INSERT INTO counters (name, value) VALUES ($1, $2)").bind(name).bind(*value)
                            }
                            Copied::Suppression(email, reason, at) => {
                                sqlx::query("INSERT INTO suppressions (email, reason, created_at) VALUES ($1, $2, $3)")
                                    .bind(email)
                                    .bind(reason)
                                    .bind(*at)
                            }
                        };
                        q.execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }
            }
        }
    };
}

pub(super) use sql_store;

#[cfg(test)]
mod tests {
    use super::value_rows;

    #[test]
    fn value_rows_number_placeholders_row_by_row() {
        assert_eq!(value_rows(2, 2, 3, ", 'x'"), "($2, $3, $4, 'x'), ($5, $6, $7, 'x')");
        assert_eq!(value_rows(1, 1, 1, ""), "($1)");
    }
}
