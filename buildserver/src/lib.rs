//! The paas server: receives `git push` over SSH, builds, records releases and runs them, and
//! serves the HTTP API the `paas` CLI talks to. The binary `paas-buildserver` wires these
//! subsystems together; each module owns one of them (DESIGN §2).

pub mod addons;
pub mod api;
pub mod app;
pub mod build;
pub mod config;
pub mod container;
pub mod data_dir;
pub mod domains;
pub mod git;
pub mod http;
pub mod logs;
pub mod oci;
pub mod one_off;
pub mod registry;
pub mod release;
pub mod router;
pub mod scheduler;
pub mod ssh;
pub mod store;
pub mod token;
pub mod urls;
