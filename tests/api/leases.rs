//! Named leases: one holder at a time, taken over only after expiry.

use chrono::Duration;
use relevo::db::leases;

use crate::helpers::{seed_moment, Backend};
use crate::spawn_or_skip;
use crate::{both_backends, through_pooler};

async fn a_lease_has_one_holder_until_it_expires_or_is_released(backend: Backend) {
    let app = spawn_or_skip!(backend);
    let mut conn = app.db();
    let now = seed_moment().naive_utc();
    let ttl = Duration::seconds(30);

    assert!(leases::try_acquire(&mut conn, "sync", "a", now, ttl).unwrap());
    assert!(
        !leases::try_acquire(&mut conn, "sync", "b", now, ttl).unwrap(),
        "held by a"
    );
    assert!(
        leases::try_acquire(&mut conn, "other", "b", now, ttl).unwrap(),
        "names are apart"
    );
    assert!(
        leases::try_acquire(&mut conn, "sync", "a", now + Duration::seconds(10), ttl).unwrap(),
        "a renews"
    );
    assert!(
        !leases::try_acquire(&mut conn, "sync", "b", now + Duration::seconds(35), ttl).unwrap(),
        "renewed until 40 s"
    );
    assert!(
        leases::try_acquire(&mut conn, "sync", "b", now + Duration::seconds(40), ttl).unwrap(),
        "expired: b takes over"
    );
    leases::release(&mut conn, "sync", "a").unwrap();
    assert!(
        !leases::try_acquire(&mut conn, "sync", "a", now + Duration::seconds(41), ttl).unwrap(),
        "a cannot release b's lease"
    );
    leases::release(&mut conn, "sync", "b").unwrap();
    assert!(leases::try_acquire(&mut conn, "sync", "a", now + Duration::seconds(41), ttl).unwrap());
}

both_backends!(a_lease_has_one_holder_until_it_expires_or_is_released);

through_pooler!(a_lease_has_one_holder_until_it_expires_or_is_released);
