//! Webhooks other systems send to Relevo.

pub mod evolution;
