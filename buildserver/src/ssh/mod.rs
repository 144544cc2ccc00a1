//! Git over SSH (DESIGN §3.5): which public keys users may register and log in with, parsing of
//! exec requests, the host key, and the russh server.

pub mod exec;
pub mod host_key;
pub mod public_key;
pub mod server;
