use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Output piped into `head` that closes early ends the process quietly, as any
    // Unix tool does, instead of a panic on a broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition at start-up, before any thread.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
