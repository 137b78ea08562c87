//! Release binaries only: ask the linker to fold identical functions. Generic code (the SQL
//! parser's derived `Hash`, `Clone` and `PartialEq`, Arrow kernels) is instantiated again in each
//! crate that uses it; folding the copies takes the stripped binary from 178 MB to the size below
//! (see the README). rust-lld is the default linker for this target since Rust 1.90.
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").is_ok_and(|profile| profile == "release");
    let linux_x86_64 =
        std::env::var("TARGET").is_ok_and(|target| target == "x86_64-unknown-linux-gnu");
    if release && linux_x86_64 {
        println!("cargo::rustc-link-arg-bins=-Wl,--icf=all");
    }
}
