//! `dpost component`: facts about the embedded protocol component, for embedders and audits.

use clap::Subcommand;
use serde_json::json;

use super::Exit;
use crate::runtime::{Runtime, RuntimeOptions};

/// Inspect the protocol component.
#[derive(Debug, Subcommand)]
pub enum ComponentCommand {
    /// List the component's imports and exports.
    Info {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the embedded component (`.wasm`) to a file, to embed it in another host.
    Export {
        /// Where to write it.
        #[arg(short, long, value_name = "FILE")]
        output: std::path::PathBuf,
    },
}

impl ComponentCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        match self {
            ComponentCommand::Info { json } => {
                let runtime = Runtime::new(RuntimeOptions::default())?;
                let imports = runtime.component_imports();
                let exports = runtime.component_exports();
                if json {
                    outln!(
                        "{}",
                        json!({ "imports": imports, "exports": exports, "bytes": crate::runtime::EMBEDDED_COMPONENT.len() })
                    )?;
                } else {
                    outln!(
                        "component: {} bytes",
                        crate::runtime::EMBEDDED_COMPONENT.len()
                    )?;
                    outln!("imports:")?;
                    for i in &imports {
                        outln!("  {i}")?;
                    }
                    outln!("exports:")?;
                    for e in &exports {
                        outln!("  {e}")?;
                    }
                }
                Ok(Exit::Ok)
            }
            ComponentCommand::Export { output } => {
                std::fs::write(&output, crate::runtime::EMBEDDED_COMPONENT)
                    .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", output.display()))?;
                Ok(Exit::Ok)
            }
        }
    }
}
