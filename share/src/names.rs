//! Validated names. `AppName::parse` (and its siblings) is the only way to get one, so a value of
//! these types is always safe to put in a URL, a log line or a database row.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a name was refused. The message states the rule, so it can be shown to users as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error(
        "invalid app name {0:?}: use 1 to 30 characters, lowercase letters, digits and dashes, starting with a letter and ending with a letter or digit"
    )]
    App(String),
    #[error(
        "invalid app name {0:?}: \"--\" as the 3rd and 4th characters is kept for internationalized domain names (xn--), which browsers show as other letters"
    )]
    ReservedApp(String),
    #[error(
        "invalid user name {0:?}: use 1 to 30 characters, lowercase letters, digits and dashes, starting with a letter"
    )]
    User(String),
    #[error(
        "invalid config key {0:?}: use 1 to 255 letters, digits and underscores, not starting with a digit"
    )]
    ConfigKey(String),
    #[error(
        "invalid add-on name {0:?}: use 1 to 30 characters, lowercase letters, digits and dashes, starting with a letter"
    )]
    Addon(String),
    #[error(
        "invalid attachment name {0:?}: use 1 to 60 uppercase letters, digits and underscores, starting with a letter (the config var is NAME_URL)"
    )]
    Attachment(String),
}

/// At most the first 40 characters of `input`, with `…` when there were more: what a message may
/// quote of what a user or client sent (a 40 KB name is not echoed back whole).
pub fn excerpt(input: &str) -> String {
    const SHOWN: usize = 40;
    match input.char_indices().nth(SHOWN) {
        Some((cut, _)) => format!("{}…", &input[..cut]),
        None => input.to_owned(),
    }
}

/// `^[a-z][a-z0-9-]{0,29}$`: what DESIGN §3.5 allows in a git path and Kubernetes allows in a
/// namespace suffix.
fn is_slug(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && s.len() <= 30
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
}

macro_rules! validated_name {
    ($(#[$doc:meta])* $name:ident, $valid:expr, $error:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, NameError> {
                if $valid(s) { Ok(Self(s.to_owned())) } else { Err($error(excerpt(s))) }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::parse(s)
            }
        }
    };
}

validated_name!(
    /// An app's name: `^[a-z][a-z0-9-]{0,29}$`.
    AppName,
    is_slug,
    NameError::App
);
impl AppName {
    /// A new app's name (`apps:create`, `apps:rename`): [`AppName::parse`]'s rule, ending with a
    /// letter or digit, so that `NAME.<domain>` and the Kubernetes namespace `paas-NAME` are DNS
    /// labels (RFC 1123 §2.1, as Heroku's names are), and without `--` as its 3rd and 4th
    /// characters (RFC 5891 §4.2.3.1: `xn--` names are punycode, shown as other letters, such
    /// as Cyrillic ones that look like Latin). Apps named before this rule (`ab-`) keep their
    /// names: `parse` still reads them.
    pub fn parse_new(s: &str) -> Result<Self, NameError> {
        match Self::parse(s)? {
            name if name.0.ends_with('-') => Err(NameError::App(excerpt(s))),
            name if name.0.get(2..4) == Some("--") => Err(NameError::ReservedApp(excerpt(s))),
            name => Ok(name),
        }
    }
}

/// Serde's `deserialize_with` for a new app's name in a request body: [`AppName::parse_new`].
pub fn new_app_name<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<AppName>, D::Error> {
    Option::<String>::deserialize(deserializer)?
        .map(|s| AppName::parse_new(&s).map_err(serde::de::Error::custom))
        .transpose()
}

validated_name!(
    /// A user's name: the same rule as app names.
    UserName,
    is_slug,
    NameError::User
);
validated_name!(
    /// A config var's key: `^[A-Za-z_][A-Za-z0-9_]*$` (what a POSIX shell accepts as a variable),
    /// at most 255 bytes: buildpacks get each var as a file named by its key (Heroku's
    /// `ENV_DIR`), and a file name has at most 255 (NAME_MAX).
    ConfigKey,
    |s: &str| {
        let mut bytes = s.bytes();
        matches!(bytes.next(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'_'))
            && s.len() <= 255
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
    },
    NameError::ConfigKey
);

validated_name!(
    /// An add-on's name (`postgresql-shaped-12345`): the same rule as app names.
    AddonName,
    is_slug,
    NameError::Addon
);
validated_name!(
    /// An add-on attachment's name, `^[A-Z][A-Z0-9_]{0,59}$` (Heroku's rule): the app gets the
    /// add-on's URL in config var `<NAME>_URL`.
    AttachmentName,
    |s: &str| {
        let mut bytes = s.bytes();
        matches!(bytes.next(), Some(b'A'..=b'Z'))
            && s.len() <= 60
            && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    },
    NameError::Attachment
);

/// Longest config var value, in bytes (32 KiB).
pub const MAX_CONFIG_VALUE_BYTES: usize = 32 * 1024;

/// Most an app's config vars may hold together, keys and values, in bytes (64 KiB): every
/// release keeps a copy, and every dyno gets them in its environment.
pub const MAX_CONFIG_TOTAL_BYTES: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_fit_a_file_name() {
        assert!(ConfigKey::parse(&"K".repeat(255)).is_ok());
        assert!(ConfigKey::parse(&"K".repeat(256)).is_err());
    }

    #[test]
    fn refused_names_are_quoted_in_part() {
        assert_eq!(excerpt("short"), "short");
        let long = "é".repeat(40_000);
        assert_eq!(excerpt(&long), format!("{}…", "é".repeat(40)));
        let said = ConfigKey::parse(&"-".repeat(40_000))
            .expect_err("invalid")
            .to_string();
        assert!(said.len() < 200, "{said}");
    }

    #[test]
    fn app_names() {
        for ok in ["a", "my-app", "a1", "abcdefghijklmnopqrstuvwxyz0123"] {
            assert!(AppName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1app",
            "-app",
            "App",
            "my_app",
            "my app",
            "a/b",
            "..",
            "a;b",
            "$(x)",
            "é",
            "a\0",
            "a\n",
            "abcdefghijklmnopqrstuvwxyz01234",
        ] {
            assert_eq!(
                AppName::parse(bad),
                Err(NameError::App(bad.to_owned())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn app_name_error_states_the_rule() {
        let err = AppName::parse("My_App").expect_err("uppercase is refused");
        assert_eq!(
            err.to_string(),
            "invalid app name \"My_App\": use 1 to 30 characters, lowercase letters, digits and dashes, starting with a letter and ending with a letter or digit"
        );
    }

    #[test]
    fn new_app_names_end_with_a_letter_or_digit_and_old_ones_still_read() {
        assert!(AppName::parse_new("my-app2").is_ok());
        assert_eq!(
            AppName::parse_new("ab-"),
            Err(NameError::App("ab-".to_owned()))
        );
        assert!(
            AppName::parse("ab-").is_ok(),
            "an existing app keeps its name"
        );
        for reserved in ["xn--80ak6aa92e", "ab--c"] {
            assert_eq!(
                AppName::parse_new(reserved),
                Err(NameError::ReservedApp(reserved.to_owned()))
            );
        }
        assert!(AppName::parse_new("a--b").is_ok());
        let refused = serde_json::from_str::<crate::models::UpdateApp>(r#"{"name": "shop-"}"#)
            .expect_err("a new name ending with a dash");
        assert!(
            refused.to_string().contains("invalid app name"),
            "{refused}"
        );
        assert!(serde_json::from_str::<crate::models::CreateApp>(r#"{"name": null}"#).is_ok());
    }

    #[test]
    fn config_keys() {
        for ok in ["A", "_", "DATABASE_URL", "a1", "_X9"] {
            assert!(ConfigKey::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1A", "A-B", "A B", "A=B", "Ä", "A.B"] {
            assert!(ConfigKey::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn deserializing_validates() {
        assert!(serde_json::from_str::<AppName>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<AppName>("\"Not-Ok\"").is_err());
    }
}
