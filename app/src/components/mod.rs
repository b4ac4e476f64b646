//! Widgets the pages share: the problem list, field messages and state labels.

pub mod problems;
pub mod state;
