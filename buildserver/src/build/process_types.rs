//! Process types of a build: the app's `Procfile` when it has one, else the last buildpack's
//! `bin/release` output (`default_process_types:` YAML map), as on Heroku.

use std::collections::BTreeMap;

/// Parses a Procfile (Heroku's format: one `type: command` per line; blank lines and lines
/// starting with `#` are skipped; a UTF-8 byte-order mark and CRLF line ends are accepted).
///
/// Rules, each failure naming the line: the file is UTF-8; a type is 1–30 lowercase letters,
/// digits, `-` and `_`, starting with a letter; each type appears once; a command is not empty
/// and holds no control characters but tabs. The command is kept as written (comments included):
/// the dyno's shell interprets it, as Heroku's does.
pub fn parse_procfile(bytes: &[u8]) -> Result<BTreeMap<String, String>, String> {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(
            "the Procfile is UTF-16 text (as Windows Notepad and PowerShell write it).\n\
             Save it as UTF-8 (Save with Encoding > UTF-8; or `iconv -f UTF-16 -t UTF-8`), commit \
             and push again."
                .to_owned(),
        );
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        format!(
            "the Procfile is not UTF-8 text (line {line} has a byte that is not UTF-8, as in \
             Latin-1 files).\nSave it as UTF-8 (most editors: Save with Encoding > \
             UTF-8; or `iconv -f LATIN1 -t UTF-8`), commit and push again."
        )
    })?;
    let mut types = BTreeMap::new();
    let mut first_line: BTreeMap<String, usize> = BTreeMap::new();
    // Every bad line is named, not only the first: one push to find them all.
    let mut errors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match procfile_entry(n, line) {
            Err(error) => errors.push(error),
            Ok((name, _)) if first_line.contains_key(name) => errors.push(format!(
                "Procfile line {n}: {name} is declared twice (lines {} and {n}); keep one",
                first_line[name]
            )),
            Ok((name, command)) => {
                first_line.insert(name.to_owned(), n);
                types.insert(name.to_owned(), command.to_owned());
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    if types.is_empty() {
        return Err(
            "the Procfile declares no process types.\nAdd a line such as `web: python app.py`."
                .to_owned(),
        );
    }
    Ok(types)
}

/// Line `n` of a Procfile, trimmed and neither blank nor a comment: its (type, command), or what
/// is wrong with it, naming the line.
fn procfile_entry(n: usize, line: &str) -> Result<(&str, &str), String> {
    let (name, command) = line.split_once(':').ok_or_else(|| {
        format!("Procfile line {n}: expected `type: command` (such as `web: python app.py`), got {line:?}")
    })?;
    let (name, command) = (name.trim(), command.trim());
    let valid = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name.len() <= 30
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    // `web gunicorn app:app`: the colon found is the command's, the type's is missing.
    if let Some((first, _)) = name.split_once(char::is_whitespace) {
        return Err(format!(
            "Procfile line {n}: expected `type: command`, got {line:?} (a colon after \
             the type is missing: `{first}: {}`?)",
            line[first.len()..].trim_start()
        ));
    }
    if !valid {
        return Err(format!(
            "Procfile line {n}: invalid process type {name:?}: a type is 1 to 30 lowercase \
             letters, digits, - and _, starting with a letter"
        ));
    }
    if command.is_empty() {
        return Err(format!("Procfile line {n}: {name} has no command"));
    }
    if command.contains('\r') {
        return Err(format!(
            "Procfile line {n}: the command of {name} contains a carriage return: the file \
             has old Mac (CR) line ends; save it with LF (or CRLF) line ends"
        ));
    }
    if command.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!(
            "Procfile line {n}: the command of {name} contains a control character"
        ));
    }
    Ok((name, command))
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
            b"# comment\r\nweb: gunicorn app:app --bind 0.0.0.0:$PORT # the server\r\n\nworker:python w.py\n",
        )
        .expect("valid");
        assert_eq!(
            types["web"],
            "gunicorn app:app --bind 0.0.0.0:$PORT # the server"
        );
        assert_eq!(types["worker"], "python w.py");
        let bom = parse_procfile(b"\xEF\xBB\xBFweb: python3 server.py\n").expect("BOM");
        assert_eq!(bom.keys().collect::<Vec<_>>(), ["web"]);
        let error = |text: &[u8]| parse_procfile(text).expect_err("invalid");
        assert!(error(b"web python app.py").contains("line 1: expected `type: command`"));
        assert!(error(b"Web: x").contains("invalid process type \"Web\""));
        let no_colon = error(b"web gunicorn app:app\n");
        assert!(
            no_colon.contains("line 1: expected `type: command`")
                && no_colon.contains("`web: gunicorn app:app`?"),
            "{no_colon}"
        );
        assert!(error(b"web:").contains("web has no command"));
        assert!(
            error(b"web: a\nworker: b\nweb: c\n")
                .contains("line 3: web is declared twice (lines 1 and 3)")
        );
        assert!(error(b"web: echo \x1b[31m").contains("control character"));
        assert!(error(b"# nothing\n\n").contains("declares no process types"));
        let latin1 = error(b"web: echo caf\xe9\n");
        assert!(
            latin1.contains("not UTF-8") && latin1.contains("line 1"),
            "{latin1}"
        );
        assert!(error(b"\xff\xfew\x00e\x00b\x00").contains("UTF-16"));
        assert!(error(b"web: a\rworker: b\r").contains("old Mac (CR) line ends"));
        // Every bad line, in order, one per line of the message.
        assert_eq!(
            error(b"web gunicorn app:app\nworker: w\nClock: c\nworker: again\n"),
            "Procfile line 1: expected `type: command`, got \"web gunicorn app:app\" (a colon \
             after the type is missing: `web: gunicorn app:app`?)\n\
             Procfile line 3: invalid process type \"Clock\": a type is 1 to 30 lowercase \
             letters, digits, - and _, starting with a letter\n\
             Procfile line 4: worker is declared twice (lines 2 and 4); keep one"
        );
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
