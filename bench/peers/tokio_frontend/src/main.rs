//! An HTTP/1.1 frontend on tokio 1.24, the peer of tidepool's examples/frontend
//! (issue 7): both servers do byte-identical work for each request, so their
//! throughput and memory can be compared.
//!
//!   tokio_frontend [--port N] [--workers N] [--max_blocking_threads N]
//!                  [--keep_alive_ms N]
//!
//! `POST /v1/generate` with `{"prompt": "..."}` parses and tokenizes the prompt
//! in spawn_blocking and streams the token ids back as a chunked response.
//! `GET /healthz` and `GET /metrics` (Prometheus text) complete the API.
//! Once bound it prints `listening on 127.0.0.1:<port>`.

mod http;
mod tokenize;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

pub struct Config {
    port: u16,
    workers: usize,
    max_blocking_threads: usize,
    keep_alive_ms: u64,
}

fn usage() -> ! {
    eprintln!(
        "usage: tokio_frontend [--port N] [--workers N] [--max_blocking_threads N] \
         [--keep_alive_ms N]"
    );
    std::process::exit(2);
}

fn number<T: std::str::FromStr>(value: &str) -> T {
    value.parse().unwrap_or_else(|_| usage())
}

// Accepts both `--flag value` and `--flag=value`, as absl flags do on the
// tidepool side.
fn parse_args() -> Config {
    // tokio's own defaults for the blocking pool: 512 threads, 10 s keep-alive.
    let mut config = Config {
        port: 0,
        workers: 2,
        max_blocking_threads: 512,
        keep_alive_ms: 10_000,
    };
    for (flag, value) in peer_flags::pairs(usage) {
        match flag.as_str() {
            "--port" => config.port = number(&value),
            "--workers" => config.workers = number(&value),
            "--max_blocking_threads" => config.max_blocking_threads = number(&value),
            "--keep_alive_ms" => config.keep_alive_ms = number(&value),
            _ => usage(),
        }
    }
    if config.workers == 0 || config.max_blocking_threads == 0 {
        usage();
    }
    config
}

async fn serve(config: Arc<Config>) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", config.port)).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let config = Arc::clone(&config);
                tokio::spawn(http::serve_connection(stream, config));
            }
            // Out of descriptors (EMFILE) or a connection aborted before it
            // was accepted: back off briefly rather than spin, keep serving.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

fn main() {
    let config = Arc::new(parse_args());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.workers)
        .max_blocking_threads(config.max_blocking_threads)
        .thread_keep_alive(Duration::from_millis(config.keep_alive_ms))
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    if let Err(e) = runtime.block_on(serve(config)) {
        eprintln!("tokio_frontend: {e}");
        std::process::exit(1);
    }
}
