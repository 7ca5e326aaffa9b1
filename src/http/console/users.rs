//! The console's users: a TOML file named by `[http] console_users_file`,
//! `[[user]] name = "mia"  password_hash = "$argon2id$..."` (made by `nurture
//! hash-password`). Passwords are checked with Argon2 (the hash's own
//! parameters); an unknown name costs the same as a wrong password.

use std::collections::BTreeMap;
use std::path::Path;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use serde::Deserialize;

#[derive(Debug, Clone, Default)]
pub struct Users(BTreeMap<String, String>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    user: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    password_hash: String,
}

/// Checked against when the name is unknown, so that case takes as long.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$b2nT6h0Eq3NDtbAzG2l2yv4lCqQ0Tn2ix8hDu5HQ9tM";

impl Users {
    /// The users of `path`; the error names the file, the user and what to do.
    pub fn load(path: &Path) -> Result<Users, String> {
        let at = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("http.console_users_file {at}: {e}"))?;
        let file: File = toml::from_str(&text).map_err(|e| format!("{at}: {e}"))?;
        let mut users = BTreeMap::new();
        for u in file.user {
            if u.name.is_empty() || !u.name.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c)) {
                return Err(format!("{at}: user name {:?}: use letters, digits and . _ - @", u.name));
            }
            PasswordHash::new(&u.password_hash).map_err(|e| {
                format!(
                    "{at}: user {}: password_hash is not a PHC string ({e}); make one with `nurture hash-password`",
                    u.name
                )
            })?;
            users.insert(u.name, u.password_hash);
        }
        if users.is_empty() {
            return Err(format!("{at}: no [[user]]; add one (name, password_hash from `nurture hash-password`)"));
        }
        Ok(Users(users))
    }

    /// Whether `name` is a user.
    pub fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `password` is this user's.
    pub fn check(&self, name: &str, password: &str) -> bool {
        let (known, hash) = match self.0.get(name) {
            Some(h) => (true, h.as_str()),
            None => (false, DUMMY),
        };
        let ok =
            PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok());
        known && ok
    }
}

/// A PHC string for `password` (Argon2id, a random salt, default cost).
pub fn hash(password: &str) -> Result<String, String> {
    Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::{Users, hash};

    #[test]
    fn a_hashed_password_checks_and_nothing_else_does() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        std::fs::write(&path, format!("[[user]]\nname = \"mia\"\npassword_hash = \"{}\"\n", hash("s3cret!").unwrap()))
            .unwrap();
        let users = Users::load(&path).unwrap();
        assert!(users.check("mia", "s3cret!"));
        assert!(!users.check("mia", "s3cret"));
        assert!(!users.check("bob", "s3cret!"));
        std::fs::write(&path, "[[user]]\nname = \"mia\"\npassword_hash = \"plain\"\n").unwrap();
        assert!(Users::load(&path).unwrap_err().contains("nurture hash-password"));
    }
}
