//! The generator side of a run: arrival schedules, the HTTP load itself and its history.

pub mod generator;
pub mod history;
pub mod recent;
pub mod schedule;

pub use generator::{drive, Live, LoadPlan, LoadSummary};
pub use history::{Op, Outcome};
