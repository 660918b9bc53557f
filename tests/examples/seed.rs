//! Fill the store of a `dpost.toml` with received messages, for `benches/api.sh`.
//!
//!   cargo run --release -p dpost-tests --example seed -- --config DIR/dpost.toml [--messages N]
//!       [--seed S] [--acked-percent P] [--sample FILE]
//!
//! Prints what it stored as JSON; writes a sample of the stored UUIDs (spread evenly), one a line, to
//! `--sample` (default: `uuids.txt` beside the configuration). See `dpost_tests::seed`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use dpost_tests::seed::{Options, seed};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("seed: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut options = Options::default();
    let mut config: Option<PathBuf> = None;
    let mut sample: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--config" => config = Some(value("--config")?.into()),
            "--messages" => options.messages = number(&value("--messages")?, "--messages")?,
            "--seed" => options.seed = number(&value("--seed")?, "--seed")?,
            "--acked-percent" => {
                options.acked_percent = number(&value("--acked-percent")?, "--acked-percent")?;
                if options.acked_percent > 100 {
                    bail!("--acked-percent is at most 100");
                }
            }
            "--sample" => sample = Some(value("--sample")?.into()),
            "-h" | "--help" => {
                println!(
                    "seed --config FILE [--messages N (10000)] [--seed S (15)] [--acked-percent P (80)] [--sample FILE]"
                );
                return Ok(());
            }
            other => bail!("{other:?} is not an argument; see --help"),
        }
    }
    let config = config.context("--config FILE is required")?;
    let sample = sample.unwrap_or_else(|| config.with_file_name("uuids.txt"));
    let seeded = seed(&config, &options)?;
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(&sample)
            .with_context(|| format!("cannot write {}", sample.display()))?,
    );
    for uuid in &seeded.sample {
        writeln!(out, "{uuid}")?;
    }
    out.flush()
        .with_context(|| format!("cannot write {}", sample.display()))?;
    println!("{}", seeded.to_json());
    Ok(())
}

fn number(text: &str, name: &str) -> anyhow::Result<u64> {
    text.parse()
        .with_context(|| format!("{name} takes a whole number, not {text:?}"))
}
