//! The control socket: one JSON request line in, one JSON response line out.
use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    sync::{Arc, mpsc},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
    sync::{oneshot, watch},
};

use super::{AgentError, Command};
use crate::status::{Request, Response, Snapshot};

/// Binds the socket: mode 0600 (root only), or 0660 with `group` as its group.
pub fn bind(path: &Path, group: Option<&str>) -> Result<UnixListener, AgentError> {
    let err = |source| AgentError::Socket {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    // A socket left by a previous agent that is no longer listening.
    if std::os::unix::net::UnixStream::connect(path).is_err() {
        let _ = std::fs::remove_file(path);
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    let mode = if group.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    if let Some(group) = group {
        let gid =
            gid_of(group).ok_or_else(|| err(std::io::Error::other(format!("no group {group}"))))?;
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(err)?;
    }
    Ok(listener)
}

fn gid_of(group: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == group).then(|| f.nth(1)?.parse().ok())?
    })
}

pub async fn serve(
    listener: UnixListener,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    tx: mpsc::Sender<Command>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (snapshots, tx) = (snapshots.clone(), tx.clone());
        tokio::spawn(async move {
            if let Err(error) = answer(stream, snapshots, tx).await {
                tracing::debug!(%error, "control client");
            }
        });
    }
}

async fn answer(
    stream: UnixStream,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    tx: mpsc::Sender<Command>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(64 * 1024));
    tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
    let response = match serde_json::from_str::<Request>(&line) {
        Ok(Request::Status) => Response::Status(Box::new((**snapshots.borrow()).clone())),
        Ok(Request::Explain { slice }) => {
            let (reply, answer) = oneshot::channel();
            let _ = tx.send(Command::Explain {
                slice: slice.clone(),
                reply,
            });
            match tokio::time::timeout(Duration::from_secs(5), answer).await {
                Ok(Ok(Some(text))) => Response::Explain { slice, text },
                Ok(Ok(None)) => Response::Error {
                    message: format!("no slice named {slice}"),
                },
                _ => Response::Error {
                    message: "the agent is busy; try again".to_owned(),
                },
            }
        }
        Err(e) => Response::Error {
            message: format!("bad request: {e}"),
        },
    };
    let mut out = serde_json::to_vec(&response).map_err(std::io::Error::other)?;
    out.push(b'\n');
    write.write_all(&out).await
}
