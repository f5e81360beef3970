//! One keep-alive HTTP/1.1 connection: heads parsed with httparse, bodies
//! framed only by Content-Length, generate responses streamed chunked.

use std::io::{self, Write};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::{tokenize, Config};

const HEAD_LIMIT: usize = 16 * 1024;
const BODY_LIMIT: u64 = 8 * 1024 * 1024;
const MAX_HEADERS: usize = 64;
// Reads ask for at least this much room, so a typical head arrives in one.
const READ_SIZE: usize = 16 * 1024;
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
// How long a closing connection still swallows what the client sends.
const LINGER: Duration = Duration::from_secs(1);
const CHUNK: usize = 4096;

enum Route {
    Generate,
    Healthz,
    Metrics,
    NotFound,
    MethodNotAllowed { allow: &'static str },
}

struct Request {
    route: Route,
    keep_alive: bool,
    // An HTTP/1.0 client keeps the connection only if told so explicitly.
    http10: bool,
    head_len: usize,
    body_len: usize,
}

// Answers after which the connection cannot go on: the request's framing is
// unknown or unacceptable, so the bytes after it cannot be trusted.
#[derive(Clone, Copy)]
enum Reject {
    BadRequest,
    PayloadTooLarge,
    HeadTooLarge,
    NotImplemented,
}

enum Head {
    Partial,
    Complete(Request),
    Reject(Reject),
}

fn route(method: &str, path: &str) -> Route {
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    let (route, allow) = match path {
        "/v1/generate" => (Route::Generate, "POST"),
        "/healthz" => (Route::Healthz, "GET"),
        "/metrics" => (Route::Metrics, "GET"),
        _ => return Route::NotFound,
    };
    if method == allow {
        route
    } else {
        Route::MethodNotAllowed { allow }
    }
}

// Content-Length is digits only (no sign, no list); values past u64 are
// simply too large.
fn content_length(value: &[u8]) -> Result<u64, Reject> {
    let value = value.trim_ascii();
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(Reject::BadRequest);
    }
    Ok(value.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

fn parse_head(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let head_len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len <= HEAD_LIMIT => len,
        Ok(httparse::Status::Complete(_)) | Err(httparse::Error::TooManyHeaders) => {
            return Head::Reject(Reject::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) if buf.len() >= HEAD_LIMIT => {
            return Head::Reject(Reject::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::Reject(Reject::BadRequest),
    };

    let http10 = request.version == Some(0);
    let (mut close, mut keep) = (false, false);
    let mut body_len: Option<u64> = None;
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Head::Reject(Reject::NotImplemented);
        } else if name.eq_ignore_ascii_case("content-length") {
            let len = match content_length(header.value) {
                Ok(len) => len,
                Err(reject) => return Head::Reject(reject),
            };
            // Repeated Content-Length headers must agree, or the body's end
            // is ambiguous (request smuggling).
            if body_len.is_some_and(|seen| seen != len) {
                return Head::Reject(Reject::BadRequest);
            }
            body_len = Some(len);
        } else if name.eq_ignore_ascii_case("connection") {
            for option in header.value.split(|&b| b == b',') {
                let option = option.trim_ascii();
                close |= option.eq_ignore_ascii_case(b"close");
                keep |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        }
    }
    let body_len = body_len.unwrap_or(0);
    if body_len > BODY_LIMIT {
        return Head::Reject(Reject::PayloadTooLarge);
    }
    Head::Complete(Request {
        route: route(request.method.unwrap_or(""), request.path.unwrap_or("")),
        keep_alive: !close && (keep || !http10),
        http10,
        head_len,
        body_len: body_len as usize,
    })
}

// One read into `buf`'s spare room; false at end of stream. A client idle
// for IDLE_TIMEOUT is dropped.
async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<bool> {
    match timeout(IDLE_TIMEOUT, stream.read_buf(buf)).await {
        Ok(read) => Ok(read? > 0),
        Err(_) => Err(io::ErrorKind::TimedOut.into()),
    }
}

fn connection_header(request: &Request) -> &'static str {
    match (request.keep_alive, request.http10) {
        (false, _) => "Connection: close\r\n",
        (true, true) => "Connection: keep-alive\r\n",
        (true, false) => "",
    }
}

fn response(status: &str, headers: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + body.len());
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{headers}\r\n",
        body.len()
    )
    .expect("writing to a Vec");
    out.extend_from_slice(body);
    out
}

fn text_response(status: &str, headers: &str, body: &str) -> Vec<u8> {
    response(status, headers, "text/plain", body.as_bytes())
}

// The answer to a request that ends the connection, then a graceful close.
async fn reject(mut stream: TcpStream, reject: Reject) -> io::Result<()> {
    let (status, body) = match reject {
        Reject::BadRequest => ("400 Bad Request", "bad request\n"),
        Reject::PayloadTooLarge => ("413 Payload Too Large", "body too large\n"),
        Reject::HeadTooLarge => ("431 Request Header Fields Too Large", "head too large\n"),
        Reject::NotImplemented => ("501 Not Implemented", "transfer-encoding not supported\n"),
    };
    stream
        .write_all(&text_response(status, "Connection: close\r\n", body))
        .await?;
    close(stream).await
}

// Sends FIN, then briefly reads and discards what the client still sends:
// closing with unread data makes the kernel send a reset, which can destroy
// the response before the client has read it.
async fn close(mut stream: TcpStream) -> io::Result<()> {
    stream.shutdown().await?;
    let mut sink = vec![0u8; READ_SIZE];
    let _ = timeout(LINGER, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
    Ok(())
}

// The head, each chunk of at most CHUNK bytes and the terminator each go to
// the socket in a write of their own, as they would from a model producing
// output as it goes.
async fn stream_chunked(stream: &mut TcpStream, text: &[u8], connection: &str) -> io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n{connection}\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    let mut frame = Vec::with_capacity(CHUNK + 16);
    for chunk in text.chunks(CHUNK) {
        frame.clear();
        write!(frame, "{:x}\r\n", chunk.len()).expect("writing to a Vec");
        frame.extend_from_slice(chunk);
        frame.extend_from_slice(b"\r\n");
        stream.write_all(&frame).await?;
    }
    stream.write_all(b"0\r\n\r\n").await
}

fn read_proc(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

// tokio 1.24 reports its blocking pool only under --cfg tokio_unstable, which
// would change the runtime being measured. The pool is countable anyway: the
// workers are pool threads too, so the threads beyond the main thread and the
// workers are the ones spawn_blocking started and keeps alive.
fn metrics(config: &Config) -> String {
    // SAFETY: sysconf only reads a constant of the system.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(0) as u64;
    let resident_pages: u64 = read_proc("/proc/self/statm")
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    let threads = std::fs::read_dir("/proc/self/task").map_or(0, |dir| dir.count());
    let blocking = threads.saturating_sub(1 + config.workers);
    let gauges: [(&str, &str, u64); 5] = [
        ("process_resident_memory_bytes", "Resident set size, from /proc/self/statm.", resident_pages * page),
        ("process_threads", "Threads in the process, from /proc/self/task.", threads as u64),
        ("tokio_worker_threads", "Worker threads of the runtime.", config.workers as u64),
        ("tokio_blocking_threads", "Blocking-pool threads alive besides the workers: process_threads - workers - main thread.", blocking as u64),
        ("tokio_max_blocking_threads", "Limit on blocking-pool threads besides the workers.", config.max_blocking_threads as u64),
    ];
    let mut out = String::new();
    for (name, help, value) in gauges {
        use std::fmt::Write;
        write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        )
        .expect("writing to a String");
    }
    out
}

// The whole response to a request other than generate.
fn answer(route: &Route, connection: &str, config: &Config) -> Vec<u8> {
    match route {
        Route::Generate => unreachable!("generate streams its response"),
        Route::Healthz => text_response("200 OK", connection, "ok\n"),
        Route::Metrics => response(
            "200 OK",
            connection,
            "text/plain; version=0.0.4",
            metrics(config).as_bytes(),
        ),
        Route::MethodNotAllowed { allow } => text_response(
            "405 Method Not Allowed",
            &format!("Allow: {allow}\r\n{connection}"),
            "method not allowed\n",
        ),
        Route::NotFound => text_response("404 Not Found", connection, "not found\n"),
    }
}

pub async fn serve_connection(stream: TcpStream, config: Arc<Config>) {
    // Resets, timeouts and clients vanishing mid-body or mid-response end
    // only their own connection.
    let _ = connection(stream, &config).await;
}

async fn connection(mut stream: TcpStream, config: &Config) -> io::Result<()> {
    // A head write followed by a chunk write would otherwise wait on the
    // client's delayed ACK (Nagle).
    stream.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Pipelined requests may already be buffered, so parse before reading.
        let request = loop {
            match parse_head(&buf) {
                Head::Complete(request) => break request,
                Head::Reject(why) => return reject(stream, why).await,
                Head::Partial => {
                    buf.reserve(READ_SIZE);
                    if !read_more(&mut stream, &mut buf).await? {
                        // Between requests this is the client's normal close;
                        // mid-head there is nobody left to answer.
                        return Ok(());
                    }
                }
            }
        };
        let end = request.head_len + request.body_len;
        if buf.len() < end {
            buf.reserve(end - buf.len());
        }
        while buf.len() < end {
            if !read_more(&mut stream, &mut buf).await? {
                return Ok(());
            }
        }

        let connection = connection_header(&request);
        match request.route {
            Route::Generate => {
                // The request's bytes move to the blocking thread, which parses
                // them in place and frees them; pipelined bytes stay here.
                let rest = buf.split_off(end);
                let bytes = std::mem::replace(&mut buf, rest);
                let head_len = request.head_len;
                let work =
                    tokio::task::spawn_blocking(move || tokenize::generate(&bytes[head_len..]));
                match work.await {
                    Ok(Some(text)) => stream_chunked(&mut stream, &text, connection).await?,
                    Ok(None) => {
                        let body = "body must be JSON with a string \"prompt\"\n";
                        stream
                            .write_all(&text_response("400 Bad Request", connection, body))
                            .await?;
                    }
                    Err(_) => {
                        let body = "internal error\n";
                        stream
                            .write_all(&text_response(
                                "500 Internal Server Error",
                                "Connection: close\r\n",
                                body,
                            ))
                            .await?;
                        return close(stream).await;
                    }
                }
            }
            ref route => {
                buf.drain(..end);
                stream.write_all(&answer(route, connection, config)).await?;
            }
        }
        if !request.keep_alive {
            return close(stream).await;
        }
    }
}
