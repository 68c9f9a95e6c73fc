//! HTTPS connections, handed out after their TLS handshake.
//!
//! A background task accepts TCP connections and runs each handshake in its own task
//! with a deadline; finished streams reach [`TlsListener::accept`] through a channel.
//! Doing the handshake inside `accept` would let one silent client stall every other.
//!
//! Each connection takes a permit from the server's connection cap (shared with the
//! plain HTTP listener) as soon as it is accepted, before its handshake, and hands it on
//! with the stream; a connection over the cap is closed at once.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client has to complete its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const QUEUE: usize = 256;

/// A handshaken connection: the stream, the client's address, and its place under the
/// connection cap (free it by dropping it when the connection ends).
pub type Handshaken = (TlsStream<TcpStream>, SocketAddr, OwnedSemaphorePermit);

/// HTTPS connections, ready for HTTP.
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<Handshaken>,
    acceptor: JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `tcp` with `config`, each connection taking a permit of
    /// `connections`.
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>, connections: Arc<Semaphore>) -> io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(QUEUE);
        let acceptor = tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), connections, tx));
        Ok(TlsListener { local, ready, acceptor })
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The next handshaken connection.
    pub async fn accept(&mut self) -> Handshaken {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop holds a sender for as long as this listener lives.
            None => std::future::pending().await,
        }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    connections: Arc<Semaphore>,
    tx: mpsc::Sender<Handshaken>,
) {
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off rather than spin.
                tracing::warn!(%error, "cannot accept an HTTPS connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            // Over the cap: closed at once (no HTTP can be spoken before a handshake).
            ::metrics::counter!("sextant_connections_refused_total", "listener" => "https").increment(1);
            tracing::debug!(%peer, "HTTPS connection refused: too many open connections");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer, permit)).await;
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}
