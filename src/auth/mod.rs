pub mod extractors;
pub mod jwt;
pub mod password;
pub mod sender;

pub use extractors::{AuthUser, SenderCaller, SuperAdmin};
