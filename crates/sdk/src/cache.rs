//! The last-known-good file: the flag data as JSON, replaced atomically (write a temporary file,
//! fsync it, rename it over the old one) so a crash never leaves half a file.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use switchyard_engine::wire::{FORMAT, FlagData};

/// The saved data, when there is a readable file in this format, and when it was written.
pub(crate) fn read(path: &Path) -> Option<(FlagData, Option<SystemTime>)> {
    let text = std::fs::read(path).ok()?;
    let written = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    match serde_json::from_slice::<FlagData>(&text) {
        Ok(data) if data.format == FORMAT => Some((data, written)),
        Ok(data) => {
            tracing::warn!(path = %path.display(), format = data.format, "ignoring a last-known-good file of another format");
            None
        }
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "ignoring an unreadable last-known-good file");
            None
        }
    }
}

pub(crate) fn write(path: &Path, data: &FlagData) -> std::io::Result<()> {
    let body = serde_json::to_vec(data)?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = std::path::PathBuf::from(temporary);
    let mut file = private_file(&temporary)?;
    file.write_all(&body)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The data may be private (rules name users, segments list keys): only the owner may read
/// the file, whatever the umask, also when a stale temporary file was left with another mode.
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::File::options();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        options.open(path)
    }
}

/// Marks the file as current at `at` (its modification time), without rewriting it.
pub(crate) fn touch(path: &Path, at: SystemTime) {
    let touched = std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(at));
    if let Err(error) = touched {
        tracing::debug!(path = %path.display(), %error, "cannot touch the last-known-good file");
    }
}
