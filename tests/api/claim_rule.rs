//! The rule of who may send (`relevo::db::claims::eligibility`) read two ways: rendered
//! into SQL, as every claim runs it, and read from a loaded instance, as the views,
//! statistics and capacity do. Over a grid of instance states, seen on three days, both
//! readings must agree for every instance: each requirement, the whole rule, the day's
//! count and what a claim would grant.

use chrono::{Days, NaiveDate};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Integer};
use relevo::clock::Clock;
use relevo::db::claims::eligibility::{self, Requirement, BOUND};
use relevo::db::instances::{self, Instance, NewInstance};
use relevo::db::reused::{Reused, Value};
use relevo::db::schema::whatsapp_instances;
use relevo::db::DbConnection;
use relevo::domain::ConnectionStatus;

use crate::both_backends;
use crate::helpers::{spawn_app, Backend};

both_backends!(the_rule_reads_the_same_in_sql_and_in_rust);

/// A row of the grid: `(sent, limit, days after the seed day its count belongs to)`.
const COUNTS: [(i32, i32, i64); 6] = [
    (0, 10, -1),
    (9, 10, 0),
    (10, 10, 0),
    (10, 10, -1),
    (10, 10, 1),
    (12, 10, 0),
];

fn day(seed: NaiveDate, offset: i64) -> NaiveDate {
    match offset {
        0 => seed,
        n if n > 0 => seed + Days::new(n as u64),
        n => seed - Days::new(n.unsigned_abs()),
    }
}

/// Every combination of active, status, pairing and count, as rows of `tenant`.
fn arrange_grid(conn: &mut DbConnection, tenant: i64, seed: NaiveDate, now: chrono::NaiveDateTime) {
    let mut n = 0;
    for is_active in [true, false] {
        for status in ConnectionStatus::ALL {
            for (provisioned, paired) in [(false, false), (true, false), (true, true)] {
                for (sent, limit, offset) in COUNTS {
                    n += 1;
                    let row = instances::insert(
                        conn,
                        &NewInstance {
                            tenant_id: tenant,
                            phone_number: format!("+5730077{n:05}"),
                            instance_name: format!("grid-{n}"),
                            evolution_api_key_encrypted: "sealed".into(),
                            evolution_api_url: None,
                            daily_message_limit: limit,
                            messages_sent_today: sent,
                            last_reset_date: day(seed, offset),
                            is_active,
                            notes: None,
                            priority: 0,
                            created_at: now,
                            updated_at: now,
                            evolution_server_id: None,
                            provisioned,
                            connection_status: status,
                        },
                    )
                    .expect("a grid row");
                    if paired {
                        diesel::update(whatsapp_instances::table.find(row.id))
                            .set(whatsapp_instances::connected_at.eq(Some(now)))
                            .execute(conn)
                            .expect("paired");
                    }
                }
            }
        }
    }
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Integer)]
    sent_before: i32,
    #[diesel(sql_type = Date)]
    usage_date: NaiveDate,
    #[diesel(sql_type = Integer)]
    granted: i32,
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The ids of the tenant's instances that `condition` (SQL over `w`) holds for.
fn ids_where(conn: &mut DbConnection, tenant: i64, today: NaiveDate, condition: &str) -> Vec<i64> {
    let query = Reused::new(
        format!("SELECT w.id FROM whatsapp_instances w WHERE {condition} ORDER BY w.id"),
        vec![Value::BigInt(tenant), Value::Date(today)],
    );
    let rows: Vec<Id> = relevo::on_backend!(conn, |c| query.load(c)).expect("ids");
    rows.into_iter().map(|row| row.id).collect()
}

/// What a claim of `count` would count on each eligible instance, in SQL.
fn counted(conn: &mut DbConnection, tenant: i64, today: NaiveDate, count: i32) -> Vec<Counted> {
    let query = Reused::new(
        format!(
            "SELECT w.id, {} FROM whatsapp_instances w WHERE {} ORDER BY w.id",
            eligibility::count_columns_sql(BOUND, "$3"),
            eligibility::eligible_sql(BOUND)
        ),
        vec![
            Value::BigInt(tenant),
            Value::Date(today),
            Value::Integer(count),
        ],
    );
    relevo::on_backend!(conn, |c| query.load(c)).expect("counts")
}

async fn the_rule_reads_the_same_in_sql_and_in_rust(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let tenant = app.seed_tenant().await;
    let now = app.clock.now().naive_utc();
    let seed = now.date();
    let mut conn = app.db();
    arrange_grid(&mut conn, tenant, seed, now);
    let rows: Vec<Instance> = instances::list_for_tenant(&mut conn, tenant).expect("rows");
    assert_eq!(rows.len(), 2 * 5 * 3 * COUNTS.len());

    for today in [day(seed, -1), seed, day(seed, 1)] {
        let in_rust = |met: &dyn Fn(&Instance) -> bool| -> Vec<i64> {
            rows.iter()
                .filter(|row| met(row))
                .map(|row| row.id)
                .collect()
        };
        for requirement in Requirement::ALL {
            let in_sql = ids_where(
                &mut conn,
                tenant,
                today,
                &eligibility::meets_sql(&[requirement], BOUND),
            );
            let expected = in_rust(&|row| requirement.is_met(row, today));
            assert_eq!(in_sql, expected, "{requirement:?} on {today}");
            assert!(
                !expected.is_empty() && expected.len() < rows.len(),
                "{requirement:?} splits the grid"
            );
        }
        let eligible = in_rust(&|row| eligibility::is_eligible(row, today));
        assert_eq!(
            ids_where(&mut conn, tenant, today, &eligibility::eligible_sql(BOUND)),
            eligible,
            "on {today}"
        );
        assert!(!eligible.is_empty(), "some of the grid may send on {today}");

        for count in [1, 5, 50] {
            let expected: Vec<Counted> = rows
                .iter()
                .filter(|row| eligibility::is_eligible(row, today))
                .map(|row| {
                    let usage = row.usage_on(today);
                    Counted {
                        id: row.id,
                        sent_before: usage.sent,
                        usage_date: usage.date,
                        granted: usage.grant(count),
                    }
                })
                .collect();
            assert_eq!(
                counted(&mut conn, tenant, today, count),
                expected,
                "count {count} on {today}"
            );
        }
    }
}
