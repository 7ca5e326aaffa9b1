//! The HMAC key that signs links in emails: `[http] secret_file` when set,
//! else `secret` in the state folder (beside the SQLite database and the
//! outbox), generated on first use.

use std::path::PathBuf;

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
            let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            write_private(&path, hex.as_bytes())?;
            Ok(hex.into_bytes())
        }
        Err(e) => Err(e),
    }
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

#[cfg(unix)]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
