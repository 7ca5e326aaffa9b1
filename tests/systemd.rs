//! `nurture run` under systemd's eyes: the notify protocol on a socket this
//! test owns (READY, WATCHDOG, STOPPING), and JSON logs (chosen by the
//! config's `log_format`) that parse and name leads by id only.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn notifies_ready_watchdog_and_stopping_and_logs_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.join("campaigns")).unwrap();
    std::fs::copy(root.join("demo/campaigns/demo.toml"), dir.join("campaigns/demo.toml")).unwrap();
    let status = Command::new("cp").arg("-r").arg(root.join("templates")).arg(dir).status().unwrap();
    assert!(status.success());
    let config = "log_format = \"json\"\n[mail]\npostal_address = \"x\"\n[http]\nbind = \"\"\n";
    std::fs::write(dir.join("nurture.toml"), config).unwrap();
    std::fs::write(dir.join("leads.csv"), "email,first_name,company,status\nana.secret@acme.example,Ana,Acme,new\n")
        .unwrap();
    let import = Command::new(env!("CARGO_BIN_EXE_nurture"))
        .args(["--config", "nurture.toml", "leads", "import", "leads.csv"])
        .current_dir(dir)
        .env_remove("NURTURE_DATABASE_URL")
        .output()
        .unwrap();
    assert!(import.status.success(), "{import:?}");
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_nurture"))
        .args(["--config", "nurture.toml", "run"])
        .current_dir(dir)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .env_remove("NURTURE_DATABASE_URL")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let mut next = || {
        let n = socket.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let first = next();
    assert!(first.lines().any(|l| l == "READY=1"), "{first:?}");
    // Pings come at half the watchdog timeout, from the tick loop; they
    // also pace this test until the imported lead's email is out.
    let outbox = dir.join("var/outbox");
    let mut pings = 0;
    while pings < 3 || std::fs::read_dir(&outbox).map_or(true, |mut d| d.next().is_none()) {
        assert_eq!(next().trim(), "WATCHDOG=1");
        pings += 1;
        assert!(pings < 50, "no email in the outbox after {pings} ticks");
    }
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let mut stopping = false;
    for _ in 0..5 {
        if next().lines().any(|l| l == "STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "STOPPING=1 on SIGTERM");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let logs = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<serde_json::Value> =
        logs.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    assert!(lines.iter().any(|l| l["message"] == "nurture running." && l["level"] == "INFO"), "{logs}");
    assert!(lines.iter().any(|l| l["message"] == "nurture stopped."), "{logs}");
    let sent = lines.iter().find(|l| l["message"] == "Email sent.").unwrap_or_else(|| panic!("no send: {logs}"));
    assert_eq!(sent["campaign"], "demo");
    assert_eq!(sent["step"], "welcome");
    assert!(sent["lead_id"].as_i64().is_some_and(|id| id > 0), "{sent}");
    assert!(sent["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{sent}");
    assert!(!logs.contains("ana.secret"), "a lead's address reached the log: {logs}");
}
