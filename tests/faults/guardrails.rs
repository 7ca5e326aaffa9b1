//! Guardrails with real parts: two `nurture run` replicas on one
//! PostgreSQL database and an aiosmtpd server scripted to refuse some
//! recipients (550 5.1.1) or, after N messages, our sending as such
//! (554 5.7.1). The pause holds across both replicas: nothing is attempted
//! once it is stored, ops are told once, and after `campaigns resume all`
//! every step goes out exactly once.

use std::path::Path;
use std::time::Duration;

use crate::support::{Kill, PgDatabase, header, received};
use crate::{POOL, drip, nurture, scene, start, wait};

const OPS: &str = "ops@ops.test";

/// The drip scene's config with guardrails that judge after `sample`
/// emails and tell `OPS`.
fn guarded(dir: &Path, smtp_port: u16, sample: u32) {
    let config = drip::config(smtp_port, POOL as usize, "[\"1s\"]", "");
    let guardrails =
        format!("[guardrails]\nmax_bounce_rate = 0.1\nmin_sample = {sample}\nwindow = \"1d\"\nnotify = \"{OPS}\"\n");
    std::fs::write(dir.join("nurture.toml"), config + &guardrails).unwrap();
}

/// Two `nurture run` replicas on `url`, then the leads imported.
fn two_replicas(dir: &Path, url: &str) -> (Kill, Kill) {
    assert!(nurture(dir, url, &["migrate"]).status().unwrap().success());
    let replicas = (start(dir, url, "a"), start(dir, url, "b"));
    assert!(nurture(dir, url, &["leads", "import", "leads.csv"]).status().unwrap().success());
    replicas
}

fn campaigns_list(dir: &Path, url: &str) -> String {
    String::from_utf8_lossy(&nurture(dir, url, &["campaigns", "list"]).output().unwrap().stdout).into_owned()
}

/// Messages to the lead addresses, without what ops were sent.
fn to_leads(messages: Vec<String>) -> Vec<String> {
    messages.into_iter().filter(|m| header(m, "To") != Some(OPS)).collect()
}

fn to_ops(inbox: &Path) -> Vec<String> {
    received(inbox)
        .iter()
        .filter(|m| header(m, "To") == Some(OPS))
        .filter_map(|m| header(m, "Subject").map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_refusal_pauses_both_replicas_and_resume_all_sends_the_rest_once() {
    let db = PgDatabase::create("guard_policy").await;
    let leads = 60;
    let scene = scene(leads, "[\"1s\"]", "", 20);
    let (dir, inbox) = (scene.dir(), &scene.inbox);
    guarded(dir, scene.port, 100);
    let policy = std::path::PathBuf::from(format!("{}.policy-after", inbox.display()));
    std::fs::write(&policy, "20").unwrap();
    let url = db.url.clone();
    let (mut a, mut b) = two_replicas(dir, &url);

    let (d, u) = (dir.to_path_buf(), url.clone());
    wait(dir, "the sending pause", 30, move || campaigns_list(&d, &u).starts_with("ALL SENDING PAUSED")).await;
    let list = campaigns_list(dir, &url);
    assert!(list.contains("by guardrail") && list.contains("5.7.1"), "{list}");
    let held = drip::states(&url).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(drip::states(&url).await, held, "nothing attempted on either replica once paused");
    // Transactions past RCPT when the 20th was accepted still go through:
    // at most one per connection of the two replicas.
    let took = to_leads(received(inbox)).len();
    assert!((20..=20 + 2 * POOL as usize).contains(&took), "the server took {took}, then refused");
    assert_eq!(to_ops(inbox), ["nurture paused all sending"], "ops told once, by one replica");

    std::fs::remove_file(&policy).unwrap();
    let resumed = nurture(dir, &url, &["campaigns", "resume", "all"]).output().unwrap();
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("resumed"), "{resumed:?}");
    let want = 2 * leads as i64;
    drip::settle(&url, want, Duration::from_secs(60)).await;
    assert!(drip::stop(&mut a.0) && drip::stop(&mut b.0), "clean stops");
    let states = drip::assert_ledger(&url, &to_leads(received(inbox)), want, 0).await;
    assert_eq!(states.get("sent"), Some(&want), "every step once after the resume: {states:?}");
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bounce_rate_past_the_limit_pauses_the_campaign_on_both_replicas() {
    let db = PgDatabase::create("guard_bounce").await;
    // Fifteen good leads, ten that bounce (550 5.1.1), twenty-five good.
    let bounces: String = (0..10).map(|i| format!("bounce{i}@x.test,new\n")).collect();
    let early: String = (0..15).map(|i| format!("early{i}@x.test,new\n")).collect();
    let scene = scene(25, "[\"1s\"]", &format!("{early}{bounces}"), 20);
    let (dir, inbox) = (scene.dir(), &scene.inbox);
    guarded(dir, scene.port, 20);
    let url = db.url.clone();
    let (mut a, mut b) = two_replicas(dir, &url);

    let (d, u) = (dir.to_path_buf(), url.clone());
    wait(dir, "the campaign's pause", 30, move || {
        campaigns_list(&d, &u).lines().any(|l| l.starts_with("drip") && l.contains("paused by guardrail"))
    })
    .await;
    let list = campaigns_list(dir, &url);
    assert!(list.contains("bounce rate") && !list.starts_with("ALL SENDING"), "{list}");
    let held = drip::states(&url).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(drip::states(&url).await, held, "nothing attempted on either replica once paused");
    assert!(drip::finished(&held) < 100, "the pause came before the list was used up: {held:?}");
    assert_eq!(to_ops(inbox), ["nurture paused campaign drip"], "ops told once, by one replica");
    assert!(drip::stop(&mut a.0) && drip::stop(&mut b.0), "clean stops");
    db.drop_now().await;
}
