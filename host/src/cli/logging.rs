//! Where `tracing` logs go and how they look: the level from `--log` or `RUST_LOG`, as text
//! for people or JSON lines for log shippers (`--log-format json`), on standard error.
//!
//! An unknown level is refused rather than read as something else: `EnvFilter` takes a bare
//! word such as `verbose` for a target name and would then log nothing at all, which is the
//! silent failure an operator who typed `--log verbose` least expects.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// How each log line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event, for people.
    #[default]
    Text,
    /// One JSON object per line (tracing-subscriber's JSON format), for log shippers.
    Json,
}

/// The level names a filter may use.
const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];

/// Why the log filter was refused.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A directive names a level that does not exist.
    #[error(
        "{source_name}: unknown log level {level:?} in {directive:?} (use one of off, error, warn, info, debug, trace, or TARGET=LEVEL such as dpost=debug)"
    )]
    UnknownLevel {
        /// `--log` or `RUST_LOG`.
        source_name: &'static str,
        /// The directive as given.
        directive: String,
        /// The word that is not a level.
        level: String,
    },
    /// tracing-subscriber could not read the filter.
    #[error("{source_name}: {message}")]
    Invalid {
        /// `--log` or `RUST_LOG`.
        source_name: &'static str,
        /// What the parser said.
        message: String,
    },
    /// `RUST_LOG` holds bytes that are not UTF-8.
    #[error("RUST_LOG is not valid UTF-8")]
    NotUnicode,
}

/// The filter from `--log` when given, else `RUST_LOG` when set, else `warn`.
pub fn filter(flag: Option<&str>) -> Result<EnvFilter, LogError> {
    match flag {
        Some(spec) => parse("--log", spec),
        None => match std::env::var("RUST_LOG") {
            Ok(spec) if !spec.trim().is_empty() => parse("RUST_LOG", &spec),
            Ok(_) | Err(std::env::VarError::NotPresent) => parse("default", "warn"),
            Err(std::env::VarError::NotUnicode(_)) => Err(LogError::NotUnicode),
        },
    }
}

/// Check every comma-separated directive's level, then let tracing-subscriber read the rest.
pub fn parse(source_name: &'static str, spec: &str) -> Result<EnvFilter, LogError> {
    for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let level = match directive.rsplit_once('=') {
            Some((_, level)) => level,
            None => directive,
        };
        if !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level.trim())) {
            return Err(LogError::UnknownLevel {
                source_name,
                directive: directive.to_owned(),
                level: level.to_owned(),
            });
        }
    }
    EnvFilter::builder()
        .parse(spec)
        .map_err(|e| LogError::Invalid {
            source_name,
            message: e.to_string(),
        })
}

/// Install the global subscriber: `filter`, `format`, to standard error, with ANSI colours
/// only when standard error is a terminal (escape codes in a journal or a file are noise).
pub fn init(filter: EnvFilter, format: LogFormat) {
    let ansi = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_target_levels_are_taken() {
        for ok in [
            "info",
            "WARN",
            "dpost=debug,warn",
            "dpost::ngdp=trace",
            " off ",
        ] {
            assert!(parse("--log", ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn unknown_levels_are_refused_with_the_word() {
        for bad in ["verbose", "dpost=loud", "info,chatty"] {
            let e = parse("--log", bad).unwrap_err().to_string();
            assert!(e.starts_with("--log: unknown log level"), "{e}");
        }
        let e = parse("RUST_LOG", "dpost=loud").unwrap_err().to_string();
        assert!(e.contains("\"loud\""), "{e}");
    }
}
