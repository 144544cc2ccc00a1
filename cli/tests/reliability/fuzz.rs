//! The API fuzzed with schemathesis (from PyPI, into a virtualenv cached per version) against
//! its own `/openapi.json`, with a token: no server error, no response outside the document, no
//! schema-violating request accepted, over a fixed seed and example budget.
//!
//! Left out: schemathesis's `positive_data_acceptance` (a well-formed request the domain refuses,
//! such as a scale with nothing released, is a 422 by design), its resource-lifecycle checks
//! (they address apps by id; the API addresses them by name), the `coverage` phase (its
//! generator crashes on this document in 4.32.5), and `GET /apps/{app}/logs` (it streams).

use std::path::PathBuf;
use std::process::Command;

use paas_tests::TestServer;

use super::server_bin;

const SCHEMATHESIS: &str = "4.32.5";

/// `st` of a virtualenv with schemathesis, made on first use under a lock.
fn schemathesis() -> PathBuf {
    let cache = paas_tests::cache_dir().join(format!("paas-tests/schemathesis-{SCHEMATHESIS}"));
    std::fs::create_dir_all(&cache).expect("cache dir");
    let lock = std::fs::File::create(cache.join(".lock")).expect("lock file");
    let _lock =
        nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).expect("lock the cache");
    let st = cache.join("venv/bin/st");
    if !st.is_file() {
        let venv = Command::new("python3")
            .args(["-m", "venv"])
            .arg(cache.join("venv"))
            .status()
            .expect("python3 -m venv (apt-get install python3-venv)");
        assert!(
            venv.success(),
            "python3 -m venv failed (apt-get install python3-venv)"
        );
        let pip = Command::new(cache.join("venv/bin/pip"))
            .args(["install", "-q", &format!("schemathesis=={SCHEMATHESIS}")])
            .status()
            .expect("pip");
        assert!(
            pip.success(),
            "pip install schemathesis failed (needs PyPI)"
        );
    }
    st
}

#[test]
fn the_api_fuzzed_from_its_openapi_document_never_errs_or_strays() {
    let st = schemathesis();
    let server = TestServer::start(&server_bin());
    let output = Command::new(&st)
        .arg("run")
        .arg(format!("{}/openapi.json", server.api))
        .args([
            "-H",
            &format!("Authorization: Bearer {}", server.admin_token()),
        ])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,negative_data_rejection,missing_required_header,\
             unsupported_method,ignored_auth",
            "--phases",
            "examples,fuzzing,stateful",
            "--exclude-path",
            "/apps/{app}/logs",
            "--max-examples",
            "40",
            "--seed",
            "1",
            "--workers",
            "2",
            "--request-timeout",
            "10",
            "--no-color",
        ])
        .current_dir(server.scratch())
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .output()
        .expect("st run");
    let report = String::from_utf8_lossy(&output.stdout);
    let summary = report
        .lines()
        .skip_while(|l| !l.starts_with("Test cases:"))
        .nth(1)
        .unwrap_or("no summary")
        .trim()
        .to_owned();
    #[allow(clippy::print_stdout)]
    {
        println!("schemathesis {SCHEMATHESIS} against /openapi.json: {summary}");
    }
    assert!(output.status.success(), "{report}\n{}", server.log());
}
