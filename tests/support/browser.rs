//! A real browser for the console tests: Debian's `chromedriver` driving
//! headless `chromium` over WebDriver (W3C: HTTP and JSON, so the client is
//! a few lines here). The test logs in, clicks, reads the page and
//! the browser's console, and takes screenshots as a person's browser would.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use super::{Kill, free_port};

pub struct Browser {
    session: String,
    port: u16,
    _profile: tempfile::TempDir,
    _driver: Kill,
}

/// One request to chromedriver and its status and JSON answer. Its own
/// client rather than `request`: chromedriver wants its own `Host` and
/// keeps the connection open after answering, so the answer is read by its
/// `Content-Length`.
fn exchange(port: u16, method: &str, path: &str, body: &str) -> (u16, Value) {
    use std::io::{BufRead, BufReader, Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return (0, Value::Null) };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let (mut status, mut length) = (String::new(), 0usize);
    r.read_line(&mut status).unwrap();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap();
        }
    }
    let mut out = vec![0; length];
    r.read_exact(&mut out).unwrap();
    let code = status.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, serde_json::from_slice(&out).unwrap_or(Value::Null))
}

impl Browser {
    /// A fresh browser (its own profile: no cookies) `width` by `height`.
    pub fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver (scripts/test installs chromium-driver)");
        let driver = Kill(driver);
        let start = Instant::now();
        while exchange(port, "GET", "/status", "").0 != 200 {
            assert!(start.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "args": args, "binary": "/usr/bin/chromium" },
            "goog:loggingPrefs": { "browser": "ALL" },
        }}});
        let (code, answer) = exchange(port, "POST", "/session", &caps.to_string());
        assert_eq!(code, 200, "no browser session: {answer}");
        let session = answer["value"]["sessionId"].as_str().unwrap().to_string();
        Browser { session, port, _profile: profile, _driver: driver }
    }

    /// One WebDriver command; its `value`.
    fn call(&self, method: &str, path: &str, args: Value) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let (code, mut answer) = exchange(self.port, method, &path, &args.to_string());
        assert_eq!(code, 200, "{method} {path}: {answer}");
        answer["value"].take()
    }

    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }));
    }

    pub fn url(&self) -> String {
        self.call("GET", "/url", json!({})).as_str().unwrap_or_default().to_string()
    }

    /// The page as the browser holds it now.
    pub fn source(&self) -> String {
        self.call("GET", "/source", json!({})).as_str().unwrap_or_default().to_string()
    }

    fn element(&self, css: &str) -> String {
        let found = self.call("POST", "/element", json!({ "using": "css selector", "value": css }));
        found.as_object().and_then(|o| o.values().next()).and_then(Value::as_str).unwrap().to_string()
    }

    /// Types `text` into the field `css` after clearing it.
    pub fn fill(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.call("POST", &format!("/element/{e}/clear"), json!({}));
        self.call("POST", &format!("/element/{e}/value"), json!({ "text": text }));
    }

    /// Clicks `css` (a link or a submit button) and waits for the next
    /// page: until the element clicked is gone with the old document
    /// (WebDriver's click may return before the navigation ends).
    pub fn click(&self, css: &str) {
        let e = self.element(css);
        self.call("POST", &format!("/element/{e}/click"), json!({}));
        let start = Instant::now();
        let gone = format!("/session/{}/element/{e}/name", self.session);
        while exchange(self.port, "GET", &gone, "").0 == 200 {
            assert!(start.elapsed() < Duration::from_secs(20), "clicking {css} loaded no page");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn cookie(&self, name: &str) -> Option<Value> {
        let all = self.call("GET", "/cookie", json!({}));
        all.as_array()?.iter().find(|c| c["name"] == name).cloned()
    }

    pub fn set_cookie(&self, cookie: Value) {
        self.call("POST", "/cookie", json!({ "cookie": cookie }));
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.call("POST", "/window/rect", json!({ "width": width, "height": height }));
    }

    /// What pages wrote to the browser's console since the last call
    /// (errors included: a refused resource, a broken script).
    pub fn console(&self) -> Vec<String> {
        let logs = self.call("POST", "/se/log", json!({ "type": "browser" }));
        let entries = logs.as_array().cloned().unwrap_or_default();
        entries.iter().map(|e| format!("{} {}", e["level"], e["message"])).collect()
    }

    /// The visible page as a PNG at `path`.
    pub fn screenshot(&self, path: &Path) {
        let png = self.call("GET", "/screenshot", json!({}));
        let png = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        assert!(png.starts_with(b"\x89PNG") && png.len() > 2000, "{}: no screenshot", path.display());
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        exchange(self.port, "DELETE", &format!("/session/{}", self.session), "");
    }
}
