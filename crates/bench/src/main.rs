//! `berth-bench`: the command-line entry; everything else is in the library.

fn main() -> std::process::ExitCode {
    match berth_bench::main_with_args(std::env::args_os()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("berth-bench: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
