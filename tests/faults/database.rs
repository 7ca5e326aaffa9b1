//! PostgreSQL goes away mid-run: its network is cut (a TCP proxy this test
//! owns drops every connection and refuses new ones), or the server itself
//! restarts (a private cluster, so the server other tests use stays up).
//! The daemon keeps running, reconnects, and loses or repeats nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::proxy::Proxy;
use crate::support::{PgDatabase, free_port, received};
use crate::{POOL, drip, log, nurture, scene, start, wait};

/// Retries outlast the outages below.
const RETRY: &str = "[\"1s\", \"2s\", \"2s\", \"5s\", \"5s\"]";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_network_outage_mid_run_is_survived_without_loss_or_duplicates() {
    let db = PgDatabase::create("db_outage").await;
    let leads = 80;
    let scene = scene(leads, RETRY, "", 20);
    let (dir, inbox) = (scene.dir(), &scene.inbox);
    assert!(nurture(dir, &db.url, &["migrate"]).status().unwrap().success());
    let proxy = Proxy::start().await;
    let via_proxy = db.url.replace(":5432/", &format!(":{}/", proxy.port));
    let mut daemon = start(dir, &via_proxy, "daemon");
    assert!(nurture(dir, &db.url, &["leads", "import", "leads.csv"]).status().unwrap().success());

    // The fault mid-batch: some messages out, most not.
    let first = inbox.clone();
    wait(dir, "the first messages", 30, move || received(&first).len() >= 20).await;
    proxy.set_down(true);
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon exited during the outage");
    proxy.set_down(false);

    let want = 2 * leads as i64;
    drip::settle(&db.url, want, Duration::from_secs(60)).await;
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon is still running");
    assert!(drip::stop(&mut daemon.0), "a clean stop");
    // Outcomes the daemon knew are written once the database is back, so
    // `uncertain` is usually zero; never more than the sends in flight.
    let states = drip::assert_ledger(&db.url, &received(inbox), want, POOL).await;
    eprintln!("after the network outage: {states:?}");
    let logs = log(dir, "daemon");
    let noticed = ["Tick failed", "Cannot record an outcome"].iter().any(|m| logs.contains(m));
    assert!(noticed, "the outage was noticed and logged");
    db.drop_now().await;
}

/// A PostgreSQL cluster of this test's own on a free port, so it can be
/// stopped and started like a server restart. Run as the `postgres` user
/// when the tests run as root (PostgreSQL refuses root).
struct Cluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl Cluster {
    fn init() -> Cluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries in /usr/lib/postgresql (Debian's postgresql package)")
            .flatten()
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").exists())
            .expect("initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let cluster = Cluster { data, bin, port: free_port(), _dir: dir };
        if is_root() {
            let owned = Command::new("chown").args(["-R", "postgres:"]).arg(cluster._dir.path()).status().unwrap();
            assert!(owned.success());
        }
        cluster.pg("initdb", &["-A", "trust", "-U", "postgres", "--no-sync", "-D"], &[&cluster.data]);
        cluster
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let opts =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.socket().display());
        let log = self.data.parent().unwrap().join("server.log");
        self.pg("pg_ctl", &["-w", "-o", &opts, "-l"], &[&log, Path::new("-D"), &self.data, Path::new("start")]);
    }

    /// `-m fast`: what `systemctl restart postgresql` does; sessions are
    /// terminated (FATAL 57P01), then new connections are refused.
    fn stop(&self) {
        self.pg("pg_ctl", &["-w", "-m", "fast", "-D"], &[&self.data, Path::new("stop")]);
    }

    fn socket(&self) -> PathBuf {
        self.data.parent().unwrap().to_path_buf()
    }

    fn pg(&self, tool: &str, args: &[&str], paths: &[&Path]) {
        let out = self.command(tool).args(args).args(paths).output().unwrap();
        assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn command(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        let mut c = match is_root() {
            true => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(exe);
                c
            }
            false => Command::new(exe),
        };
        c.current_dir("/");
        c
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").args(["-m", "immediate", "-D"]).arg(&self.data).arg("stop").output();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// The database server restarts mid-run (stopped for 3 s): the daemon
/// reconnects without exiting; the ledger holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_mid_run_is_survived_without_loss_or_duplicates() {
    let cluster = tokio::task::spawn_blocking(|| {
        let c = Cluster::init();
        c.start();
        c
    })
    .await
    .unwrap();
    let url = cluster.url();
    let leads = 80;
    let scene = scene(leads, RETRY, "", 20);
    let (dir, inbox) = (scene.dir(), &scene.inbox);
    let mut daemon = start(dir, &url, "daemon");
    assert!(nurture(dir, &url, &["leads", "import", "leads.csv"]).status().unwrap().success());

    let first = inbox.clone();
    wait(dir, "the first messages", 30, move || received(&first).len() >= 20).await;
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.stop();
        std::thread::sleep(Duration::from_secs(3));
        cluster.start();
        cluster
    })
    .await
    .unwrap();
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon exited when the database restarted");

    let want = 2 * leads as i64;
    drip::settle(&url, want, Duration::from_secs(60)).await;
    assert!(daemon.0.try_wait().unwrap().is_none(), "the daemon is still running");
    assert!(drip::stop(&mut daemon.0), "a clean stop");
    let states = drip::assert_ledger(&url, &received(inbox), want, POOL).await;
    eprintln!("after the restart: {states:?}");
    assert!(log(dir, "daemon").contains("57P01") || log(dir, "daemon").contains("terminat"), "the restart was logged");
    drop(cluster);
}
