//! An app as the subsystems hand it to each other: the id that keys its rows, logs and
//! containers (it never changes), and the name that its addresses, images and Kubernetes objects
//! are named by (it changes with `paas apps:rename`). It imports nothing of paas.

use paas_share::AppName;

/// Which app an operation is for. Cheap to clone; compare by `id` (a renamed app is the same app).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRef {
    /// The app's UUID, as the store keeps it.
    pub id: String,
    pub name: AppName,
}

impl AppRef {
    /// The name as a `&str`, for paths, hosts and object names.
    pub fn name(&self) -> &str {
        self.name.as_str()
    }
}

/// The app's name, as users know it.
impl std::fmt::Display for AppRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
