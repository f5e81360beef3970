//! A UDP echo server on tokio 1.24, the peer of tidepool's UDP echo benchmark
//! (issue 20): one socket, one task that receives each datagram with
//! `recv_from` and sends it back to its sender with `send_to`, as tidepool's
//! bench/udp_echo/echo_server does.
//!
//!   tokio_udp_echo [--port N] [--workers N]
//!
//! `--port 0` (the default) lets the kernel pick; the bound address is printed
//! as `listening on 127.0.0.1:<port>` so a driver can read it from stdout.

use std::io::Write;

use tokio::net::UdpSocket;

// The largest UDP payload over IPv4 fits, so no datagram is truncated.
const MAX_DATAGRAM: usize = 65536;

struct Args {
    port: u16,
    workers: usize,
}

fn usage() -> ! {
    eprintln!("usage: tokio_udp_echo [--port N] [--workers N]");
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

// Runs until a receive fails. The echo is best effort, as UDP is: a failed
// send loses that one datagram and the loop goes on.
async fn echo(socket: UdpSocket) -> std::io::Result<()> {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await?;
        let _ = socket.send_to(&buf[..n], from).await;
    }
}

async fn serve(port: u16) -> std::io::Result<()> {
    let socket = UdpSocket::bind(("127.0.0.1", port)).await?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", socket.local_addr()?)?;
    stdout.flush()?;
    // On a worker, as tidepool's block_on runs its task: block_on's own
    // future would run on the main thread.
    tokio::spawn(echo(socket))
        .await
        .expect("the echo task panicked")
}

fn main() {
    let args = parse_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    if let Err(e) = runtime.block_on(serve(args.port)) {
        eprintln!("tokio_udp_echo: {e}");
        std::process::exit(1);
    }
}
