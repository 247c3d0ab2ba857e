//! The `flagops` binary: everything happens in `flagops::cli`.

fn main() -> std::process::ExitCode {
    flagops::cli::run(std::env::args_os())
}
