//! The `rollcall` binary: [`rollcall::cli::main`] with the allocator of
//! the static build.

use std::process::ExitCode;

/// musl's allocator is slow under the many small allocations of parsing a
/// fleet; the static build (scripts/release) uses mimalloc instead.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    rollcall::cli::main()
}
