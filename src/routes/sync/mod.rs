//! The sync with Evolution (SPEC §7): run it by hand, and the log of runs.

pub mod list_runs;
pub mod run;
