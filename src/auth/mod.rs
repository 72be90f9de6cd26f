pub mod client_address;
pub mod extractors;
pub mod jwt;
pub mod login;
pub mod login_guard;
pub mod password;
pub mod sender;

pub use client_address::ClientAddress;
pub use extractors::{AuthUser, MetricsScraper, SenderCaller, SuperAdmin, UserToken};
