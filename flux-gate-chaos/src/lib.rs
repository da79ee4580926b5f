//! fgchaos: proves that a Flux-Gate stack keeps its promises while things break.
//!
//! Jepsen's split, for a flash sale: a **generator** ([`load`]) drives order attempts and
//! records each as an operation of a history; a **nemesis** ([`fault`]) applies the scenario's
//! faults to a [`target`] (processes on loopback, or containers) and to its links through
//! Toxiproxy's API ([`toxiproxy`]); the run ([`run`]) writes a journal that checkers read.

pub mod cli;
pub mod docker;
pub mod fault;
pub mod journal;
pub mod jsonl;
pub mod load;
pub mod record;
pub mod report;
pub mod run;
pub mod scenario;
pub mod stack;
pub mod target;
pub mod toxiproxy;
pub mod verdict;
