//! The data directory holds secrets (the metadata with its password hashes and sealed
//! keys, the master key, the TLS key) and private images: it is 0700 and every file in it
//! 0600, whatever the umask Berth was started with.
//!
//! `berth serve` sets its own umask to 0077 before it creates anything, so every file and
//! directory it (or the libraries it uses) creates is private. A data directory made by
//! an earlier version, or by hand, with wider modes is tightened once, file by file, the
//! first time it is found open to others.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use anyhow::Context as _;

/// Makes every file and directory the process creates from now on private to its owner.
pub fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// Creates the data directory (0700), or tightens an existing one and everything in it
/// when it is open to others; returns how many entries were tightened.
pub fn prepare(dir: &Path) -> anyhow::Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating data directory {}", dir.display()))?;
    let mode = std::fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?.permissions().mode();
    if mode & 0o077 == 0 {
        return Ok(0);
    }
    let tightened = tighten(dir)?;
    tracing::warn!(data_dir = %dir.display(), tightened, "the data directory was open to other users; it and its files are now private (0700/0600)");
    Ok(tightened)
}

/// The data directory, held by this process until it ends (even when killed): a second
/// Berth on the same directory is refused at start, told which process holds it, rather
/// than failing deep inside the metadata store.
pub struct DataDirLock {
    _file: std::fs::File,
}

/// The lock file, holding the process id of the holder.
const LOCK_FILE: &str = "berth.lock";

/// Creates the data directory if needed, takes it (before anything in it is touched),
/// then makes it private ([`prepare`]): what `serve` and `restore` start with.
pub fn take(dir: &Path) -> anyhow::Result<DataDirLock> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating data directory {}", dir.display()))?;
    let held = lock(dir)?;
    prepare(dir)?;
    Ok(held)
}

/// Takes the data directory `dir` (which exists).
pub fn lock(dir: &Path) -> anyhow::Result<DataDirLock> {
    use std::io::Write as _;
    let path = dir.join(LOCK_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => return Err(in_use(dir, &path)),
        Err(e) => return Err(e).with_context(|| format!("locking {}", path.display())),
    }
    file.set_len(0).and_then(|()| writeln!(file, "{}", std::process::id())).with_context(|| format!("writing {}", path.display()))?;
    Ok(DataDirLock { _file: file })
}

/// The refusal when another Berth holds `dir` (when it is, for a start that failed
/// otherwise, such as on its ports): `None` when none does.
pub fn held_by_another(dir: &Path) -> Option<anyhow::Error> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::File::open(&path).ok()?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockShared) {
        Err(rustix::io::Errno::WOULDBLOCK) => Some(in_use(dir, &path)),
        _ => None,
    }
}

fn in_use(dir: &Path, lock_file: &Path) -> anyhow::Error {
    let holder = std::fs::read_to_string(lock_file).unwrap_or_default();
    let holder = match holder.trim() {
        "" => "another process".to_owned(),
        pid => format!("process {pid}"),
    };
    anyhow::anyhow!(
        "data directory {} is in use by another Berth ({holder}); stop it first, or give this one its own --data-dir",
        dir.display()
    )
}

fn tighten(path: &Path) -> anyhow::Result<usize> {
    let metadata = std::fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if metadata.file_type().is_symlink() {
        return Ok(0);
    }
    let wanted = if metadata.is_dir() { 0o700 } else { 0o600 };
    let mut count = 0;
    if metadata.permissions().mode() & 0o777 != wanted {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted))
            .with_context(|| format!("restricting {}", path.display()))?;
        count += 1;
    }
    if metadata.is_dir() {
        for entry in std::fs::read_dir(path).with_context(|| format!("listing {}", path.display()))? {
            count += tighten(&entry?.path())?;
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_directory_is_tightened_with_its_files() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("data");
        std::fs::create_dir_all(dir.join("storage/blobs")).unwrap();
        std::fs::write(dir.join("meta.redb"), b"x").unwrap();
        std::fs::write(dir.join("storage/blobs/b"), b"x").unwrap();
        for path in [&dir, &dir.join("storage"), &dir.join("storage/blobs")] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(dir.join("meta.redb"), std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(prepare(&dir).unwrap(), 5);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("storage/blobs/b")), 0o600);
        assert_eq!(prepare(&dir).unwrap(), 0, "once private, nothing is walked again");
    }
}
