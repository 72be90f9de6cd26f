#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable
    )
)]

#[cfg(test)]
mod architecture;
pub mod audit;
pub mod auth;
pub mod browser_pages;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod db;
pub mod domain;
pub mod edge;
pub mod error;
pub mod error_key;
pub mod events;
pub mod evolution;
pub mod i18n;
pub mod input;
pub mod lifecycle;
pub mod messaging;
pub mod metrics;
pub mod openapi;
pub mod registry;
pub mod request_id;
pub mod routes;
pub mod secrets;
pub mod sender;
pub mod startup;
pub mod state;
pub mod targets;
pub mod telemetry;
