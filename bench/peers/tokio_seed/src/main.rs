//! The seed's memory-scaling workload (issue 5) on tokio 1.24, the same as
//! bench/memory_scaling/memory_scaling.cc, printing the same result line so
//! tools/memory_scaling.sh can put them side by side. One configuration per
//! process; the allocator is whatever serves malloc (LD_PRELOAD,
//! MALLOC_ARENA_MAX, GLIBC_TUNABLES).
//!
//!   tokio_seed REQUESTS PAYLOAD_BYTES CONCURRENCY [ALLOCATOR_LABEL]

use std::fmt::Write;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHUNK: usize = 4096;
const METADATA_STRINGS: usize = 256;
const METADATA_RECYCLED_PER_REQUEST: usize = 8;
const KEEP_ALIVE: Duration = Duration::from_millis(1000);

// A "Key:   123 kB" field of /proc/self/status, in KiB.
fn proc_status_kb(key: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    for line in status.lines() {
        if let Some(rest) = line.strip_prefix(key).and_then(|r| r.strip_prefix(':')) {
            return rest
                .trim()
                .trim_end_matches(" kB")
                .trim()
                .parse()
                .unwrap_or(0);
        }
    }
    0
}

fn threads_in_process() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| dir.count())
        .unwrap_or(0)
}

fn make_body(request: u64, bytes: usize) -> Vec<u8> {
    let mut body = vec![0u8; bytes];
    let mut x = (request + 1).wrapping_mul(0x9E3779B97F4A7C15);
    let mut i = 0;
    while i + 8 <= bytes {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        body[i..i + 8].copy_from_slice(&x.to_ne_bytes());
        i += 8;
    }
    body
}

// Both containers grow one element at a time, as in the C++ peer.
fn handle(body: &[u8]) -> String {
    let mut tokens: Vec<u32> = Vec::new();
    for word in body.chunks_exact(4) {
        tokens.push(u32::from_ne_bytes(word.try_into().unwrap()));
    }
    let mut response = String::new();
    let mut i = 0;
    while i + 1 < tokens.len() {
        write!(response, "{:08x}", tokens[i] ^ tokens[i + 1]).unwrap();
        i += 2;
    }
    response
}

struct Load {
    payload: usize,
    requests: u64,
    next: AtomicU64,
    wrong: AtomicU64,
}

async fn request_loop(load: Arc<Load>) {
    let mut metadata: Vec<String> = (0..METADATA_STRINGS)
        .map(|i| "m".repeat(24 + i % 64))
        .collect();
    let mut recycle = 0;
    loop {
        let r = load.next.fetch_add(1, Ordering::Relaxed);
        if r >= load.requests {
            break;
        }
        for i in 0..METADATA_RECYCLED_PER_REQUEST {
            metadata[recycle] = format!("request {} header {} {}", r, i, "h".repeat(recycle % 48));
            recycle = (recycle + 1) % METADATA_STRINGS;
        }
        let body = Arc::new(make_body(r, load.payload));
        let for_blocking = Arc::clone(&body);
        let response = tokio::task::spawn_blocking(move || handle(&for_blocking))
            .await
            .expect("blocking call");
        // The worker frees the body, as in the C++ peer.
        drop(body);
        if response.len() != load.payload / 8 * 8 {
            load.wrong.fetch_add(1, Ordering::Relaxed);
        }
        for piece in response.as_bytes().chunks(CHUNK) {
            let chunk = piece.to_vec();
            black_box(&chunk);
            drop(chunk);
            tokio::task::yield_now().await;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: tokio_seed REQUESTS PAYLOAD_BYTES CONCURRENCY [ALLOCATOR_LABEL]");
        std::process::exit(2);
    }
    let requests: u64 = args[1].parse().expect("REQUESTS");
    let payload: usize = args[2].parse().expect("PAYLOAD_BYTES");
    let concurrency: usize = args[3].parse().expect("CONCURRENCY");
    let allocator = args.get(4).cloned().unwrap_or_else(|| "system".to_string());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .thread_keep_alive(KEEP_ALIVE)
        .build()
        .expect("building the tokio runtime");
    let idle_rss_kb = proc_status_kb("VmRSS");
    let threads_before = threads_in_process();
    let load = Arc::new(Load {
        payload,
        requests,
        next: AtomicU64::new(0),
        wrong: AtomicU64::new(0),
    });
    let start = Instant::now();
    rt.block_on(async {
        let handles: Vec<_> = (0..concurrency)
            .map(|_| tokio::spawn(request_loop(Arc::clone(&load))))
            .collect();
        for h in handles {
            h.await.expect("request loop");
        }
    });
    let load_s = start.elapsed().as_secs_f64();
    let rss_last_kb = proc_status_kb("VmRSS");
    // tokio 1.24 has no stable blocking-pool metrics; the threads beyond
    // those present before the load are the blocking pool's.
    let threads_after_load = threads_in_process().saturating_sub(threads_before);
    std::thread::sleep(KEEP_ALIVE + Duration::from_secs(1));
    let rss_idle_kb = proc_status_kb("VmRSS");
    let threads_after_idle = threads_in_process().saturating_sub(threads_before);
    let wrong = load.wrong.load(Ordering::Relaxed);
    println!(
        "result impl=tokio allocator={} policy=none requests={} payload={} concurrency={} \
         idle_rss_kb={} rss_last_kb={} hwm_kb={} vmpeak_kb={} rss_idle_kb={} load_s={:.3} \
         req_per_s={:.1} threads_after_load={} threads_spawned=-1 threads_after_idle={} \
         allocated=-1 arena=-1 free_held=-1 releasable=-1 wrong={}",
        allocator,
        requests,
        payload,
        concurrency,
        idle_rss_kb,
        rss_last_kb,
        proc_status_kb("VmHWM"),
        proc_status_kb("VmPeak"),
        rss_idle_kb,
        load_s,
        requests as f64 / load_s,
        threads_after_load,
        threads_after_idle,
        wrong
    );
    if wrong != 0 {
        std::process::exit(1);
    }
}
