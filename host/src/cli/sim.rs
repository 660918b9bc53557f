//! `dpost sim …`: the simulators, for offline tests and demos.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;

use super::Exit;
use super::input::read_file;
use crate::clock;
use crate::keystore::{PasswordSource, PrivateKey};
use crate::runtime::{Runtime, RuntimeOptions};
use crate::sim::digipost::{Simulator, SimulatorConfig};

/// Simulators.
#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Serve the Digipost organisation-inbox API for the documents in a folder. Prints the
    /// base URL (`http://ADDR`) as the first line of standard output, then serves until
    /// interrupted.
    Digipost {
        /// Where to listen; port 0 picks a free port.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
        listen: String,
        /// The documents: one folder per sender id, one file per document
        /// (`<id>.<ext>`, with an optional `<id>.json`).
        #[arg(long, value_name = "DIR")]
        data: PathBuf,
        /// The broker's certificate (PEM or DER), whose key must sign every request.
        #[arg(long, value_name = "FILE")]
        broker_cert: PathBuf,
        /// Accept only this broker id.
        #[arg(long, value_name = "ID")]
        broker_id: Option<String>,
        /// The simulator's private key (PEM), which signs every response.
        #[arg(long, value_name = "FILE")]
        server_key: PathBuf,
        /// The simulator's certificate (PEM), published by `GET /`.
        #[arg(long, value_name = "FILE")]
        server_cert: PathBuf,
        /// Where one-time content links point [default: the listening address].
        #[arg(long, value_name = "URL")]
        content_base: Option<String>,
    },
}

impl SimCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        match self {
            SimCommand::Digipost {
                listen,
                data,
                broker_cert,
                broker_id,
                server_key,
                server_cert,
                content_base,
            } => {
                let config = SimulatorConfig {
                    data_dir: data,
                    broker_certificate: read_file(&broker_cert)?,
                    broker_id,
                    server_key: PrivateKey::load(&server_key, &PasswordSource::None)?,
                    server_certificate_pem: String::from_utf8(read_file(&server_cert)?)
                        .with_context(|| format!("{} is not a PEM file", server_cert.display()))?,
                    content_base,
                    token_secret: None,
                };
                let runtime = Arc::new(Runtime::new(RuntimeOptions::default())?);
                let tokio = tokio::runtime::Builder::new_multi_thread()
                    .enable_all()
                    .build()
                    .context("starting the async runtime")?;
                tokio.block_on(async {
                    let sim = Simulator::new(config, runtime, clock::system())?;
                    let running = sim.start(&listen).await?;
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "{}", running.base_url())?;
                    out.flush()?;
                    drop(out);
                    eprintln!(
                        "Digipost simulator on {} (Ctrl-C stops it)",
                        running.base_url()
                    );
                    tokio::signal::ctrl_c()
                        .await
                        .context("waiting for Ctrl-C")?;
                    running.stop().await;
                    Ok::<_, anyhow::Error>(())
                })?;
                Ok(Exit::Ok)
            }
        }
    }
}
