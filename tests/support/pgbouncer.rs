//! Debian's PgBouncer in transaction mode in front of the PostgreSQL on
//! 127.0.0.1:5432, on a free port with a private configuration, as fleets
//! run it: each transaction may go to another server connection.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::cluster::{as_postgres, give_to_postgres};
use super::{Kill, free_port};

pub struct PgBouncer {
    _dir: tempfile::TempDir,
    _process: Kill,
    pub port: u16,
}

impl PgBouncer {
    /// Serving the database `name` of the server on 127.0.0.1:5432 under
    /// the same name, to user `postgres` (trust).
    pub fn start(name: &str) -> PgBouncer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path();
        std::fs::write(d.join("users.txt"), "\"postgres\" \"\"\n").unwrap();
        let ini = format!(
            "[databases]\n{name} = host=127.0.0.1 port=5432 dbname={name} user=postgres\n\
             [pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n\
             auth_type = trust\nauth_file = {users}\npool_mode = transaction\n\
             ignore_startup_parameters = extra_float_digits\n\
             max_client_conn = 500\ndefault_pool_size = 4\nlogfile = {log}\npidfile = {pid}\n",
            users = d.join("users.txt").display(),
            log = d.join("pgbouncer.log").display(),
            pid = d.join("pgbouncer.pid").display(),
        );
        std::fs::write(d.join("pgbouncer.ini"), ini).unwrap();
        give_to_postgres(d);
        let process = as_postgres(Path::new("/usr/sbin/pgbouncer"))
            .arg(d.join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("pgbouncer (scripts/test installs Debian's pgbouncer)");
        let process = Kill(process);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(10), "pgbouncer did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        PgBouncer { _dir: dir, _process: process, port }
    }

    /// `url` (a database on 127.0.0.1:5432) through this pooler.
    pub fn url(&self, url: &str) -> String {
        url.replace(":5432/", &format!(":{}/", self.port))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("pgbouncer.log")).unwrap_or_default()
    }
}

impl Drop for PgBouncer {
    /// `runuser` may outlive its child's kill or the reverse: stop
    /// PgBouncer itself, by its pid file.
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self._dir.path().join("pgbouncer.pid")) {
            let _ = std::process::Command::new("kill").arg("-KILL").arg(pid.trim()).status();
        }
    }
}
