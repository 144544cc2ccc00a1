//! Image assembly: the stack's layers (referenced by digest, never re-tarred) and the app's
//! layers (its dependency folders, then its code: stable to volatile), with a canonical config
//! (sorted keys, fixed dates) and manifest, stored in the layout.

use std::collections::BTreeMap;

use serde_json::json;

use super::layer::Layer;
use super::{Descriptor, Layout, MEDIA_CONFIG, MEDIA_LAYER_GZIP, MEDIA_MANIFEST, canonical_json};

/// The fixed creation date of every image (reproducible builds).
pub const CREATED: &str = "1980-01-01T00:00:01Z";
pub const USER: &str = "2000:2000";
/// A dyno's `PATH` (the image's `Env`, and what the local scheduler sets): the app's virtualenv
/// first, so that `python` and its scripts are the app's in every dyno and `paas run`.
pub const PATH: &str =
    "/app/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What goes into an app image. Nothing app-specific beyond the build: the same commit built on
/// the same stack gives the same image for any app.
pub struct AppImage<'a> {
    pub commit: &'a str,
    pub buildpack: &'a str,
    pub process_types: &'a BTreeMap<String, String>,
    pub stack_layers: &'a [Layer],
    /// The app's layers, bottom first: each dependency folder, then the code.
    pub app_layers: &'a [Layer],
}

impl AppImage<'_> {
    /// The image config: env without config vars or PORT (injected at run time), `/app` as the
    /// working dir, a non-root user, `web` (or the first process type) as the command.
    pub fn config(&self) -> serde_json::Value {
        let command = self
            .process_types
            .get("web")
            .or_else(|| self.process_types.values().next());
        let diff_ids: Vec<&str> = self.layers().map(|l| l.diff_id.as_str()).collect();
        let history: Vec<serde_json::Value> = self
            .stack_layers
            .iter()
            .map(|_| json!({"created": CREATED, "created_by": "paas stack"}))
            .chain(self.app_layers.iter().map(|_| {
                json!({"created": CREATED, "created_by": format!("paas build {}", self.commit)})
            }))
            .collect();
        json!({
            "architecture": "amd64",
            "os": "linux",
            "created": CREATED,
            "config": {
                "Env": [format!("PATH={PATH}"), "HOME=/app"],
                "WorkingDir": "/app",
                "User": USER,
                "Cmd": command.map(|c| vec!["/bin/sh".to_owned(), "-c".to_owned(), c.clone()]),
                "Labels": {
                    "org.opencontainers.image.revision": self.commit,
                    "org.opencontainers.image.created": CREATED,
                    "io.paas.buildpack": self.buildpack,
                    "io.paas.process-types": serde_json::to_string(self.process_types).expect("maps serialize"),
                },
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        })
    }

    /// Stores config and manifest (the layers are already in the layout) and returns the
    /// manifest's descriptor.
    pub fn store(&self, layout: &Layout) -> std::io::Result<Descriptor> {
        store(layout, &self.config(), self.layers())
    }

    /// Every layer, bottom first.
    fn layers(&self) -> impl Iterator<Item = &Layer> {
        self.stack_layers.iter().chain(self.app_layers)
    }
}

/// A stack's build image, for builds that run off this host: its layers and a config with the
/// build user and a plain `PATH` (what the build sandbox has).
pub struct BuildImage<'a> {
    pub stack: &'a str,
    pub layers: &'a [Layer],
}

impl BuildImage<'_> {
    /// Stores config and manifest (the layers are already in the layout) and returns the
    /// manifest's descriptor.
    pub fn store(&self, layout: &Layout) -> std::io::Result<Descriptor> {
        let diff_ids: Vec<&str> = self.layers.iter().map(|l| l.diff_id.as_str()).collect();
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "created": CREATED,
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "WorkingDir": "/tmp/build",
                "User": USER,
                "Labels": { "io.paas.stack": self.stack, "io.paas.image": "build" },
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": self.layers.iter().map(|_| json!({"created": CREATED, "created_by": "paas stack"})).collect::<Vec<_>>(),
        });
        store(layout, &config, self.layers.iter())
    }
}

/// Stores an image's config and manifest (its layers are in the layout already) and returns the
/// manifest's descriptor.
fn store<'a>(
    layout: &Layout,
    config: &serde_json::Value,
    layers: impl Iterator<Item = &'a Layer>,
) -> std::io::Result<Descriptor> {
    let config = layout.put_blob(MEDIA_CONFIG, &canonical_json(config))?;
    let layers: Vec<serde_json::Value> = layers
        .map(|l| json!({"mediaType": MEDIA_LAYER_GZIP, "digest": l.digest, "size": l.size}))
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": config.digest, "size": config.size},
        "layers": layers,
    });
    layout.put_blob(MEDIA_MANIFEST, &canonical_json(&manifest))
}
