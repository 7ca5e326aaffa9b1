//! `nurture run` under systemd's eyes: the notify protocol on a socket this
//! test owns (READY, WATCHDOG, STOPPING), and JSON logs that parse.

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
    std::fs::copy(root.join("campaigns/winback.toml"), dir.join("campaigns/winback.toml")).unwrap();
    let status = Command::new("cp").arg("-r").arg(root.join("templates")).arg(dir).status().unwrap();
    assert!(status.success());
    std::fs::write(dir.join("nurture.toml"), "[mail]\npostal_address = \"x\"\n[http]\nbind = \"\"\n").unwrap();
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();

    let child = Command::new(env!("CARGO_BIN_EXE_nurture"))
        .args(["--config", "nurture.toml", "--log-format", "json", "run"])
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
    // Pings come at half the watchdog timeout, from the tick loop.
    for _ in 0..3 {
        assert_eq!(next().trim(), "WATCHDOG=1");
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
}
