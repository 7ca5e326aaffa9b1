//! Where and how to reach the SMTP server: `mail.smtp_url` read as lettre
//! reads it (`smtp://host[:25]`, `smtp://host[:587]?tls=required` or
//! `?tls=opportunistic` for STARTTLS, `smtps://host[:465]` for implicit
//! TLS, a path as the EHLO name), and the password from its file.

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    None,
    /// STARTTLS when the server offers it.
    Opportunistic,
    /// STARTTLS or fail.
    Required,
    /// TLS from the first byte (smtps).
    Wrapper,
}

#[derive(Clone)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub hello: ClientId,
    pub credentials: Option<Credentials>,
    /// `mail.ca_file`'s certificates (PEM), trusted besides the system's.
    pub ca_pem: Option<Vec<u8>>,
}

/// Never prints the credentials.
impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let auth = self.credentials.as_ref().map(|_| "***");
        f.debug_struct("Server")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("auth", &auth)
            .finish()
    }
}

impl Server {
    /// `password` (from `mail.smtp_password_file`) wins over one in the URL.
    pub fn parse(smtp_url: &str, password: Option<String>) -> Result<Server, String> {
        let bad = |why: &str| format!("mail.smtp_url {smtp_url:?}: {why}");
        let url = url::Url::parse(smtp_url).map_err(|e| bad(&e.to_string()))?;
        let host = url.host_str().filter(|h| !h.is_empty()).ok_or_else(|| bad("no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let tls_param = url.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned());
        let (tls, default_port) = match (url.scheme(), tls_param.as_deref()) {
            ("smtp", None) => (Tls::None, 25),
            ("smtp", Some("required")) => (Tls::Required, 587),
            ("smtp", Some("opportunistic")) => (Tls::Opportunistic, 587),
            ("smtps", _) => (Tls::Wrapper, 465),
            (_, Some(other)) => return Err(bad(&format!("unknown tls={other}; use required or opportunistic"))),
            (scheme, None) => return Err(bad(&format!("unknown scheme {scheme}; use smtp:// or smtps://"))),
        };
        let hello = match url.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_string()),
        };
        let decode = |s: &str| percent_decode(s).map_err(|e| bad(&e));
        let user = decode(url.username())?;
        let password = match password {
            Some(p) => Some(p),
            None => url.password().map(decode).transpose()?,
        };
        let credentials = password.map(|p| Credentials::new(user, p));
        Ok(Server { port: url.port().unwrap_or(default_port), host, tls, hello, credentials, ca_pem: None })
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(s).decode_utf8().map(|c| c.into_owned()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_ports_and_tls_follow_lettre() {
        let s = Server::parse("smtp://127.0.0.1", None).unwrap();
        assert_eq!((s.host.as_str(), s.port, s.tls), ("127.0.0.1", 25, Tls::None));
        let s = Server::parse("smtp://relay.test?tls=required", None).unwrap();
        assert_eq!((s.port, s.tls), (587, Tls::Required));
        let s = Server::parse("smtp://relay.test:2525?tls=opportunistic", None).unwrap();
        assert_eq!((s.port, s.tls), (2525, Tls::Opportunistic));
        let s = Server::parse("smtps://relay.test", None).unwrap();
        assert_eq!((s.port, s.tls), (465, Tls::Wrapper));
        assert!(Server::parse("smtp://relay.test?tls=maybe", None).unwrap_err().contains("tls=maybe"));
        assert!(Server::parse("http://relay.test", None).unwrap_err().contains("scheme http"));
    }

    #[test]
    fn credentials_come_from_the_file_over_the_url() {
        let s = Server::parse("smtp://app%40corp:url-pass@relay.test:587?tls=required", None).unwrap();
        assert_eq!(s.credentials, Some(Credentials::new("app@corp".into(), "url-pass".into())));
        let s = Server::parse("smtp://app@relay.test?tls=required", Some("file-pass".into())).unwrap();
        assert_eq!(s.credentials, Some(Credentials::new("app".into(), "file-pass".into())));
        assert_eq!(Server::parse("smtp://relay.test", None).unwrap().credentials, None);
    }
}
