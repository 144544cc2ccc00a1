//! Every environment variable the CLI reads, in one place.

/// The server's URL, overriding the one stored by `paas login`.
pub const PAAS_HOST: &str = "PAAS_HOST";
/// An API token, overriding the stored one (for CI).
pub const PAAS_API_TOKEN: &str = "PAAS_API_TOKEN";
/// The app to act on when `-a/--app` is not given.
pub const PAAS_APP: &str = "PAAS_APP";
/// Disables colour when set to anything non-empty (no-color.org).
pub const NO_COLOR: &str = "NO_COLOR";
/// Enables colour when set to anything non-empty, even without a terminal.
pub const FORCE_COLOR: &str = "FORCE_COLOR";
/// Where the credentials file lives: `$XDG_CONFIG_HOME/paas/credentials.toml`.
pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
/// Fallback for the config dir (`~/.config`) and the default SSH key (`~/.ssh`).
pub const HOME: &str = "HOME";

/// Set on an X11 desktop: `paas open` starts a browser.
pub const DISPLAY: &str = "DISPLAY";
/// Set on a Wayland desktop: `paas open` starts a browser.
pub const WAYLAND_DISPLAY: &str = "WAYLAND_DISPLAY";

/// A variable's value as set, an empty one included (for the server and token, where a set but
/// empty value is a mistake to report, not an absence).
pub fn set(name: &str) -> Option<String> {
    std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
}

/// A variable's value, treating an empty value as unset.
pub fn get(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
