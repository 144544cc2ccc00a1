//! Process types of a build: the `Procfile` (`type: command` lines) over the last buildpack's
//! `bin/release` output (`default_process_types:` YAML map).

use std::collections::BTreeMap;

/// Parses a Procfile: `name: command` per line; blank lines and `#` comments are skipped.
pub fn parse_procfile(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut types = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, command) = line.split_once(':').ok_or_else(|| {
            format!(
                "Procfile line {}: expected `type: command`, got {line:?}",
                n + 1
            )
        })?;
        let (name, command) = (name.trim(), command.trim());
        let valid = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && name.len() <= 30
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid {
            return Err(format!(
                "Procfile line {}: invalid process type {name:?} (lowercase letters, digits, - and _)",
                n + 1
            ));
        }
        if command.is_empty() {
            return Err(format!("Procfile line {}: {name} has no command", n + 1));
        }
        types.insert(name.to_owned(), command.to_owned());
    }
    Ok(types)
}

/// Reads `default_process_types` from `bin/release` output: the subset of YAML that classic
/// buildpacks print (`key: value` pairs indented under that key).
pub fn parse_release(yaml: &str) -> BTreeMap<String, String> {
    let mut types = BTreeMap::new();
    let mut inside = false;
    for line in yaml.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') || line.starts_with("---") {
            continue;
        }
        let indented = line.starts_with(' ') || line.starts_with('\t');
        if !indented {
            inside = line.trim_end() == "default_process_types:";
            continue;
        }
        if inside && let Some((name, command)) = line.trim().split_once(':') {
            let command = command.trim().trim_matches(|c| c == '"' || c == '\'');
            types.insert(name.trim().to_owned(), command.to_owned());
        }
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn procfiles() {
        let types = parse_procfile(
            "# comment\nweb: gunicorn app:app --bind 0.0.0.0:$PORT\n\nworker:python w.py\n",
        )
        .expect("valid");
        assert_eq!(types["web"], "gunicorn app:app --bind 0.0.0.0:$PORT");
        assert_eq!(types["worker"], "python w.py");
        assert!(
            parse_procfile("web python app.py")
                .expect_err("no colon")
                .contains("line 1")
        );
        assert!(parse_procfile("Web: x").is_err());
        assert!(parse_procfile("web:").is_err());
    }

    #[test]
    fn release_yaml() {
        let yaml = "---\naddons: []\ndefault_process_types:\n  web: npm start\n  worker: \"node w.js\"\nconfig_vars:\n  A: b\n";
        let types = parse_release(yaml);
        assert_eq!(types.len(), 2);
        assert_eq!(types["web"], "npm start");
        assert_eq!(types["worker"], "node w.js");
        assert!(parse_release("--- {}\n").is_empty());
    }
}
