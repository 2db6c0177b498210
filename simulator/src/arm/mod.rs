//! ARM vocabulary: errors (`ArmError` → CloudError), api-versions, ids and the wire shapes of resources.

pub mod error;
