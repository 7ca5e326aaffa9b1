use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A scratch project: the bundled campaigns and templates copied into a
/// temporary folder, with an empty `nurture.toml`.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn bundled() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        copy_dir(&root.join("campaigns"), &dir.path().join("campaigns"));
        copy_dir(&root.join("templates"), &dir.path().join("templates"));
        std::fs::write(dir.path().join("nurture.toml"), "[mail]\npostal_address = \"1 Main St\"\n").unwrap();
        Project { dir }
    }

    /// The tests' own small project (`tests/cli/fixture/`): two campaigns,
    /// two templates and a footer partial.
    pub fn fixture() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/fixture");
        copy_dir(&fixture.join("campaigns"), &dir.path().join("campaigns"));
        copy_dir(&fixture.join("templates"), &dir.path().join("templates"));
        std::fs::write(dir.path().join("nurture.toml"), "[mail]\npostal_address = \"1 Main St\"\n").unwrap();
        Project { dir }
    }

    /// `rel:LINE:COL:` of the first occurrence of `text` in that file, as
    /// `check` prefixes a problem found there.
    pub fn at(&self, rel: &str, text: &str) -> String {
        let content = std::fs::read_to_string(self.path(rel)).unwrap();
        let offset = content.find(text).unwrap_or_else(|| panic!("{rel} has no {text:?}"));
        let before = &content[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        format!("{rel}:{line}:{col}:")
    }

    /// `rel:LINE:` of the first line holding `text`.
    pub fn line_of(&self, rel: &str, text: &str) -> String {
        let at = self.at(rel, text);
        at[..at[..at.len() - 1].rfind(':').unwrap() + 1].to_string()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn edit(&self, rel: &str, from: &str, to: &str) {
        let text = std::fs::read_to_string(self.path(rel)).unwrap();
        assert!(text.contains(from), "{rel} has no {from:?}");
        self.write(rel, text.replacen(from, to, 1));
    }

    pub fn run(&self, args: &[&str]) -> Run {
        let mut all = vec!["--config", "nurture.toml"];
        all.extend(args);
        self.run_with(&all)
    }

    /// Run with exactly these arguments (no `--config` added).
    pub fn run_with(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_nurture"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("NURTURE_DATABASE_URL")
            .output()
            .unwrap();
        Run::from(out)
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        let run = Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        };
        assert!(!run.stderr.contains("panicked"), "panic:\n{}", run.stderr);
        assert_ne!(run.code, 101, "panic exit:\n{}", run.stderr);
        run
    }
}

impl Run {
    /// Error lines (not warnings) on stderr.
    pub fn errors(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains(": ") && !l.contains(": warning:") && !l.starts_with("check:"))
            .collect()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}
