//! The `flagops` binary: everything happens in `flagops::cli`.

/// mimalloc, not the system allocator: a plan of 10,000 flags makes millions of small
/// allocations (YAML nodes, JSON values), which glibc's allocator serves and frees slower and
/// with more memory left unreturned (see the README's Benchmarks).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    flagops::cli::run(std::env::args_os())
}
