//! systemd's notify protocol (`Type=notify`): READY once migrated and
//! loaded, RELOADING and READY around a reload, WATCHDOG from the tick
//! loop (a hung loop stops pinging and gets restarted), STOPPING on
//! shutdown. Without `NOTIFY_SOCKET` these do nothing.

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

/// A reload begins (systemd shows the unit reloading until [`reloaded`]).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// A reload ended: READY again, and the marker file `systemctl reload`
/// waits for (see [`reload_marker`]) moves on, saying whether the new
/// definitions are live.
pub fn reloaded(ok: bool) {
    let status = if ok { "running (reloaded)" } else { "running (reload failed; previous definitions kept)" };
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
    if let Some(path) = reload_marker() {
        let count = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.split_whitespace().nth(1).and_then(|n| n.parse::<u64>().ok()))
            .unwrap_or(0);
        let text = format!("{} {}\n", if ok { "ok" } else { "failed" }, count + 1);
        // Whole or not at all: the waiting shell must never read half a line.
        let tmp = path.with_extension("tmp");
        if let Err(e) = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, &path)) {
            tracing::warn!(path = %path.display(), error = %e, "Could not write the reload marker.");
        }
    }
}

/// `$RUNTIME_DIRECTORY/reloaded` under systemd (`RuntimeDirectory=`):
/// "ok N" or "failed N" after the Nth reload. systemd before version 253
/// ends `systemctl reload` when `ExecReload` returns, whatever the daemon
/// says, so the unit's `ExecReload` sends SIGHUP and waits for this file
/// to change: `systemctl reload` then returns once the new definitions are
/// live (or refused).
pub fn reload_marker() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("RUNTIME_DIRECTORY")?;
    let first = std::env::split_paths(&dir).next()?;
    Some(first.join("reloaded"))
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
