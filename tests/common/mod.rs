//! Shared by the root integration tests: the real SmolLM2-135M-Instruct and the embedded
//! server on loopback. Each test binary uses some of it, hence `allow(dead_code)` on each item.

use std::path::Path;

use navab::lm::{LanguageModel, LoadOptions};
use navab::server::{Backends, Server, ServerConfig};

/// The real SmolLM2-135M-Instruct (Q4_1 GGUF) from the models directory, loaded with `options`.
#[allow(dead_code)]
pub fn smollm2(options: &LoadOptions) -> LanguageModel {
    let models = navab::core::testing::models_dir(Path::new(env!("CARGO_MANIFEST_DIR")));
    let path = models.join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "{} is missing: run scripts/fetch-models.sh",
        path.display()
    );
    LanguageModel::load(path, options).unwrap()
}

/// A server running on its own runtime and thread until dropped.
#[allow(dead_code)]
pub struct Running {
    /// Its base URL, `http://127.0.0.1:PORT/v1`.
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[allow(dead_code)]
/// Binds `config` (its address should be `127.0.0.1:0`) and serves `backends` until the
/// returned handle is dropped.
pub fn serve(config: &ServerConfig, backends: Backends) -> Running {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime.block_on(Server::bind(config, backends)).unwrap();
    let url = format!("http://{}/v1", server.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        runtime
            .block_on(server.run_until(async {
                let _ = stopped.await;
            }))
            .unwrap();
    });
    Running {
        url,
        stop: Some(stop),
        thread: Some(thread),
    }
}
