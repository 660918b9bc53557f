//! `dpost portal values`: what to type into the Administrativ Adgang portal.

use clap::Subcommand;

use super::Exit;
use super::serve::ConfigArgs;
use crate::config::ngdp::is_guid;
use crate::config::preflight;

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
        // Values typed into the portal wrongly fail only when NgDP first pushes: refuse here.
        let mut problems: Vec<String> = preflight::public_problems(&file)
            .into_iter()
            .filter(|p| public_url.is_none() || p.key.as_deref() != Some("serve.public_url"))
            .map(|p| p.to_string())
            .collect();
        if let Some(why) = public_url
            .as_deref()
            .and_then(preflight::public_url_problem)
        {
            problems.insert(0, format!("--public-url: {why}"));
        }
        let table = format!("ngdp.{environment}.systems");
        for (i, s) in file
            .config
            .ngdp
            .environment(&environment)
            .systems
            .iter()
            .enumerate()
        {
            if !is_guid(s.id.trim()) {
                let e = file.error_in_array(
                    &table,
                    i,
                    "id",
                    format!("{:?} is not a system id (a UUID, from the portal)", s.id),
                );
                problems.push(e.to_string());
            }
        }
        if !problems.is_empty() {
            anyhow::bail!(
                "not printing values the portal would be given wrong:\n  {}",
                problems.join("\n  ")
            );
        }
        let values = crate::portal::values(&file, &environment, public_url.as_deref());
        if json {
            outln!("{}", serde_json::to_string_pretty(&values)?)?;
        } else {
            out!("{}", values.render())?;
        }
        Ok(Exit::Ok)
    }
}
