//! Any bytes as an inbound message through the whole path `nurture
//! inbound` and the mailbox take: classified, matched against a real
//! SQLite store (a lead with emails sent), and applied. Never a panic,
//! whatever the bytes. `@@D1@@`, `@@D2@@` and `@@D3@@` in the input stand
//! for the signed tokens of deliveries 1 to 3 (in Message-IDs, return
//! paths, quoted text), so the fuzzer reaches the matched branches.
#![no_main]

use std::sync::{Arc, OnceLock};

use chrono::TimeDelta;
use libfuzzer_sys::fuzz_target;
use nurture::definitions::Definitions;
use nurture::engine::Engine;
use nurture::mail::outbox::Outbox;

struct World {
    runtime: tokio::runtime::Runtime,
    engine: Engine,
    tokens: Vec<(Vec<u8>, Vec<u8>)>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let dir = nurture_fuzz::project();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let now = nurture_fuzz::now();
        let (defs, diags) = Definitions::load(Some(&dir.join("nurture.toml")), now);
        assert!(!diags.has_errors(), "{diags}");
        let engine = runtime.block_on(async {
            let db = dir.join("inbound.db");
            let _ = std::fs::remove_file(&db);
            let store = nurture::store::open(&format!("sqlite://{}", db.display()), 2).await.unwrap();
            store.migrate().await.unwrap();
            let mailer = Arc::new(Outbox::new(&defs.config.mail));
            let links = nurture::links::Links::new("https://nurture.example", b"fuzz");
            let engine = nurture::daemon::engine(defs, store, mailer, links);
            let csv = "email,first_name,company,status\nana@acme.example,Ana,Acme,new\nbo@beta.example,Bo,Beta,new\n";
            let leads = nurture::import::parse(csv, &engine.defs().config.statuses).unwrap();
            engine.store().upsert_leads(&leads, nurture::store::Source::Csv, now).await.unwrap();
            engine.run_virtual(now, now + TimeDelta::hours(2)).await.unwrap();
            engine
        });
        let tokens = (1..=3)
            .map(|id| (format!("@@D{id}@@").into_bytes(), engine.links().delivery_token(id).into_bytes()))
            .collect();
        World { runtime, engine, tokens }
    })
}

fn replace(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let raw = w.tokens.iter().fold(data.to_vec(), |raw, (from, to)| replace(&raw, from, to));
    let now = nurture_fuzz::now() + TimeDelta::hours(3);
    // Errors are answers (a message nurture cannot use); a panic is a bug.
    let _ = w.runtime.block_on(w.engine.inbound(&raw, now));
});
