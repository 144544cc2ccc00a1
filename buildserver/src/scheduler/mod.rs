//! Where releases run (DESIGN §3.8). For now the local scheduler: runc dynos on this host, with
//! the routing table the router reads. (The `Scheduler` trait arrives with the second
//! implementation, Kubernetes, so that its shape follows two real uses.)

pub mod local;
