//! The command line's errors: one line on stderr naming what is wrong, exit status 1, no
//! backtrace even when `RUST_BACKTRACE` is set.
use std::process::{Command, Output};

fn bwmon(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bwmon"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run bwmon")
}

fn one_error_line(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr.trim_end().to_owned()
}

#[test]
fn a_bad_config_is_one_line_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bwmon.toml");
    std::fs::write(&file, "interfaces = [\"eth0\"]\nperiod = \"1w\"\n").unwrap();
    let line = one_error_line(&bwmon(&["check-config", file.to_str().unwrap()]));
    assert_eq!(
        line,
        format!(
            "bwmon: {}:2:10: period: duration \"1w\" has an unknown unit \"w\" (expected one \
             of d, h, m, s, ms)",
            file.display()
        )
    );
    // `run` refuses the same file the same way, before touching anything.
    let run = one_error_line(&bwmon(&["run", "--config", file.to_str().unwrap()]));
    assert!(run.contains(":2:10: period:"), "{run}");
}

#[test]
fn no_agent_is_said_plainly() {
    let line = one_error_line(&bwmon(&["status", "--socket", "/nonexistent/bwmon.sock"]));
    assert!(
        line.starts_with("bwmon: cannot reach the agent at /nonexistent/bwmon.sock")
            && line.contains("is `bwmon run` running?"),
        "{line}"
    );
}

#[test]
fn the_agent_without_root_says_what_it_needs() {
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_bwmon"))
        .args(["run", "--demo"])
        .output()
        .expect("setpriv");
    let line = one_error_line(&out);
    assert!(
        line.contains("needs root") && line.contains("CAP_BPF"),
        "{line}"
    );
}

#[test]
fn a_missing_interface_stops_the_agent_before_it_pins_anything() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let pins = format!("/sys/fs/bpf/bwmon-cli-{}", std::process::id());
    let file = dir.path().join("bwmon.toml");
    std::fs::write(
        &file,
        format!(
            "interfaces = [\"bwnosuch0\"]\nslices_file = \"{d}/s.json\"\nstate_dir = \"{d}/state\"\n\
             control_socket = \"{d}/c.sock\"\nbpf_pin_dir = \"{pins}\"\n"
        ),
    )
    .unwrap();
    let line = one_error_line(&bwmon(&["run", "--config", file.to_str().unwrap()]));
    assert_eq!(line, "bwmon: interface bwnosuch0 does not exist");
    assert!(!std::path::Path::new(&pins).exists(), "nothing pinned");
}
