//! Who this process is among replicas sharing one PostgreSQL database, and
//! how long its claims last if it stops renewing them (it died). Claims are
//! timed by the database's clock; see `store::postgres`.

/// Default lease (`[database] lease`): a live replica renews its claims
/// every third of it, so it only bounds how long a dead replica's leads
/// wait before another takes them over.
pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Claimer {
    /// `host:pid:random`: unique per process, readable by ops.
    pub owner: String,
    pub lease_seconds: f64,
}

impl Claimer {
    pub fn new(lease: std::time::Duration) -> Claimer {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let mut random = [0u8; 4];
        let _ = getrandom::fill(&mut random);
        let random = crate::hex::encode(&random);
        let owner = format!("{}:{}:{random}", host.trim(), std::process::id());
        Claimer { owner, lease_seconds: lease.as_secs_f64().max(1.0) }
    }
}
