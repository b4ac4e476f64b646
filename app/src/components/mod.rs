//! Widgets the pages share: the problem list, field messages, state labels and guidance.

pub mod guidance;
pub mod problems;
pub mod state;
