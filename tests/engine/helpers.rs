//! A world for engine tests: definitions from files in a temp folder, a
//! real database (a SQLite file, or a fresh PostgreSQL database), a mailer
//! that records, and a virtual clock.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use nurture::definitions::Definitions;
use nurture::engine::events::Kind;
use nurture::engine::{Engine, Event, Sink};
use nurture::links::Links;
use nurture::mail::{Mailer, Outgoing, SendError};
use nurture::store::Store;
use sqlx::Connection;

pub const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<Event>>,
    pub sent: Mutex<Vec<Outgoing>>,
    /// Failures returned by the next sends, in order.
    pub failures: Mutex<VecDeque<SendError>>,
    /// Addresses answered with a bounce.
    pub bounce: Mutex<std::collections::HashSet<String>>,
    /// Once this many messages were accepted, refuse ours (5.7.1) to
    /// addresses at x.test, the leads.
    pub refuse_after: Mutex<Option<usize>>,
}

impl Sink for Recorder {
    fn emit(&self, e: Event) {
        self.events.lock().unwrap().push(e);
    }
}

#[async_trait::async_trait]
impl Mailer for Recorder {
    async fn send(&self, m: &Outgoing) -> Result<(), SendError> {
        if let Some(e) = self.failures.lock().unwrap().pop_front() {
            return Err(e);
        }
        if self.bounce.lock().unwrap().contains(&m.to) {
            return Err(SendError::Bounce("550 5.1.1 no such user".into()));
        }
        let refusing = self.refuse_after.lock().unwrap().is_some_and(|n| self.sent.lock().unwrap().len() >= n);
        if refusing && m.to.ends_with("@x.test") {
            return Err(SendError::Refused("554 5.7.1 message refused by policy".into()));
        }
        self.sent.lock().unwrap().push(m.clone());
        Ok(())
    }
}

pub struct World {
    pub engine: Engine,
    pub rec: Arc<Recorder>,
    pub url: String,
    /// Kept alive: the definitions and the SQLite file live here.
    _dir: tempfile::TempDir,
    pg_db: Option<String>,
}

pub fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const TEMPLATE: &str = "Hi {{lead.first_name}} {{unsubscribe_url}}";

impl World {
    /// `campaigns`: (file stem, TOML). Every email step may use template "t".
    pub async fn new(backend: Backend, config: &str, campaigns: &[(&str, &str)]) -> World {
        World::with_files(backend, config, campaigns, &[]).await
    }

    /// Also writes `files` (path relative to the config folder, content).
    pub async fn with_files(
        backend: Backend,
        config: &str,
        campaigns: &[(&str, &str)],
        files: &[(&str, &str)],
    ) -> World {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("campaigns")).unwrap();
        std::fs::create_dir_all(p.join("templates")).unwrap();
        for (name, body) in files {
            std::fs::write(p.join(name), body).unwrap();
        }
        std::fs::write(p.join("templates/t.txt.hbs"), TEMPLATE).unwrap();
        for (name, body) in campaigns {
            std::fs::write(p.join(format!("campaigns/{name}.toml")), body).unwrap();
        }
        std::fs::write(p.join("nurture.toml"), format!("[mail]\npostal_address = \"x\"\n{config}")).unwrap();
        World::in_dir(backend, dir).await
    }

    /// The campaigns and templates shipped in the repository, with `config`.
    pub async fn bundled(backend: Backend, config: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for sub in ["campaigns", "templates"] {
            let copied = std::process::Command::new("cp").arg("-r").arg(root.join(sub)).arg(dir.path()).status();
            assert!(copied.unwrap().success());
        }
        std::fs::write(dir.path().join("nurture.toml"), config).unwrap();
        World::in_dir(backend, dir).await
    }

    /// The project in `dir` (`nurture.toml`, campaigns, templates).
    async fn in_dir(backend: Backend, dir: tempfile::TempDir) -> World {
        let p = dir.path();
        let (defs, diags) = Definitions::load(Some(&p.join("nurture.toml")), utc("2026-01-01T00:00:00Z"));
        assert!(!diags.has_errors(), "{diags}");
        let (url, pg_db) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", p.join("n.db").display()), None),
            Backend::Postgres => {
                let name = format!("nurture_test_{}", uuid_ish());
                let mut admin = sqlx::PgConnection::connect(PG_ADMIN).await.expect("PostgreSQL on 127.0.0.1:5432");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await.unwrap();
                (format!("postgres://postgres@127.0.0.1:5432/{name}"), Some(name))
            }
        };
        let store = nurture::store::open(&url, 4).await.unwrap();
        let url = url.clone();
        store.migrate().await.unwrap();
        let rec = Arc::new(Recorder::default());
        let engine = Engine::new(Arc::new(defs), store, rec.clone(), Links::new("https://n.test", b"k"), rec.clone());
        World { engine, rec, url, _dir: dir, pg_db }
    }

    /// Another replica on the same database: its own store (so its own
    /// claims), the same definitions, its own recorder.
    pub async fn replica(&self) -> (Engine, Arc<Recorder>) {
        let store = nurture::store::open(&self.url, 4).await.unwrap();
        let rec = Arc::new(Recorder::default());
        let links = Links::new("https://n.test", b"k");
        let engine = Engine::new(self.engine.defs().clone(), store, rec.clone(), links, rec.clone());
        (engine, rec)
    }

    /// Replace the campaign files and load the definitions again, as a
    /// reload does: the same database and recorder, the new campaigns.
    pub fn reload(&mut self, campaigns: &[(&str, &str)]) {
        let p = self._dir.path();
        let _ = std::fs::remove_dir_all(p.join("campaigns"));
        std::fs::create_dir_all(p.join("campaigns")).unwrap();
        for (name, body) in campaigns {
            std::fs::write(p.join(format!("campaigns/{name}.toml")), body).unwrap();
        }
        let (defs, diags) = Definitions::load(Some(&p.join("nurture.toml")), utc("2026-01-01T00:00:00Z"));
        assert!(!diags.has_errors(), "{diags}");
        let store = self.engine.store().clone();
        let links = Links::new("https://n.test", b"k");
        self.engine = Engine::new(Arc::new(defs), store, self.rec.clone(), links, self.rec.clone());
    }

    /// Serve this many leads at once, as `run` does with `mail.pool_size`.
    pub fn with_concurrency(self, n: usize) -> World {
        World { engine: self.engine.with_concurrency(n), ..self }
    }

    pub fn store(&self) -> &dyn Store {
        self.engine.store().as_ref()
    }

    /// Import `n` leads, `l0@x.test` on, in the nurturing status.
    pub async fn import_nurturing(&self, n: usize, at: DateTime<Utc>) {
        let leads: String = (0..n).map(|i| format!("l{i}@x.test,nurturing\n")).collect();
        self.import(&format!("email,status\n{leads}"), at).await;
    }

    pub async fn import(&self, csv: &str, at: DateTime<Utc>) {
        let leads = nurture::import::parse(csv, &self.engine.defs().config.statuses).unwrap();
        self.store().upsert_leads(&leads, nurture::store::Source::Csv, at).await.unwrap();
    }

    /// Drive the clock from `from` to `to` as `simulate` does.
    pub async fn run(&self, from: DateTime<Utc>, to: DateTime<Utc>) {
        self.engine.run_virtual(from, to).await.unwrap();
    }

    pub fn events(&self, kind: Kind) -> Vec<Event> {
        self.rec.events.lock().unwrap().iter().filter(|e| e.event == kind).cloned().collect()
    }

    /// (at, campaign/step, lead) of each email event.
    pub fn emails(&self) -> Vec<(String, String, String)> {
        self.events(Kind::Email)
            .into_iter()
            .map(|e| {
                (
                    nurture::template::context::rfc3339(e.at),
                    format!("{}/{}", e.campaign.unwrap(), e.step.unwrap()),
                    e.lead.unwrap(),
                )
            })
            .collect()
    }

    /// The tokens after `{base}/{route}/` in the HTML email sent to `to`,
    /// in order (`c`: tracked links, the decoy last; `a`: answers).
    pub fn link_tokens(&self, to: &str, route: &str) -> Vec<String> {
        let sent = self.rec.sent.lock().unwrap();
        let html = sent.iter().find(|m| m.to == to).and_then(|m| m.html.clone()).expect("an HTML email");
        html.split(&format!("https://n.test/{route}/"))
            .skip(1)
            .map(|s| s.split('"').next().unwrap().to_string())
            .collect()
    }

    /// Run SQL as a CRM would, on its own connection.
    pub async fn crm(&self, sql: &str) {
        let q = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()));
        if self.url.starts_with("sqlite") {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            q.execute(&mut c).await.unwrap();
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut c).await.unwrap();
        }
    }

    /// `COUNT(*)`-like `sql` with one bound value, on its own connection.
    pub async fn scalar<T>(&self, sql: &str, v: T) -> i64
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Sqlite>
            + sqlx::Type<sqlx::Sqlite>
            + for<'q> sqlx::Encode<'q, sqlx::Postgres>
            + sqlx::Type<sqlx::Postgres>
            + Send
            + 'static,
    {
        let q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()));
        if self.url.starts_with("sqlite") {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            q.bind(v).fetch_one(&mut c).await.unwrap()
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string())).bind(v).fetch_one(&mut c).await.unwrap()
        }
    }

    pub async fn finish(self) {
        let World { engine, pg_db, .. } = self;
        drop(engine);
        if let Some(name) = pg_db {
            // Connections close as the pool drops; FORCE covers stragglers.
            let mut admin = sqlx::PgConnection::connect(PG_ADMIN).await.unwrap();
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.unwrap();
        }
    }
}

fn uuid_ish() -> String {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{}_{n}", std::process::id())
}

pub fn days(n: i64) -> TimeDelta {
    TimeDelta::days(n)
}

/// The same scenario against SQLite and PostgreSQL.
macro_rules! both {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test]
            async fn sqlite() {
                super::$scenario(crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$scenario(crate::helpers::Backend::Postgres).await
            }
        }
    };
}
pub(crate) use both;
