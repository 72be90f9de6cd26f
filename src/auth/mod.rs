pub mod extractors;
pub mod jwt;
pub mod password;

pub use extractors::{AuthUser, SuperAdmin};
