//! The bundled tch trainer (filled by the trainer issue).
#[derive(Debug, clap::Args)]
pub struct TrainArgs {}

pub fn run(_args: TrainArgs) -> anyhow::Result<()> {
    anyhow::bail!("synthgen train is not built yet")
}
