//! tokio 1.24's blocking pool under the workloads of bench/blocking_pool.cc,
//! with the same output, so bench/compare_blocking.sh can put them side by
//! side.
//!
//!   tokio_blocking shrink KEEP_ALIVE_MS TRICKLE_S
//!   tokio_blocking latency [REPETITIONS]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const WORKERS: usize = 2;
const MAX_BLOCKING_THREADS: usize = 512;

const BURST: usize = 96;
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

const CALLERS: [usize; 3] = [1, 16, 64];
const NUM_BATCHES: usize = 100;
const BATCH_SIZE: usize = 16;

fn threads_in_process() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|dir| dir.count())
        .unwrap_or(0)
}

// Neither peer enables timers or I/O drivers: tidepool has neither, and
// blocking calls never touch them.
fn runtime(keep_alive: Option<Duration>) -> tokio::runtime::Runtime {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder
        .worker_threads(WORKERS)
        .max_blocking_threads(MAX_BLOCKING_THREADS);
    if let Some(keep_alive) = keep_alive {
        builder.thread_keep_alive(keep_alive);
    }
    builder.build().expect("building the tokio runtime")
}

fn shrink(keep_alive: Duration, trickle: Duration) {
    let rt = runtime(Some(keep_alive));
    let start = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    // The burst waits for the first sample, so that it shows the process
    // before the burst: main thread, workers and the sampler itself, which is
    // a plain thread counted in every sample.
    let (first_sample_tx, first_sample) = mpsc::channel();
    let sampler = {
        let done = Arc::clone(&done);
        thread::spawn(move || {
            let mut samples = Vec::new();
            let mut next = start;
            while !done.load(Ordering::Acquire) {
                samples.push((next - start, threads_in_process()));
                if samples.len() == 1 {
                    first_sample_tx.send(()).expect("main thread waits");
                }
                next += SAMPLE_EVERY;
                thread::sleep(next.saturating_duration_since(Instant::now()));
            }
            samples
        })
    };
    first_sample.recv().expect("first sample");

    let burst_end = rt.block_on(async {
        // Each call waits for all the others, so the pool must really run
        // BURST threads at once.
        let barrier = Arc::new(Barrier::new(BURST));
        let mut handles = Vec::with_capacity(BURST);
        for _ in 0..BURST {
            let barrier = Arc::clone(&barrier);
            handles.push(tokio::task::spawn_blocking(move || {
                barrier.wait();
            }));
        }
        for h in handles {
            h.await.expect("burst call");
        }
        start.elapsed()
    });
    let trickle_calls = rt.block_on(async {
        let until = Instant::now() + trickle;
        let mut calls = 0u64;
        while Instant::now() < until {
            tokio::task::spawn_blocking(|| thread::sleep(Duration::from_millis(1)))
                .await
                .expect("trickle call");
            calls += 1;
        }
        calls
    });
    done.store(true, Ordering::Release);
    let samples = sampler.join().expect("sampler thread");
    let baseline = samples[0].1;

    println!("# pool=tokio keep_alive_ms={}", keep_alive.as_millis());
    println!("# baseline_threads={baseline}");
    println!("# burst_end_ms={}", burst_end.as_millis());
    println!("# trickle_calls={trickle_calls}");
    println!("time_ms,threads");
    for (t, threads) in samples {
        println!("{},{}", t.as_millis(), threads);
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

// tokio's benches/spawn_blocking.rs: each caller runs NUM_BATCHES batches of
// BATCH_SIZE no-op calls, spawned together and awaited together. Handles are
// awaited in order (tidepool has no JoinSet). Returns every batch's round
// trip.
async fn callers(c: usize) -> Vec<Duration> {
    let mut tasks = Vec::with_capacity(c);
    for _ in 0..c {
        tasks.push(tokio::spawn(async {
            let mut batch_times = Vec::with_capacity(NUM_BATCHES);
            for _ in 0..NUM_BATCHES {
                let t0 = Instant::now();
                let mut batch = Vec::with_capacity(BATCH_SIZE);
                for _ in 0..BATCH_SIZE {
                    batch.push(tokio::task::spawn_blocking(|| black_box(0)));
                }
                for h in batch {
                    black_box(h.await.expect("no-op call"));
                }
                batch_times.push(t0.elapsed());
            }
            batch_times
        }));
    }
    let mut all = Vec::with_capacity(c * NUM_BATCHES);
    for t in tasks {
        all.extend(t.await.expect("caller task"));
    }
    all
}

fn latency(repetitions: usize) {
    println!("c,rep,total_ms,calls_per_s,us_per_call,batch_p50_us,threads");
    for c in CALLERS {
        // One runtime per level, warmed up once so thread start-up is not
        // timed (as in criterion's warm-up); the default keep-alive (10 s)
        // keeps the warm threads for the measured repetitions.
        let rt = runtime(None);
        rt.block_on(callers(c));
        let calls = (c * NUM_BATCHES * BATCH_SIZE) as f64;
        let mut totals = Vec::new();
        let mut batch_p50s = Vec::new();
        for rep in 1..=repetitions {
            let t0 = Instant::now();
            let batches = rt.block_on(callers(c));
            let total = t0.elapsed().as_secs_f64();
            let p50 = median(batches.iter().map(|d| d.as_secs_f64()).collect());
            println!(
                "{c},{rep},{:.3},{:.0},{:.3},{:.1},{}",
                total * 1e3,
                calls / total,
                total * 1e6 / calls,
                p50 * 1e6,
                threads_in_process()
            );
            totals.push(total);
            batch_p50s.push(p50);
        }
        let total = median(totals);
        println!(
            "{c},median,{:.3},{:.0},{:.3},{:.1},{}",
            total * 1e3,
            calls / total,
            total * 1e6 / calls,
            median(batch_p50s) * 1e6,
            threads_in_process()
        );
    }
}

fn usage() -> ! {
    eprintln!("usage: tokio_blocking shrink KEEP_ALIVE_MS TRICKLE_S");
    eprintln!("       tokio_blocking latency [REPETITIONS]");
    std::process::exit(2);
}

// A positive integer argument, or usage().
fn arg(args: &[String], i: usize, default: Option<u64>) -> u64 {
    let v = match args.get(i) {
        Some(s) => s.parse().unwrap_or_else(|_| usage()),
        None => default.unwrap_or_else(|| usage()),
    };
    if v == 0 {
        usage();
    }
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("shrink") => shrink(
            Duration::from_millis(arg(&args, 2, None)),
            Duration::from_secs(arg(&args, 3, None)),
        ),
        Some("latency") => latency(arg(&args, 2, Some(10)) as usize),
        _ => usage(),
    }
}
