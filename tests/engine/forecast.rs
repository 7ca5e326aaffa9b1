use std::sync::Arc;

use nurture::engine::Engine;
use nurture::store::{Database, Store};

use crate::helpers::{Backend, Recorder, World, both, days, utc};

const DRIP: &str = r#"
[audience]
status = ["nurturing"]
[enrol]
cron = "0 9 * * Mon-Fri"
again_after = "3d"
[window]
days = ["Mon", "Tue", "Wed", "Thu", "Fri"]
hours = "09:00-17:00"
[[step]]
id = "a"
email = "t"
subject = "a"
[[step]]
id = "call"
after = "1d"
task = "Call"
[[step]]
id = "b"
after = "2d"
email = "t"
subject = "b"
"#;

/// A copy of the live state, driven forward, produces exactly what the
/// live engine then produces; and copying changes nothing in the source.
async fn a_copy_predicts_the_live_engine(b: Backend) {
    let config = "[policy]\nmax_emails = 2\nper = \"7d\"\nmin_gap = \"1d\"\n";
    let w = World::new(b, config, &[("drip", DRIP)]).await;
    let start = utc("2026-03-02T00:00:00Z");
    let csv = "email,status,owner\na@x.test,nurturing,r@s.test\nb@x.test,nurturing,r@s.test\nc@x.test,new,r@s.test\n";
    w.import(csv, start).await;
    w.run(start, start + days(3)).await;
    let mid = start + days(3);
    let before = w.store().status(mid).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let scratch = Database::scratch(&dir.path().join("f.db")).await.unwrap();
    scratch.migrate().await.unwrap();
    nurture::store::copy::copy(w.store(), &scratch, mid - days(7)).await.unwrap();
    assert_eq!(w.store().status(mid).await.unwrap(), before, "the source is not changed");

    let rec = Arc::new(Recorder::default());
    let copy =
        Engine::new(w.engine.defs().clone(), Arc::new(scratch), rec.clone(), w.engine.links().clone(), rec.clone());
    copy.run_virtual(mid, mid + days(10)).await.unwrap();
    let live_before = w.rec.events.lock().unwrap().len();
    w.run(mid, mid + days(10)).await;
    let live: Vec<_> = w.rec.events.lock().unwrap()[live_before..].to_vec();
    let predicted = rec.events.lock().unwrap().clone();
    assert!(!live.is_empty());
    assert_eq!(predicted, live);
    w.finish().await;
}
both!(a_copy_predicts_the_live_engine);
