//! A generator's clock, held against the coordinator's.
//!
//! Several generators make one history only if their operations land on one timeline. Each
//! starts at the same instant of the coordinator's clock and reads its offset to that clock
//! when it starts and when it ends (Cristian's algorithm: the best of a few exchanges, the
//! coordinator's time taken as the middle of the round trip, half the round trip the
//! uncertainty). What the two readings cannot vouch for — their uncertainty, and how far the
//! offset drifted between them — is the generator's *skew*: merging refuses a history whose
//! skew exceeds a bound rather than judge operations whose order it does not know (§61).
//!
//! A generator on the coordinator's machine reads the same clock: offset 0, nothing uncertain.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// How many exchanges one reading takes the best of.
const EXCHANGES: usize = 5;
/// How long one exchange may take.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(2);

/// The coordinator's clock minus this generator's, at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    pub offset_us: i64,
    /// How far the true offset may be from `offset_us`.
    pub uncertainty_us: u64,
}

/// Whose clock a generator holds itself against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clock {
    /// This machine's: the generator runs beside the coordinator.
    Local,
    /// A coordinator's clock served over HTTP ([`serve`]).
    Remote(SocketAddr),
}

#[derive(Debug, thiserror::Error)]
pub enum ClockError {
    #[error("the coordinator's clock at {addr} did not answer: {why}")]
    Unanswered { addr: SocketAddr, why: String },
}

/// Microseconds since the Unix epoch on this machine's clock.
pub fn now_unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl Clock {
    /// Where the clock is, for the manifest.
    pub fn describe(&self) -> String {
        match self {
            Clock::Local => "local".to_owned(),
            Clock::Remote(addr) => format!("http://{addr}/clock"),
        }
    }

    /// This generator's offset to the coordinator's clock now.
    pub async fn read(&self) -> Result<Reading, ClockError> {
        let addr = match self {
            Clock::Local => return Ok(Reading::default()),
            Clock::Remote(addr) => *addr,
        };
        let unanswered = |why: String| ClockError::Unanswered { addr, why };
        let client = reqwest::Client::builder()
            .timeout(EXCHANGE_TIMEOUT)
            .no_proxy()
            .build()
            .map_err(|e| unanswered(e.to_string()))?;
        let url = format!("http://{addr}/clock");
        let mut best: Option<Reading> = None;
        for _ in 0..EXCHANGES {
            // The round trip on the monotonic clock: a wall clock stepped during the exchange
            // must not pass for a round trip of 0 and win as the surest reading.
            let sent = now_unix_us();
            let began = std::time::Instant::now();
            let theirs: u64 = client
                .get(&url)
                .send()
                .await
                .map_err(|e| unanswered(e.to_string()))?
                .text()
                .await
                .map_err(|e| unanswered(e.to_string()))?
                .trim()
                .parse()
                .map_err(|e| unanswered(format!("not a time in microseconds: {e}")))?;
            let rtt = began.elapsed().as_micros() as u64;
            let reading = cristian(sent, theirs, rtt);
            if best.is_none_or(|b| reading.uncertainty_us < b.uncertainty_us) {
                best = Some(reading);
            }
        }
        best.ok_or_else(|| unanswered("no exchange".to_owned()))
    }
}

/// The offset one exchange shows: the coordinator read its clock (`theirs`) somewhere within
/// the round trip `rtt` that began at `sent` on ours — take the middle, and half the round trip
/// as the doubt. (A nonsensical time from the other side saturates: the offset is then huge
/// and no merge accepts it.)
fn cristian(sent: u64, theirs: u64, rtt: u64) -> Reading {
    let middle = i128::from(sent) + i128::from(rtt / 2);
    let offset = i128::from(theirs) - middle;
    Reading {
        offset_us: offset.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
        uncertainty_us: rtt.div_ceil(2),
    }
}

/// How far a generator's place on the coordinator's timeline may be wrong, from its readings
/// at start and end: the larger doubt, plus how far the offset moved between them.
pub fn skew_us(start: Reading, end: Reading) -> u64 {
    start
        .uncertainty_us
        .max(end.uncertainty_us)
        .saturating_add(start.offset_us.abs_diff(end.offset_us))
}

/// The coordinator's clock: `GET /clock` answers this machine's time in microseconds since the
/// Unix epoch. Serves until `listener` fails or the future is dropped.
pub async fn serve(listener: tokio::net::TcpListener) -> std::io::Result<()> {
    axum::serve(listener, routes()).await
}

/// `GET /clock`, for any server that also serves it (a run's coordinator of its generators).
pub fn routes<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::new().route(
        "/clock",
        axum::routing::get(|| async { now_unix_us().to_string() }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_exchange_takes_the_middle_of_the_round_trip() {
        // Ours 1000 → 1010, theirs 5005: the coordinator is 4000 ahead, give or take 5.
        assert_eq!(
            cristian(1000, 5005, 10),
            Reading {
                offset_us: 4000,
                uncertainty_us: 5
            }
        );
        assert_eq!(cristian(1000, 900, 1).uncertainty_us, 1);
        assert_eq!(cristian(1000, 900, 0).offset_us, -100);
        // An answer out of any range saturates instead of overflowing.
        assert_eq!(cristian(0, u64::MAX, 0).offset_us, i64::MAX);
    }

    #[test]
    fn skew_is_the_doubt_plus_the_drift() {
        let r = |offset_us, uncertainty_us| Reading {
            offset_us,
            uncertainty_us,
        };
        assert_eq!(skew_us(r(4000, 5), r(4000, 7)), 7);
        assert_eq!(skew_us(r(4000, 5), r(3000, 2)), 1005);
        assert_eq!(skew_us(Reading::default(), Reading::default()), 0);
        assert_eq!(skew_us(r(i64::MIN, u64::MAX), r(i64::MAX, 0)), u64::MAX);
    }

    #[tokio::test]
    async fn a_served_clock_reads_as_this_machines() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(listener));
        let r = Clock::Remote(addr).read().await.unwrap();
        // Same machine, same clock: the offset is within the exchange's own doubt.
        assert!(r.offset_us.unsigned_abs() <= r.uncertainty_us + 1, "{r:?}");
        server.abort();
        let _ = server.await;
        let gone = Clock::Remote(addr).read().await.unwrap_err().to_string();
        assert!(
            gone.starts_with(&format!("the coordinator's clock at {addr} did not answer")),
            "{gone}"
        );
        assert_eq!(Clock::Local.read().await.unwrap(), Reading::default());
    }
}
