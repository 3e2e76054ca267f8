//! The HTTP side of `--metrics-addr`: `GET /metrics` answers the [`Board`]
//! as Prometheus text; anything else is a 404. HTTP/1 only.
//!
//! It runs on a thread of its own, with its own small runtime: the run's
//! runtime has one thread, which a long CPU-bound stretch of the copy (or a
//! paused failpoint) may hold, and a scrape must be answered all the same.

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Board;
use crate::error::Failure;

/// `--metrics-addr`, when given: listen on it (HOST:PORT) and serve the
/// board from now on, with the positions of a follow recorded in `dir`. An
/// address that cannot be listened on is a usage error, before anything is
/// done.
pub fn serve_if(addr: Option<&str>, dir: &Path) -> Result<Option<Arc<Board>>, Failure> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let cannot = |e: std::io::Error| {
        Failure::args(format!(
            "--metrics-addr {addr}: cannot listen there ({e}); give a free HOST:PORT, \
             such as 127.0.0.1:9187"
        ))
    };
    let listener = std::net::TcpListener::bind(addr).map_err(cannot)?;
    listener.set_nonblocking(true).map_err(cannot)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| Failure::internal(format!("--metrics-addr: cannot start its runtime: {e}")))?;
    let board = Arc::new(Board::default());
    board.follow_changes_in(dir);
    let served = board.clone();
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || runtime.block_on(accept(listener, served)))
        .map_err(|e| Failure::internal(format!("--metrics-addr: cannot start its thread: {e}")))?;
    Ok(Some(board))
}

/// Answer scrapers until the process ends.
async fn accept(listener: std::net::TcpListener, board: Arc<Board>) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        tracing::warn!("--metrics-addr: the listening socket cannot be used; no metrics served");
        return;
    };
    loop {
        // A failed accept (out of file descriptors...) loses that scrape only.
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let board = board.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let board = board.clone();
                async move { Ok::<_, Infallible>(answer(&board, &request)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(board: &Board, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, body) = match (request.method(), request.uri().path()) {
        (&Method::GET | &Method::HEAD, "/metrics") => (StatusCode::OK, board.render()),
        (_, "/metrics") => (StatusCode::METHOD_NOT_ALLOWED, "GET only\n".to_string()),
        _ => (StatusCode::NOT_FOUND, "see /metrics\n".to_string()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
