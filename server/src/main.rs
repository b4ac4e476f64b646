use std::process::ExitCode;

use clap::Parser as _;

/// mimalloc instead of the system allocator: rendering a page allocates many small strings, and
/// glibc's malloc spent about a quarter of the server's time under load (see bench/pages.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    server::cli::Cli::parse().run()
}
