//! tokio 1.24's fs under the workload of bench/fs_compare/fs_bench.cc, with
//! the same output line, so bench/fs_compare/compare.sh can put them side
//! by side: writes a file of SIZE_MIB MiB in CHUNK_KIB KiB chunks (no
//! fsync: the data ends in the page cache), reads it back in chunks of the
//! same size, prints
//!   backend=tokio write_mbps=<MB/s> read_mbps=<MB/s>
//! and removes the file. tokio::fs runs every call on its blocking pool.
//!
//!   tokio_fs PATH SIZE_MIB CHUNK_KIB

use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// As tidepool's default on this 2-core machine.
const WORKERS: usize = 2;

async fn run(path: &str, size: u64, chunk: usize) -> std::io::Result<(f64, f64)> {
    let data: Vec<u8> = (0..chunk).map(|i| (i * 131 + 7) as u8).collect();

    let start = Instant::now();
    {
        let mut f = tokio::fs::File::create(path).await?;
        let mut done = 0u64;
        while done < size {
            f.write_all(&data).await?;
            done += chunk as u64;
        }
        // tokio's File writes behind the caller: flush waits for the last
        // write to reach the kernel.
        f.flush().await?;
    }
    let write_s = start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut total = 0u64;
    {
        let mut f = tokio::fs::File::open(path).await?;
        let mut buf = vec![0u8; chunk];
        loop {
            let n = f.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    let read_s = start.elapsed().as_secs_f64();
    if total != size {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("read back {} bytes of {}", total, size),
        ));
    }
    Ok((write_s, read_s))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: {} PATH SIZE_MIB CHUNK_KIB", args[0]);
        std::process::exit(2);
    }
    let path = args[1].clone();
    let size: u64 = args[2].parse::<u64>().expect("SIZE_MIB") << 20;
    let chunk: usize = args[3].parse::<usize>().expect("CHUNK_KIB") << 10;
    if size == 0 || chunk == 0 || size % chunk as u64 != 0 {
        eprintln!("tokio_fs: SIZE_MIB must be a multiple of CHUNK_KIB");
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .expect("building the tokio runtime");
    let result = rt.block_on(run(&path, size, chunk));
    let _ = std::fs::remove_file(&path);
    match result {
        Ok((write_s, read_s)) => println!(
            "backend=tokio write_mbps={:.0} read_mbps={:.0}",
            size as f64 / 1e6 / write_s,
            size as f64 / 1e6 / read_s
        ),
        Err(e) => {
            eprintln!("tokio_fs: {}", e);
            std::process::exit(1);
        }
    }
}
