//! A real IMAP server for the mailbox tests: Debian's `dovecot-imapd` on
//! a free port of 127.0.0.1, with a private configuration, users and
//! maildir in a temporary folder (`scripts/test` installs the package).
//! Messages go in with IMAP APPEND; folders and flags are read back over
//! IMAP too.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::TryStreamExt;

pub const USER: &str = "nurture";
pub const PASSWORD: &str = "imap-secret";

pub struct Dovecot {
    pub port: u16,
    dir: tempfile::TempDir,
}

/// A message as the server holds it.
#[derive(Debug, Clone)]
pub struct Held {
    pub uid: u32,
    pub flags: Vec<String>,
    pub message_id: String,
}

impl Dovecot {
    pub fn start() -> Dovecot {
        let dir = tempfile::tempdir().unwrap();
        let d = Dovecot { port: super::free_port(), dir };
        d.write_config();
        d.up();
        d
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The password file a nurture config names.
    pub fn password_file(&self) -> PathBuf {
        let p = self.dir().join("imap-password");
        std::fs::write(&p, format!("{PASSWORD}\n")).unwrap();
        p
    }

    pub fn url(&self) -> String {
        format!("imap://{USER}@127.0.0.1:{}/INBOX", self.port)
    }

    fn config(&self) -> PathBuf {
        self.dir().join("dovecot.conf")
    }

    fn write_config(&self) {
        let d = self.dir();
        // Running as root, the mail is owned by Debian's `dovecot` user (root
        // may not own mail); otherwise everything runs as the caller.
        let root = caller_uid() == 0;
        let (uid, users) = match root {
            true => ("dovecot".to_string(), String::new()),
            false => {
                let me = std::env::var("USER").unwrap_or_else(|_| "nobody".into());
                (caller_uid().to_string(), format!("default_login_user = {me}\ndefault_internal_user = {me}\n"))
            }
        };
        std::fs::create_dir_all(d.join("mail")).unwrap();
        if root {
            assert!(
                Command::new("chown").args(["-R", "dovecot:dovecot"]).arg(d.join("mail")).status().unwrap().success()
            );
            // The mail user must reach its folder inside the temporary one.
            assert!(Command::new("chmod").args(["755"]).arg(d).status().unwrap().success());
        }
        std::fs::write(d.join("passwd"), format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n")).unwrap();
        let p = d.display();
        let conf = format!(
            "base_dir = {p}/run\nstate_dir = {p}/state\nlog_path = {p}/log\ninfo_log_path = {p}/log\n\
             listen = 127.0.0.1\nprotocols = imap\nfirst_valid_uid = 1\n{users}ssl = no\n\
             disable_plaintext_auth = no\nauth_mechanisms = plain login\nmail_location = maildir:{p}/mail/%u\n\
             namespace inbox {{\n  inbox = yes\n  separator = /\n}}\n\
             passdb {{\n  driver = passwd-file\n  args = {p}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={uid} gid={uid} home={p}/mail/%u\n}}\n\
             service imap-login {{\n  inet_listener imap {{\n    port = {}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service stats {{\n  unix_listener stats-reader {{\n    mode = 0666\n  }}\n  unix_listener stats-writer {{\n    mode = 0666\n  }}\n}}\n",
            self.port
        );
        std::fs::write(self.config(), conf).unwrap();
    }

    /// Start the server (again, on the same port and mail).
    pub fn up(&self) {
        // Not `output()`: the daemon it leaves behind keeps inherited pipes open.
        let errors = self.dir().join("start.err");
        let started = Command::new("dovecot")
            .arg("-c")
            .arg(self.config())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&errors).unwrap())
            .status()
            .expect("dovecot (scripts/test installs dovecot-imapd)");
        let why = std::fs::read_to_string(&errors).unwrap_or_default();
        assert!(started.success(), "dovecot did not start: {why}");
        super::wait_for("dovecot to listen", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
    }

    /// `doveadm stop`, quietly (it complains when already stopped).
    fn stop(&self) {
        let _ = Command::new("doveadm")
            .arg("-c")
            .arg(self.config())
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// Stop the server and its sessions: clients see the connection drop.
    /// (`doveadm stop` alone leaves running sessions open until the client
    /// speaks; a server restart or crash does not.)
    pub fn down(&self) {
        let master = std::fs::read_to_string(self.dir().join("run/master.pid")).unwrap_or_default();
        let sessions = children(master.trim());
        self.stop();
        super::wait_for("dovecot to stop", Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err()
        });
        for pid in sessions {
            let _ = Command::new("kill").args(["-KILL", &pid]).stderr(Stdio::null()).status();
        }
    }

    async fn session(&self) -> async_imap::Session<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.unwrap().unwrap();
        client.login(USER, PASSWORD).await.map_err(|(e, _)| e).unwrap()
    }

    /// APPEND each message to INBOX.
    pub async fn append(&self, messages: &[String]) {
        let mut s = self.session().await;
        for m in messages {
            s.append("INBOX", None, None, m.replace("\r\n", "\n").replace('\n', "\r\n")).await.unwrap();
        }
        s.logout().await.unwrap();
    }

    /// Every message of `folder` (none if it does not exist).
    pub async fn folder(&self, folder: &str) -> Vec<Held> {
        let mut s = self.session().await;
        if s.select(folder).await.is_err() {
            return Vec::new();
        }
        let fetched: Vec<_> =
            s.fetch("1:*", "(UID FLAGS BODY.PEEK[])").await.unwrap().try_collect().await.unwrap_or_default();
        let held = fetched
            .iter()
            .map(|f| Held {
                uid: f.uid.unwrap_or(0),
                flags: f.flags().map(|fl| format!("{fl:?}")).collect(),
                message_id: super::header(&String::from_utf8_lossy(f.body().unwrap_or_default()), "Message-ID")
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            })
            .collect();
        s.logout().await.unwrap();
        held
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The caller's uid, from /proc (no libc call needed).
fn caller_uid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:").map(|r| r.split_whitespace().next().unwrap_or("").to_string()))
        })
        .and_then(|u| u.parse().ok())
        .unwrap_or(0)
}

/// The processes whose parent is `parent`, from /proc.
fn children(parent: &str) -> Vec<String> {
    let Ok(procs) = std::fs::read_dir("/proc") else { return Vec::new() };
    procs
        .flatten()
        .filter_map(|p| {
            let stat = std::fs::read_to_string(p.path().join("stat")).ok()?;
            // pid (comm) state ppid …: the command may hold spaces.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.to_string();
            (ppid == parent).then(|| p.file_name().to_string_lossy().into_owned())
        })
        .collect()
}
