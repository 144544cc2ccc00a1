//! The conformance suite: apps written the way users write them, one per tool and convention
//! Heroku's buildpacks support, pushed at the same time to one server with the Debian stacks
//! (bookworm the default, trixie chosen by `stack:set`) and held to what a Heroku user gets:
//! the app builds and serves, or the push fails and says why.
//! It prints `N/M conformance apps pass` (Heroku's own fixture sets are the yardstick; these are
//! our own apps, not copies of theirs).

use std::path::Path;

use paas_tests::CliEnv;

use super::push::{debian_server, stderr_of};
use super::run::get;

/// What a Heroku user gets from pushing the app.
enum Expect {
    /// The push succeeds with these lines, and the app's `/` answers 200 with this text in it.
    Serves(&'static [&'static str], &'static str),
    /// The push is rejected at this step; its `!` block (what paas and the buildpack say) is
    /// a snapshot.
    Rejected(&'static str),
}

struct Case {
    app: &'static str,
    fixture: &'static str,
    /// The stack the app is moved to (`paas stack:set`) before its push; None keeps the
    /// server's default, bookworm.
    stack: Option<&'static str>,
    /// Changes to the fixture before the push (committed), as a user's repository would have.
    change: fn(&CliEnv, &Path),
    expect: Expect,
}

fn as_is(_: &CliEnv, _: &Path) {}

/// Replaces `from` with `to` in the app's `file` and commits it.
fn edit(cli: &CliEnv, repo: &Path, file: &str, from: &str, to: &str) {
    let text = std::fs::read_to_string(repo.join(file)).expect("read");
    assert!(text.contains(from), "{file} has no {from:?}");
    std::fs::write(repo.join(file), text.replace(from, to)).expect("write");
    cli.commit_all(repo, &format!("edit {file}"));
}

const CASES: &[Case] = &[
    Case {
        app: "py-pip",
        fixture: "python-deps",
        stack: None,
        change: as_is,
        expect: Expect::Serves(
            &["-----> Installing requirements with pip 26.3"],
            "hello &lt;paas&gt;",
        ),
    },
    Case {
        app: "py-uv",
        fixture: "python-uv",
        stack: None,
        change: as_is,
        expect: Expect::Serves(
            &["-----> Installing dependencies with uv 0.13.9 (uv.lock)"],
            "12.3 million via uv, without dev packages",
        ),
    },
    Case {
        app: "py-poetry",
        fixture: "python-poetry",
        stack: None,
        change: as_is,
        expect: Expect::Serves(
            &["-----> Installing dependencies with Poetry 2.5.1 (poetry.lock)"],
            "12.3 million via poetry, without dev packages",
        ),
    },
    Case {
        app: "py-pipenv",
        fixture: "python-pipenv",
        stack: None,
        change: as_is,
        expect: Expect::Serves(
            &["-----> Installing dependencies with Pipenv 2026.10.3 (Pipfile.lock)"],
            "12.3 million via pipenv, without dev packages",
        ),
    },
    Case {
        app: "py-django",
        fixture: "python-django",
        stack: None,
        change: as_is,
        expect: Expect::Serves(
            &[
                "-----> Running bin/post_compile",
                "       wrote build-stamp.txt",
                "       SOURCE_VERSION is the commit's SHA",
                "-----> Running: python manage.py collectstatic --noinput",
                "-----> Running release command: python manage.py migrate --noinput",
            ],
            "django up; static collected: True; stamped by post_compile with Django 5.2",
        ),
    },
    Case {
        app: "py-venv",
        fixture: "python-deps",
        stack: None,
        // `python3 -m venv .venv`, then `git add -A` without a .gitignore entry.
        change: |cli, repo| {
            std::fs::write(repo.join(".gitignore"), "").expect("write");
            std::fs::create_dir_all(repo.join(".venv/bin")).expect("mkdir");
            std::fs::write(
                repo.join(".venv/pyvenv.cfg"),
                "home = /usr/local/bin\ninclude-system-site-packages = false\nversion = 3.12.1\n",
            )
            .expect("write");
            std::os::unix::fs::symlink("/usr/local/bin/python3.12", repo.join(".venv/bin/python"))
                .expect("symlink");
            cli.commit_all(repo, "add the virtualenv");
        },
        expect: Expect::Rejected("compile (python)"),
    },
    Case {
        app: "py-uv-stale",
        fixture: "python-uv",
        stack: None,
        // A dependency added to pyproject.toml without `uv lock`.
        change: |cli, repo| {
            let (from, to) = ("\"humanize>=4.9\",", "\"humanize>=4.9\",\n    \"idna>=3\",");
            edit(cli, repo, "pyproject.toml", from, to);
        },
        expect: Expect::Rejected("compile (python)"),
    },
    Case {
        app: "py-poetry-stale",
        fixture: "python-poetry",
        stack: None,
        change: |cli, repo| {
            edit(
                cli,
                repo,
                "pyproject.toml",
                "humanize = \"^4.9\"",
                "humanize = \"^4.9\"\nidna = \"^3\"",
            )
        },
        expect: Expect::Rejected("compile (python)"),
    },
    Case {
        app: "py-pipenv-stale",
        fixture: "python-pipenv",
        stack: None,
        change: |cli, repo| {
            edit(
                cli,
                repo,
                "Pipfile",
                "humanize = \">=4.9\"",
                "humanize = \">=4.9\"\nidna = \"*\"",
            )
        },
        expect: Expect::Rejected("compile (python)"),
    },
    Case {
        app: "py-pipfile",
        fixture: "python-pipenv",
        stack: None,
        change: |cli, repo| {
            std::fs::remove_file(repo.join("Pipfile.lock")).expect("rm");
            cli.commit_all(repo, "no lockfile");
        },
        expect: Expect::Rejected("compile (python)"),
    },
    Case {
        app: "node-yarn",
        fixture: "node-yarn",
        stack: None,
        change: as_is,
        expect: Expect::Serves(
            &[
                "-----> Using Yarn 1.22.22 (classic)",
                "-----> Installing dependencies with yarn install",
                "-----> Pruning dev dependencies",
            ],
            "one day is 86400000 ms via yarn, without dev packages, NODE_ENV=production",
        ),
    },
    Case {
        app: "node-yarn-berry",
        fixture: "node-yarn-berry",
        stack: None,
        change: as_is,
        expect: Expect::Serves(
            &["-----> Using Yarn 4.9.2"],
            "one day is 86400000 ms via yarn-berry, without dev packages, NODE_ENV=production",
        ),
    },
    Case {
        app: "node-pnpm",
        fixture: "node-pnpm",
        stack: None,
        change: as_is,
        expect: Expect::Serves(
            &[
                "-----> Using pnpm 9.15.9",
                "-----> Installing dependencies with pnpm install",
            ],
            "one day is 86400000 ms via pnpm, without dev packages, NODE_ENV=production, store in app: false",
        ),
    },
    Case {
        app: "node-build",
        fixture: "node-build",
        stack: None,
        change: as_is,
        expect: Expect::Serves(
            &[
                "-----> Running heroku-prebuild: echo prebuild: node $(node --version)",
                "       prebuild: node v18.",
                "-----> Running build: node build.js",
                "       rendered public/index.html",
                "-----> Running heroku-cleanup: echo cleanup: NODE_ENV=$NODE_ENV",
                "       cleanup: NODE_ENV=production",
                "Default types for buildpack nodejs -> web",
            ],
            "<p>Built with <strong>marked</strong>.</p>\n<p>marked pruned, NODE_ENV=production</p>",
        ),
    },
    Case {
        app: "node-yarn-stale",
        fixture: "node-yarn",
        stack: None,
        // A dependency added to package.json without `yarn install`.
        change: |cli, repo| {
            let (from, to) = (
                "\"ms\": \"^2.1.3\"",
                "\"ms\": \"^2.1.3\",\n    \"left-pad\": \"^1.3.0\"",
            );
            edit(cli, repo, "package.json", from, to);
        },
        expect: Expect::Rejected("compile (nodejs)"),
    },
    Case {
        app: "node-bun",
        fixture: "node-deps",
        stack: None,
        change: |cli, repo| {
            let (from, to) = (
                "\"private\": true,",
                "\"private\": true,\n  \"packageManager\": \"bun@1.1.0\",",
            );
            edit(cli, repo, "package.json", from, to);
        },
        expect: Expect::Rejected("compile (nodejs)"),
    },
    Case {
        app: "py-no-such-package",
        fixture: "python-bad-requirements",
        stack: None,
        change: as_is,
        expect: Expect::Rejected("compile (python)"),
    },
    Case {
        app: "py-missing-include",
        fixture: "python-deps",
        stack: None,
        // A `-r` line naming a file that was never committed.
        change: |cli, repo| {
            edit(
                cli,
                repo,
                "requirements.txt",
                "MarkupSafe==2.1.5",
                "MarkupSafe==2.1.5\n-r requirements-dev.txt",
            )
        },
        expect: Expect::Rejected("compile (python)"),
    },
    Case {
        app: "py-bad-line",
        fixture: "python-deps",
        stack: None,
        // `=` for `==`, as people type it.
        change: |cli, repo| {
            edit(
                cli,
                repo,
                "requirements.txt",
                "MarkupSafe==2.1.5",
                "MarkupSafe=2.1.5",
            )
        },
        expect: Expect::Rejected("compile (python)"),
    },
    Case {
        app: "py-psycopg2",
        fixture: "python-native",
        stack: None,
        change: as_is,
        // Compiled on the build image against libpq-dev; run on the run image (libpq, no cc).
        expect: Expect::Serves(
            &["Building wheel for psycopg2"],
            "psycopg2 2.9.10 on libpq 15, compiler at run time: none",
        ),
    },
    Case {
        app: "py-needs-header",
        fixture: "python-deps",
        stack: None,
        // python-ldap publishes no wheels: it compiles C against OpenLDAP's headers, which
        // the build image does not have.
        change: |cli, repo| {
            edit(
                cli,
                repo,
                "requirements.txt",
                "MarkupSafe==2.1.5",
                "python-ldap==3.4.4",
            )
        },
        expect: Expect::Rejected("compile (python)"),
    },
    Case {
        app: "py-trixie",
        fixture: "python-native",
        stack: Some("trixie"),
        change: |cli, repo| {
            std::fs::write(repo.join(".python-version"), "3.13\n").expect("write");
            cli.commit_all(repo, "Python 3.13");
        },
        expect: Expect::Serves(
            &["on the trixie stack", "-----> Using Python 3.13."],
            "psycopg2 2.9.10 on libpq 17, compiler at run time: none",
        ),
    },
    Case {
        app: "py-wants-trixie",
        fixture: "python",
        stack: None,
        // Heroku's runtime.txt spelling, for a Python only the other stack has.
        change: |cli, repo| {
            std::fs::write(repo.join("runtime.txt"), "python-3.13\n").expect("write");
            cli.commit_all(repo, "runtime.txt");
        },
        expect: Expect::Rejected("compile (python)"),
    },
    Case {
        app: "py-wants-3-12",
        fixture: "python",
        stack: None,
        change: |cli, repo| {
            std::fs::write(repo.join(".python-version"), "3.12\n").expect("write");
            cli.commit_all(repo, ".python-version");
        },
        expect: Expect::Rejected("compile (python)"),
    },
    Case {
        app: "py-requires-313",
        fixture: "python-uv",
        stack: None,
        // requires-python alone says which Python (no .python-version).
        change: |cli, repo| {
            std::fs::remove_file(repo.join(".python-version")).expect("rm");
            edit(
                cli,
                repo,
                "pyproject.toml",
                "requires-python = \">=3.11\"",
                "requires-python = \">=3.13\"",
            )
        },
        expect: Expect::Rejected("compile (python)"),
    },
    Case {
        app: "node-trixie",
        fixture: "node-deps",
        stack: Some("trixie"),
        change: |cli, repo| {
            edit(cli, repo, "package.json", "\">=18\"", "\"20.x\"");
        },
        expect: Expect::Serves(
            &[
                "on the trixie stack",
                "-----> Using node v20.",
                // No dev packages in its lockfile: npm prune is not run for nothing.
                "-----> Pruning dev dependencies: package-lock.json has none",
            ],
            "one day is 86400000 ms",
        ),
    },
    Case {
        app: "node-native",
        fixture: "node-native",
        stack: None,
        change: as_is,
        // The app's own C addon, built by node-gyp with the build image's compiler and node's
        // headers (no download), loaded on the run image.
        expect: Expect::Serves(
            &["-----> Installing dependencies with npm ci"],
            "adler32(Wikipedia) = 11e60398 (from C)",
        ),
    },
    Case {
        app: "node-wants-trixie",
        fixture: "node-deps",
        stack: None,
        change: |cli, repo| {
            edit(cli, repo, "package.json", "\">=18\"", "\"20.x\"");
        },
        expect: Expect::Rejected("compile (nodejs)"),
    },
    Case {
        app: "node-engines-number",
        fixture: "node-deps",
        stack: None,
        // A number, as people write it; npm reads it as the range "20".
        change: |cli, repo| {
            edit(cli, repo, "package.json", "\">=18\"", "20");
        },
        expect: Expect::Rejected("compile (nodejs)"),
    },
    Case {
        app: "node-wants-22",
        fixture: "node-deps",
        stack: None,
        change: |cli, repo| {
            edit(cli, repo, "package.json", "\">=18\"", "\">=22\"");
        },
        expect: Expect::Rejected("compile (nodejs)"),
    },
    Case {
        app: "node-out-of-sync",
        fixture: "node-deps",
        stack: None,
        // A dependency added to package.json by hand, without `npm install`.
        change: |cli, repo| {
            let (from, to) = (
                "\"ms\": \"^2.1.3\"",
                "\"ms\": \"^2.1.3\",\n    \"left-pad\": \"^1.3.0\"",
            );
            edit(cli, repo, "package.json", from, to);
        },
        expect: Expect::Rejected("compile (nodejs)"),
    },
    Case {
        app: "node-no-such-version",
        fixture: "nodejs",
        stack: None,
        change: |cli, repo| {
            let (from, to) = (
                "\"scripts\"",
                "\"dependencies\": { \"ms\": \"^99.0.0\" },\n  \"scripts\"",
            );
            edit(cli, repo, "package.json", from, to);
        },
        expect: Expect::Rejected("compile (nodejs)"),
    },
    Case {
        app: "node-bad-json",
        fixture: "node-deps",
        stack: None,
        // A trailing comma.
        change: |cli, repo| {
            edit(
                cli,
                repo,
                "package.json",
                "\"ms\": \"^2.1.3\"",
                "\"ms\": \"^2.1.3\",",
            )
        },
        expect: Expect::Rejected("compile (nodejs)"),
    },
    Case {
        app: "node-bad-lockfile",
        fixture: "node-deps",
        stack: None,
        // Cut short, as a bad merge leaves it: said as such, not as npm's usage text.
        change: |cli, repo| {
            let lock = std::fs::read_to_string(repo.join("package-lock.json")).expect("read");
            std::fs::write(repo.join("package-lock.json"), &lock[..lock.len() / 2]).expect("write");
            cli.commit_all(repo, "a cut lockfile");
        },
        expect: Expect::Rejected("compile (nodejs)"),
    },
    Case {
        app: "node-bom",
        fixture: "node-deps",
        stack: None,
        // Saved by an editor that writes a byte-order mark.
        change: |cli, repo| {
            let text = std::fs::read_to_string(repo.join("package.json")).expect("read");
            std::fs::write(repo.join("package.json"), format!("\u{feff}{text}")).expect("write");
            cli.commit_all(repo, "a BOM");
        },
        expect: Expect::Rejected("compile (nodejs)"),
    },
    Case {
        app: "node-npm-version",
        fixture: "node-deps",
        stack: None,
        // An npm the stack does not have: said, and built with the stack's. The build script's
        // backslash is shown as it is written (dash's echo once cut the line at `\c`).
        change: |cli, repo| {
            let (from, to) = (
                "\"private\": true,",
                "\"private\": true,\n  \"packageManager\": \"npm@10.x\",",
            );
            edit(cli, repo, "package.json", from, to);
            let (from, to) = (
                "\"scripts\": {",
                "\"scripts\": {\n    \"build\": \"echo 'built\\\\c here'\",",
            );
            edit(cli, repo, "package.json", from, to);
        },
        expect: Expect::Serves(
            &[
                " !     warning: package.json asks for npm 10.x (packageManager); this stack builds with npm 9.",
                "-----> Running build: echo 'built\\c here'",
            ],
            "one day is 86400000 ms",
        ),
    },
    Case {
        app: "node-npm",
        fixture: "node-deps",
        stack: None,
        change: as_is,
        expect: Expect::Serves(
            &["-----> Installing dependencies with npm ci"],
            "one day is 86400000 ms",
        ),
    },
];

/// Pushes the case's app and checks the outcome; `Err` says how it differed.
fn check(server: &paas_tests::TestServer, cli: &CliEnv, case: &Case) -> Result<(), String> {
    // Each case its own copy: two cases may start from one fixture.
    let repo = cli.app_repo_in(case.fixture, case.app);
    (case.change)(cli, &repo);
    let created = cli
        .command(&["create", case.app])
        .current_dir(&repo)
        .output();
    if !created.as_ref().is_ok_and(|o| o.status.success()) {
        return Err(format!("paas create failed: {created:?}"));
    }
    if let Some(stack) = case.stack {
        let set = cli
            .command(&["stack:set", stack])
            .current_dir(&repo)
            .output();
        if !set.as_ref().is_ok_and(|o| o.status.success()) {
            return Err(format!("paas stack:set {stack} failed: {set:?}"));
        }
    }
    let output = cli
        .git(&repo, &["push", "paas", "main"])
        .output()
        .map_err(|e| format!("git push: {e}"))?;
    let stderr = stderr_of(&output);
    let missing = |lines: &[&str]| -> Option<String> {
        lines
            .iter()
            .find(|line| !stderr.contains(*line))
            .map(|line| format!("no {line:?} in the push output:\n{stderr}"))
    };
    match &case.expect {
        Expect::Serves(lines, body) => {
            if !output.status.success() {
                return Err(format!("the push failed:\n{stderr}"));
            }
            if let Some(why) = missing(lines) {
                return Err(why);
            }
            let (status, answer) = get(server, case.app);
            if status != 200 || !answer.contains(body) {
                return Err(format!("GET / answered {status}: {answer:?}, not {body:?}"));
            }
        }
        Expect::Rejected(step) => {
            if output.status.success() {
                return Err(format!("the push succeeded:\n{stderr}"));
            }
            let rejected = format!("Push rejected: the build failed at step `{step}`.");
            if let Some(why) = missing(&[rejected.as_str()]) {
                return Err(why);
            }
            let block: Vec<&str> = stderr
                .lines()
                .filter_map(|l| l.strip_prefix("remote:  !"))
                .map(str::trim_end)
                .collect();
            // Debian's point releases move the runtimes' patch versions.
            insta::with_settings!({filters => vec![(r"(Python |node v)(\d+\.\d+)\.\d+", "$1$2.x")]}, {
                insta::assert_snapshot!(format!("conformance_{}", case.app), block.join("\n"));
            });
            // A build that failed in its buildpack's compile still names the buildpack.
            if let Some(buildpack) = step
                .strip_prefix("compile (")
                .and_then(|s| s.strip_suffix(')'))
            {
                let builds = cli
                    .command(&["builds", "--json"])
                    .current_dir(&repo)
                    .output()
                    .map_err(|e| format!("paas builds: {e}"))?;
                let builds: serde_json::Value = serde_json::from_slice(&builds.stdout)
                    .map_err(|e| format!("paas builds --json: {e}"))?;
                if builds[0]["status"] != "failed" || builds[0]["buildpack"] != buildpack {
                    return Err(format!("the failed build is not {buildpack}'s: {builds}"));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn conformance_apps_build_and_serve_as_on_heroku() {
    let (server, cli) = debian_server(&[]);
    server.install_stack(paas_tests::Stack::Trixie);
    // In groups of 8: a push builds on one core, and this machine has few.
    let results: Vec<(&str, Result<(), String>)> = CASES
        .chunks(8)
        .flat_map(|group| {
            std::thread::scope(|scope| {
                let running: Vec<_> = group
                    .iter()
                    .map(|case| (case.app, scope.spawn(|| check(&server, &cli, case))))
                    .collect();
                running
                    .into_iter()
                    .map(|(app, run)| (app, run.join().unwrap_or_else(|_| Err("panicked".into()))))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let passed = results.iter().filter(|(_, r)| r.is_ok()).count();
    // The score is a figure CI shows (`.config/nextest.toml` prints this test's output).
    #[allow(clippy::print_stdout)]
    {
        println!("{passed}/{} conformance apps pass", results.len());
    }
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(app, r)| r.as_ref().err().map(|e| format!("{app}: {e}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
