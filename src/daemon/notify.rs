//! systemd's notify protocol (`Type=notify`): READY once migrated and
//! loaded, WATCHDOG from the tick loop (a hung loop stops pinging and gets
//! restarted), STOPPING on shutdown. Without `NOTIFY_SOCKET` these do
//! nothing.

use std::time::Duration;

use sd_notify::NotifyState;

fn send(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(state) {
        tracing::warn!(error = %e, "Could not notify systemd.");
    }
}

pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn reloaded() {
    send(&[NotifyState::Status("running (reloaded)")]);
}

pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

/// How often to ping: half the watchdog timeout, when one is set.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|d| d / 2)
}
