//! Shared by the root integration tests: the embedded server on loopback.

use navab::server::{Backends, Server, ServerConfig};

/// A server running on its own runtime and thread until dropped.
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
