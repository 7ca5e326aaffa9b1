//! OS signals as values: the loop asks for the next one, or none within a
//! wait.

use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Reload,
    Stop,
}

pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal, or `None` once `wait` has passed.
    pub async fn next(&mut self, wait: Duration) -> Option<Signal> {
        tokio::select! {
            _ = tokio::time::sleep(wait) => None,
            _ = self.term.recv() => Some(Signal::Stop),
            _ = self.int.recv() => Some(Signal::Stop),
            _ = self.hup.recv() => Some(Signal::Reload),
        }
    }
}
