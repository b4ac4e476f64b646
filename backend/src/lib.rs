//! Everything in Signalbox that talks to the outside world lives here: the Postgres pool and its
//! migrations, the throwaway database the demo starts, and the state that request handlers share.
//! The `mesh` crate stays pure; this crate feeds it data and stores its results.

pub mod audit;
pub mod auth;
pub mod cluster;
pub mod db;
pub mod drafts;
pub mod embedded_postgres;
pub mod forge;
pub mod jobs;
pub mod recent;
pub mod requests;
pub mod state;

pub use state::Backend;

/// The HTTP client the backend speaks to forges and tools with, for callers building a [`Backend`].
pub use reqwest;
