//! The unpacked image layers under dynos' overlays, `<data-dir>/layers/<hex>`: made once per
//! digest (hard-linked from a stack's own unpacked copy when it has one, else unpacked from the
//! blob), held by whatever runs on them, and removed once nothing has held them for a while.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::data_dir::DataDir;
use crate::oci::Layout;

/// How long a layer no dyno uses stays unpacked after a deploy: a rollback to a recent release
/// finds its layers ready.
pub const IDLE_GRACE: Duration = Duration::from_secs(600);

#[derive(Clone)]
pub struct LayerCache {
    data: DataDir,
    layout: Arc<Layout>,
    /// Held while layers are made or removed, so a layer being removed is never handed out.
    making: Arc<Mutex<()>>,
    uses: Arc<Mutex<HashMap<PathBuf, Uses>>>,
}

/// How many holds use a layer, and since when none has.
#[derive(Default)]
struct Uses {
    holds: usize,
    idle_since: Option<Instant>,
}

/// An image's unpacked layers, bottom first, kept on disk until this is dropped.
pub struct LayerHold {
    dirs: Vec<PathBuf>,
    uses: Arc<Mutex<HashMap<PathBuf, Uses>>>,
}

impl LayerHold {
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }
}

impl Drop for LayerHold {
    fn drop(&mut self) {
        let mut uses = self.uses.lock().unwrap_or_else(PoisonError::into_inner);
        for dir in &self.dirs {
            if let Some(use_) = uses.get_mut(dir) {
                use_.holds -= 1;
                if use_.holds == 0 {
                    use_.idle_since = Some(Instant::now());
                }
            }
        }
    }
}

impl LayerCache {
    pub fn new(data: DataDir, layout: Arc<Layout>) -> Self {
        Self {
            data,
            layout,
            making: Arc::default(),
            uses: Arc::default(),
        }
    }

    /// The layers of image `manifest_digest` unpacked, held until the hold drops.
    pub async fn hold(&self, manifest_digest: &str) -> anyhow::Result<LayerHold> {
        let digests: Vec<String> = self
            .layout
            .manifest(manifest_digest)?
            .layers
            .into_iter()
            .map(|l| l.digest)
            .collect();
        let cache = self.clone();
        tokio::task::spawn_blocking(move || {
            let _making = cache.making.lock().unwrap_or_else(PoisonError::into_inner);
            let dir = cache.dir();
            // The stacks are read only when a layer is not unpacked here yet.
            let unpacked = digests
                .iter()
                .all(|d| dir.join(&d["sha256:".len()..]).is_dir());
            let seeds = if unpacked {
                Vec::new()
            } else {
                crate::build::stack::unpacked_layer_dirs(&cache.data)
            };
            let dirs = digests
                .iter()
                .map(|d| crate::oci::unpack::cached(&cache.layout, &dir, d, &seeds))
                .collect::<anyhow::Result<Vec<PathBuf>>>()?;
            let mut uses = cache.uses.lock().unwrap_or_else(PoisonError::into_inner);
            for dir in &dirs {
                uses.entry(dir.clone()).or_default().holds += 1;
            }
            Ok(LayerHold {
                dirs,
                uses: Arc::clone(&cache.uses),
            })
        })
        .await?
    }

    /// Removes the unpacked layers nothing has held for `idle_for` (a layer found on disk that
    /// this daemon never handed out counts as idle from now on, or at once for zero).
    pub async fn collect(&self, idle_for: Duration) {
        let cache = self.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let _making = cache.making.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            let mut removable = Vec::new();
            {
                let mut uses = cache.uses.lock().unwrap_or_else(PoisonError::into_inner);
                for entry in std::fs::read_dir(cache.dir())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let path = entry.path();
                    let use_ = uses.entry(path.clone()).or_default();
                    let idle_since = *use_.idle_since.get_or_insert(now);
                    if use_.holds == 0 && now.duration_since(idle_since) >= idle_for {
                        uses.remove(&path);
                        removable.push(path);
                    }
                }
            }
            for path in removable {
                if let Err(e) = std::fs::remove_dir_all(&path) {
                    tracing::warn!(layer = %path.display(), "cannot remove an unpacked layer: {e}");
                }
            }
        })
        .await;
    }

    fn dir(&self) -> PathBuf {
        self.data.root().join("layers")
    }
}
