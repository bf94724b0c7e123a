//! One connection's bytes through the real connection code (serve_http or
//! serve_uwsgi, inside the panic containment of contain.rs) over a
//! socketpair, with a real WSGI app run inline, and the bytes that come
//! back: what the `connection` fuzz target calls. The server never uses it.

use super::pool::{Executor, Inline};
use super::{Shared, conn, contain, stream::Stream};
use crate::options::{Config, Proto};
use crate::wsgi::call::PyApps;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `input` as a client would (then shuts its side down), serves the
/// connection, and returns what the server wrote. Err if serving it did
/// not end within `limit` although the client had hung up: a hang.
pub fn drive(cfg: &Arc<Config>, apps: &Arc<PyApps>, proto: Proto, input: &[u8], limit: Duration) -> Result<Vec<u8>, String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let (ours, mut theirs) = tokio::net::UnixStream::pair().map_err(|e| e.to_string())?;
        let sh = Shared::new(cfg.clone(), Executor::Inline(Inline::new(apps.clone())), 1);
        let peer = conn::Peer {
            addr: b"127.0.0.1".to_vec(),
            port: b"1".to_vec(),
            server_name: b"localhost".to_vec(),
            server_port: b"80".to_vec(),
            trace: Default::default(),
        };
        let trace = peer.trace.clone();
        let ticket = sh.admission.take();
        let server_sh = sh.clone();
        let server = contain::Contained::new(
            async move {
                match proto {
                    Proto::Http => conn::serve_http(Stream::Unix(ours), peer, server_sh, ticket).await,
                    Proto::Uwsgi => conn::serve_uwsgi(Stream::Unix(ours), peer, server_sh, ticket).await,
                }
            },
            trace,
            (1, std::process::id()),
        );
        let client = async move {
            // The server may answer and close before it has read it all.
            let _ = theirs.write_all(input).await;
            let _ = theirs.shutdown().await;
            let mut out = Vec::new();
            let _ = theirs.read_to_end(&mut out).await;
            out
        };
        match tokio::time::timeout(limit, async { tokio::join!(server, client) }).await {
            Ok(((), out)) => Ok(out),
            Err(_) => Err(format!("the connection was still being served {:?} after the client hung up", limit)),
        }
    })
}
