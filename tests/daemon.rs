//! `nurture run` as ops runs it: the real binary on the embedded defaults
//! (SQLite file, outbox folder), HTTP on a free port, stopped by SIGTERM.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::free_port;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        if e.path().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn nurture(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nurture"));
    c.args(["--config", "nurture.toml"]).args(args).current_dir(dir).env_remove("NURTURE_DATABASE_URL");
    c
}

/// Poll for the daemon's I/O (not for a schedule: the steps are due now).
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    request(port, method, path, "Content-Type: application/x-www-form-urlencoded\r\n", body)
}

fn api(port: u16, path: &str, token: &str, json: &str) -> (u16, String) {
    let headers = format!("Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n");
    request(port, "POST", path, &headers, json)
}

fn request(port: u16, method: &str, path: &str, headers: &str, body: impl AsRef<[u8]>) -> (u16, String) {
    use std::io::{Read, Write};
    let body = body.as_ref();
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return (0, String::new()) };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    );
    // A server may answer (413) and close before reading a large body.
    let _ = s.write_all(head.as_bytes()).and_then(|_| s.write_all(body));
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).into_owned();
    let code = out.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, out)
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

fn outbox(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("var/outbox"))
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn the_daemon_sends_due_steps_serves_links_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&root.join("campaigns"), &dir.join("campaigns"));
    copy_dir(&root.join("templates"), &dir.join("templates"));
    let port = free_port();
    std::fs::write(
        dir.join("nurture.toml"),
        format!(
            "[schedule]\ntick = \"1s\"\n[mail]\npostal_address = \"1 Main St\"\n\
             [http]\nbind = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\napi_token_file = \"token\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("leads.csv"),
        "email,first_name,company,owner,status,status_changed_at,lost_reason,timezone\n\
         ana@acme.test,Ana,Acme,rep@sales.test,new,,,UTC\n",
    )
    .unwrap();
    std::fs::write(dir.join("token"), "s3cret\n").unwrap();
    assert!(nurture(dir, &["leads", "import", "leads.csv"]).output().unwrap().status.success());

    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    let child = nurture(dir, &["run"]).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    let mut daemon = Daemon(child);
    eventually("health", || (http(port, "GET", "/healthz", "").0 == 200).then_some(()));

    // SQLite serves one daemon: a second `run` on the same file is refused
    // at start-up (exit 3) and says why, and the first one carries on.
    let second = nurture(dir, &["run"]).output().unwrap();
    assert_eq!(second.status.code(), Some(3), "{second:?}");
    let why = String::from_utf8_lossy(&second.stderr);
    assert!(why.contains("another `nurture run`") && why.contains("PostgreSQL"), "{why}");
    assert_eq!(http(port, "GET", "/healthz", "").0, 200);

    // speed-to-lead: the rep's task reminder goes out at once, the welcome
    // email ten minutes later; the reminder is in the outbox.
    let reminder = eventually("the reminder", || {
        outbox(dir).into_iter().map(|p| std::fs::read_to_string(p).unwrap()).find(|t| t.contains("To: rep@sales.test"))
    });
    assert!(reminder.contains("Subject: Task: Call Ana"), "{reminder}");
    let done = reminder.lines().find_map(|l| l.strip_prefix("Mark it done: ")).expect("a done link").trim().to_string();
    let done_path = done.strip_prefix(&format!("http://127.0.0.1:{port}")).unwrap();
    assert_eq!(http(port, "GET", done_path, "").0, 200);
    assert_eq!(http(port, "GET", &done_path.replace("/done", "x/done"), "").0, 404, "altered token");
    let tasks = nurture(dir, &["tasks", "list"]).output().unwrap();
    assert!(String::from_utf8_lossy(&tasks.stdout).contains("no open tasks"));

    // One-click unsubscribe with a token of the lead's: the page first, then
    // the RFC 8058 POST; a forged token changes nothing.
    let links = nurture::links::Links::new(
        &format!("http://127.0.0.1:{port}"),
        &std::fs::read(dir.join("var/secret")).unwrap(),
    );
    let lead_id = 1;
    let url = links.unsubscribe_url(lead_id);
    let path = url.strip_prefix(&format!("http://127.0.0.1:{port}")).unwrap();
    assert_eq!(http(port, "POST", "/u/1.AAAAAAAAAAAAAAAAAAAAAA", "List-Unsubscribe=One-Click").0, 404);
    let (code, page) = http(port, "GET", path, "");
    assert!(code == 200 && page.contains("<form method=\"post\""), "{page}");
    assert_eq!(http(port, "POST", path, "List-Unsubscribe=One-Click").0, 200);
    let status = nurture(dir, &["status", "--json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["active_enrolments"], 0, "unsubscribing ended the enrolment: {status}");

    // The API: bearer token required; upserts enrol at once, events exit at once.
    let lead = r#"{"email": "Cy@Cog.test", "first_name": "Cy", "status": "lost", "lost_reason": "budget",
                  "status_changed_at": "2025-01-01T00:00:00Z", "attributes": {"region": "emea"}}"#;
    assert_eq!(api(port, "/api/leads", "wrong", lead).0, 401);
    assert_eq!(api(port, "/api/leads", "s3cret", r#"{"email": "x@y.test", "status": "gone"}"#).0, 400);
    let (code, body) = api(port, "/api/leads", "s3cret", &format!("[{lead}]"));
    assert_eq!(code, 200, "{body}");
    let active = || {
        let out = nurture(dir, &["status", "--json"]).output().unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["active_enrolments"].as_i64().unwrap()
    };
    assert_eq!(active(), 1, "win-back enrolled the API lead at once");
    let event = r#"{"type": "status", "status": "won"}"#;
    assert_eq!(api(port, "/api/leads/nobody@x.test/events", "s3cret", event).0, 404);
    assert_eq!(api(port, "/api/leads/cy@cog.test/events", "s3cret", event).0, 200);
    assert_eq!(active(), 0, "a status event exits at once");

    let (code, metrics) = http(port, "GET", "/metrics", "");
    assert_eq!(code, 200);
    for name in [
        "nurture_tasks_created_total",
        "nurture_enrolments_total",
        "nurture_due_backlog",
        "nurture_tick_duration_seconds",
    ] {
        assert!(metrics.contains(name), "{name} missing:\n{metrics}");
    }

    // A flood of link requests is cut to the rate limit (429), and the
    // daemon keeps serving the rest.
    let codes: Vec<u16> = (0..400).map(|_| http(port, "GET", "/u/1.AAAAAAAAAAAAAAAAAAAAAA", "").0).collect();
    assert_eq!(codes[0], 404);
    assert!(codes.contains(&429), "no 429 in a flood of 400");
    assert!(codes.iter().all(|c| *c == 404 || *c == 429), "{codes:?}");
    assert_eq!(http(port, "GET", "/healthz", "").0, 200);

    // SIGHUP with a broken campaign: the old definitions keep running.
    std::fs::write(dir.join("campaigns/broken.toml"), "[audience]\nstatus = [\"nope\"]\n").unwrap();
    signal(daemon.0.id(), "HUP");
    let log = || std::fs::read_to_string(dir.join("daemon.log")).unwrap();
    eventually("the failed reload in the log", || log().contains("Reload failed").then_some(()));
    assert!(log().contains("broken.toml:2:"), "the reload error names the file and line");
    assert_eq!(http(port, "GET", "/healthz", "").0, 200, "still serving");
    std::fs::remove_file(dir.join("campaigns/broken.toml")).unwrap();
    signal(daemon.0.id(), "HUP");
    eventually("the good reload in the log", || log().contains("Definitions reloaded").then_some(()));
    assert!(log().contains("removed: []") || log().contains("removed=[]"), "the reload says what changed");

    let started = Instant::now();
    signal(daemon.0.id(), "TERM");
    let exit = daemon.0.wait().unwrap();
    assert!(exit.success(), "exit {exit:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
    // Secrets never reach the log or `status`.
    assert!(!log().contains("s3cret"), "the API token was logged");
    let status = nurture(dir, &["status", "--json"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&status.stdout).contains("s3cret"));
}

fn signal(pid: u32, signal: &str) {
    assert!(Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().unwrap().success());
}

/// Hostile API bodies against the real daemon: what is not a lead is
/// refused (400/413) and stores nothing; a lead whose fields carry CRLF,
/// markup, SQL and 10,000 characters is stored as given, escaped in HTML,
/// and its CRLF never becomes a header of the message that goes out.
#[test]
fn hostile_api_bodies_are_refused_or_kept_as_data_and_never_reach_a_header() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("campaigns")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("campaigns/hello.toml"),
        "[audience]\nstatus = [\"new\"]\n[enrol]\ncron = \"0 0 1 1 *\"\n\
         [[step]]\nid = \"hello\"\nemail = \"hello\"\nsubject = \"Hi {{lead.first_name}} at {{lead.company}}\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/hello.html.hbs"),
        "<p>{{lead.company}}</p><p>{{lead.attributes.note}}</p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a> {{postal_address}}",
    )
    .unwrap();
    let port = free_port();
    std::fs::write(
        dir.join("nurture.toml"),
        format!(
            "[schedule]\ntick = \"1s\"\n[mail]\npostal_address = \"1 Main St\"\n[http]\nbind = \"127.0.0.1:{port}\"\n\
             public_url = \"http://127.0.0.1:{port}\"\napi_token_file = \"token\"\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("token"), "s3cret\n").unwrap();
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    let _daemon = Daemon(nurture(dir, &["run"]).stdout(Stdio::null()).stderr(log).spawn().unwrap());
    eventually("health", || (http(port, "GET", "/healthz", "").0 == 200).then_some(()));

    let auth = "Content-Type: application/json\r\nAuthorization: Bearer s3cret\r\n";
    let nested = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let huge = format!(r#"{{"email": "big@x.test", "status": "new", "company": "{}"}}"#, "x".repeat(3 << 20));
    let refused: [(&str, Vec<u8>, u16); 6] = [
        ("CRLF in the address", br#"{"email": "a@x.test\r\nBcc: victim@x.test", "status": "new"}"#.to_vec(), 400),
        ("SQL as the address", br#"{"email": "'; DROP TABLE leads;--", "status": "new"}"#.to_vec(), 400),
        ("not JSON", b"{\"email\": ".to_vec(), 400),
        ("not UTF-8", b"{\"email\": \"\xff\xfe@x.test\", \"status\": \"new\"}".to_vec(), 400),
        ("nested 5,000 deep", nested.into_bytes(), 400),
        ("3 MiB", huge.into_bytes(), 413),
    ];
    for (what, body, want) in refused {
        let (code, text) = request(port, "POST", "/api/leads", auth, &body);
        assert_eq!(code, want, "{what}: {}", text.lines().next().unwrap_or(""));
    }
    assert_eq!(api(port, "/api/leads/'%20OR%201=1--/events", "s3cret", r#"{"type": "replied"}"#).0, 404);

    let note = "n".repeat(10_000);
    let eve = format!(
        r#"{{"email": "eve@evil.test", "first_name": "Eve\r\nBcc: victim@x.test", "status": "new",
            "company": "<script>alert(1)</script>'; DROP TABLE leads;--", "attributes": {{"note": "{note}"}}}}"#
    );
    let (code, body) = api(port, "/api/leads", "s3cret", &eve);
    assert_eq!(code, 200, "{body}");
    let message = eventually("eve's message", || {
        outbox(dir).into_iter().map(|p| std::fs::read_to_string(p).unwrap()).find(|m| m.contains("eve@evil.test"))
    });
    let head = message.split("\r\n\r\n").next().unwrap();
    let injected: Vec<&str> = head.lines().filter(|l| l.to_ascii_lowercase().starts_with("bcc")).collect();
    assert!(injected.is_empty(), "CRLF became a header: {injected:?}\n{head}");
    assert_eq!(head.lines().filter(|l| l.starts_with("To:")).count(), 1, "{head}");
    assert!(head.contains("\r\nSubject: Hi Eve Bcc: victim@x.test at <script>"), "the CRLF is a space: {head}");

    let preview = nurture(dir, &["preview", "hello", "--lead", "eve@evil.test"]).output().unwrap();
    let preview = String::from_utf8_lossy(&preview.stdout);
    assert!(preview.contains("<p>&lt;script&gt;alert(1)&lt;/script&gt;&#x27;; DROP TABLE leads;--</p>"), "{preview}");
    assert!(preview.contains(&format!("<p>{note}</p>")), "the 10,000-character note is kept whole");
    let status = nurture(dir, &["status", "--json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["total"]["sent"], 1, "only eve was stored and enrolled: {status}");
}
