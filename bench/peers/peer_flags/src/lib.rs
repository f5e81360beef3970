//! The command line of the tokio peers: each argument is `--flag=value`, or
//! `--flag` followed by its value as the next argument.

/// The program's arguments as (flag, value) pairs, in order. A flag
/// missing its value calls `usage`, which does not return.
pub fn pairs(usage: fn() -> !) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        out.push(match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), value.to_string()),
            None => {
                let value = it.next().unwrap_or_else(|| usage());
                (arg, value)
            }
        });
    }
    out
}
