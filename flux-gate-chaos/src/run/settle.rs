//! Step 4 of a run: after a drive that completed, wait until the system converges (or the
//! settle timeout) and read its final state.

use super::drive::Driven;
use super::Run;
use crate::model::Settled;
use crate::observe::settle::{self, Reader};

/// What step 4 returned.
#[derive(Debug)]
pub enum Settling {
    /// Nothing to settle: the drive failed (a harness error) or was interrupted.
    Skipped,
    Settled(Settled),
    /// The final state could not be read at all: a harness error.
    Failed(String),
}

impl Settling {
    pub fn error(&self) -> Option<String> {
        match self {
            Settling::Failed(e) => Some(format!("reading the final state: {e}")),
            Settling::Skipped | Settling::Settled(_) => None,
        }
    }

    pub fn into_settled(self) -> Option<Settled> {
        match self {
            Settling::Settled(s) => Some(s),
            Settling::Skipped | Settling::Failed(_) => None,
        }
    }
}

impl Run {
    pub async fn settle(&self, driven: &Driven) -> Settling {
        let Some(times) = driven.completed() else {
            return Settling::Skipped;
        };
        let ep = self.target.endpoints();
        let stock = i64::from(self.opened.scenario.sale.stock);
        match Reader::new(ep, &self.opened.product, stock) {
            Ok(reader) => {
                let rules = &self.opened.scenario.settle;
                Settling::Settled(
                    settle::settle(
                        &reader,
                        times.zero,
                        times.last_change,
                        rules.timeout.get(),
                        rules.quiet.get(),
                    )
                    .await,
                )
            }
            Err(e) => Settling::Failed(e.to_string()),
        }
    }
}
