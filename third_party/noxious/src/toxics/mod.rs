mod bandwidth;
mod latency;
mod limit_data;
mod noop;
mod slicer;
mod slow_close;
#[cfg(test)]
mod test_utils;
mod timeout;

pub(crate) use bandwidth::*;
pub(crate) use latency::*;
pub(crate) use limit_data::*;
pub(crate) use noop::*;
pub(crate) use slicer::*;
pub(crate) use slow_close::*;
pub(crate) use timeout::*;

use crate::signal::Interrupt;
use tokio::time::{sleep, Duration};

/// Sleeps for `duration` unless the interrupt signal comes first; false if it did.
pub(crate) async fn sleep_unless_interrupted(
    duration: Duration,
    interrupt: &mut Interrupt,
) -> bool {
    tokio::select! {
        _ = sleep(duration) => true,
        _ = interrupt.recv() => false,
    }
}
