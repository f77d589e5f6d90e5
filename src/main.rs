use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = sagevpc::cli::Cli::parse();
    sagevpc::init_tracing(cli.verbose);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    ExitCode::from(rt.block_on(sagevpc::run(cli)))
}
