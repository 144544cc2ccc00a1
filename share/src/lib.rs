//! Types shared by the `paas` CLI and the server: the HTTP API's request and response models, the
//! error body, and validated names.
//!
//! This crate owns the wire contract (DESIGN §3.3). It must stay free of I/O and async runtimes
//! (no tokio, reqwest, russh or git2) so that the CLI can depend on it without paying for them.

pub mod error;
pub mod models;
pub mod names;
pub mod terminal;

pub use error::ApiError;
pub use names::{AddonName, AppName, AttachmentName, ConfigKey, NameError, UserName};
