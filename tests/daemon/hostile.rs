//! The daemon open to strangers, as it is deployed: floods of forged
//! links, requests that never finish, stolen or stale console cookies and
//! password guessers, against the real binary over real sockets. The
//! daemon trusts `X-Forwarded-For` from loopback (its default
//! `trusted_proxies`), so each test speaks for many clients from here.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::*;

/// Each `(name, password)` as a console user, hashed by `nurture
/// hash-password`, in `dir/users.toml`.
fn console_users(dir: &Path, users: &[(&str, &str)]) {
    let mut file = String::new();
    for (name, password) in users {
        let mut hash = nurture(dir, &["hash-password"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        hash.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
        let phc = String::from_utf8(hash.wait_with_output().unwrap().stdout).unwrap();
        file += &format!("[[user]]\nname = \"{name}\"\npassword_hash = \"{}\"\n", phc.trim());
    }
    std::fs::write(dir.join("users.toml"), file).unwrap();
}

/// One login as a person does it (the form, then its POST), as the client
/// `from`: the status and the response.
fn login(d: &Running, name: &str, password: &str, from: &str) -> (u16, String) {
    let xff = format!("X-Forwarded-For: {from}\r\n");
    let (_, page) = request(d.port, "GET", "/console/login", &xff, "");
    let headers = format!(
        "{xff}Content-Type: application/x-www-form-urlencoded\r\nCookie: {}\r\n",
        set_cookie(&page, "nurture_login")
    );
    let body = format!("csrf={}&name={name}&password={}", hidden_csrf(&page), password.replace(' ', "+"));
    request(d.port, "POST", "/console/login", &headers, body)
}

fn get(d: &Running, path: &str, cookie: &str) -> u16 {
    request(d.port, "GET", path, &format!("Cookie: {cookie}\r\n"), "").0
}

#[test]
fn a_flood_of_forged_links_is_refused_per_client_and_a_real_unsubscribe_still_goes_through() {
    let d = start_bundled();
    let links = nurture::links::Links::new(
        &format!("http://127.0.0.1:{}", d.port),
        &std::fs::read(d.dir.join("var/secret")).unwrap(),
    );
    let forged = |from: &str| {
        let xff = format!("X-Forwarded-For: {from}\r\n");
        request(d.port, "POST", "/u/1.AAAAAAAAAAAAAAAAAAAAAA", &xff, "List-Unsubscribe=One-Click").0
    };
    let codes: Vec<u16> = (0..400).map(|_| forged("203.0.113.66")).collect();
    assert_eq!(codes[0], 404);
    assert!(codes.contains(&429), "no 429 in a flood of 400 forged tokens");
    assert!(codes.iter().all(|c| *c == 404 || *c == 429), "{codes:?}");
    assert_eq!(forged("198.51.100.7"), 404, "another client's forged link is answered, not refused");
    assert_eq!(http(d.port, "GET", "/healthz", "").0, 200, "the rest is still served");

    // RFC 8058 one-click, from the flooding address itself, mid-flood.
    let path = d.path(&links.unsubscribe_url(1)).to_string();
    let headers = "X-Forwarded-For: 203.0.113.66\r\nContent-Type: application/x-www-form-urlencoded\r\n";
    let (code, page) = request(d.port, "POST", &path, headers, "List-Unsubscribe=One-Click");
    assert_eq!(code, 200, "a signed unsubscribe is never refused for forged ones: {page}");
    assert_eq!(d.active_enrolments(), 0, "Ana is unsubscribed");
    let lower = page.to_ascii_lowercase();
    assert!(lower.contains("x-frame-options: deny") && lower.contains("frame-ancestors 'none'"), "{page}");
    assert!(lower.contains("cache-control: no-store"), "{page}");

    // The API checks its token before it reads a body: a stranger's broken
    // JSON is a 401, not a parse; a lead's data is never cached.
    assert_eq!(api(d.port, "/api/leads", "wrong", "{\"email\": ").0, 401);
    let auth = format!("Authorization: Bearer {TOKEN}\r\n");
    let (code, lead) = request(d.port, "GET", "/api/leads/ana@acme.test", &auth, "");
    assert_eq!(code, 200, "{lead}");
    assert!(lead.to_ascii_lowercase().contains("cache-control: no-store"), "{lead}");
}

#[test]
fn unfinished_requests_are_closed_and_health_answers_meanwhile() {
    let d = start_bundled();
    // 300 clients that send half a request head and then nothing.
    let mut slow: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", d.port)).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
            s
        })
        .collect();
    let asked = Instant::now();
    assert_eq!(http(d.port, "GET", "/healthz", "").0, 200, "health answers during the flood");
    assert!(asked.elapsed() < Duration::from_secs(2), "took {:?}", asked.elapsed());
    // Each is closed once its head has not come whole within 10 s.
    for s in &mut slow {
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut buf = [0u8; 256];
        let read = s.read(&mut buf);
        assert!(
            read.is_ok() || read.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
            "a slow client was not closed: {read:?}"
        );
    }
    assert!(asked.elapsed() < Duration::from_secs(20), "closed after {:?}", asked.elapsed());
    assert_eq!(http(d.port, "GET", "/healthz", "").0, 200);
}

#[test]
fn logout_and_removal_from_the_users_file_end_a_session_at_once() {
    let d = start_with("console_users_file = \"users.toml\"\n", |dir| {
        console_users(dir, &[("mia", "correct horse"), ("bob", "battery staple")])
    });
    let (code, signed) = login(&d, "mia", "correct horse", "198.51.100.1");
    assert_eq!(code, 303, "{signed}");
    let mia = set_cookie(&signed, "nurture_console");
    let (code, signed) = login(&d, "bob", "battery staple", "198.51.100.2");
    assert_eq!(code, 303, "{signed}");
    let bob = set_cookie(&signed, "nurture_console");
    assert_eq!(get(&d, "/console/tasks", &mia), 200);

    // A copy of mia's cookie taken before she logs out opens nothing after.
    let (_, page) = request(d.port, "GET", "/console/tasks", &format!("Cookie: {mia}\r\n"), "");
    let headers = format!("Content-Type: application/x-www-form-urlencoded\r\nCookie: {mia}\r\n");
    let out = request(d.port, "POST", "/console/logout", &headers, format!("csrf={}", hidden_csrf(&page)));
    assert_eq!(out.0, 303);
    assert_eq!(get(&d, "/console/tasks", &mia), 303, "the old cookie after logout");

    // Bob is removed from the users file; a reload ends his session.
    assert_eq!(get(&d, "/console/tasks", &bob), 200);
    let dir = d.dir.clone();
    console_users(&dir, &[("mia", "correct horse")]);
    signal(d.daemon.0.id(), "HUP");
    eventually("the users file read again", || d.log().contains("Console users reloaded").then_some(()));
    assert_eq!(get(&d, "/console/tasks", &bob), 303, "a removed user's cookie");
    assert_eq!(login(&d, "bob", "battery staple", "198.51.100.2").0, 401, "and the removed user cannot log in");
}

#[test]
fn password_guessing_is_slowed_per_user_and_per_address_and_nobody_else_is_locked_out() {
    let d = start_with("console_users_file = \"users.toml\"\n", |dir| {
        console_users(dir, &[("mia", "correct horse"), ("bob", "battery staple")])
    });
    // A guesser spread over many addresses: mia's name is locked after
    // five failures, for twice as long at each further one (1 s, 2 s,
    // 4 s); bob's is not.
    for i in 0..5 {
        assert_eq!(login(&d, "mia", "guess", &format!("203.0.113.{i}")).0, 401, "guess {i}");
    }
    for (i, lock) in [(5, 1), (6, 2)] {
        std::thread::sleep(Duration::from_millis(lock * 1000 + 200));
        assert_eq!(login(&d, "mia", "guess", &format!("203.0.113.{i}")).0, 401, "guess {i}, once unlocked");
    }
    let locked = Instant::now();
    assert_eq!(login(&d, "mia", "guess", "203.0.113.50").0, 429, "mia's name is locked");
    assert_eq!(login(&d, "mia", "correct horse", "198.51.100.1").0, 429, "even with her password, for a while");
    assert!(locked.elapsed() < Duration::from_secs(4), "the checks ran within the 4 s lock");
    assert_eq!(login(&d, "bob", "battery staple", "198.51.100.2").0, 303, "bob is not locked out");
    std::thread::sleep(Duration::from_millis(4200).saturating_sub(locked.elapsed()));
    assert_eq!(login(&d, "mia", "correct horse", "198.51.100.1").0, 303, "mia, once the lock ran out");

    // A guesser at one address: ten tries (and what trickles back while
    // each password is checked), then refused at once; others go on.
    let mut codes = Vec::new();
    while !codes.contains(&429) {
        assert!(codes.len() < 30, "never refused: {codes:?}");
        codes.push(login(&d, &format!("user{}", codes.len()), "guess", "203.0.113.99").0);
    }
    assert!(codes.len() > 10 && codes[..codes.len() - 1].iter().all(|c| *c == 401), "{codes:?}");
    assert_eq!(login(&d, "user99", "guess", "203.0.113.99").0, 429, "the next try at once: refused too");
    assert_eq!(login(&d, "bob", "battery staple", "198.51.100.3").0, 303, "another address logs in");
}
