//! The shipped buildpacks (`buildpacks/` in the repository), compiled into the server and written
//! to `<data-dir>/buildpacks` at start, so that an installed binary is self-contained; and which
//! of them a build runs.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Names in detection order: the first whose `bin/detect` succeeds builds the app.
pub const SHIPPED: &[&str] = &["python", "nodejs", "static", "procfile"];

macro_rules! files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../buildpacks/", $path)))),*]
    };
}

/// Every file of `buildpacks/` (a test checks that none is missing).
pub const FILES: &[(&str, &str)] = files![
    "builder",
    "lib/cache.sh",
    "lib/output.sh",
    "nodejs/bin/compile",
    "nodejs/bin/detect",
    "nodejs/bin/release",
    "procfile/bin/compile",
    "procfile/bin/detect",
    "procfile/bin/release",
    "python/bin/compile",
    "python/bin/detect",
    "python/bin/release",
    "static/bin/compile",
    "static/bin/detect",
    "static/bin/release",
];

/// Writes the buildpacks under `dir` (replacing what was there), world-readable and executable:
/// the build sandbox runs them as an unprivileged user.
pub fn install(dir: &Path) -> std::io::Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    for (path, content) in FILES {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755))?;
        }
        std::fs::write(&target, content)?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
}

/// The buildpacks an app asks for: its `.buildpacks` file (one name per line, `#` comments), else
/// the `BUILDPACK` config var (names separated by commas or spaces); empty means detect.
pub fn requested(
    dot_buildpacks: Option<&str>,
    config_var: Option<&str>,
) -> Result<Vec<String>, String> {
    let (source, names): (&str, Vec<&str>) = match (dot_buildpacks, config_var) {
        (Some(file), _) => (
            ".buildpacks",
            file.lines()
                .map(|l| l.split('#').next().unwrap_or("").trim())
                .filter(|l| !l.is_empty())
                .collect(),
        ),
        (None, Some(var)) => (
            "BUILDPACK",
            var.split([',', ' '])
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect(),
        ),
        (None, None) => return Ok(Vec::new()),
    };
    names
        .into_iter()
        .map(|name| {
            let name = name.strip_prefix("heroku/").unwrap_or(name);
            if SHIPPED.contains(&name) {
                Ok(name.to_owned())
            } else {
                Err(format!(
                    "{source} names an unknown buildpack {name:?}; paas ships: {}",
                    SHIPPED.join(", ")
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_the_buildpacks_dir_is_shipped() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../buildpacks");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("read dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    if path.file_name() != Some("stacks".as_ref()) {
                        stack.push(path);
                    }
                } else {
                    on_disk.push(
                        path.strip_prefix(&root)
                            .expect("under root")
                            .to_string_lossy()
                            .into_owned(),
                    );
                }
            }
        }
        on_disk.sort();
        let shipped: Vec<String> = FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        assert_eq!(on_disk, shipped);
    }

    #[test]
    fn requested_buildpacks() {
        assert_eq!(requested(None, None), Ok(vec![]));
        assert_eq!(
            requested(Some("# mine\nnodejs\n\nheroku/python\n"), Some("static")),
            Ok(vec!["nodejs".into(), "python".into()])
        );
        assert_eq!(
            requested(None, Some("python, procfile")),
            Ok(vec!["python".into(), "procfile".into()])
        );
        assert_eq!(
            requested(Some("ruby"), None),
            Err("`.buildpacks` names an unknown buildpack \"ruby\"; paas ships: python, nodejs, static, procfile".replace('`', ""))
        );
    }
}
