//! The TCP echo benchmark's client on tokio 1.24, doing what
//! bench/tcp_echo/echo_client does on tidepool: `--connections` connections
//! each do ping-pong round trips of one `--message_bytes` message (write it,
//! read it back whole, check it) for `--seconds`, after `--warmup_ms` of the
//! same not counted, and it prints the same line:
//!
//!   result connections=C message_bytes=M seconds=S round_trips=N
//!       rtt_p50_us=A rtt_p99_us=B rps=X errors=E
//!
//! (one line). Any error ends that connection and is counted; the exit
//! status is then 1.
//!
//!   tokio_echo_client --target 127.0.0.1:7000 [--connections N]
//!       [--message_bytes N] [--seconds S] [--warmup_ms N] [--workers N]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    target: SocketAddr,
    connections: usize,
    message_bytes: usize,
    seconds: f64,
    warmup_ms: u64,
    workers: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: tokio_echo_client --target IP:PORT [--connections N] \
         [--message_bytes N] [--seconds S] [--warmup_ms N] [--workers N]"
    );
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut target = None;
    let mut args = Args {
        target: "127.0.0.1:7000".parse().unwrap(),
        connections: 1,
        message_bytes: 64,
        seconds: 3.0,
        warmup_ms: 300,
        workers: 2,
    };
    for (flag, value) in peer_flags::pairs(usage) {
        match flag.as_str() {
            "--target" => target = Some(value.parse().unwrap_or_else(|_| usage())),
            "--connections" => args.connections = value.parse().unwrap_or_else(|_| usage()),
            "--message_bytes" => args.message_bytes = value.parse().unwrap_or_else(|_| usage()),
            "--seconds" => args.seconds = value.parse().unwrap_or_else(|_| usage()),
            "--warmup_ms" => args.warmup_ms = value.parse().unwrap_or_else(|_| usage()),
            "--workers" => args.workers = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if let Some(t) = target {
        args.target = t;
    }
    if args.workers == 0 || args.connections == 0 || args.message_bytes == 0 || args.seconds <= 0.0
    {
        usage();
    }
    args
}

// The round-trip times (ns) measured on one connection, or why it failed.
async fn ping_pong(
    mut stream: TcpStream,
    message: &[u8],
    measure_from: Instant,
    deadline: Instant,
) -> Result<Vec<u64>, String> {
    let mut rtts = Vec::new();
    let mut echo = vec![0u8; message.len()];
    loop {
        let start = Instant::now();
        if start >= deadline {
            return Ok(rtts);
        }
        stream.write_all(message).await.map_err(|e| e.to_string())?;
        stream.read_exact(&mut echo).await.map_err(|e| e.to_string())?;
        let end = Instant::now();
        if echo != message {
            return Err("the echo differs from the message".to_string());
        }
        if start >= measure_from {
            rtts.push((end - start).as_nanos() as u64);
        }
    }
}

// The nearest-rank percentile `p` (0-100) of sorted values, in us.
fn percentile_us(sorted_ns: &[u64], p: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_ns.len() as f64).ceil().max(1.0) as usize;
    sorted_ns[rank.min(sorted_ns.len()) - 1] as f64 / 1e3
}

async fn run(args: &Args, message: Vec<u8>) -> (Vec<u64>, u64, String) {
    let message = std::sync::Arc::new(message);
    // Every connection is open before any round trip, so the measurement
    // does not include connection setup.
    let mut streams = Vec::new();
    for _ in 0..args.connections {
        match TcpStream::connect(args.target).await {
            Ok(s) => {
                if let Err(e) = s.set_nodelay(true) {
                    return (Vec::new(), 1, e.to_string());
                }
                streams.push(s);
            }
            Err(e) => return (Vec::new(), 1, e.to_string()),
        }
    }
    let measure_from = Instant::now() + Duration::from_millis(args.warmup_ms);
    let deadline = measure_from + Duration::from_secs_f64(args.seconds);
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|s| {
            let message = message.clone();
            tokio::spawn(async move { ping_pong(s, &message, measure_from, deadline).await })
        })
        .collect();
    let mut rtts = Vec::new();
    let mut errors = 0u64;
    let mut first_error = String::new();
    for t in tasks {
        let outcome = t.await.unwrap_or_else(|e| Err(e.to_string()));
        match outcome {
            Ok(mut r) => rtts.append(&mut r),
            Err(e) => {
                if errors == 0 {
                    first_error = e;
                }
                errors += 1;
            }
        }
    }
    (rtts, errors, first_error)
}

fn main() {
    let args = parse_args();
    // Varied bytes, as echo_client sends, so that a server that mixed up or
    // dropped bytes is caught.
    let message: Vec<u8> = (0..args.message_bytes)
        .map(|i| b'!' + ((i * 31 + 7) % 90) as u8)
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()
        .expect("building the tokio runtime");
    let (mut rtts, errors, first_error) = runtime.block_on(run(&args, message));
    rtts.sort_unstable();
    println!(
        "result connections={} message_bytes={} seconds={} round_trips={} \
         rtt_p50_us={:.1} rtt_p99_us={:.1} rps={:.0} errors={}",
        args.connections,
        args.message_bytes,
        args.seconds,
        rtts.len(),
        percentile_us(&rtts, 50.0),
        percentile_us(&rtts, 99.0),
        rtts.len() as f64 / args.seconds,
        errors
    );
    if errors > 0 {
        eprintln!("tokio_echo_client: {errors} connection(s) failed, first: {first_error}");
        std::process::exit(1);
    }
}
