//! Who may try a password now. Failures are counted per client network (an IPv4
//! address, an IPv6 /64), per account (the email as typed, known or not), and per
//! account from one network, each in a 15-minute window:
//! - a network with 20 failures waits (password spraying across accounts is slow);
//! - an account with 5 failures from one network waits at that network;
//! - an account with 10 failures in all waits at every network that has itself failed
//!   it at least twice since its last success there. A network whose only failure is a
//!   typo, or whose failures are older than its last success, or that failed other
//!   accounts only, may still try: a stranger cannot lock the owner out, while guessing
//!   from many networks stays slow (each network earns two guesses per window).
//!
//! Unknown emails are counted exactly like real accounts, so a 429 never tells that an
//! account exists; expired rows are deleted as failures come in, so nothing piles up.

use chrono::{Duration, NaiveDateTime};

use crate::auth::client_address::ClientAddress;
use crate::db::login_failures::{self, Failures};
use crate::db::DbConnection;

pub const WINDOW: Duration = Duration::minutes(15);
pub const ADDRESS_LIMIT: i32 = 20;
pub const ACCOUNT_FROM_ADDRESS_LIMIT: i32 = 5;
pub const ACCOUNT_LIMIT: i32 = 10;
/// Failures against an account from one network, since its last success there, that
/// put the network under the account's own limit. One failure is a typo.
pub const REPEATED_FAILURES: i32 = 2;

/// One login attempt: the email as typed (lowercased) and the client's network.
pub struct LoginAttempt {
    address: String,
    account: String,
    account_from_address: String,
    /// Attempts refused for this account from this network (counted for super admins
    /// only, so that their audit trail gets one row per network and window).
    refused: String,
}

/// What the throttle says about an attempt before its password is checked.
#[derive(Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The seconds to wait, when the attempt must not be checked now.
    pub wait: Option<u64>,
    /// An attempt from this network for this account was refused already in this window.
    pub refused_before: bool,
}

impl LoginAttempt {
    pub fn new(email: &str, client: ClientAddress) -> Self {
        let network = client.network();
        Self {
            address: format!("address:{network}"),
            account: format!("account:{email}"),
            account_from_address: format!("account:{email}:from:{network}"),
            refused: format!("refused:{email}:from:{network}"),
        }
    }

    /// Whether this attempt must wait, read in one query.
    pub fn check(
        &self,
        conn: &mut DbConnection,
        now: NaiveDateTime,
    ) -> diesel::QueryResult<Verdict> {
        let buckets = [
            self.address.clone(),
            self.account.clone(),
            self.account_from_address.clone(),
            self.refused.clone(),
        ];
        let current = login_failures::current(conn, &buckets, now, WINDOW)?;
        Ok(self.verdict_given(&current, now))
    }

    fn verdict_given(&self, current: &[Failures], now: NaiveDateTime) -> Verdict {
        let find = |bucket: &str| current.iter().find(|failures| failures.bucket == bucket);
        let over = |bucket: &str, limit: i32| find(bucket).filter(|f| f.failures >= limit);
        let keeps_failing_here = find(&self.account_from_address)
            .is_some_and(|failures| failures.failures >= REPEATED_FAILURES);
        let blocking = over(&self.address, ADDRESS_LIMIT)
            .or_else(|| over(&self.account_from_address, ACCOUNT_FROM_ADDRESS_LIMIT))
            .or_else(|| over(&self.account, ACCOUNT_LIMIT).filter(|_| keeps_failing_here));
        Verdict {
            wait: blocking.map(|failures| {
                let ends = failures.window_started_at + WINDOW;
                (ends - now).num_seconds().max(1) as u64
            }),
            refused_before: find(&self.refused).is_some(),
        }
    }

    /// Counts a failed attempt, whether or not the account exists.
    pub fn record_failure(
        &self,
        conn: &mut DbConnection,
        now: NaiveDateTime,
    ) -> diesel::QueryResult<()> {
        let buckets = [
            self.address.clone(),
            self.account.clone(),
            self.account_from_address.clone(),
        ];
        login_failures::record(conn, &buckets, now, WINDOW)?;
        login_failures::forget_expired(conn, now, WINDOW)?;
        Ok(())
    }

    /// Counts a refused attempt; true for the first one from this network for this
    /// account in the window (also when concurrent refusals race).
    pub fn record_refusal(
        &self,
        conn: &mut DbConnection,
        now: NaiveDateTime,
    ) -> diesel::QueryResult<bool> {
        Ok(login_failures::count(conn, &self.refused, now, WINDOW)? == 1)
    }

    /// A correct password from this network clears its record against this account;
    /// the network's own count and the account's stay, so a valid login between
    /// guesses does not reset the limits.
    pub fn record_success(&self, conn: &mut DbConnection) -> diesel::QueryResult<()> {
        login_failures::clear(conn, &self.account_from_address)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_700_000_000, 0)
            .unwrap()
            .naive_utc()
            + Duration::minutes(minute)
    }

    fn failures(bucket: &str, count: i32, started: i64) -> Failures {
        Failures {
            bucket: bucket.to_string(),
            failures: count,
            window_started_at: at(started),
        }
    }

    fn attempt(email: &str, address: &str) -> LoginAttempt {
        LoginAttempt::new(email, ClientAddress(address.parse().unwrap()))
    }

    fn wait(attempt: &LoginAttempt, current: &[Failures], minute: i64) -> Option<u64> {
        attempt.verdict_given(current, at(minute)).wait
    }

    #[test]
    fn limits_by_address_by_account_and_by_both() {
        let from_attacker = attempt("ana@relevo.test", "203.0.113.9");
        let from_owner = attempt("ana@relevo.test", "198.51.100.1");
        let account = "account:ana@relevo.test";
        let pair = "account:ana@relevo.test:from:203.0.113.9/32";
        let address = "address:203.0.113.9/32";

        assert_eq!(wait(&from_attacker, &[], 0), None);
        let pair_full = [failures(address, 5, 0), failures(pair, 5, 0)];
        assert_eq!(wait(&from_attacker, &pair_full, 5), Some(600));
        let spraying = [failures(address, 20, 0)];
        assert_eq!(wait(&from_attacker, &spraying, 1), Some(840));
        // The account is over its own limit: a network that keeps failing it waits,
        // the others may try.
        let account_full = [
            failures(account, 10, 0),
            failures(address, 2, 2),
            failures(pair, 2, 2),
        ];
        assert_eq!(wait(&from_attacker, &account_full, 3), Some(720));
        assert_eq!(wait(&from_owner, &account_full, 3), None);
        assert_eq!(
            wait(
                &from_attacker,
                &[failures(account, 9, 0), failures(pair, 4, 0)],
                3
            ),
            None
        );
    }

    #[test]
    fn the_account_limit_never_holds_a_typo_or_failures_elsewhere() {
        let owner = attempt("ana@relevo.test", "198.51.100.1");
        let account = failures("account:ana@relevo.test", 40, 0);
        let owner_address = "address:198.51.100.1/32";
        let owner_pair = "account:ana@relevo.test:from:198.51.100.1/32";

        let one_typo = [
            account.clone(),
            failures(owner_address, 1, 1),
            failures(owner_pair, 1, 1),
        ];
        assert_eq!(wait(&owner, &one_typo, 2), None, "a single typo");
        let failed_other_accounts = [account.clone(), failures(owner_address, 7, 1)];
        assert_eq!(
            wait(&owner, &failed_other_accounts, 2),
            None,
            "other emails"
        );
        let two_failures = [
            account,
            failures(owner_address, 2, 1),
            failures(owner_pair, 2, 1),
        ];
        assert_eq!(wait(&owner, &two_failures, 2), Some(780), "failing again");
    }

    #[test]
    fn an_ipv6_64_is_one_client_for_every_limit() {
        let one = attempt("ana@relevo.test", "2001:db8:1:2::1");
        let other_in_the_same_64 = attempt("ana@relevo.test", "2001:db8:1:2:ffff::9");
        let next_64 = attempt("ana@relevo.test", "2001:db8:1:3::1");
        assert_eq!(one.address, other_in_the_same_64.address);
        assert_eq!(
            one.account_from_address,
            other_in_the_same_64.account_from_address
        );
        assert_ne!(one.address, next_64.address);
        let full = [
            failures("address:2001:db8:1:2::/64", 5, 0),
            failures("account:ana@relevo.test:from:2001:db8:1:2::/64", 5, 0),
        ];
        assert_eq!(wait(&other_in_the_same_64, &full, 1), Some(840));
        assert_eq!(wait(&next_64, &full, 1), None);
    }

    #[test]
    fn a_refusal_is_remembered_for_the_window() {
        let from_attacker = attempt("ana@relevo.test", "203.0.113.9");
        let refused = failures("refused:ana@relevo.test:from:203.0.113.9/32", 1, 0);
        assert!(!from_attacker.verdict_given(&[], at(1)).refused_before);
        assert!(
            from_attacker
                .verdict_given(&[refused], at(1))
                .refused_before
        );
    }
}
