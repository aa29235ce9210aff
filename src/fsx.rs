//! File plumbing shared by every module that persists data: atomic writes, durable renames
//! and private permissions.
//!
//! It lives on its own, below everything else, so that the store, the vector and lexical
//! indexes, the manifest and the model cache all write files the same way and no module has
//! to import another's internals to do so.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::{Error, Result};

/// Writes a file atomically: a temp file in the same directory, fsync, rename, then a
/// best-effort fsync of the directory. Readers see the old file or the new one, never a part.
/// The file is private to the user (0600 on Unix): index files hold article text.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(Error::io("creating a temp file in", dir))?;
    tmp.write_all(bytes)
        .map_err(Error::io("writing", tmp.path().to_path_buf()))?;
    tmp.as_file()
        .sync_all()
        .map_err(Error::io("syncing", tmp.path().to_path_buf()))?;
    tmp.persist(path)
        .map_err(|e| Error::io("renaming into", path)(e.error))?;
    sync_dir(dir);
    Ok(())
}

/// Renames `from` to `to` and makes the rename durable (best effort on the directory).
pub fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(Error::io("renaming into", to))?;
    sync_dir(parent_dir(to));
    Ok(())
}

/// Makes the entries of `dir` durable. Not every filesystem supports syncing a directory, and
/// the data itself is already synced, so a failure is only logged.
pub fn sync_dir(dir: &Path) {
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::debug!(dir = %dir.display(), error = %e, "directory fsync failed");
    }
}

/// Creates `dir` and its parents. New directories are private to the user (0700 on Unix).
pub fn create_dir_private(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(Error::io("creating", dir))
}

/// Takes the group and other permission bits off `path` (a no-op off Unix), keeping the
/// user's. Links are left alone.
pub fn make_private(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::symlink_metadata(path).map_err(Error::io("reading", path))?;
        let mode = meta.permissions().mode();
        if !meta.file_type().is_symlink() && mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & !0o077))
                .map_err(Error::io("restricting the permissions of", path))?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// [`make_private`] on `dir` and everything below it. SQLite and tantivy create their files
/// with the process umask (often leaving them readable by all), and an index holds article
/// text, so the index folder is made private after each write, whatever the umask.
pub fn make_tree_private(dir: &Path) -> Result<()> {
    for entry in walkdir::WalkDir::new(dir) {
        match entry {
            Ok(e) => make_private(e.path())?,
            // Removed while walking (an old generation, a lock released): nothing to protect.
            Err(e) if e.io_error().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) => {}
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                let source = e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("cannot walk"));
                return Err(Error::io("listing", path)(source));
            }
        }
    }
    Ok(())
}

/// Creates an empty file private to the user (0600 on Unix) unless `path` exists already.
/// SQLite gives a database's journal and WAL files the database file's own mode, so a store
/// created this way stays private from its first write.
pub fn create_file_private(path: &Path) -> Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io("creating", path)(e)),
    }
}

/// Total size in bytes of the files below `dir` (0 for what cannot be read).
pub fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Takes an exclusive OS lock on the file at `path` (created if needed), calling `waiting`
/// once if another process holds it, then blocking until it is free. The lock lasts as long
/// as the returned file is open, and the OS drops it if the process dies.
pub fn lock_exclusive(path: &Path, waiting: &mut dyn FnMut()) -> Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io("creating", dir))?;
    }
    let mut o = std::fs::OpenOptions::new();
    o.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let f = o.open(path).map_err(Error::io("opening", path))?;
    match f.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            waiting();
            f.lock().map_err(Error::io("locking", path))?;
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("locking", path)(e)),
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_whole_file_and_is_private() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("f.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two, longer").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two, longer");
        // No temp file is left behind.
        assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    /// Files and folders made with a permissive mode (as SQLite and tantivy make theirs
    /// under a 022 umask) lose their group and other bits; the user's stay.
    #[cfg(unix)]
    #[test]
    fn a_tree_is_made_private_and_new_files_start_private() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("index");
        std::fs::create_dir_all(dir.join("lexical")).unwrap();
        let seg = dir.join("lexical/seg.idx");
        std::fs::write(&seg, b"text").unwrap();
        std::fs::set_permissions(&seg, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(dir.join("lexical"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o775)).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.join("link")).unwrap();
        make_tree_private(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("lexical")), 0o700);
        assert_eq!(mode(&seg), 0o600);
        let store = dir.join("store.sqlite3");
        create_file_private(&store).unwrap();
        assert_eq!(mode(&store), 0o600);
        std::fs::write(&store, b"kept").unwrap();
        create_file_private(&store).unwrap();
        assert_eq!(
            std::fs::read(&store).unwrap(),
            b"kept",
            "an existing file is left as it is"
        );
        let lock = lock_exclusive(&dir.join("writer.lock"), &mut || {}).unwrap();
        assert_eq!(mode(&dir.join("writer.lock")), 0o600);
        drop(lock);
    }

    #[test]
    fn write_into_missing_dir_names_the_dir() {
        let t = tempfile::tempdir().unwrap();
        let err = write_atomic(&t.path().join("nope/f"), b"x").unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
