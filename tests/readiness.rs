//! Readiness end to end: the real daemon sends to aiosmtpd, the test takes
//! the links from the received messages and follows them over HTTP as a
//! scanner and as a person would. A scanner's burst hands nothing over; a
//! person's click on pricing plus a page view does, once, with the rep's
//! email in the SMTP server's inbox within 5 s; the redirect lands on the
//! exact address; two PostgreSQL replicas hearing the same clicks hand
//! over once.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Kill, PgDatabase, drip, free_port, header, received, request, smtp_server, wait_for};

const TOKEN: &str = "readiness-test-token";

/// The address the pricing link points at: `&`, `[`, `%41` and non-ASCII
/// must come back from the redirect exactly as the template wrote them.
const PRICING: &str = "https://shop.test/pricing?plan=pro&seats=[5]&ref=%41&city=S\u{e3}o Paulo";

fn project(dir: &Path, smtp: u16, http: u16) {
    std::fs::create_dir_all(dir.join("campaigns")).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("campaigns/ready.toml"),
        "[audience]\nstatus = [\"new\"]\n[enrol]\ncron = \"0 0 1 1 *\"\n\
         [[step]]\nid = \"pricing\"\nemail = \"links\"\nsubject = \"Prices for {{lead.email}}\"\n",
    )
    .unwrap();
    let html = format!(
        "<p>Hello</p><p><a href=\"{}\">Pricing</a> <a href=\"https://shop.test/guide\">Guide</a> \
         <a href=\"{{{{answer_url \"ready\"}}}}\">Ready to talk</a></p>\
         <p><a href=\"{{{{unsubscribe_url}}}}\">Unsubscribe</a></p>",
        PRICING.replace('&', "&amp;")
    );
    std::fs::write(dir.join("templates/links.html.hbs"), html).unwrap();
    std::fs::write(dir.join("reps.toml"), "[[rep]]\nemail = \"rep@sales.test\"\nname = \"Riley\"\n").unwrap();
    std::fs::write(dir.join("token"), format!("{TOKEN}\n")).unwrap();
    let config = drip::config_serving(smtp, 2, "[\"1s\"]", "", Some(http))
        .replace("public_url = \"https://nurture.example\"", &format!("public_url = \"http://127.0.0.1:{http}\""));
    let extra =
        "[reminders]\nreps_file = \"reps.toml\"\n[tracking]\nscanner_window = \"1s\"\n[handoff]\nthreshold = 50\n";
    std::fs::write(dir.join("nurture.toml"), format!("{config}{extra}")).unwrap();
}

fn daemon(dir: &Path, url: &str, n: usize) -> Kill {
    let log = std::fs::File::create(dir.join(format!("log-{n}.json"))).unwrap();
    Kill(drip::nurture(dir, url, &["run"]).stdout(Stdio::null()).stderr(Stdio::from(log)).spawn().unwrap())
}

fn api(port: u16, path: &str, json: &str) -> (u16, String) {
    let headers = format!("Content-Type: application/json\r\nAuthorization: Bearer {TOKEN}\r\n");
    request(port, "POST", path, &headers, json)
}

/// The HTML part of a received message, decoded.
fn html_of(raw: &str) -> String {
    let msg = mail_parser::MessageParser::default().parse(raw.as_bytes()).expect("a message");
    msg.body_html(0).expect("an HTML part").into_owned()
}

/// The paths of the email's links to this daemon, in order: the tracked
/// links (`/c/`, the decoy last) and the answer links (`/a/`).
fn paths(html: &str, port: u16, route: &str) -> Vec<String> {
    let base = format!("http://127.0.0.1:{port}/{route}/");
    html.split(&base).skip(1).map(|s| format!("/{route}/{}", s.split('"').next().unwrap())).collect()
}

fn location(response: &str) -> Option<String> {
    response
        .lines()
        .find_map(|l| l.strip_prefix("location: ").or_else(|| l.strip_prefix("Location: ")))
        .map(|l| l.trim().to_string())
}

fn to_rep(inbox: &Path) -> Vec<String> {
    received(inbox).into_iter().filter(|m| header(m, "To").is_some_and(|t| t.contains("rep@sales.test"))).collect()
}

/// The scanner's burst right after delivery: HEAD of the first link, then
/// GET of every link (the decoy too) within a second.
fn scanner(port: u16, links: &[String]) {
    assert_eq!(request(port, "HEAD", &links[0], "", "").0, 302);
    for l in links {
        let (code, _) = request(port, "GET", l, "", "");
        assert!(code == 302 || code == 204, "{l}: {code}");
    }
}

async fn scalar(url: &str, sql: &str) -> i64 {
    use sqlx::{Connection, Row};
    if url.starts_with("sqlite") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&mut c).await.unwrap().get::<i64, _>(0)
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).fetch_one(&mut c).await.unwrap().get::<i64, _>(0)
    }
}

/// The whole story on `url` with `replicas` daemons, all hearing the same
/// clicks (each click goes to every replica in turn).
async fn a_person_not_a_scanner_is_handed_to_the_rep_once(url: &str, replicas: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let inbox = dir.join("inbox");
    let (_smtp, smtp) = smtp_server(&inbox, 0);
    let ports: Vec<u16> = (0..replicas).map(|_| free_port()).collect();
    project(dir, smtp, ports[0]);
    let ok = drip::nurture(dir, url, &["migrate"]).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let mut daemons = Vec::new();
    for (n, port) in ports.iter().enumerate() {
        // Each replica serves HTTP on its own port; links name the first.
        let config = std::fs::read_to_string(dir.join("nurture.toml")).unwrap();
        let own =
            config.replacen(&format!("bind = \"127.0.0.1:{}\"", ports[0]), &format!("bind = \"127.0.0.1:{port}\""), 1);
        std::fs::write(dir.join(format!("nurture-{n}.toml")), own).unwrap();
        let log = std::fs::File::create(dir.join(format!("log-{n}.json"))).unwrap();
        let mut c = Command::new(env!("CARGO_BIN_EXE_nurture"));
        c.args(["--config", &format!("nurture-{n}.toml"), "run"]).current_dir(dir).env("NURTURE_DATABASE_URL", url);
        daemons.push(Kill(c.stdout(Stdio::null()).stderr(Stdio::from(log)).spawn().unwrap()));
    }
    for port in &ports {
        wait_for("health", Duration::from_secs(20), || request(*port, "GET", "/healthz", "", "").0 == 200);
    }
    let (code, body) = api(ports[0], "/api/leads", r#"{"email": "ana@x.test", "first_name": "Ana", "status": "new"}"#);
    assert_eq!(code, 200, "{body}");
    wait_for("the email", Duration::from_secs(10), || !received(&inbox).is_empty());
    let html = html_of(&received(&inbox)[0]);
    let links = paths(&html, ports[0], "c");
    assert_eq!(links.len(), 3, "pricing, guide, decoy: {html}");
    assert_eq!(paths(&html, ports[0], "a").len(), 1, "the answer link is not tracked: {html}");

    for port in &ports {
        scanner(*port, &links);
    }
    // The burst settles 2 s after it; nothing may be handed over.
    std::thread::sleep(Duration::from_secs(3));
    assert!(to_rep(&inbox).is_empty(), "a scanner's burst hands nothing over");
    assert_eq!(scalar(url, "SELECT COUNT(*) FROM handoffs").await, 0);
    assert_eq!(scalar(url, "SELECT COUNT(*) FROM signals WHERE kind = 'click' AND machine = ''").await, 0);

    // A person clicks pricing (35 points) and lands on the exact address.
    for port in &ports {
        let (code, response) = request(*port, "GET", &links[0], "", "");
        assert_eq!(code, 302, "{response}");
        let expected = PRICING.replace("\u{e3}", "%C3%A3").replace(' ', "%20");
        assert_eq!(location(&response).as_deref(), Some(expected.as_str()), "{response}");
    }
    std::thread::sleep(Duration::from_millis(2500));
    assert!(to_rep(&inbox).is_empty(), "35 points are not 50");
    // Then the pricing page (25): the rep's email within 5 s.
    // (Posted once: two posts are two page views.)
    let started = std::time::Instant::now();
    let (code, body) =
        api(ports[replicas - 1], "/api/leads/ana@x.test/events", r#"{"type": "page_view", "name": "pricing"}"#);
    assert_eq!(code, 200, "{body}");
    wait_for("the rep's email", Duration::from_secs(5), || !to_rep(&inbox).is_empty());
    eprintln!("hand-off email after {:?}", started.elapsed());
    let (code, body) = api(ports[0], "/api/leads/nobody@x.test/events", r#"{"type": "page_view", "name": "pricing"}"#);
    assert_eq!(code, 404, "an unknown lead");
    assert!(body.contains("nobody@x.test"), "{body}");
    std::thread::sleep(Duration::from_secs(3));
    let rep = to_rep(&inbox);
    assert_eq!(rep.len(), 1, "handed over once");
    let text =
        mail_parser::MessageParser::default().parse(rep[0].as_bytes()).unwrap().body_text(0).unwrap().into_owned();
    for why in ["clicked https://shop.test/pricing", "page_view:pricing", "Prices for ana@x.test", "/t/"] {
        assert!(text.contains(why), "{why:?} in:\n{text}");
    }
    assert_eq!(scalar(url, "SELECT COUNT(*) FROM handoffs").await, 1);
    assert_eq!(scalar(url, "SELECT COUNT(*) FROM leads WHERE status = 'sales_ready'").await, 1);
    drop(daemons);
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_one_daemon() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", tmp.path().join("n.db").display());
    a_person_not_a_scanner_is_handed_to_the_rep_once(&url, 1).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_two_replicas_hand_over_once() {
    let db = PgDatabase::create("readiness_two").await;
    a_person_not_a_scanner_is_handed_to_the_rep_once(&db.url, 2).await;
    db.drop_now().await;
}

/// `GET /a/` shows the label and changes nothing; the button (POST) hands
/// the lead over; a forged answer token is 404.
#[tokio::test(flavor = "multi_thread")]
async fn an_answer_is_asked_on_get_and_given_on_post() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let url = format!("sqlite://{}", dir.join("n.db").display());
    let inbox = dir.join("inbox");
    let (_smtp, smtp) = smtp_server(&inbox, 0);
    let port = free_port();
    project(dir, smtp, port);
    let _d = daemon(dir, &url, 0);
    wait_for("health", Duration::from_secs(20), || request(port, "GET", "/healthz", "", "").0 == 200);
    api(port, "/api/leads", r#"{"email": "bo@x.test", "status": "new"}"#);
    wait_for("the email", Duration::from_secs(10), || !received(&inbox).is_empty());
    let answer = paths(&html_of(&received(&inbox)[0]), port, "a").remove(0);
    let (code, page) = request(port, "GET", &answer, "", "");
    assert_eq!(code, 200);
    assert!(page.contains("Yes, I&#x27;d like to talk") || page.contains("Yes, I'd like to talk"), "{page}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(scalar(&url, "SELECT COUNT(*) FROM signals WHERE kind = 'answer'").await, 0, "a GET answers nothing");
    let mut forged = answer.clone();
    forged.insert(5, 'x');
    assert_eq!(request(port, "POST", &forged, "", "").0, 404);
    let (code, page) = request(port, "POST", &answer, "", "");
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("in touch"), "{page}");
    wait_for("the rep's email", Duration::from_secs(5), || !to_rep(&inbox).is_empty());
    let (_, again) = request(port, "POST", &answer, "", "");
    assert!(again.contains("already have this answer"), "{again}");
    assert_eq!(scalar(&url, "SELECT COUNT(*) FROM handoffs").await, 1);
}
