//! Free loopback ports.

use std::net::{Ipv4Addr, TcpListener};

/// A port that was free a moment ago. The OS hands out ephemeral ports round-robin, so the
/// window in which another process could take it is small; servers that lose the race fail to
/// bind and say so in their log.
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}
