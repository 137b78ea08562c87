//! Release binaries only: ask the linker to fold identical functions. Generic code (the SQL
//! parser's derived `Hash`, `Clone` and `PartialEq`, Arrow kernels) is instantiated again in each
//! crate that uses it; the identical copies are folded (measured: 178 MB before, 171 MB after,
//! with the Glue client added in between). rust-lld is this target's default linker since Rust
//! 1.90.
//!
//! And link the release binary at a fixed address (`-no-pie`): as a position-independent
//! executable, the loader applied ~300,000 relocations (vtables, static strings) at every start,
//! most of the 7-10 ms an `eventlake --version` took (3 ms now; `perf stat`: 7.9 ms → 2.1 ms of
//! task clock).
//! The cost is the executable's own address randomisation (libraries keep theirs); the tests'
//! and debug builds keep PIE.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").is_ok_and(|profile| profile == "release");
    let linux_x86_64 =
        std::env::var("TARGET").is_ok_and(|target| target == "x86_64-unknown-linux-gnu");
    if release && linux_x86_64 {
        println!("cargo::rustc-link-arg-bins=-Wl,--icf=all");
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
