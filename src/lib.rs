//! sagevpc: a declarative, idempotent provisioner for SageMaker-ready private VPCs.
//!
//! Pipeline: [`plan`] (parse, validate) → [`observe`] (live state through [`aws`]) →
//! [`changeset`] (pure diff) → [`render`] → [`execute`].

pub mod audit;
pub mod aws;
pub mod changeset;
pub mod cli;
pub mod commands;
pub mod execute;
pub mod model;
pub mod observe;
pub mod plan;
pub mod quotas;
pub mod render;
pub mod resources;

pub use commands::run;

/// Diagnostics on stderr. Only sagevpc's own events are shown at -v/-vv: the SDK's
/// debug output can carry request headers, and credentials must never be printed.
pub fn init_tracing(verbose: u8) {
    let filter = match verbose {
        0 => "sagevpc=warn",
        1 => "sagevpc=info",
        _ => "sagevpc=debug",
    };
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}
