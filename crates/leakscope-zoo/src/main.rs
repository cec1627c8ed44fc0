//! `leakscope-zoo`: serve one leaking workload (or all of them) with the leakscope agent attached.

use anyhow::Context;
use clap::Parser;
use leakscope_zoo::cli::Args;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Adopted the way an app would: first thing in main, inside the runtime it watches.
    let agent = leakscope::Builder::from_env()?.bind(args.bind).try_init()?;
    args.announce_with_http(agent.local_addr(), agent.http_addr())
        .context("failed to print the start-up line")?;
    leakscope_zoo::run(args.scenario.scenarios(), &args.load())
        .await
        .context("failed to run the scenarios")?;
    Ok(())
}
