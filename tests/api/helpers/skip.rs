//! A leg whose prerequisite is missing (PostgreSQL, the pooler, the real Evolution API,
//! Chromium) returns without running, and libtest reports it `ok`: it has no "skipped" of
//! its own at run time. So every skipped leg says so itself, on a line of its own, in every
//! run: libtest captures what `print!`/`eprint!` write, not what is written to a
//! `std::io::stderr()` handle. Each prerequisite has a `RELEVO_REQUIRE_*` variable (CI sets
//! them all) that turns its skip into a failure.

use std::io::Write;

/// Whether `variable` is set to `1`: the prerequisite it names must be there.
fn required(variable: &str) -> bool {
    std::env::var(variable).is_ok_and(|value| value == "1")
}

/// This leg does not run because `reason`: fails when `require_variable` is set to `1`, and
/// otherwise writes `test <name> ... SKIPPED (<reason>)` past libtest's capture.
#[track_caller]
pub fn skip(require_variable: &str, reason: &str) {
    if required(require_variable) {
        panic!("{require_variable}=1 but {reason}");
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("<a test>");
    let _ = writeln!(
        std::io::stderr(),
        "test {test} ... SKIPPED ({reason}; {require_variable}=1 makes this a failure)"
    );
}
