//! [`Server`] and [`serve`]: bind, run, shut down gracefully.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

use crate::config::ServerConfig;
use crate::error::{Error, Result};
use crate::routes::{router, Backends};

/// A bound server, not yet running: [`Server::local_addr`] tells the port when `addr` asked
/// for port 0.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    router: Router,
    addr: SocketAddr,
}

impl Server {
    /// Checks `config`, builds the router and binds the socket.
    pub async fn bind(config: &ServerConfig, backends: Backends) -> Result<Self> {
        let router = router(config, backends)?;
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: config.addr,
            source,
        })?;
        Ok(Self {
            listener,
            router,
            addr,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes, then stops taking connections and lets the requests
    /// in flight finish.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        tracing::info!(addr = %self.addr, "serving");
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(Error::Serve)
    }
}

/// Binds `config.addr` and serves until Ctrl-C (or SIGTERM on Unix), then shuts down
/// gracefully. Needs a tokio runtime with the I/O driver (`#[tokio::main]`).
pub async fn serve(config: ServerConfig, backends: Backends) -> Result<()> {
    let server = Server::bind(&config, backends).await?;
    server.run_until(shutdown_signal()).await
}

/// Ctrl-C, or SIGTERM on Unix (what `kill`, systemd and container runtimes send). If a handler
/// cannot be installed, that signal is not waited for.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
