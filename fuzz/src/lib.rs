//! What the fuzz targets share: a scratch project (a config, the bundled
//! campaigns and templates) that one fuzzed file is dropped into and loaded
//! the way `nurture check` loads it, and the oracle every loader must meet:
//! no panic, and every problem names a file of the project with a position
//! inside that file.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use nurture::definitions::Definitions;
use nurture::diag::Diagnostics;

const CONFIG: &str = "[mail]\npostal_address = \"1 Main St\"\n\
    [http]\npublic_url = \"https://nurture.example\"\n\
    [paths]\ncampaigns = \"campaigns\"\ntemplates = \"templates\"\n";

/// The project folder, made once per process: `nurture.toml`, a copy of the
/// repository's `campaigns/` and `templates/`. Loading it untouched gives
/// no error, so any error comes from the fuzzed file.
pub fn project() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("nurture-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        copy_dir(&repo.join("campaigns"), &dir.join("campaigns"));
        copy_dir(&repo.join("templates"), &dir.join("templates"));
        std::fs::write(dir.join("nurture.toml"), CONFIG).unwrap();
        let (_, diags) = Definitions::load(Some(&dir.join("nurture.toml")), now());
        assert!(!diags.has_errors(), "the scratch project itself has errors:\n{diags}");
        dir
    })
}

/// A fixed instant: a fuzz run must be repeatable from its input alone.
pub fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-29T00:30:00Z").unwrap().with_timezone(&Utc)
}

/// Write `bytes` at `rel` in the project, run the whole `check` load, then
/// remove the file again.
pub fn check_with(rel: &str, bytes: &[u8]) -> Diagnostics {
    let dir = project();
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let (_, diags) = Definitions::load(Some(&dir.join("nurture.toml")), now());
    std::fs::remove_file(&path).unwrap();
    diags
}

/// Every problem names a file (the fuzzed one, or one it refers to) and
/// says something, and a position lies within the text it points into (one
/// line past the end at most: an unterminated construct is reported where
/// the text ends).
pub fn assert_located(diags: &Diagnostics, text: &[u8], file: &Path) {
    for d in &diags.0 {
        assert!(!d.path.as_os_str().is_empty(), "a problem without a file: {d:?}");
        assert!(!d.message.trim().is_empty(), "a problem without a message: {d:?}");
        let Some((line, col)) = d.position else { continue };
        let other;
        let text = match d.path == file {
            true => text,
            false => match std::fs::read(&d.path) {
                Ok(t) => {
                    other = t;
                    &other
                }
                Err(_) => continue,
            },
        };
        let lines = String::from_utf8_lossy(text).split('\n').count();
        assert!(line >= 1 && line <= lines + 1, "line {line} of a {lines}-line file: {d}");
        assert!(col >= 1, "column {col}: {d}");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
