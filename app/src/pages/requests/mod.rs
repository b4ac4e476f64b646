//! The request pages: the two forms, "my requests" and one request.

pub mod delivery;
pub mod detail;
pub mod fields;
pub mod list;
pub mod mine;
pub mod new_api;
pub mod new_egress;
