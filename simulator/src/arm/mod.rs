//! ARM vocabulary: errors (`ArmError` → CloudError), api-versions, regions and the wire shapes of
//! resources.

pub mod api_version;
pub mod error;
pub mod region;
pub mod wire;
