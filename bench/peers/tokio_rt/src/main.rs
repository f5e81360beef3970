//! tokio 1.24 under the workloads of tokio's benches/rt_multi_threaded.rs,
//! sized and shaped like tidepool's bench/rt_multi_threaded.cc (and the
//! mpsc cases of bench/sync_bench.cc), as a plain binary. bench/compare runs
//! it beside tidepool, bench/peers/asio_rt and bench/peers/tbb_rt.
//!
//!   tokio_rt [--workers N] [--reps R] [--min-time-ms M] [--warmup-ms W]
//!            [--filter SUBSTRING]
//!
//! One line per case:
//!   case=<name> iters=<n> median_ns=<x> min_ns=<x> max_ns=<x> reps=<r>
//! where an iteration is one whole workload (say, 10,000 spawns), timed
//! after a warm-up, and median/min/max are over `reps` repetitions of at
//! least M ms each.
//!
//! Where tidepool and tokio differ, the workload follows tidepool so that
//! both do the same work:
//!  - tidepool's block_on runs its task on a worker, tokio's runs the future
//!    on the calling thread, where tokio::spawn goes to the injection queue.
//!    So every "local" case runs its driver as a spawned task, on a worker,
//!    and block_on only waits for that task.
//!  - The driver waits for the last task with a Notify (tidepool::Notify
//!    there), not a blocking std channel: it is a task on a worker.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot, Notify};

const NUM_SPAWN: usize = 10_000;
const YIELD_TASKS: usize = 200;
const NUM_YIELD: usize = 1_000;
const NUM_PINGS: usize = 1_000;
const CHAIN: usize = 1_000;
const BLOCKING_CALLS: usize = 16;
const MESSAGES: usize = 100_000;
const BOUNDED_CAPACITY: usize = 1_024;

struct Opts {
    workers: usize,
    reps: usize,
    min_time: Duration,
    warmup: Duration,
    filter: String,
}

fn parse_opts() -> Opts {
    let mut opts = Opts {
        workers: 2,
        reps: 5,
        min_time: Duration::from_millis(100),
        warmup: Duration::from_millis(50),
        filter: String::new(),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).unwrap_or_else(|| usage(&args[i]));
        let number = || value.parse::<u64>().unwrap_or_else(|_| usage(value));
        match args[i].as_str() {
            "--workers" => opts.workers = number() as usize,
            "--reps" => opts.reps = number() as usize,
            "--min-time-ms" => opts.min_time = Duration::from_millis(number()),
            "--warmup-ms" => opts.warmup = Duration::from_millis(number()),
            "--filter" => opts.filter = value.clone(),
            _ => usage(&args[i]),
        }
        i += 2;
    }
    if opts.workers == 0 || opts.reps == 0 {
        usage("--workers and --reps must be positive");
    }
    opts
}

fn usage(what: &str) -> ! {
    eprintln!(
        "tokio_rt: bad argument {what}\nusage: tokio_rt [--workers N] [--reps R] \
         [--min-time-ms M] [--warmup-ms W] [--filter SUBSTRING]"
    );
    std::process::exit(2);
}

// Runs `iteration` for the warm-up time, then `reps` times for at least
// min_time each, and prints the per-iteration figures.
fn measure(opts: &Opts, name: &str, mut iteration: impl FnMut()) {
    if !name.contains(&opts.filter) {
        return;
    }
    let warmup_start = Instant::now();
    while warmup_start.elapsed() < opts.warmup {
        iteration();
    }
    let mut per_iter = Vec::with_capacity(opts.reps);
    let mut total = 0u64;
    for _ in 0..opts.reps {
        let start = Instant::now();
        let mut n = 0u64;
        loop {
            iteration();
            n += 1;
            if start.elapsed() >= opts.min_time {
                break;
            }
        }
        per_iter.push(start.elapsed().as_nanos() as f64 / n as f64);
        total += n;
    }
    per_iter.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = if per_iter.len() % 2 == 1 {
        per_iter[per_iter.len() / 2]
    } else {
        (per_iter[per_iter.len() / 2 - 1] + per_iter[per_iter.len() / 2]) / 2.0
    };
    println!(
        "case={name} iters={total} median_ns={median:.0} min_ns={:.0} max_ns={:.0} reps={}",
        per_iter[0],
        per_iter[per_iter.len() - 1],
        per_iter.len()
    );
}

fn runtime(workers: usize) -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("building the tokio runtime")
}

// Counts tasks down; the last one wakes the driver.
struct Countdown {
    remaining: AtomicUsize,
    done: Notify,
}

impl Countdown {
    fn new() -> Arc<Self> {
        Arc::new(Countdown {
            remaining: AtomicUsize::new(0),
            done: Notify::new(),
        })
    }

    fn arm(&self, n: usize) {
        self.remaining.store(n, Ordering::Relaxed);
    }

    fn count_down(&self) {
        // AcqRel: the last decrement sees every other task's, so the driver,
        // woken through the Notify, sees all of them done.
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.notify_one();
        }
    }

    fn check_done(&self) {
        assert_eq!(self.remaining.load(Ordering::Acquire), 0, "lost or extra tasks");
    }
}

// Runs `driver` as a task on a worker and waits for it from this thread.
fn on_worker<F>(rt: &Runtime, driver: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    rt.block_on(rt.spawn(driver)).expect("driver task failed")
}

fn spawn_many_local(opts: &Opts) {
    let rt = runtime(opts.workers);
    let c = Countdown::new();
    measure(opts, "spawn_many_local", || {
        let c = Arc::clone(&c);
        on_worker(&rt, async move {
            c.arm(NUM_SPAWN);
            for _ in 0..NUM_SPAWN {
                let c = Arc::clone(&c);
                tokio::spawn(async move { c.count_down() });
            }
            c.done.notified().await;
            c.check_done();
        });
    });
}

// As in tokio's bench: spawned from outside the runtime (the injection
// queue), joined through JoinHandles.
fn spawn_many_remote_idle(opts: &Opts) {
    let rt = runtime(opts.workers);
    let mut handles = Vec::with_capacity(NUM_SPAWN);
    measure(opts, "spawn_many_remote_idle", || {
        for _ in 0..NUM_SPAWN {
            handles.push(rt.spawn(async { 1usize }));
        }
        let sum = rt.block_on(async {
            let mut sum = 0;
            for h in handles.drain(..) {
                sum += h.await.expect("task failed");
            }
            sum
        });
        assert_eq!(sum, NUM_SPAWN);
    });
}

// Spawned from outside, as in tokio's bench; items are yields.
fn yield_many(opts: &Opts) {
    let rt = runtime(opts.workers);
    let c = Countdown::new();
    measure(opts, "yield_many", || {
        c.arm(YIELD_TASKS);
        for _ in 0..YIELD_TASKS {
            let c = Arc::clone(&c);
            rt.spawn(async move {
                for _ in 0..NUM_YIELD {
                    tokio::task::yield_now().await;
                }
                c.count_down();
            });
        }
        let waiter = Arc::clone(&c);
        rt.block_on(async move { waiter.done.notified().await });
        c.check_done();
    });
}

// tokio's round: A spawns B, sends on oneshot 1; B receives and replies on
// oneshot 2; A receives and counts down.
fn ping_pong(opts: &Opts) {
    let rt = runtime(opts.workers);
    let c = Countdown::new();
    measure(opts, "ping_pong", || {
        let c = Arc::clone(&c);
        on_worker(&rt, async move {
            c.arm(NUM_PINGS);
            for _ in 0..NUM_PINGS {
                let c = Arc::clone(&c);
                tokio::spawn(async move {
                    let (tx1, rx1) = oneshot::channel::<usize>();
                    let (tx2, rx2) = oneshot::channel::<usize>();
                    tokio::spawn(async move {
                        let ping = rx1.await.expect("ping");
                        tx2.send(ping + 1).expect("pong");
                    });
                    tx1.send(1).expect("ping");
                    assert_eq!(rx2.await.expect("pong"), 2);
                    c.count_down();
                });
            }
            c.done.notified().await;
            c.check_done();
        });
    });
}

// Each link spawns the next and finishes; the last one wakes the driver.
fn link(c: Arc<Countdown>, n: usize) {
    if n == 0 {
        c.count_down();
    } else {
        tokio::spawn(async move { link(c, n - 1) });
    }
}

fn chained_spawn(opts: &Opts) {
    let rt = runtime(opts.workers);
    let c = Countdown::new();
    measure(opts, "chained_spawn", || {
        let c = Arc::clone(&c);
        on_worker(&rt, async move {
            c.arm(1);
            let first = Arc::clone(&c);
            tokio::spawn(async move { link(first, CHAIN) });
            c.done.notified().await;
            c.check_done();
        });
    });
}

// The LIFO stall (tokio#4941): a task spawns a child, then computes without
// yielding until the child has started, but for at most STALL_BUDGET. The
// child waits in the parent's LIFO slot, so on tokio it starts only when
// the parent's poll ends.
const STALL_BUDGET: Duration = Duration::from_millis(50);

fn lifo_stall(opts: &Opts) {
    let rt = runtime(opts.workers);
    measure(opts, "lifo_stall", || {
        on_worker(&rt, async move {
            let started = Arc::new(AtomicBool::new(false));
            let child = Arc::clone(&started);
            tokio::spawn(async move { child.store(true, Ordering::Release) });
            let until = Instant::now() + STALL_BUDGET;
            while !started.load(Ordering::Acquire) && Instant::now() < until {}
            while !started.load(Ordering::Acquire) {
                tokio::task::yield_now().await;
            }
        });
    });
}

// `callers` tasks each make BLOCKING_CALLS calls one after the other, so
// every call is a full round trip: hand-off to a blocking thread, run, wake
// the caller, resume.
fn spawn_blocking(opts: &Opts, callers: usize) {
    let rt = runtime(opts.workers);
    measure(opts, &format!("spawn_blocking_c{callers}"), || {
        let sum = on_worker(&rt, async move {
            let mut handles = Vec::with_capacity(callers);
            for _ in 0..callers {
                handles.push(tokio::spawn(async {
                    let mut sum = 0usize;
                    for _ in 0..BLOCKING_CALLS {
                        sum += tokio::task::spawn_blocking(|| 1usize)
                            .await
                            .expect("blocking call failed");
                    }
                    sum
                }));
            }
            let mut sum = 0;
            for h in handles {
                sum += h.await.expect("caller failed");
            }
            sum
        });
        assert_eq!(sum, callers * BLOCKING_CALLS);
    });
}

// `producers` tasks send MESSAGES values in total; the driver receives and
// sums them until every sender is gone.
fn mpsc_bounded(opts: &Opts, producers: usize) {
    let rt = runtime(opts.workers);
    measure(opts, &format!("mpsc_bounded_p{producers}"), || {
        let sum = on_worker(&rt, async move {
            let (tx, mut rx) = mpsc::channel::<u64>(BOUNDED_CAPACITY);
            for _ in 0..producers {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for _ in 0..MESSAGES / producers {
                        tx.send(1).await.expect("receiver gone");
                    }
                });
            }
            drop(tx);
            let mut sum = 0u64;
            while let Some(v) = rx.recv().await {
                sum += v;
            }
            sum
        });
        assert_eq!(sum as usize, MESSAGES / producers * producers);
    });
}

fn mpsc_unbounded(opts: &Opts, producers: usize) {
    let rt = runtime(opts.workers);
    measure(opts, &format!("mpsc_unbounded_p{producers}"), || {
        let sum = on_worker(&rt, async move {
            let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
            for _ in 0..producers {
                let tx = tx.clone();
                tokio::spawn(async move {
                    for _ in 0..MESSAGES / producers {
                        tx.send(1).expect("receiver gone");
                    }
                });
            }
            drop(tx);
            let mut sum = 0u64;
            while let Some(v) = rx.recv().await {
                sum += v;
            }
            sum
        });
        assert_eq!(sum as usize, MESSAGES / producers * producers);
    });
}

fn main() {
    let opts = parse_opts();
    spawn_many_local(&opts);
    spawn_many_remote_idle(&opts);
    yield_many(&opts);
    ping_pong(&opts);
    chained_spawn(&opts);
    lifo_stall(&opts);
    spawn_blocking(&opts, 1);
    spawn_blocking(&opts, 16);
    mpsc_bounded(&opts, 1);
    mpsc_bounded(&opts, 8);
    mpsc_unbounded(&opts, 1);
    mpsc_unbounded(&opts, 8);
}
