//! Embeds the eBPF object built by `cargo xtask build-ebpf`, so one binary is all a node needs.
//!
//! A plain `cargo build` must work on machines without the BPF toolchain: when the object is
//! missing, an empty one is embedded and the agent says at run time how to build it.
use std::{env, fs, path::PathBuf};

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let object = env::var_os("BWMON_EBPF_OBJECT")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../target/bpfel-unknown-none/release/bwmon"));
    println!("cargo:rerun-if-env-changed=BWMON_EBPF_OBJECT");
    println!("cargo:rerun-if-changed={}", object.display());
    let bytes = fs::read(&object).unwrap_or_default();
    fs::write(out.join("bwmon.bpf.o"), bytes).expect("write the embedded eBPF object");
}
