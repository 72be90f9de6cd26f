pub mod client_address;
pub mod extractors;
pub mod identity;
pub mod jwt;
pub mod login;
pub mod login_guard;
pub mod password;
pub mod sender;

pub use client_address::ClientAddress;
pub use extractors::{MetricsScraper, SuperAdmin};
pub use identity::{AuthUser, SenderCaller, UserToken};
