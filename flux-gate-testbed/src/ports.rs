//! Free loopback ports for servers — chosen outside the kernel's ephemeral range.
//!
//! A stack picks all its ports first and starts its servers one after another over seconds.
//! Ports from the ephemeral range (what `bind(0)` hands out) can meanwhile be taken as the
//! *local* port of an outgoing connection — and a stack under load makes thousands — so the
//! last server to start (nginx, say) found its port in use. Ports below the range are never
//! given to outgoing connections; each process walks them from its own random offset, so
//! concurrent test processes rarely try the same one, and a port is only returned after a
//! successful bind.

use std::net::{Ipv4Addr, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

/// Lowest port handed out: above the well-known and the commonly configured ones.
const FLOOR: u32 = 10_000;

/// A port that was free a moment ago and that no outgoing connection will take.
pub fn free_port() -> std::io::Result<u16> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    static START: OnceLock<u32> = OnceLock::new();
    let (low, _) = ephemeral_range();
    let span = low.saturating_sub(FLOOR);
    if span < 100 {
        // No room below the ephemeral range on this machine: let the kernel choose.
        return bind_any();
    }
    let start = *START.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        std::process::id().wrapping_mul(2_654_435_761) ^ nanos
    });
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FLOOR + start.wrapping_add(n) % span;
        let Ok(port) = u16::try_from(port) else {
            continue;
        };
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    bind_any()
}

fn bind_any() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// The kernel's ephemeral port range (Linux's default when it cannot be read).
fn ephemeral_range() -> (u32, u32) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(str::parse::<u32>);
            Some((it.next()?.ok()?, it.next()?.ok()?))
        })
        .unwrap_or((32_768, 60_999))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_below_the_ephemeral_range_distinct_and_bindable() {
        let (low, _) = ephemeral_range();
        let ports: Vec<u16> = (0..50).map(|_| free_port().unwrap()).collect();
        let distinct: std::collections::BTreeSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), 50, "{ports:?}");
        for p in ports {
            assert!(u32::from(p) >= FLOOR && u32::from(p) < low, "{p}");
            TcpListener::bind((Ipv4Addr::LOCALHOST, p)).unwrap();
        }
    }
}
