//! armsim-simulator: a mock Azure Resource Manager for API Management backup and restore.

pub mod arm;
pub mod clock;
pub mod http;
pub mod identity;
pub mod journal;
pub mod tls;
