//! Reading the values commands take: times, headers, files.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};

/// Seconds since the Unix epoch now, from the system clock (the one place the CLI reads it).
pub fn now_unix() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// An RFC 3339 UTC time (`2016-06-29T14:58:11Z`) or plain Unix seconds.
pub fn parse_time(value: &str) -> anyhow::Result<i64> {
    if let Ok(seconds) = value.parse::<i64>() {
        return Ok(seconds);
    }
    let t = humantime::parse_rfc3339_weak(value.trim_end_matches('Z')).with_context(|| {
        format!("{value:?} is not an RFC 3339 UTC time like 2016-06-29T14:58:11Z")
    })?;
    Ok(match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    })
}

/// A `Name: value` header argument.
pub fn parse_header(arg: &str) -> anyhow::Result<(String, String)> {
    let Some((name, value)) = arg.split_once(':') else {
        bail!("header {arg:?} must be written as \"Name: value\"");
    };
    let name = name.trim();
    if name.is_empty() || name.bytes().any(|b| !b.is_ascii_graphic()) {
        bail!("header {arg:?} has no valid name before the ':'");
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

/// The whole of a file, with its name in any error.
pub fn read_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("2016-06-29T14:58:11Z").unwrap(), 1_467_212_291);
        assert_eq!(parse_time("1467212291").unwrap(), 1_467_212_291);
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("Date: Wed, 29 Jun 2016 14:58:11 GMT")
                .unwrap()
                .1,
            "Wed, 29 Jun 2016 14:58:11 GMT"
        );
        assert!(parse_header("NoColon").is_err());
        assert!(parse_header(": empty").is_err());
    }
}
