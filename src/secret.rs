//! The HMAC key that signs links in emails: `[http] secret_file` when set,
//! else `secret` in the state folder (beside the SQLite database and the
//! outbox), generated on first use.

use std::path::{Path, PathBuf};

use crate::config::Config;

pub fn path(config: &Config) -> PathBuf {
    config.http.secret_file.clone().unwrap_or_else(|| config.state_dir.join("secret"))
}

pub fn load(config: &Config) -> std::io::Result<Vec<u8>> {
    let path = path(config);
    match std::fs::read(&path) {
        Ok(key) if !key.is_empty() => Ok(key),
        Ok(_) => Err(std::io::Error::other(format!("{} is empty", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && config.http.secret_file.is_none() => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
            let hex = crate::hex::encode(&key);
            match create_whole(&path, hex.as_bytes()) {
                Ok(()) => Ok(hex.into_bytes()),
                // The daemon and a CLI command started together on a new
                // state folder: the first key made is everyone's.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read(&path),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

/// Create `path` holding `bytes` (mode 0600), or fail with AlreadyExists;
/// never visible half-written: written beside it, then linked into place.
fn create_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist_noclobber(path).map(|_| ()).map_err(|e| e.error)
}

/// `[http] previous_secret_files`: keys that still verify links (a
/// rotation's grace list), never sign.
pub fn load_previous(config: &Config) -> Result<Vec<Vec<u8>>, String> {
    let read = |p: &PathBuf| match std::fs::read(p) {
        Ok(key) if !key.is_empty() => Ok(key),
        Ok(_) => Err(format!("http.previous_secret_files: {} is empty", p.display())),
        Err(e) => Err(format!("http.previous_secret_files: {}: {e}", p.display())),
    };
    config.http.previous_secret_files.iter().map(read).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_starting_together_share_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let empty = crate::source::Source::new("nurture.toml", "");
        let mut config = Config::from_file(&empty, &mut crate::diag::Diagnostics::default());
        config.state_dir = dir.path().join("state");
        let keys: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..16).map(|_| s.spawn(|| load(&config))).collect();
            handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect()
        });
        assert!(keys.iter().all(|k| k.len() == 64 && *k == keys[0]), "{keys:?}");
        let on_disk = std::fs::read(dir.path().join("state/secret")).unwrap();
        assert_eq!(on_disk, keys[0]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("state/secret")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let leftovers = std::fs::read_dir(dir.path().join("state")).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }
}
