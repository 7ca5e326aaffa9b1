//! Reaching the IMAP server: TCP, TLS for `imaps://` (rustls, trusting the
//! system's CA store and `inbound.ca_file`, as SMTP and PostgreSQL do),
//! the greeting and the login. The
//! password is read from `inbound.password_file` at each connection, so a
//! new password needs no restart.

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Any byte stream a session runs over: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Io for T {}

pub type Session = async_imap::Session<Box<dyn Io>>;

/// No IMAP answer takes longer on a healthy server; a longer silence is a
/// connection to drop and open again.
pub const ANSWER: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot reach {0}: {1}")]
    Unreachable(String, String),
    #[error("{server} refused the login of {user:?} ({why}); check inbound.password_file")]
    Login { server: String, user: String, why: String },
    #[error("inbound.password_file {0}: {1}")]
    Password(String, std::io::Error),
    #[error("{0}: {1}")]
    Imap(String, async_imap::error::Error),
    #[error("{0}: no answer within {1} s")]
    Silent(String, u64),
}

/// Where `imap_url` points.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub folder: String,
}

impl Target {
    /// `imaps://user@host[:port]/FOLDER`, percent-decoded; the folder is
    /// INBOX when the path is empty. The config has checked the shape.
    pub fn of(url: &url::Url) -> Target {
        let tls = url.scheme() == "imaps";
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let folder = decode(url.path().trim_start_matches('/'));
        Target {
            tls,
            host: url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_string(),
            port: url.port().unwrap_or(if tls { 993 } else { 143 }),
            user: decode(url.username()),
            folder: if folder.is_empty() { "INBOX".into() } else { folder },
        }
    }

    /// `user@host:port/FOLDER`, for logs and the position's name.
    pub fn name(&self) -> String {
        format!("{}@{}:{}/{}", self.user, self.host, self.port, self.folder)
    }

    fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A logged-in session.
pub async fn connect(t: &Target, password_file: &Path, ca_file: Option<&Path>) -> Result<Session, Error> {
    let password =
        std::fs::read_to_string(password_file).map_err(|e| Error::Password(password_file.display().to_string(), e))?;
    let password = password.trim_end_matches(['\r', '\n']);
    let server = t.server();
    let unreachable = |e: String| Error::Unreachable(server.clone(), e);
    let tcp = within(&server, TcpStream::connect((t.host.as_str(), t.port)))
        .await?
        .map_err(|e| unreachable(e.to_string()))?;
    let stream: Box<dyn Io> = match t.tls {
        true => {
            let tls = within(&server, tls(&t.host, tcp, ca_file)).await?;
            Box::new(tls.map_err(|e| unreachable(format!("TLS: {e}")))?)
        }
        false => Box::new(tcp),
    };
    let mut client = async_imap::Client::new(stream);
    match within(&server, client.read_response()).await? {
        Ok(Some(_)) => {}
        Ok(None) => return Err(unreachable("closed before its greeting".into())),
        Err(e) => return Err(unreachable(e.to_string())),
    }
    match within(&server, client.login(&t.user, password)).await? {
        Ok(session) => Ok(session),
        Err((async_imap::error::Error::No(why) | async_imap::error::Error::Bad(why), _)) => {
            Err(Error::Login { server, user: t.user.clone(), why })
        }
        Err((e, _)) => Err(Error::Imap(server, e)),
    }
}

async fn tls(
    host: &str,
    tcp: TcpStream,
    ca_file: Option<&Path>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let roots = crate::tls::roots(ca_file).map_err(|e| std::io::Error::other(format!("inbound.{e}")))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(std::io::Error::other)?;
    tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await
}

/// `f`, or [`Error::Silent`] when the server does not answer in time.
pub async fn within<T>(server: &str, f: impl Future<Output = T>) -> Result<T, Error> {
    tokio::time::timeout(ANSWER, f).await.map_err(|_| Error::Silent(server.to_string(), ANSWER.as_secs()))
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn a_target_reads_scheme_port_user_and_folder() {
        let t = Target::of(&"imaps://nurture%40acme.com@imap.acme.com/Replies%20In".parse().unwrap());
        assert_eq!(
            t,
            Target {
                tls: true,
                host: "imap.acme.com".into(),
                port: 993,
                user: "nurture@acme.com".into(),
                folder: "Replies In".into()
            }
        );
        let t = Target::of(&"imap://bot@127.0.0.1:1143".parse().unwrap());
        assert_eq!((t.tls, t.port, t.folder.as_str()), (false, 1143, "INBOX"));
        assert_eq!(t.name(), "bot@127.0.0.1:1143/INBOX");
    }
}
