//! The HTTP side of `--metrics-addr`: `GET /metrics` answers the [`Board`]
//! as Prometheus text; anything else is a 404. HTTP/1 only, on the run's
//! own runtime, one task per scraper connection.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::Board;
use crate::error::Failure;

/// Listen on `addr` (HOST:PORT) and serve the board from now on. An address
/// that cannot be listened on is a usage error, before anything is done.
pub async fn serve(addr: &str) -> Result<Arc<Board>, Failure> {
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        Failure::args(format!(
            "--metrics-addr {addr}: cannot listen there ({e}); give a free HOST:PORT, \
             such as 127.0.0.1:9187"
        ))
    })?;
    let board = Arc::new(Board::default());
    let served = board.clone();
    tokio::spawn(async move {
        loop {
            // A failed accept (out of file descriptors...) loses that scrape only.
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let board = served.clone();
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
    });
    Ok(board)
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
