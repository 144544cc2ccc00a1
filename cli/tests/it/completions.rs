//! Tests for the checked-in shell completions and the help text.

use super::{CliEnv, assert_cli_snapshot, paas_bin};

#[test]
fn checked_in_completions_are_current() {
    let cli = CliEnv::new(paas_bin(), "http://127.0.0.1:9");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../completions");
    for (shell, file) in [
        ("bash", "paas.bash"),
        ("zsh", "_paas"),
        ("fish", "paas.fish"),
    ] {
        let generated = cli.ok(&["completions", shell]);
        let path = dir.join(file);
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            generated == checked_in,
            "{} is stale: regenerate it with `cargo run -p paas-cli -- completions {shell} > completions/{file}`",
            path.display()
        );
    }
}

#[test]
fn help_teaches() {
    let cli = CliEnv::new(paas_bin(), "http://127.0.0.1:9");
    assert_cli_snapshot!("help", cli, &["--help"]);
    assert_cli_snapshot!("help_config_set", cli, &["config", "set", "--help"]);
}
