use super::*;

fn load(text: &str) -> (Config, Diagnostics) {
    let mut diags = Diagnostics::default();
    let config = Config::from_file(&Source::new("/etc/nurture/nurture.toml", text), &mut diags);
    (config, diags)
}

fn errors(d: &Diagnostics) -> Vec<String> {
    d.errors().map(ToString::to_string).collect()
}

#[test]
fn empty_file_is_a_valid_config_with_every_default() {
    let (c, d) = load("");
    assert!(!d.has_errors(), "{d}");
    assert_eq!(c.database.max_connections, 8);
    assert_eq!(c.mail.transport, Transport::Outbox);
    assert_eq!(c.mail.outbox_dir, PathBuf::from("/etc/nurture/var/outbox"));
    assert_eq!(c.mail.pool_size, 4);
    assert_eq!(c.mail.from.email.to_string(), "sales@example.com");
    assert_eq!(c.tick, TimeDelta::seconds(15));
    assert_eq!(c.timezone, Tz::UTC);
    assert_eq!(c.policy.caps, Caps { max: 3, per: TimeDelta::days(7), min_gap: TimeDelta::days(1) });
    assert_eq!(c.policy.retry.len(), 5);
    assert_eq!(c.statuses, DEFAULT_STATUSES.to_vec());
    assert_eq!(c.digest.as_str(), "0 8 * * Mon-Fri");
    assert_eq!(c.http.bind, Some("127.0.0.1:8080".parse().unwrap()));
    assert_eq!(c.campaigns_dir, PathBuf::from("/etc/nurture/campaigns"));
}

#[test]
fn empty_postal_address_is_a_warning_not_an_error() {
    let (_, d) = load("");
    assert!(!d.has_errors());
    assert!(d.0.iter().any(|w| w.message.contains("postal_address")));
}

#[test]
fn relative_paths_follow_the_config_file() {
    let (c, _) = load("[database]\nurl = \"sqlite://data/n.db\"\n[paths]\ncampaigns = \"c\"\ntemplates = \"/abs/t\"\n");
    assert_eq!(c.database.url, "sqlite:///etc/nurture/data/n.db");
    assert_eq!(c.campaigns_dir, PathBuf::from("/etc/nurture/c"));
    assert_eq!(c.templates_dir, PathBuf::from("/abs/t"));
}

#[test]
fn unknown_key_is_reported_with_line_and_column() {
    let (_, d) = load("[mail]\npool_size = 2\npool_sise = 3\n");
    let e = errors(&d);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("/etc/nurture/nurture.toml:3:1: unknown field `pool_sise`"), "{}", e[0]);
}

#[test]
fn every_bad_value_is_reported_at_its_position() {
    let text = "[schedule]\ntick = \"15 seconds\"\ntimezone = \"Mars/Base\"\n[policy]\nmax_emails = 0\nretry = [\"1m\", \"soon\"]\n[reminders]\ndigest = \"every morning\"\n[http]\nbind = \"localhost\"\n";
    let (c, d) = load(text);
    let e = errors(&d);
    let at = |line: usize| e.iter().any(|m| m.contains(&format!("nurture.toml:{line}:")));
    assert!(at(2) && at(3) && at(5) && at(6) && at(8) && at(10), "{e:#?}");
    // Bad values fall back to defaults so checking can continue.
    assert_eq!(c.tick, TimeDelta::seconds(15));
    assert_eq!(c.policy.retry, vec![TimeDelta::minutes(1)]);
}

#[test]
fn log_format_is_text_or_json_and_a_typo_is_positioned() {
    assert_eq!(load("log_format = \"json\"\n").0.log_format, Some(LogFormat::Json));
    assert_eq!(load("log_format = \"text\"\n").0.log_format, Some(LogFormat::Text));
    assert_eq!(load("").0.log_format, None);
    let (_, d) = load("\nlog_format = \"jsno\"\n");
    let e = errors(&d);
    assert!(e.len() == 1 && e[0].contains("nurture.toml:2:") && e[0].contains("\"text\" or \"json\""), "{e:?}");
}

#[test]
fn empty_bind_disables_http() {
    let (c, d) = load("[http]\nbind = \"\"\n");
    assert!(!d.has_errors());
    assert_eq!(c.http.bind, None);
}

#[test]
fn replaced_status_set_is_used() {
    let (c, d) = load("[leads]\nstatuses = [\"open\", \"closed\"]\n");
    assert!(!d.has_errors());
    assert_eq!(c.statuses, vec!["open", "closed"]);
}

#[test]
fn invalid_toml_is_one_positioned_error() {
    let (_, d) = load("[mail\nfrom = 1");
    let e = errors(&d);
    assert_eq!(e.len(), 1);
    assert!(e[0].starts_with("/etc/nurture/nurture.toml:1:"), "{}", e[0]);
}

#[test]
fn report_goal_names_known_statuses_and_imap_needs_a_password_file() {
    let (c, d) = load("");
    assert_eq!(c.report.goal, ["sales_ready", "won"]);
    assert_eq!(c.report.window, TimeDelta::days(30));
    let (_, d2) = load("[report]\ngoal = [\"wonn\"]\nwindow = \"2w\"\n");
    let e = errors(&d2);
    assert!(e.iter().any(|m| m.contains("nurture.toml:2:8:") && m.contains("\"wonn\"")), "{e:?}");
    assert!(!d.has_errors());
    let (_, d3) = load("[inbound]\nimap_url = \"imaps://bot@imap.example.com/INBOX\"\n");
    assert!(errors(&d3).iter().any(|m| m.contains("inbound.password_file")), "{:?}", errors(&d3));
}

#[test]
fn a_misspelt_key_is_named_with_a_suggestion_and_nothing_else_is_blamed() {
    let (_, d) = load("[mail]\npostal_address = \"1 Main St\"\nsmtp_ur = \"smtp://x\"\n");
    let all: Vec<String> = d.0.iter().map(|x| x.message.clone()).collect();
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all[0].contains("unknown field `smtp_ur`") && all[0].contains("did you mean `smtp_url`?"), "{all:?}");
}

#[test]
fn a_fixed_offset_zone_is_a_warning_naming_the_region() {
    let (c, d) = load("[mail]\npostal_address = \"x\"\n[schedule]\ntimezone = \"EST\"\n");
    assert!(!d.has_errors(), "{d}");
    assert_eq!(c.timezone, Tz::EST);
    assert!(
        d.0.iter().any(|w| w.message.contains("no daylight-saving") && w.message.contains("America/New_York")),
        "{d}"
    );
}

#[test]
fn housekeeping_defaults_and_its_six_field_crons() {
    let (c, d) = load("");
    assert!(!d.has_errors(), "{d}");
    let h = &c.housekeeping;
    assert_eq!(h.backup.as_ref().map(|b| b.as_str()), Some("0 0 3 * * *"));
    assert_eq!((h.keep_backups, h.retention), (7, Some(TimeDelta::days(730))));
    assert_eq!(h.webhook_events, Some(TimeDelta::days(7)), "delivered webhook events kept a week");
    assert_eq!(h.backup_dir, PathBuf::from("/etc/nurture/var/backups"), "beside the default database");
    let (_, d) =
        load("[housekeeping]\nbackup = \"0 3 * * *\"\nkeep_backups = 0\nretention = \"2h\"\nwebhook_events = \"1h\"\n");
    let e = errors(&d).join("\n");
    assert!(e.contains("webhook_events must be at least 1d"), "{e}");
    assert!(e.contains("has 5 fields; housekeeping jobs take 6"), "{e}");
    assert!(e.contains("keep_backups must be at least 1") && e.contains("retention must be at least 1d"), "{e}");
    let (c, d) =
        load("[database]\nurl = \"postgres://x@db/n\"\n[housekeeping]\nbackup = \"0 0 3 * * *\"\nretention = \"\"\n");
    assert!(!d.has_errors(), "{d}");
    assert!(d.0.iter().any(|w| w.message.contains("pg_dump")), "{d}");
    assert!(c.housekeeping.backup.is_none() && c.housekeeping.retention.is_none());
}

#[test]
fn the_database_password_comes_from_its_file_and_never_sits_in_the_url() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("db-password"), "p@ss:w/rd\n").unwrap();
    let text = "[database]\nurl = \"postgres://nurture@db.internal/nurture\"\npassword_file = \"db-password\"\n";
    let mut diags = Diagnostics::default();
    let c = Config::from_file(&Source::new(dir.path().join("nurture.toml"), text), &mut diags);
    assert!(!diags.has_errors(), "{diags}");
    assert_eq!(c.database.url, "postgres://nurture@db.internal/nurture", "the config's URL holds no password");
    assert_eq!(c.database.connect_url().unwrap(), "postgres://nurture:p%40ss%3Aw%2Frd@db.internal/nurture");
    std::fs::remove_file(dir.path().join("db-password")).unwrap();
    let e = c.database.connect_url().unwrap_err();
    assert!(e.contains("database.password_file") && e.contains("db-password"), "{e}");
}

#[test]
fn a_mailbox_without_a_return_path_is_a_warning() {
    let inbound = "[inbound]\nimap_url = \"imaps://n@imap.example.com/INBOX\"\npassword_file = \"p\"\n";
    let (_, d) = load(inbound);
    assert!(!d.has_errors(), "{d}");
    assert!(d.0.iter().any(|w| w.message.contains("mail.return_path is not")), "{d}");
    let (_, d) = load(&format!("[mail]\nreturn_path = \"bounces@example.com\"\n{inbound}"));
    assert!(!d.0.iter().any(|w| w.message.contains("return_path")), "{d}");
}

#[test]
fn http_limits_default_and_are_checked() {
    let (c, d) = load("");
    assert!(!d.has_errors(), "{d}");
    assert_eq!(c.http.max_connections, 512);
    assert_eq!(c.http.trusted_proxies.len(), 2, "loopback, both families");
    assert_eq!(c.inbound.ooo_max, TimeDelta::days(60));
    let (_, d) = load("[http]\ntrusted_proxies = [\"10.0.0.1\", \"proxy.local\"]\nmax_connections = 3\n");
    let errors = errors(&d);
    assert!(errors.iter().any(|e| e.contains("\"proxy.local\" is not an IP address")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("max_connections 3 must be between 16")), "{errors:?}");
}

#[test]
fn readiness_keys_have_defaults_and_each_mistake_is_named_at_its_value() {
    let (c, d) = load("");
    assert!(!d.has_errors(), "{d}");
    assert!(c.tracking.links);
    assert_eq!(c.tracking.scanner_window, TimeDelta::seconds(60));
    assert_eq!((c.scoring.click, c.scoring.reply, c.scoring.half_life), (5.0, 20.0, TimeDelta::days(30)));
    assert_eq!(c.scoring.links, [("*/pricing*".to_string(), 30.0)]);
    assert_eq!((c.handoff.threshold, c.handoff.status.as_str()), (60.0, "sales_ready"));
    let names: Vec<&str> = c.answers.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["ready", "later", "not_interested"]);

    let text = "[handoff]\nthreshold = -5\nstatus = \"sales_redy\"\n\
                [scoring]\nclick = -1\nhalf_life = \"0s\"\n\
                [answers.maybe]\nlabel = \"Maybe\"\nstatus = \"lots\"\npause = \"3 months\"\n";
    let (c, d) = load(text);
    let e = errors(&d);
    let at = |line: usize, needle: &str| {
        e.iter().any(|m| m.contains(&format!("nurture.toml:{line}:")) && m.contains(needle))
    };
    assert!(at(2, "handoff.threshold = -5"), "{e:?}");
    assert!(at(3, "did you mean \"sales_ready\"?"), "{e:?}");
    assert!(at(5, "scoring.click = -1"), "{e:?}");
    assert!(at(6, "scoring.half_life"), "{e:?}");
    assert!(at(9, "answers.maybe.status \"lots\"") && at(9, "did you mean \"lost\"?"), "{e:?}");
    assert!(at(10, "invalid duration \"3 months\""), "{e:?}");
    assert_eq!(e.len(), 6, "{e:?}");
    assert_eq!(c.handoff.threshold, 60.0, "a bad value falls back to its default");
    assert_eq!(c.answers.len(), 1, "only the configured answers");
}
