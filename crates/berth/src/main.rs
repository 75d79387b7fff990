//! The `berth` binary.

/// jemalloc, not glibc's malloc. Under many concurrent requests glibc gives each busy
/// thread an arena of its own (up to eight per core) and keeps the pages of every arena's
/// peak: the 64-client load test held 110–170 MiB of RSS over a live heap of 40–50 MiB.
/// jemalloc runs here with two arenas and returns freed pages after a second, from a
/// thread of its own; those options are built in by `.cargo/config.toml`
/// (`JEMALLOC_SYS_WITH_MALLOC_CONF`). Measured in docs/performance-notes.md.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    berth::cli::main()
}
