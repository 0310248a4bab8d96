//! `ferry`: run DataX / DataWorks jobs between PostgreSQL, MaxCompute and Parquet.

mod commands;
mod demo;
mod job_cmd;
mod logging;
mod pglocal;
mod runs;
mod ui;
mod verify;

/// `ferry runs | head`: stdout closed by its reader ends ferry quietly with the status a
/// SIGPIPE gives (141), as other command-line tools do, instead of a panic report from
/// `println!`.
fn quiet_on_a_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        report(info);
    }));
}

fn main() {
    quiet_on_a_closed_stdout();
    ferry_connectors::install();
    let cli = commands::parse();
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
