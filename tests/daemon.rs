//! `nurture run` as ops runs it: the real binary on the embedded defaults
//! (SQLite file, outbox folder), HTTP on a free port, stopped by SIGTERM.

#[path = "daemon/hostile.rs"]
mod hostile;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{free_port, request};

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
fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    eventually_within(what, Duration::from_secs(20), f)
}

/// [`eventually`] with its own limit, for work that takes a while in a
/// test build (the console's 14-day forecast runs ~1,300 virtual ticks:
/// 20 s unoptimised on a 2-core AMD EPYC, 4 s optimised).
fn eventually_within<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
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

/// A daemon on the bundled campaigns and the embedded defaults (SQLite,
/// outbox), ticking every second, with the API on, and one lead imported
/// before it started: Ana, owned by rep@sales.test (speed-to-lead enrols
/// her at once and gives her rep a call task).
struct Running {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    port: u16,
    daemon: Daemon,
}

const TOKEN: &str = "s3cret";

fn start_bundled() -> Running {
    start_with("", |_| {})
}

/// [`start_bundled`] with `http_extra` lines in `[http]`, and `prepare`
/// run on the project folder before the daemon starts.
fn start_with(http_extra: &str, prepare: impl FnOnce(&Path)) -> Running {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&root.join("campaigns"), &dir.join("campaigns"));
    copy_dir(&root.join("templates"), &dir.join("templates"));
    let port = free_port();
    std::fs::write(
        dir.join("nurture.toml"),
        format!(
            "[schedule]\ntick = \"1s\"\n[mail]\npostal_address = \"1 Main St\"\n\
             [http]\nbind = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\napi_token_file = \"token\"\n\
             {http_extra}"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("leads.csv"),
        "email,first_name,company,owner,status,status_changed_at,lost_reason,timezone\n\
         ana@acme.test,Ana,Acme,rep@sales.test,new,,,UTC\n",
    )
    .unwrap();
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    assert!(nurture(&dir, &["leads", "import", "leads.csv"]).output().unwrap().status.success());
    prepare(&dir);
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    let daemon = Daemon(nurture(&dir, &["run"]).stdout(Stdio::null()).stderr(log).spawn().unwrap());
    eventually("health", || (http(port, "GET", "/healthz", "").0 == 200).then_some(()));
    Running { _tmp: tmp, dir, port, daemon }
}

impl Running {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("daemon.log")).unwrap()
    }

    fn status(&self) -> serde_json::Value {
        let out = nurture(&self.dir, &["status", "--json"]).output().unwrap();
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn active_enrolments(&self) -> i64 {
        self.status()["active_enrolments"].as_i64().unwrap()
    }

    /// `url` (a link in an email) as a path on this daemon.
    fn path<'a>(&self, url: &'a str) -> &'a str {
        url.strip_prefix(&format!("http://127.0.0.1:{}", self.port)).unwrap()
    }
}

#[test]
fn a_second_daemon_on_the_same_sqlite_file_is_refused_and_the_first_carries_on() {
    let d = start_bundled();
    let second = nurture(&d.dir, &["run"]).output().unwrap();
    assert_eq!(second.status.code(), Some(3), "{second:?}");
    let why = String::from_utf8_lossy(&second.stderr);
    assert!(why.contains("another `nurture run`") && why.contains("PostgreSQL"), "{why}");
    assert_eq!(http(d.port, "GET", "/healthz", "").0, 200);
}

#[test]
fn a_task_reminder_goes_out_at_once_and_its_done_link_asks_before_closing_the_task() {
    let d = start_bundled();
    // speed-to-lead: the rep's task reminder goes out at once, the welcome
    // email ten minutes later.
    let reminder = eventually("the reminder", || {
        outbox(&d.dir)
            .into_iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .find(|t| t.contains("To: rep@sales.test"))
    });
    assert!(reminder.contains("Subject: Task: Call Ana"), "{reminder}");
    let done =
        reminder.lines().find_map(|l| l.strip_prefix("Done? Mark it here: ")).expect("a done link").trim().to_string();
    let done = d.path(&done);
    assert_eq!(http(d.port, "GET", &done.replace("/done", "x/done"), "").0, 404, "altered token");
    let open = || String::from_utf8_lossy(&nurture(&d.dir, &["tasks", "list"]).output().unwrap().stdout).into_owned();
    assert!(open().contains("Call Ana"), "open before the link is used");
    // A mail scanner opening the link closes nothing: the page asks.
    let (code, page) = http(d.port, "GET", done, "");
    assert!(code == 200 && page.contains("Call Ana") && page.contains("<form method=\"post\""), "{page}");
    assert!(open().contains("Call Ana"), "a GET leaves the task open");
    assert_eq!(http(d.port, "POST", done, "").0, 200, "the confirm button");
    assert!(open().contains("no open tasks"));
    assert!(http(d.port, "POST", done, "").1.contains("already marked as done"));
}

#[test]
fn one_click_unsubscribe_ends_the_enrolment_and_a_forged_token_changes_nothing() {
    let d = start_bundled();
    let links = nurture::links::Links::new(
        &format!("http://127.0.0.1:{}", d.port),
        &std::fs::read(d.dir.join("var/secret")).unwrap(),
    );
    let url = links.unsubscribe_url(1);
    let path = d.path(&url);
    assert_eq!(d.active_enrolments(), 1, "Ana is in speed-to-lead");
    assert_eq!(http(d.port, "POST", "/u/1.AAAAAAAAAAAAAAAAAAAAAA", "List-Unsubscribe=One-Click").0, 404);
    assert_eq!(d.active_enrolments(), 1, "a forged token changes nothing");
    let (code, page) = http(d.port, "GET", path, "");
    assert!(code == 200 && page.contains("<form method=\"post\""), "{page}");
    assert_eq!(d.active_enrolments(), 1, "the page alone changes nothing");
    assert_eq!(http(d.port, "POST", path, "List-Unsubscribe=One-Click").0, 200);
    assert_eq!(d.active_enrolments(), 0, "unsubscribing ended the enrolment");
}

#[test]
fn the_api_needs_its_token_and_enrols_and_exits_at_once() {
    let d = start_bundled();
    let lead = r#"{"email": "Cy@Cog.test", "first_name": "Cy", "status": "lost", "lost_reason": "budget",
                  "status_changed_at": "2025-01-01T00:00:00Z", "attributes": {"region": "emea"}}"#;
    assert_eq!(api(d.port, "/api/leads", "wrong", lead).0, 401);
    assert_eq!(api(d.port, "/api/leads", TOKEN, r#"{"email": "x@y.test", "status": "gone"}"#).0, 400);
    let before = d.active_enrolments();
    let (code, body) = api(d.port, "/api/leads", TOKEN, &format!("[{lead}]"));
    assert_eq!(code, 200, "{body}");
    assert_eq!(d.active_enrolments(), before + 1, "win-back enrolled the API lead at once");
    let event = r#"{"type": "status", "status": "won"}"#;
    assert_eq!(api(d.port, "/api/leads/nobody@x.test/events", TOKEN, event).0, 404);
    assert_eq!(api(d.port, "/api/leads/cy@cog.test/events", TOKEN, event).0, 200);
    assert_eq!(d.active_enrolments(), before, "a status event exits at once");
    // The lead and its history, with who changed what.
    let get = |path: &str, token: &str| request(d.port, "GET", path, &format!("Authorization: Bearer {token}\r\n"), "");
    assert_eq!(get("/api/leads/cy@cog.test", "wrong").0, 401);
    assert_eq!(get("/api/leads/nobody@x.test", TOKEN).0, 404);
    let (code, body) = get("/api/leads/Cy@Cog.test", TOKEN);
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(body.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(json["lead"]["status"], "won");
    // Newest first; win-back's first email went out at once (the post woke
    // the daemon), so it may share the second with the status change.
    let history = json["history"].as_array().unwrap();
    let status = history.iter().find(|h| h["kind"] == "status").unwrap_or_else(|| panic!("{json}"));
    assert_eq!(status["detail"], "lost -> won", "{json}");
    assert_eq!(status["source"], "api");

    // Erased on request: gone at once for the running daemon, and the
    // address sent again is stored suppressed, never enrolled.
    let delete =
        |path: &str, token: &str| request(d.port, "DELETE", path, &format!("Authorization: Bearer {token}\r\n"), "");
    assert_eq!(delete("/api/leads/cy@cog.test", "wrong").0, 401);
    assert_eq!(delete("/api/leads/not%20an%20address", TOKEN).0, 400);
    let (code, body) = delete("/api/leads/Cy@Cog.test", TOKEN);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"found\":true") && body.contains("\"leads\":1"), "{body}");
    assert_eq!(get("/api/leads/cy@cog.test", TOKEN).0, 404, "gone");
    let (code, body) = delete("/api/leads/cy@cog.test", TOKEN);
    assert!(code == 200 && body.contains("\"found\":false"), "a second request is answered: {body}");
    let back = lead.replace("\"lost\"", "\"nurturing\"");
    assert_eq!(api(d.port, "/api/leads", TOKEN, &back).0, 200);
    let (_, body) = get("/api/leads/cy@cog.test", TOKEN);
    let json: serde_json::Value = serde_json::from_str(body.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(json["suppressed"], true, "recognised by its hash: {json}");
    assert_eq!(d.active_enrolments(), before, "and enrolled nowhere");
}

#[test]
fn metrics_serve_the_documented_series() {
    // A webhook, so that its series (labelled by webhook) exist too; nothing
    // listens there: its events wait.
    let d = start_with("[[webhook]]\nname = \"crm\"\nurl = \"http://127.0.0.1:9/hook\"\n", |_| {});
    // Every documented counter is there from start-up, at 0 until used.
    let (_, first) = http(d.port, "GET", "/metrics", "");
    for line in
        ["nurture_digests_sent_total 0", "nurture_emails_sent_total{campaign=\"winback\"} 0", "nurture_smtp_up 1"]
    {
        assert!(first.contains(line), "{line} missing at start-up:\n{first}");
    }
    // Each counter docs/metrics.md documents, whatever its labels, is
    // served from start-up. Its value is not asserted: the first tick
    // runs beside the HTTP server and may already have created Ana's
    // task (and its reminder) when this first scrape arrives.
    let docs = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/metrics.md")).unwrap();
    for row in docs.lines().filter(|l| l.contains("| counter |")) {
        let name = row.split('`').nth(1).unwrap();
        let served = first.lines().any(|l| {
            l.strip_prefix(name).is_some_and(|rest| rest.rsplit(' ').next().is_some_and(|v| v.parse::<f64>().is_ok()))
        });
        assert!(served, "{name} is documented but not served from start-up:\n{first}");
    }
    // An enrolment and a task made by this daemon (Ana's came from the CLI).
    let lead = r#"{"email": "cy@cog.test", "status": "new", "owner": "rep@sales.test"}"#;
    assert_eq!(api(d.port, "/api/leads", TOKEN, lead).0, 200);
    let names = [
        "nurture_tasks_created_total",
        "nurture_enrolments_total",
        "nurture_due_backlog",
        "nurture_tick_duration_seconds",
    ];
    // Each series appears once its first event is recorded.
    eventually("every series", || {
        let (code, metrics) = http(d.port, "GET", "/metrics", "");
        (code == 200 && names.iter().all(|n| metrics.contains(n))).then_some(())
    });
}

/// A housekeeping job's last run shows in `/metrics` and `status --json`,
/// read from the database (any replica's run).
#[test]
fn the_housekeeping_jobs_last_run_is_in_metrics_and_status() {
    let d = start_with("[housekeeping]\nbackup = \"* * * * * *\"\nkeep_backups = 1\n", |_| {});
    let metrics = eventually("the backup job in /metrics", || {
        let (_, m) = http(d.port, "GET", "/metrics", "");
        m.contains("nurture_housekeeping_last_ok{job=\"backup\"} 1").then_some(m)
    });
    assert!(metrics.contains("nurture_housekeeping_last_run_timestamp_seconds{job=\"backup\"}"), "{metrics}");
    let status = d.status();
    let job = &status["housekeeping"][0];
    assert_eq!((job["job"].as_str(), job["ok"].as_bool()), (Some("backup"), Some(true)), "{status}");
    assert!(job["detail"].as_str().unwrap().contains("integrity ok"), "{status}");
}

#[test]
fn a_reload_with_a_broken_campaign_keeps_the_old_definitions() {
    let d = start_bundled();
    std::fs::write(d.dir.join("campaigns/broken.toml"), "[audience]\nstatus = [\"nope\"]\n").unwrap();
    signal(d.daemon.0.id(), "HUP");
    eventually("the failed reload in the log", || d.log().contains("Reload failed").then_some(()));
    assert!(d.log().contains("broken.toml:2:"), "the reload error names the file and line");
    assert_eq!(http(d.port, "GET", "/healthz", "").0, 200, "still serving");
    std::fs::remove_file(d.dir.join("campaigns/broken.toml")).unwrap();
    signal(d.daemon.0.id(), "HUP");
    eventually("the good reload in the log", || d.log().contains("Definitions reloaded").then_some(()));
    assert!(d.log().contains("removed: []") || d.log().contains("removed=[]"), "the reload says what changed");
    // An edit: the log says what it does to the enrolments under way.
    let file = d.dir.join("campaigns/winback.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replacen("id = \"check-in\"", "id = \"check-in-2\"", 1)).unwrap();
    signal(d.daemon.0.id(), "HUP");
    eventually("the edit's impact in the log", || d.log().contains("Campaign changed: winback:").then_some(()));
}

#[test]
fn sigterm_stops_the_daemon_and_secrets_never_reach_the_log_or_status() {
    let mut d = start_bundled();
    assert_eq!(api(d.port, "/api/leads", "wrong", r#"{"email": "x@y.test"}"#).0, 401);
    let started = Instant::now();
    signal(d.daemon.0.id(), "TERM");
    let exit = d.daemon.0.wait().unwrap();
    assert!(exit.success(), "exit {exit:?}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(d.log().contains("nurture stopped."), "{}", d.log());
    assert!(!d.log().contains(TOKEN), "the API token was logged");
    assert!(!d.status().to_string().contains(TOKEN));
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

/// The cookie `name` as a Cookie header value (`name=value`), from a
/// response's Set-Cookie lines.
fn set_cookie(response: &str, name: &str) -> String {
    let lines = response.lines().filter(|l| l.to_ascii_lowercase().starts_with("set-cookie:"));
    let values = lines.map(|l| l.split_once(':').unwrap().1.trim().split(';').next().unwrap().to_string());
    values.into_iter().find(|v| v.starts_with(&format!("{name}="))).unwrap_or_else(|| panic!("no {name}: {response}"))
}

/// A cookie value changed in its first character: what a forger sends.
fn forge(cookie: &str) -> String {
    let (name, value) = cookie.split_once('=').unwrap();
    let first = if value.starts_with('0') { '1' } else { '0' };
    format!("{name}={first}{}", value.chars().skip(1).collect::<String>())
}

fn hidden_csrf(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().unwrap().to_string()
}

#[test]
fn the_console_needs_a_login_and_refuses_wrong_passwords_forged_cookies_and_forms_without_their_token() {
    assert_eq!(http(start_bundled().port, "GET", "/console", "").0, 404, "no users file, no console");
    let d = start_with("console_users_file = \"users.toml\"\n", |dir| {
        let mut hash = nurture(dir, &["hash-password"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        use std::io::Write;
        hash.stdin.take().unwrap().write_all(b"correct horse\n").unwrap();
        let out = hash.wait_with_output().unwrap();
        assert!(out.status.success());
        let phc = String::from_utf8(out.stdout).unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        std::fs::write(
            dir.join("users.toml"),
            format!("[[user]]\nname = \"mia\"\npassword_hash = \"{}\"\n", phc.trim()),
        )
        .unwrap();
    });
    let form = |path: &str, cookie: &str, body: &str| {
        let headers = format!("Content-Type: application/x-www-form-urlencoded\r\nCookie: {cookie}\r\n");
        request(d.port, "POST", path, &headers, body)
    };
    let get = |path: &str, cookie: &str| request(d.port, "GET", path, &format!("Cookie: {cookie}\r\n"), "");
    let (code, page) = get("/console", "");
    assert_eq!(code, 303, "signed out: to the login page");
    assert!(page.to_lowercase().contains("location: /console/login"), "{page}");
    let (code, login) = get("/console/login", "");
    assert_eq!(code, 200);
    let (token, visitor) = (hidden_csrf(&login), set_cookie(&login, "nurture_login"));
    let (_, another) = get("/console/login", "");
    assert_ne!(hidden_csrf(&another), token, "the login form's CSRF token is per visitor");
    assert_eq!(form("/console/login", &visitor, &format!("csrf={token}&name=mia&password=wrong+horse")).0, 401);
    assert_eq!(form("/console/login", &visitor, "csrf=forged&name=mia&password=correct+horse").0, 403);
    let theirs = format!("csrf={}&name=mia&password=correct+horse", hidden_csrf(&another));
    assert_eq!(form("/console/login", &visitor, &theirs).0, 403, "another visitor's token");
    assert_eq!(form("/console/login", "", &format!("csrf={token}&name=mia&password=correct+horse")).0, 403);
    let (code, signed) = form("/console/login", &visitor, &format!("csrf={token}&name=mia&password=correct+horse"));
    assert_eq!(code, 303, "{signed}");
    assert!(signed.contains("HttpOnly") && signed.contains("SameSite=Strict"), "{signed}");
    let cookie = set_cookie(&signed, "nurture_console");

    // The forecast is computed at start, off the page load.
    let campaigns = eventually_within("the forecast on the campaigns page", Duration::from_secs(120), || {
        let (code, page) = get("/console", &cookie);
        (code == 200 && page.contains("Forecast computed")).then_some(page)
    });
    assert!(campaigns.contains("Emails due, next 14 days") && campaigns.matches("<svg").count() == 2, "{campaigns}");
    assert!(campaigns.contains("Speed to lead") && campaigns.contains("viewport"), "{campaigns}");
    let (code, lead) = get("/console/lead?email=ana%40acme.test", &cookie);
    assert_eq!(code, 200);
    assert!(lead.contains("speed-to-lead: enrolled"), "{lead}");
    let tasks = eventually("Ana's call task on the tasks page", || {
        let (code, tasks) = get("/console/tasks", &cookie);
        (code == 200 && tasks.contains("/t/")).then_some(tasks)
    });
    assert!(tasks.contains("rep@sales.test") && tasks.contains("ana%40acme%2Etest"), "{tasks}");
    assert_eq!(get("/console", &forge(&cookie)).0, 303, "a forged cookie is no session");

    let csrf = hidden_csrf(&campaigns);
    assert_eq!(form("/console/logout", &cookie, "csrf=nope").0, 403);
    let (code, out) = form("/console/logout", &cookie, &format!("csrf={csrf}"));
    assert_eq!(code, 303);
    assert!(out.contains("Max-Age=0"), "{out}");
    assert_eq!(get("/console", &cookie).0, 303, "the cookie replayed after logout opens nothing");
    assert!(!d.log().contains("correct horse"), "passwords never reach the log");
}

/// The console's users file in `dir`: mia, password "correct horse".
fn console_user(dir: &Path) {
    let mut hash = nurture(dir, &["hash-password"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    use std::io::Write;
    hash.stdin.take().unwrap().write_all(b"correct horse\n").unwrap();
    let phc = String::from_utf8(hash.wait_with_output().unwrap().stdout).unwrap();
    std::fs::write(dir.join("users.toml"), format!("[[user]]\nname = \"mia\"\npassword_hash = \"{}\"\n", phc.trim()))
        .unwrap();
}

/// The console in a real browser (chromium, headless, driven over
/// WebDriver): a person logs in with a wrong then the right password, opens
/// each page, searches a lead, is sent back to the login by a forged
/// cookie, and logs out. Each page is shot at a phone's and a desk's width
/// into `target/tmp/console/` and writes nothing to the browser's console
/// (the pages have no script: anything there is a broken page).
#[test]
fn a_person_uses_the_console_in_a_real_browser() {
    let d = start_with("console_users_file = \"users.toml\"\n", console_user);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console");
    std::fs::create_dir_all(&shots).unwrap();
    let b = support::browser::Browser::start(1280, 800);
    let base = format!("http://127.0.0.1:{}", d.port);
    let quiet = |page: &str| {
        let said = b.console();
        assert!(said.is_empty(), "{page} wrote to the browser's console: {said:?}");
    };
    let shoot = |name: &str| {
        for (size, width, height) in [("phone", 390, 844), ("desk", 1280, 800)] {
            b.resize(width, height);
            b.screenshot(&shots.join(format!("{name}-{size}.png")));
        }
        quiet(name);
    };

    b.goto(&format!("{base}/console"));
    assert!(b.url().ends_with("/console/login"), "signed out: to the login page, not {}", b.url());
    shoot("login");
    b.fill("input[name=name]", "mia");
    b.fill("input[name=password]", "wrong horse");
    b.click("button[type=submit]");
    assert!(b.source().contains("Wrong name or password."), "{}", b.source());
    assert!(b.cookie("nurture_console").is_none(), "no session for a wrong password");
    // The refusal is a 401, which the browser notes; nothing else.
    let said = b.console();
    assert!(said.len() == 1 && said[0].contains("401 (Unauthorized)"), "{said:?}");
    b.fill("input[name=name]", "mia");
    b.fill("input[name=password]", "correct horse");
    b.click("button[type=submit]");
    assert!(b.url().ends_with("/console"), "signed in: to the campaigns, not {}", b.url());
    let session = b.cookie("nurture_console").expect("a session cookie");
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["sameSite"], "Strict", "{session}");

    eventually_within("the forecast chart", Duration::from_secs(120), || {
        b.goto(&format!("{base}/console"));
        b.source().contains("Forecast computed").then_some(())
    });
    let page = b.source();
    assert!(page.contains("Speed to lead") && page.matches("<svg").count() == 2, "{page}");
    shoot("campaigns");

    b.click("nav a[href='/console/lead']");
    b.fill("input[name=email]", "ANA@acme.test");
    b.click("main button[type=submit]");
    assert!(b.source().contains("speed-to-lead: enrolled"), "{}", b.source());
    shoot("lead");

    eventually("Ana's call task", || {
        b.goto(&format!("{base}/console/tasks"));
        b.source().contains("/t/").then_some(())
    });
    assert!(b.source().contains("rep@sales.test"), "{}", b.source());
    shoot("tasks");

    // A cookie the daemon did not sign is no session.
    let mut forged = session.clone();
    let value = forge(&format!("x={}", session["value"].as_str().unwrap()));
    forged["value"] = value.trim_start_matches("x=").into();
    b.set_cookie(forged);
    b.goto(&format!("{base}/console/tasks"));
    assert!(b.url().ends_with("/console/login"), "a forged cookie reached {}", b.url());
    b.set_cookie(session);
    b.goto(&format!("{base}/console"));
    assert!(b.url().ends_with("/console"), "the real cookie still works: {}", b.url());

    b.click("nav button[type=submit]");
    assert!(b.url().ends_with("/console/login"), "logged out: to the login page, not {}", b.url());
    assert!(b.cookie("nurture_console").is_none(), "the session cookie is gone");
    b.goto(&format!("{base}/console/tasks"));
    assert!(b.url().ends_with("/console/login"), "after logout: {}", b.url());
    quiet("logout");
}

/// Speed to lead: a lead posted to the API whose first step is due at once
/// gets it at once, not at the next tick. The tick here is an hour and the
/// campaign's sweep is yearly, so nothing but the post can wake the daemon.
#[test]
fn a_lead_posted_to_the_api_gets_its_first_step_at_once_not_at_the_next_tick() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("campaigns")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("campaigns/welcome.toml"),
        "[audience]\nstatus = [\"new\"]\n[enrol]\ncron = \"0 0 1 1 *\"\n\
         [[step]]\nid = \"hello\"\nemail = \"hello\"\nsubject = \"Welcome\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("templates/hello.txt.hbs"), "Hello\nUnsubscribe: {{unsubscribe_url}}\n").unwrap();
    let port = free_port();
    std::fs::write(
        dir.join("nurture.toml"),
        format!(
            "[schedule]\ntick = \"1h\"\n[mail]\npostal_address = \"1 Main St\"\n[http]\nbind = \"127.0.0.1:{port}\"\n\
             public_url = \"http://127.0.0.1:{port}\"\napi_token_file = \"token\"\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
    let _daemon = Daemon(nurture(dir, &["run"]).stdout(Stdio::null()).stderr(log).spawn().unwrap());
    eventually("health", || (http(port, "GET", "/healthz", "").0 == 200).then_some(()));
    // The first tick (at start) has found nothing to do.
    eventually("the first tick", || {
        std::fs::read_to_string(dir.join("daemon.log")).unwrap().contains("nurture running.").then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(outbox(dir).is_empty());

    let (code, body) = api(port, "/api/leads", TOKEN, r#"{"email": "new@lead.test", "status": "new"}"#);
    assert_eq!(code, 200, "{body}");
    let sent = eventually("the welcome email", || {
        outbox(dir).into_iter().map(|p| std::fs::read_to_string(p).unwrap()).find(|m| m.contains("new@lead.test"))
    });
    assert!(sent.contains("Subject: Welcome"), "{sent}");
}

/// An answer link in a real browser: the page shows the answer and one
/// button and records nothing; the button hands the lead over, and the
/// console's *Ready now* lists it with why. No page writes to the
/// browser's console; shots in `target/tmp/answer/`.
#[test]
fn a_lead_answers_in_a_real_browser_and_the_rep_sees_it_ready() {
    let d = start_with("console_users_file = \"users.toml\"\n", |dir| {
        std::fs::write(
            dir.join("campaigns/ask.toml"),
            "[audience]\nstatus = [\"nurturing\"]\n[enrol]\ncron = \"0 0 1 1 *\"\n\
             [[step]]\nid = \"ask\"\nemail = \"ask\"\nsubject = \"Still useful?\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("templates/ask.html.hbs"),
            "<p>Hi {{default lead.first_name \"there\"}},</p><p><a href=\"{{answer_url \"ready\"}}\">Ready to talk</a> \
             <a href=\"{{answer_url \"later\"}}\">Later</a></p>{{> footer}}",
        )
        .unwrap();
        console_user(dir);
    });
    let lead = r#"{"email": "ben@acme.test", "first_name": "Ben", "owner": "rep@sales.test", "status": "nurturing"}"#;
    assert_eq!(api(d.port, "/api/leads", TOKEN, lead).0, 200);
    let email = eventually("Ben's email", || {
        outbox(&d.dir)
            .into_iter()
            .map(|p| std::fs::read(p).unwrap())
            .find(|m| String::from_utf8_lossy(m).contains("Still useful?"))
    });
    let parsed = mail_parser::MessageParser::default().parse(&email).unwrap();
    let html = parsed.body_html(0).unwrap().into_owned();
    let base = format!("http://127.0.0.1:{}", d.port);
    let ready = html.split(&format!("{base}/a/")).nth(1).and_then(|s| s.split('"').next()).expect("an answer link");

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("answer");
    std::fs::create_dir_all(&shots).unwrap();
    let b = support::browser::Browser::start(390, 844);
    let quiet = |page: &str| {
        let said = b.console();
        assert!(said.is_empty(), "{page} wrote to the browser's console: {said:?}");
    };
    b.goto(&format!("{base}/a/{ready}"));
    assert!(b.source().contains("Yes, I'd like to talk"), "{}", b.source());
    b.screenshot(&shots.join("answer-phone.png"));
    quiet("the answer page");
    std::thread::sleep(Duration::from_millis(300));
    let status = || {
        let out = nurture(&d.dir, &["leads", "show", "ben@acme.test", "--json"]).output().unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["lead"]["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status(), "nurturing", "a GET answers nothing");
    b.click("button[type=submit]");
    assert!(b.source().contains("in touch"), "{}", b.source());
    b.screenshot(&shots.join("answered-phone.png"));
    quiet("the thank-you page");
    assert_eq!(status(), "sales_ready", "the button hands Ben over");

    b.resize(1280, 800);
    b.goto(&format!("{base}/console"));
    b.fill("input[name=name]", "mia");
    b.fill("input[name=password]", "correct horse");
    b.click("button[type=submit]");
    b.goto(&format!("{base}/console/tasks"));
    let page = b.source();
    let ready_now = page.split("<h2>Open tasks</h2>").next().unwrap();
    assert!(ready_now.contains("Ben") && ready_now.contains("answered \"ready\""), "{page}");
    b.screenshot(&shots.join("ready-now-desk.png"));
    quiet("the tasks page");
    b.goto(&format!("{base}/console/lead?email=ben%40acme.test"));
    assert!(b.source().contains("score:"), "the lead page shows the score: {}", b.source());
    quiet("the lead page");
}
