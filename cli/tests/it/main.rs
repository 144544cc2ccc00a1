//! Integration tests of the `paas` CLI against a real `paas-buildserver`: snapshots of exit code,
//! stdout and stderr in an isolated HOME with `NO_COLOR=1`.

mod access;
mod addons;
mod alerts;
mod app_shapes;
mod autoscale;
mod canary;
mod completions;
mod conformance;
mod dashboard;
mod domains;
mod drains;
mod errors;
mod kubernetes;
mod limits;
mod logs;
mod metrics;
mod one_off;
mod push;
mod real_apps;
mod registry;
mod release_phase;
mod release_states;
mod run;
mod traffic;
mod workflow;

use std::path::{Path, PathBuf};

use paas_tests::{CliEnv, TestServer, bin_next_to};

fn paas_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_paas"))
}

fn server_bin() -> PathBuf {
    bin_next_to(env!("CARGO_BIN_EXE_paas"), "paas-buildserver")
}

/// A fresh server and a CLI logged in to it as the admin.
fn logged_in() -> (TestServer, CliEnv) {
    let server = TestServer::start(&server_bin());
    let cli = CliEnv::new(paas_bin(), &server.api);
    cli.login(&server.admin_token());
    (server, cli)
}

/// Snapshot of one `paas` run.
macro_rules! assert_cli_snapshot {
    ($name:expr, $cli:expr, $args:expr) => {
        insta::assert_snapshot!($name, paas_tests::transcript(&$cli.run($args)))
    };
}
pub(crate) use assert_cli_snapshot;
