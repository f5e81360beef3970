//! A TCP echo server on tokio 1.24, the peer of tidepool's echo benchmark
//! (issue 7). Each connection echoes what it reads until the client closes.
//!
//!   tokio_echo [--port N] [--workers N]
//!
//! `--port 0` (the default) lets the kernel pick; the bound address is printed
//! as `listening on 127.0.0.1:<port>` so a driver can read it from stdout.

use std::io::Write;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// The most one read takes, as in tidepool's echo server.
const READ_SIZE: usize = 16 * 1024;

struct Args {
    port: u16,
    workers: usize,
}

fn usage() -> ! {
    eprintln!("usage: tokio_echo [--port N] [--workers N]");
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut args = Args {
        port: 0,
        workers: 2,
    };
    for (flag, value) in peer_flags::pairs(usage) {
        match flag.as_str() {
            "--port" => args.port = value.parse().unwrap_or_else(|_| usage()),
            "--workers" => args.workers = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if args.workers == 0 {
        usage();
    }
    args
}

async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    // Small messages go out at once rather than waiting for the peer's ACK.
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; READ_SIZE];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

async fn serve(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", listener.local_addr()?)?;
    stdout.flush()?;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(async move {
                    // A reset or broken connection concerns only that client.
                    let _ = echo(stream).await;
                });
            }
            // Out of descriptors (EMFILE) or a connection aborted before it
            // was accepted: back off briefly rather than spin, keep serving.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

fn main() {
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    if let Err(e) = runtime.block_on(serve(args.port)) {
        eprintln!("tokio_echo: {e}");
        std::process::exit(1);
    }
}
