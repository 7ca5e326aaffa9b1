//! A PostgreSQL cluster of a test's own on a free port (Debian's server
//! binaries), so it can be stopped, started, or made to accept only TLS
//! without touching the server other tests use. Run as the `postgres`
//! user when the tests run as root (PostgreSQL and PgBouncer refuse root).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::free_port;

pub struct Cluster {
    _dir: tempfile::TempDir,
    pub data: PathBuf,
    bin: PathBuf,
    pub port: u16,
    /// Extra `-c name=value` server settings given at start.
    settings: Vec<String>,
}

impl Cluster {
    pub fn init() -> Cluster {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries in /usr/lib/postgresql (Debian's postgresql package)")
            .flatten()
            .map(|e| e.path().join("bin"))
            .find(|b| b.join("initdb").exists())
            .expect("initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let cluster = Cluster { data, bin, port: free_port(), _dir: dir, settings: Vec::new() };
        give_to_postgres(cluster._dir.path());
        cluster.pg("initdb", &["-A", "trust", "-U", "postgres", "--no-sync", "-D"], &[&cluster.data]);
        cluster
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The folder beside the data, for files of the test's own.
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// From the next start: TCP connections only over TLS (`hostssl`), with
    /// a server certificate for 127.0.0.1 signed by a CA of this cluster's
    /// own; the CA's certificate is returned (PEM file).
    pub fn tls_only(&mut self) -> PathBuf {
        let d = self.dir().to_path_buf();
        let openssl = |args: &[&str]| {
            let out = Command::new("openssl").args(args).current_dir(&d).output().expect("openssl");
            assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
        let ca = ["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=nurture test CA"];
        openssl(&[&["req", "-x509"], &ec[..], &ca[..]].concat());
        openssl(
            &[&["req"], &ec[..], &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]].concat(),
        );
        std::fs::write(d.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ]);
        std::fs::write(self.data.join("pg_hba.conf"), "local all all trust\nhostssl all all 127.0.0.1/32 trust\n")
            .unwrap();
        give_to_postgres(&d);
        let chmod = Command::new("chmod").arg("600").arg(d.join("server.key")).status().unwrap();
        assert!(chmod.success());
        self.settings.extend([
            "ssl=on".to_string(),
            format!("ssl_cert_file={}", d.join("server.crt").display()),
            format!("ssl_key_file={}", d.join("server.key").display()),
        ]);
        d.join("ca.pem")
    }

    pub fn start(&self) {
        let mut opts =
            format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.socket().display());
        for s in &self.settings {
            opts += &format!(" -c {s}");
        }
        let log = self.data.parent().unwrap().join("server.log");
        self.pg("pg_ctl", &["-w", "-o", &opts, "-l"], &[&log, Path::new("-D"), &self.data, Path::new("start")]);
    }

    /// `-m fast`: what `systemctl restart postgresql` does; sessions are
    /// terminated (FATAL 57P01), then new connections are refused.
    pub fn stop(&self) {
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
        as_postgres(&self.bin.join(tool))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").args(["-m", "immediate", "-D"]).arg(&self.data).arg("stop").output();
    }
}

pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// `exe` as the `postgres` user when the tests run as root.
pub fn as_postgres(exe: &Path) -> Command {
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

/// Let the `postgres` user own `dir` when the tests run as root.
pub fn give_to_postgres(dir: &Path) {
    if is_root() {
        let owned = Command::new("chown").args(["-R", "postgres:"]).arg(dir).status().unwrap();
        assert!(owned.success());
    }
}
