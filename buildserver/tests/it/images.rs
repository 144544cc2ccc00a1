//! Image layers uploaded while they are written (`registry::EarlyUploads`), against Debian's
//! `docker-registry`, and behind a proxy that fails the streamed upload.

use std::path::Path;
use std::sync::Arc;

use paas_buildserver::oci::Layout;
use paas_buildserver::oci::image::AppImage;
use paas_buildserver::oci::layer::{self, Folder, Owner};
use paas_buildserver::registry::{EarlyUploads, Registry, RegistryRef};
use paas_tests::{Fault, FaultyProxy, TestRegistry};

/// A tree with a dependency folder of `mb` MB of random bytes (incompressible: its layer is as
/// big) and a small code file.
fn tree(root: &Path, mb: usize) {
    let deps = root.join("node_modules");
    std::fs::create_dir_all(&deps).expect("mkdir");
    let mut random = vec![0u8; mb << 20];
    std::io::Read::read_exact(
        &mut std::fs::File::open("/dev/urandom").expect("urandom"),
        &mut random,
    )
    .expect("random");
    std::fs::write(deps.join("blob"), random).expect("write");
    std::fs::write(root.join("server.js"), "console.log('hi')\n").expect("write");
}

/// Writes the image of `source` with early uploads to `registry`, then pushes it: (bytes sent
/// early, bytes the push sent, the dependency layer's size).
fn build_and_push(
    runtime: &tokio::runtime::Runtime,
    layout: &Layout,
    registry: &Arc<Registry>,
    source: &Path,
) -> (u64, u64, u64) {
    let early = {
        let _entered = runtime.enter();
        EarlyUploads::new(Arc::clone(registry), "early")
    };
    let folders = [Folder {
        name: "node_modules".to_owned(),
        restored: false,
    }];
    let layers: Vec<layer::Layer> = layer::app_layers(
        layout,
        source,
        &folders,
        Owner::Fixed(2000, 2000),
        layer::EPOCH,
        &|| Some(early.tee()),
        &mut Vec::new(),
    )
    .expect("layers")
    .into_iter()
    .map(|(layer, _)| layer)
    .collect();
    let types = std::collections::BTreeMap::from([("web".to_owned(), "node server.js".to_owned())]);
    let manifest = AppImage {
        commit: "test",
        buildpack: "nodejs",
        process_types: &types,
        stack_layers: &[],
        app_layers: &layers,
    }
    .store(layout)
    .expect("image");
    runtime.block_on(async {
        let sent_early = early.finish().await;
        let pushed = registry
            .push(layout, &manifest, "early", &["latest".to_owned()], &[])
            .await
            .expect("the push");
        (sent_early, pushed, layers[0].size)
    })
}

#[test]
fn a_big_layer_is_uploaded_as_it_is_written_and_pushed_whole_when_that_fails() {
    let registry = TestRegistry::start();
    let proxy = FaultyProxy::start(&registry.addr, Vec::new());
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let layout = Layout::open(&dir.path().join("oci")).expect("layout");
    let client = Arc::new(Registry::new(
        RegistryRef {
            host: proxy.addr.clone(),
            prefix: "paas".to_owned(),
        },
        true,
        None,
    ));

    // The 6 MB layer goes up while it is written; the push then sends the small code layer, the
    // config and the manifest only.
    let first = dir.path().join("first");
    tree(&first, 6);
    let (early, pushed, size) = build_and_push(&runtime, &layout, &client, &first);
    assert_eq!(early, size);
    assert!(pushed < 64 * 1024, "{pushed}");

    // The registry fails the streamed upload: the push uploads the layer from the layout.
    proxy.set_faults(vec![Fault {
        method: "PATCH",
        path_contains: "/blobs/uploads/",
        times: 1,
        response:
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_owned(),
    }]);
    let second = dir.path().join("second");
    tree(&second, 6);
    let (early, pushed, size) = build_and_push(&runtime, &layout, &client, &second);
    assert_eq!(proxy.remaining(), [0], "the streamed upload was tried");
    assert_eq!(early, 0);
    assert!(pushed >= size, "{pushed} < {size}");

    // Both images are whole in the registry: skopeo reads every blob and checks its digest.
    let copy = dir.path().join("copy");
    let output = std::process::Command::new("skopeo")
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{}/paas/early:latest", registry.addr))
        .arg(format!("dir:{}", copy.display()))
        .output()
        .expect("skopeo");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // A layer that fails as it is written cancels its upload: nothing counts, nothing fails.
    let early = {
        let _entered = runtime.enter();
        EarlyUploads::new(Arc::clone(&client), "early")
    };
    let mut tee = early.tee();
    tee.write(&vec![7u8; 5 << 20]);
    drop(tee);
    assert_eq!(runtime.block_on(early.finish()), 0);
}
