//! Git over SSH (DESIGN §3.5). For now: which public keys users may register and push with.

pub mod public_key;
