//! `ferry`: run DataX / DataWorks jobs between PostgreSQL, MaxCompute and Parquet.

mod bench;
mod commands;
mod demo;
mod job_cmd;
mod logging;
mod pglocal;
mod registry;
mod runs;
mod ui;
mod verify;

use clap::Parser;

use commands::Cli;

fn main() {
    ferry_connectors::install();
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(commands::dispatch(cli));
    std::process::exit(code);
}
