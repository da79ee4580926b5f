//! The generator side of a run: arrival schedules, the HTTP load itself and its history; and
//! a load made by several generators — each one's segment, its clock against the
//! coordinator's, and the merge of their histories into one.

pub mod clock;
pub mod coordinator;
pub mod generator;
pub mod generators;
pub mod history;
pub mod manifest;
pub mod meeting;
pub mod merge;
pub mod out;
pub mod recent;
pub mod remote;
pub mod schedule;
pub mod segment;

pub use generator::{drive, Live, LoadPlan, LoadSummary};
pub use generators::drive_all;
pub use history::{Op, Outcome};
pub use segment::Segment;
