//! Who is asking: the client's address (the peer's, or the one a
//! configured proxy names in `X-Forwarded-For`; anyone else's header is
//! ignored, it would let a stranger pick any address), and a token bucket
//! per client, so one client's flood is refused while everyone else is
//! served.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::http::HeaderMap;

use super::limit::Bucket;

/// How many clients' buckets are kept at most; past it, the full ones
/// (clients quiet long enough to have their whole burst back) are dropped,
/// then all.
const MAX_CLIENTS: usize = 50_000;

#[derive(Clone)]
pub struct Clients {
    trusted: Arc<Vec<IpAddr>>,
}

impl Clients {
    pub fn new(trusted: Vec<IpAddr>) -> Clients {
        Clients { trusted: Arc::new(trusted) }
    }

    /// The client's address: the peer's, unless the peer is a trusted
    /// proxy; then the last address in `X-Forwarded-For` that is not one
    /// of the trusted proxies (each proxy appends the address it saw).
    pub fn address(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.ip().to_canonical();
        if !self.trusted.contains(&client) {
            return client;
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|a| a.trim().parse::<IpAddr>().map(|a| a.to_canonical()))
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        for a in forwarded.into_iter().rev() {
            client = a;
            if !self.trusted.contains(&a) {
                break;
            }
        }
        client
    }
}

/// A token bucket per client address.
pub struct PerClient {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl PerClient {
    pub fn new(rate: f64, burst: f64) -> PerClient {
        PerClient { rate, burst, buckets: Mutex::default() }
    }

    /// Take one token from `client`'s bucket at `now`, if it has one.
    pub fn take(&self, client: IpAddr, now: Instant) -> bool {
        let Ok(mut buckets) = self.buckets.lock() else { return true };
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(&client) {
            buckets.retain(|_, b| !b.full(now));
            if buckets.len() >= MAX_CLIENTS {
                buckets.clear();
            }
        }
        buckets.entry(client).or_insert_with(|| Bucket::new(self.rate, self.burst, now)).take(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", xff.parse().unwrap());
        h
    }

    #[test]
    fn a_forwarded_address_counts_only_from_a_trusted_proxy() {
        let clients = Clients::new(vec!["127.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()]);
        let proxy: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let stranger: SocketAddr = "203.0.113.9:5000".parse().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(clients.address(proxy, &headers("198.51.100.7")), ip("198.51.100.7"));
        assert_eq!(clients.address(stranger, &headers("198.51.100.7")), ip("203.0.113.9"), "a stranger's header");
        assert_eq!(
            clients.address(proxy, &headers("1.2.3.4, 198.51.100.7, 10.0.0.2")),
            ip("198.51.100.7"),
            "the client's own header entries (1.2.3.4) are not believed; proxies are skipped"
        );
        assert_eq!(clients.address(proxy, &HeaderMap::new()), ip("127.0.0.1"), "no header: the proxy itself");
        assert_eq!(clients.address(proxy, &headers("garbage")), ip("127.0.0.1"), "a header that does not parse");
    }

    #[test]
    fn one_clients_flood_leaves_the_others_their_tokens() {
        let limits = PerClient::new(1.0, 3.0);
        let now = Instant::now();
        let (a, b) = ("198.51.100.7".parse().unwrap(), "198.51.100.8".parse().unwrap());
        assert_eq!((0..100).filter(|_| limits.take(a, now)).count(), 3);
        assert!(limits.take(b, now), "another client is served");
    }
}
