//! `dpost portal values`: what to type into the Administrativ Adgang portal.

use clap::Subcommand;

use super::Exit;
use super::serve::ConfigArgs;

/// Portal commands.
#[derive(Debug, Subcommand)]
pub enum PortalCommand {
    /// Print the values to register for each system: the protocol (REST_PUSH or REST_PULL),
    /// the message endpoint `<base>/api/MeMoV1/memos/?system-uuid=<systemid>` and the receipt
    /// endpoint `<base>/api/MeMoV1/<systemid>/receipt` (push systems), and the server's public
    /// IP addresses (`[serve] public_ips`). `<base>` is `[serve] public_url`.
    Values {
        #[command(flatten)]
        config: ConfigArgs,
        /// The public base URL, instead of `[serve] public_url`.
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

impl PortalCommand {
    pub fn run(self) -> anyhow::Result<Exit> {
        let PortalCommand::Values {
            config,
            public_url,
            json,
        } = self;
        let file = super::config::load_existing(&config.config)?;
        let environment = file.ngdp_environment(config.environment.as_deref())?;
        let values = crate::portal::values(&file, &environment, public_url.as_deref());
        if json {
            outln!("{}", serde_json::to_string_pretty(&values)?)?;
        } else {
            out!("{}", values.render())?;
        }
        Ok(Exit::Ok)
    }
}
