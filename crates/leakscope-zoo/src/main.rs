//! `leakscope-zoo`: serve one leaking workload (or all of them) with the leakscope agent attached.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use leakscope_zoo::cli::Args;

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line, causes included, whatever RUST_BACKTRACE says.
            eprintln!("leakscope-zoo: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Adopted the way an app would: first thing in main, inside the runtime it watches. The
    // address: `--bind`, else `LEAKSCOPE_BIND` (read by `from_env`), else the agent's default.
    let mut builder = leakscope::Builder::from_env()?;
    if let Some(bind) = args.bind {
        builder = builder.bind(bind);
    }
    let agent = builder.try_init()?;
    args.announce_with_http(agent.local_addr(), agent.http_addr())
        .context("failed to print the start-up line")?;
    leakscope_zoo::run(args.scenario.scenarios(), &args.load())
        .await
        .context("failed to run the scenarios")?;
    Ok(())
}
