use nurture::engine::events::Kind;
use nurture::store::Source;

use crate::helpers::{Backend, World, both, days, utc};

/// The win-back campaign these tests share; each test changes the part
/// it is about.
struct Winback {
    /// `attributes = { region = ["emea"] }` in the audience.
    region_filter: bool,
    again_after: Option<&'static str>,
    /// A second email a week after the first.
    second_step: bool,
    enabled: bool,
}

const WINBACK: Winback = Winback { region_filter: true, again_after: Some("30d"), second_step: true, enabled: true };

impl Winback {
    fn toml(&self) -> String {
        let mut t = format!("enabled = {}\n[audience]\nstatus = [\"lost\"]\n", self.enabled);
        t += "lost_reason = [\"budget\", \"timing\"]\nmin_age = \"180d\"\n";
        if self.region_filter {
            t += "attributes = { region = [\"emea\"] }\n";
        }
        t += "[enrol]\ncron = \"0 9 * * *\"\n";
        if let Some(wait) = self.again_after {
            t += &format!("again_after = \"{wait}\"\n");
        }
        t += "[[step]]\nid = \"e1\"\nemail = \"t\"\nsubject = \"one\"\n";
        if self.second_step {
            t += "[[step]]\nid = \"e2\"\nafter = \"7d\"\nemail = \"t\"\nsubject = \"two\"\n";
        }
        t
    }
}

const LEADS: &str = "email,first_name,status,status_changed_at,lost_reason,region
l1@x.test,Lia,lost,2025-11-01T00:00:00Z,budget,emea
l2@x.test,Lu,lost,2025-10-01T00:00:00Z,competitor,emea
l3@x.test,Lo,lost,2025-12-05T12:00:00Z,timing,emea
l4@x.test,Le,lost,2025-10-01T00:00:00Z,budget,apac
l5@x.test,Li,won,2025-10-01T00:00:00Z,budget,emea
";

async fn audience_rules_pick_leads_at_sweep_times(b: Backend) {
    let w = World::new(b, "", &[("winback", &WINBACK.toml())]).await;
    let start = utc("2026-06-01T00:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, start + days(10)).await;
    assert_eq!(
        w.emails(),
        vec![
            ("2026-06-01T09:00:00Z".into(), "winback/e1".into(), "l1@x.test".into()),
            ("2026-06-04T09:00:00Z".into(), "winback/e1".into(), "l3@x.test".into()),
            ("2026-06-08T09:00:00Z".into(), "winback/e2".into(), "l1@x.test".into()),
        ],
        "reason, age, attribute and status filters; steps spaced by `after`"
    );
    w.finish().await;
}
both!(audience_rules_pick_leads_at_sweep_times);

async fn again_after_lets_a_lead_back_in_only_after_the_wait(b: Backend) {
    let one_step = Winback { second_step: false, ..WINBACK }.toml();
    let w = World::new(b, "", &[("winback", &one_step)]).await;
    let start = utc("2026-06-01T00:00:00Z");
    w.import("email,status,status_changed_at,lost_reason,region\nl1@x.test,lost,2025-01-01,budget,emea\n", start).await;
    w.run(start, start + days(45)).await;
    let when: Vec<String> = w.emails().into_iter().map(|e| e.0).collect();
    // Completed on June 1st; may re-enter from July 1st 09:00 (30 days later).
    assert_eq!(when, vec!["2026-06-01T09:00:00Z", "2026-07-01T09:00:00Z"]);
    w.finish().await;
}
both!(again_after_lets_a_lead_back_in_only_after_the_wait);

async fn without_again_after_a_lead_never_re_enters(b: Backend) {
    let once = Winback { again_after: None, ..WINBACK }.toml();
    let w = World::new(b, "", &[("winback", &once)]).await;
    let start = utc("2026-06-01T00:00:00Z");
    w.import("email,status,status_changed_at,lost_reason,region\nl1@x.test,lost,2025-01-01,budget,emea\n", start).await;
    w.run(start, start + days(40)).await;
    assert_eq!(w.events(Kind::Enrolled).len(), 1);
    w.finish().await;
}
both!(without_again_after_a_lead_never_re_enters);

async fn a_new_database_misses_no_sweep_and_disabled_campaigns_do_nothing(b: Backend) {
    let disabled = Winback { enabled: false, ..WINBACK }.toml();
    let w = World::new(b, "", &[("winback", &WINBACK.toml()), ("off", &disabled)]).await;
    let start = utc("2026-06-01T10:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, start + days(1)).await;
    let enrolled = w.events(Kind::Enrolled);
    assert!(!enrolled.is_empty(), "the enabled campaign enrolled its audience");
    assert!(
        enrolled.iter().all(|e| e.at == utc("2026-06-02T09:00:00Z")),
        "first sweep is the next cron time: {enrolled:?}"
    );
    assert!(enrolled.iter().all(|e| e.campaign.as_deref() == Some("winback")));
    w.finish().await;
}
both!(a_new_database_misses_no_sweep_and_disabled_campaigns_do_nothing);

async fn status_change_and_reply_exit_and_cancel_the_rest(b: Backend) {
    let w = World::new(b, "", &[("winback", &WINBACK.toml())]).await;
    let start = utc("2026-06-01T00:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, utc("2026-06-05T00:00:00Z")).await;
    let now = utc("2026-06-05T00:00:00Z");
    w.engine.set_status("L1@x.test", "won", None, Source::Cli, now).await.unwrap();
    w.engine.replied("l3@x.test", Source::Api, now).await.unwrap();
    w.run(now, now + days(10)).await;
    let exits: Vec<(String, String)> =
        w.events(Kind::Exited).into_iter().map(|e| (e.lead.unwrap(), e.reason.unwrap())).collect();
    let want = [("l1@x.test", "status won left the audience"), ("l3@x.test", "replied")];
    assert_eq!(exits, want.map(|(l, r)| (l.to_string(), r.to_string())).to_vec());
    assert_eq!(w.emails().len(), 2, "no e2 after exits");
    let report = w.store().status(now + days(10)).await.unwrap();
    assert_eq!((report.total["sent"], report.total["cancelled"]), (2, 2));
    w.finish().await;
}
both!(status_change_and_reply_exit_and_cancel_the_rest);

async fn suppressed_leads_are_never_enrolled(b: Backend) {
    let w = World::new(b, "", &[("winback", &WINBACK.toml())]).await;
    let start = utc("2026-06-01T00:00:00Z");
    w.import(LEADS, start).await;
    w.engine.suppress("l1@x.test", "test", Source::Cli, start).await.unwrap();
    w.run(start, start + days(4)).await;
    let enrolled: Vec<String> = w.events(Kind::Enrolled).into_iter().filter_map(|e| e.lead).collect();
    assert_eq!(enrolled, ["l3@x.test"], "l1 matches the audience but is suppressed");
    w.finish().await;
}
both!(suppressed_leads_are_never_enrolled);

async fn upsert_keeps_what_is_not_given_and_matches_email_case_insensitively(b: Backend) {
    let w = World::new(b, "", &[("winback", &WINBACK.toml())]).await;
    let t0 = utc("2026-06-01T00:00:00Z");
    w.import("email,first_name,company,status,region\nAna@X.test,Ana,Acme,new,emea\n", t0).await;
    w.import("email,status,tier\nana@x.TEST,nurturing,gold\n", t0 + days(1)).await;
    let lead = w.store().lead_by_email("ANA@x.test").await.unwrap().unwrap();
    assert_eq!((lead.first_name.as_str(), lead.company.as_str(), lead.status.as_str()), ("Ana", "Acme", "nurturing"));
    assert_eq!(lead.status_changed_at, t0 + days(1), "a status change stamps the time");
    assert_eq!((lead.attributes["region"].as_str(), lead.attributes["tier"].as_str()), ("emea", "gold"));
    assert_eq!(lead.created_at, t0);
    w.finish().await;
}
both!(upsert_keeps_what_is_not_given_and_matches_email_case_insensitively);

async fn leads_a_crm_writes_directly_are_noticed_at_the_next_sweep(b: Backend) {
    let w = World::new(b, "", &[("winback", &WINBACK.toml())]).await;
    let start = utc("2026-06-01T00:00:00Z");
    w.import(LEADS, start).await;
    w.run(start, start + days(1)).await;
    // After the first (full) sweep: a CRM fixes l2's reason and inserts a
    // new lead, without touching updated_at.
    w.crm("UPDATE leads SET lost_reason = 'budget' WHERE email = 'l2@x.test'").await;
    w.crm(
        "INSERT INTO leads (email, status, status_changed_at, lost_reason, attributes) \
         VALUES ('new@x.test', 'lost', '2025-01-01T00:00:00+00:00', 'timing', '{\"region\": \"emea\"}')",
    )
    .await;
    w.run(start + days(1), start + days(3)).await;
    let mut late: Vec<String> =
        w.events(Kind::Enrolled).into_iter().filter(|e| e.at > start + days(1)).map(|e| e.lead.unwrap()).collect();
    late.sort();
    assert_eq!(late, ["l2@x.test", "new@x.test"]);
    w.finish().await;
}
both!(leads_a_crm_writes_directly_are_noticed_at_the_next_sweep);

/// A sink like the daemon's: no `enrolled` event per lead, so sweeps let
/// the database enrol directly.
struct CountOnly(std::sync::Arc<crate::helpers::Recorder>);

impl nurture::engine::Sink for CountOnly {
    fn emit(&self, e: nurture::engine::Event) {
        self.0.emit(e)
    }
    fn wants_each_enrolment(&self) -> bool {
        false
    }
}

/// Every enrolment as (lead, enrolled at, ended at, reason).
async fn enrolments(w: &World) -> Vec<(String, String, Option<String>, Option<String>)> {
    use nurture::store::{Copied, Table};
    let rows = w.store().copy_page(Table::Enrolments, 0, 10_000).await.unwrap();
    let mut out = Vec::new();
    for r in rows {
        if let Copied::Enrolment { lead_id, enrolled_at, ended_at, end_reason, .. } = r {
            let email = w.store().lead(lead_id).await.unwrap().unwrap().email;
            out.push((email, enrolled_at.to_rfc3339(), ended_at.map(|t| t.to_rfc3339()), end_reason));
        }
    }
    out.sort();
    out
}

async fn the_database_side_sweep_enrols_exactly_as_the_paged_one(b: Backend) {
    use nurture::engine::Engine;
    // No attribute filter, no window: the daemon's sweeps take the SQL path.
    let campaign = Winback { region_filter: false, ..WINBACK }.toml();
    let leads = format!(
        "{LEADS}l6@x.test,Lo,lost,2025-12-20T00:00:00Z,timing,emea\nl7@x.test,Lu,lost,2025-01-01T00:00:00Z,budget,apac\n"
    );
    let paged = World::new(b, "", &[("winback", &campaign)]).await;
    let mut direct = World::new(b, "", &[("winback", &campaign)]).await;
    let e = &direct.engine;
    let sink = std::sync::Arc::new(CountOnly(direct.rec.clone()));
    direct.engine = Engine::new(e.defs().clone(), e.store().clone(), direct.rec.clone(), e.links().clone(), sink);
    let start = utc("2026-06-01T00:00:00Z");
    for w in [&paged, &direct] {
        w.import(&leads, start).await;
        w.store().suppress("l7@x.test", "test", Source::Cli, start).await.unwrap();
        // Sweeps over 70 days: the first full, later ones incremental, with
        // leads ageing into min_age and re-entering after again_after.
        w.run(start, start + days(70)).await;
    }
    let want = enrolments(&paged).await;
    assert!(want.len() >= 5, "{want:?}");
    assert_eq!(enrolments(&direct).await, want);
    assert!(direct.events(Kind::Enrolled).is_empty(), "no event per lead on the SQL path");
    // The same sends; leads due at one instant may go in another order.
    let sorted = |w: &World| {
        let mut e = w.emails();
        e.sort();
        e
    };
    assert_eq!(sorted(&direct), sorted(&paged));
    paged.finish().await;
    direct.finish().await;
}
both!(the_database_side_sweep_enrols_exactly_as_the_paged_one);
