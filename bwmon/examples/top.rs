//! `bwmon top` until the CLI wires it: `top SOCKET [--once] [--interval 1s]`.
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use bwmon::top::{TopOptions, run};
use bwmon::units::parse_duration;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let mut opts = TopOptions::new(PathBuf::from("/run/bwmon/control.sock"));
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--once" => opts.once = true,
            "--interval" => {
                let v = args.next().context("--interval needs a value")?;
                opts.interval = parse_duration(&v)?;
            }
            "--socket" => opts.socket = args.next().context("--socket needs a path")?.into(),
            other => bail!("unknown argument {other:?}"),
        }
    }
    Ok(run(opts)?)
}
