//! fgchaos: proves that a Flux-Gate stack keeps its promises while things break.
//!
//! Jepsen's split, for a flash sale. One scenario goes from YAML to verdict through these
//! modules, in this order (`docs/architecture.md` walks it file by file):
//!
//! | module | what it is |
//! |---|---|
//! | [`scenario`] | the experiment as written: types, strict YAML reading with placed errors, validation, one variant per fault action |
//! | [`explore`] | the search for failures nobody wrote a scenario for: a space of fault schedules, seeded trials drawn from it |
//! | [`shrink`] | a failing run reduced to the smallest scenario that still fails the same way |
//! | [`run`] | one run as named steps: prepare → start/attach → drive → settle → finish; then judge and report |
//! | [`target`] | where the stack runs: the [`target::Target`] trait, [`target::local`] (processes on loopback) and [`target::docker`] (a Compose project) |
//! | [`toxiproxy`] | Toxiproxy's REST API: the embedded fault proxy server and the client that drives it and real Toxiproxy alike |
//! | [`load`] | the **generator**: order attempts at the entry, each recorded as an operation of the history |
//! | [`nemesis`] | the **nemesis**: a seeded plan of injections (one per scenario fault) and its execution, every apply and heal timed |
//! | [`guard`] | the guardian: a detached process that heals a run's stack if fgchaos dies without healing it |
//! | [`stop`] | the stop conditions' watch: a scenario's `abort_when:` read live, and `fgchaos halt` |
//! | [`observe`] | what the run watches besides the answers: stock sampled every 100 ms, the backlog once a second, the settle phase and the final state |
//! | [`model`] | what was observed, as plain data: final state, settle result, samples, backlog points, settle trace |
//! | [`journal`] | the run's journal: everything it did, in one JSON file |
//! | [`record`] | a stored run (journal, history, samples, log tails), read back from its directory |
//! | [`verdict`] | the **checkers**: one per promise, pure over the [`verdict::checkers::Evidence`], and the verdict |
//! | [`report`] | the markdown report, its charts and JUnit XML |
//! | [`target_kind`] | `local` or `docker`: the one name of a target kind, for the CLI, scenarios, runs and journals |
//! | [`cli`] | the command line's arguments (the `fgchaos` binary's `cmd/` runs them) |
//! | [`cancel`] | the Ctrl-C signal the generator and the nemesis stop on |
//! | [`jsonl`] | JSON-lines files (history, samples) |
//!
//! One word, one meaning: **load** is the traffic a scenario drives (its `load:` section, the
//! [`load`] generator, `fgchaos load`); files are **read**, never "loaded".

pub mod cancel;
pub mod cli;
pub mod explore;
pub mod guard;
pub mod journal;
pub mod jsonl;
pub mod load;
pub mod model;
pub mod nemesis;
pub mod observe;
pub mod record;
pub mod report;
pub mod run;
pub mod scenario;
pub mod shrink;
pub mod stop;
pub mod target;
pub mod target_kind;
pub mod toxiproxy;
pub mod verdict;
pub mod yaml;
