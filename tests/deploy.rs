//! The files ops install: the systemd unit passes `systemd-analyze verify`
//! and scores 2.0 or lower on `systemd-analyze security`; the production
//! sample config is valid.

use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_unit_is_sandboxed_to_an_exposure_of_2_or_less() {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(root().join("deploy/nurture.service"))
        .output()
        .expect("systemd-analyze (scripts/test installs systemd)");
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for nurture.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in:\n{text}"));
    assert!(score <= 2.0, "exposure {score}");
}

#[test]
fn the_unit_verifies_clean() {
    // verify checks that commands exist: point them at the built binary.
    let unit = std::fs::read_to_string(root().join("deploy/nurture.service")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nurture.service");
    std::fs::write(&path, unit.replace("/usr/bin/nurture", env!("CARGO_BIN_EXE_nurture"))).unwrap();
    let out = Command::new("systemd-analyze").arg("verify").arg(&path).output().unwrap();
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && errors.trim().is_empty(), "{errors}");
}

#[test]
fn the_production_sample_config_is_valid() {
    let mut diags = nurture::diag::Diagnostics::default();
    let source = nurture::source::Source::read(&root().join("deploy/nurture.toml")).unwrap();
    let config = nurture::config::Config::from_file(&source, &mut diags);
    // Files the config names under /etc/nurture exist only once installed.
    let errors: Vec<String> = diags
        .errors()
        .filter(|d| !(d.path.starts_with("/etc/nurture") && d.message.starts_with("cannot read")))
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(config.mail.transport, nurture::config::Transport::Smtp);
    assert!(config.database.url.starts_with("postgres://"));
}

/// Every metric the Grafana dashboard queries is documented and recorded.
#[test]
fn the_dashboard_queries_documented_metrics_that_exist() {
    let dashboard = std::fs::read_to_string(root().join("deploy/grafana-dashboard.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    let docs = std::fs::read_to_string(root().join("docs/metrics.md")).unwrap();
    let code = std::fs::read_to_string(root().join("src/telemetry.rs")).unwrap();
    let mut names = Vec::new();
    for panel in parsed["panels"].as_array().unwrap() {
        let expr = panel["targets"][0]["expr"].as_str().unwrap();
        for (i, _) in expr.match_indices("nurture_") {
            let name: String =
                expr[i..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_' || c.is_ascii_digit()).collect();
            names.push(name);
        }
    }
    assert!(names.len() >= 8);
    for name in names {
        assert!(docs.contains(&format!("`{name}`")), "{name} is not in docs/metrics.md");
        assert!(code.contains(&format!("\"{name}\"")), "{name} is not recorded in src/telemetry.rs");
    }
}
