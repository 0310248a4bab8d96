//! The `ferry` command as a library: [`main_with`] runs it with the connectors of
//! `ferry_connectors` and any more a build adds (the tests' toy connector).

mod commands;
mod demo;
mod job_cmd;
mod k8s;
mod logging;
mod pglocal;
mod runs;
mod shards;
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

/// Run `ferry` with `ferry_connectors::CONNECTORS` and `more` after them, and exit.
pub fn main_with(more: &'static [&'static ferry_core::connector::Connector]) -> ! {
    quiet_on_a_closed_stdout();
    if more.is_empty() {
        ferry_connectors::install();
    } else {
        let all: Vec<&'static ferry_core::connector::Connector> = ferry_connectors::CONNECTORS
            .iter()
            .chain(more)
            .copied()
            .collect();
        ferry_core::connector::install(Vec::leak(all));
    }
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
