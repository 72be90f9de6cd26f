//! Who may try a password now. Failures are counted per client address, per account,
//! and per account from one address, each in a 15-minute window:
//! - an address with 20 failures waits (password spraying across accounts is slow);
//! - an account with 5 failures from one address waits at that address;
//! - an account with 10 failures in all is closed to every address that has failed
//!   anything lately, but an address with a clean record may still try, so a stranger
//!   cannot lock the owner out, while guessing from many addresses stays slow (each
//!   new address earns at most one guess per window).
//!
//! Unknown emails get no account rows, and expired rows are deleted as failures come
//! in, so nothing piles up.

use std::net::IpAddr;

use chrono::{Duration, NaiveDateTime};

use crate::db::login_failures::{self, Failures};
use crate::db::DbConnection;

pub const WINDOW: Duration = Duration::minutes(15);
pub const ADDRESS_LIMIT: i32 = 20;
pub const ACCOUNT_FROM_ADDRESS_LIMIT: i32 = 5;
pub const ACCOUNT_LIMIT: i32 = 10;

/// One login attempt: the email as typed (lowercased) and the client's address.
pub struct LoginAttempt {
    address: String,
    account: String,
    account_from_address: String,
}

impl LoginAttempt {
    pub fn new(email: &str, address: IpAddr) -> Self {
        Self {
            address: format!("address:{address}"),
            account: format!("account:{email}"),
            account_from_address: format!("account:{email}:from:{address}"),
        }
    }

    /// When this attempt must wait, the seconds until it may try again.
    pub fn wait(
        &self,
        conn: &mut DbConnection,
        now: NaiveDateTime,
    ) -> diesel::QueryResult<Option<u64>> {
        let buckets = [
            self.address.clone(),
            self.account.clone(),
            self.account_from_address.clone(),
        ];
        let current = login_failures::current(conn, &buckets, now, WINDOW)?;
        Ok(self.wait_given(&current, now))
    }

    fn wait_given(&self, current: &[Failures], now: NaiveDateTime) -> Option<u64> {
        let find = |bucket: &str| current.iter().find(|failures| failures.bucket == bucket);
        let over = |bucket: &str, limit: i32| find(bucket).filter(|f| f.failures >= limit);
        let address_has_failed = find(&self.address).is_some();
        let blocking = over(&self.address, ADDRESS_LIMIT)
            .or_else(|| over(&self.account_from_address, ACCOUNT_FROM_ADDRESS_LIMIT))
            .or_else(|| over(&self.account, ACCOUNT_LIMIT).filter(|_| address_has_failed));
        blocking.map(|failures| {
            let ends = failures.window_started_at + WINDOW;
            (ends - now).num_seconds().max(1) as u64
        })
    }

    /// Counts a failed attempt. `account_exists` keeps unknown emails out of the table
    /// but for their address.
    pub fn record_failure(
        &self,
        conn: &mut DbConnection,
        account_exists: bool,
        now: NaiveDateTime,
    ) -> diesel::QueryResult<()> {
        let mut buckets = vec![self.address.clone()];
        if account_exists {
            buckets.push(self.account.clone());
            buckets.push(self.account_from_address.clone());
        }
        login_failures::record(conn, &buckets, now, WINDOW)?;
        login_failures::forget_expired(conn, now, WINDOW)?;
        Ok(())
    }

    /// A correct password from this address clears its record against this account;
    /// the address's own count and the account's stay, so a valid login between
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

    #[test]
    fn limits_by_address_by_account_and_by_both() {
        let attacker: IpAddr = "203.0.113.9".parse().unwrap();
        let owner: IpAddr = "198.51.100.1".parse().unwrap();
        let from_attacker = LoginAttempt::new("ana@relevo.test", attacker);
        let from_owner = LoginAttempt::new("ana@relevo.test", owner);
        let account = "account:ana@relevo.test";
        let pair = "account:ana@relevo.test:from:203.0.113.9";
        let address = "address:203.0.113.9";

        assert_eq!(from_attacker.wait_given(&[], at(0)), None);
        let pair_full = [failures(address, 5, 0), failures(pair, 5, 0)];
        assert_eq!(from_attacker.wait_given(&pair_full, at(5)), Some(600));
        let spraying = [failures(address, 20, 0)];
        assert_eq!(from_attacker.wait_given(&spraying, at(1)), Some(840));
        // The account is over its own limit: failing addresses wait, a clean one may try.
        let account_full = [failures(account, 10, 0), failures(address, 1, 2)];
        assert_eq!(from_attacker.wait_given(&account_full, at(3)), Some(720));
        assert_eq!(from_owner.wait_given(&account_full, at(3)), None);
        assert_eq!(
            from_attacker.wait_given(&[failures(account, 9, 0), failures(address, 4, 0)], at(3)),
            None
        );
    }
}
