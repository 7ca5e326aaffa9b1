//! A fault to inject, for the mailbox test alone: with
//! `NURTURE_FAULT_INBOUND_PANIC=MARKER` in the environment, handling a
//! message whose bytes contain MARKER panics, as a bug in the classifier
//! would. It proves end to end that such a message is counted, set aside
//! after three tries and never read forever. Unset (always, in
//! production), it does nothing.

use std::sync::OnceLock;

pub fn inject(raw: &[u8]) {
    static MARKER: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    let marker = MARKER.get_or_init(|| {
        std::env::var_os("NURTURE_FAULT_INBOUND_PANIC").filter(|m| !m.is_empty()).map(|m| m.into_encoded_bytes())
    });
    if let Some(m) = marker
        && raw.windows(m.len()).any(|w| w == m.as_slice())
    {
        panic!("fault injected: the message holds NURTURE_FAULT_INBOUND_PANIC's marker");
    }
}
