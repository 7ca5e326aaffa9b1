//! `check` never panics, whatever marketing commits: the bundled config,
//! campaign and template files, damaged at random (bytes cut, junk and
//! TOML/Handlebars punctuation inserted, lines repeated), are loaded the
//! way `nurture check` loads them. Problems become diagnostics, not crashes.

use std::path::Path;

use nurture::definitions::Definitions;
use proptest::prelude::*;

const CONFIG: &str = include_str!("../demo/nurture.toml");
const CAMPAIGN: &str = include_str!("../campaigns/winback.toml");
const TEMPLATE: &str = include_str!("../templates/winback/check-in.html.hbs");

/// One damage to a text: cut a range, insert a piece, or repeat a line.
#[derive(Debug, Clone)]
enum Edit {
    Cut(usize, usize),
    Insert(usize, String),
    RepeatLine(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let pieces = prop_oneof![
        Just("\"".to_string()),
        Just("[[step]]\n".to_string()),
        Just("[window]\nhours = \"25:00-26:00\"\n".to_string()),
        Just("{{#if}}".to_string()),
        Just("{{> missing}}".to_string()),
        Just("{{lead.".to_string()),
        Just("after = \"-1d\"\n".to_string()),
        Just("cron = \"* * * * * * *\"\n".to_string()),
        Just("= = =".to_string()),
        Just("\u{0}\u{feff}é🙂".to_string()),
        "[ -~\n]{0,12}",
    ];
    prop_oneof![
        (0usize..4000, 0usize..200).prop_map(|(at, len)| Edit::Cut(at, len)),
        (0usize..4000, pieces).prop_map(|(at, s)| Edit::Insert(at, s)),
        (0usize..200).prop_map(Edit::RepeatLine),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut t = text.to_string();
    let at = |t: &String, i: usize| {
        let mut i = i.min(t.len());
        while !t.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    for e in edits {
        match e {
            Edit::Cut(from, len) => {
                let a = at(&t, *from);
                let b = at(&t, a + len);
                t.replace_range(a..b, "");
            }
            Edit::Insert(pos, s) => {
                let a = at(&t, *pos);
                t.insert_str(a, s);
            }
            Edit::RepeatLine(n) => {
                let lines: Vec<&str> = t.lines().collect();
                if let Some(line) = lines.get(n % lines.len().max(1)) {
                    t = format!("{t}\n{line}\n");
                }
            }
        }
    }
    t
}

fn write(dir: &Path, config: &str, campaign: &str, template: &str) {
    std::fs::create_dir_all(dir.join("campaigns")).unwrap();
    std::fs::create_dir_all(dir.join("templates/winback")).unwrap();
    std::fs::create_dir_all(dir.join("templates/partials")).unwrap();
    // The demo config points at ../templates and its own folder; here
    // everything sits in one place.
    let config = config.replace("\"../templates\"", "\"templates\"");
    std::fs::write(dir.join("nurture.toml"), config).unwrap();
    std::fs::write(dir.join("reps.toml"), "[[rep]]\nemail = \"r@s.test\"\n").unwrap();
    std::fs::write(dir.join("campaigns/winback.toml"), campaign).unwrap();
    std::fs::write(dir.join("templates/winback/check-in.html.hbs"), template).unwrap();
    std::fs::write(dir.join("templates/partials/footer.hbs"), "{{postal_address}} {{unsubscribe_url}}").unwrap();
}

proptest! {
    // Failures found are kept in check_props.proptest-regressions, beside
    // this file, and tried first on every run.
    #![proptest_config(ProptestConfig {
        cases: 96,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn damaged_files_are_diagnosed_never_a_panic(
        c in proptest::collection::vec(edit(), 0..4),
        k in proptest::collection::vec(edit(), 0..6),
        t in proptest::collection::vec(edit(), 0..4),
    ) {
        let tmp = tempfile::tempdir().unwrap();
        write(tmp.path(), &apply(CONFIG, &c), &apply(CAMPAIGN, &k), &apply(TEMPLATE, &t));
        let now = chrono::Utc::now();
        let (_defs, diags) = Definitions::load(Some(&tmp.path().join("nurture.toml")), now);
        // Every problem names its file: a path, printed first (a damaged
        // config may name a file that is not there, such as `reps.= = =toml`).
        for d in &diags.0 {
            let text = d.to_string();
            prop_assert!(!d.path.as_os_str().is_empty(), "{text}");
            prop_assert!(text.starts_with(&d.path.display().to_string()), "{text}");
        }
    }
}
