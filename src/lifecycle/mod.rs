//! Everything that turns what Evolution API says about an instance into changes of the
//! instance: answers to Relevo's calls (provisioning and the lifecycle endpoints), the
//! periodic sync, and the webhooks Evolution sends. HTTP handlers, the sync and the
//! inbound webhook all go through here.

pub mod error;
pub mod inbound;
pub mod instance;
pub mod lease;
pub mod provision;
pub mod status;
pub mod sync;
pub mod sync_scheduler;
pub mod tenant_removal;
pub mod webhook_token;

pub use error::LifecycleError;
pub use instance::{Audit, Reachable};
