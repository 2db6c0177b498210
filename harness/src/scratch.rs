//! [`Scratch`]: a file armsim writes to the temporary folder for another process to read (a CA
//! certificate a client or `serve`'s user trusts), removed when it is no longer needed.

use std::path::{Path, PathBuf};

/// A file in the temporary folder, removed when dropped, with its folder when the folder is the
/// file's own and nothing else is left in it (removing a folder that still holds another's file fails,
/// harmlessly). Dropped however its owner ends, short of being killed.
#[derive(Debug)]
pub struct Scratch {
    path: PathBuf,
    own_folder: bool,
}

impl Scratch {
    /// A file directly in the temporary folder.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            own_folder: false,
        }
    }

    /// A file in a folder of its own, or shared only with files like it (`/tmp/armsim-PORT/ca.pem`).
    pub fn in_own_folder(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            own_folder: true,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        if self.own_folder {
            if let Some(dir) = self.path.parent() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_file_goes_when_dropped_and_its_folder_with_the_last_one_out() {
        let dir = std::env::temp_dir().join(format!("armsim-scratch-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("folder");
        let (a, b) = (dir.join("a.pem"), dir.join("b.pem"));
        for p in [&a, &b] {
            std::fs::write(p, "x").expect("file");
        }
        let (first, second) = (Scratch::in_own_folder(&a), Scratch::in_own_folder(&b));
        drop(first);
        assert!(!a.exists() && b.exists(), "only its own file goes");
        assert!(dir.exists(), "the folder stays while another file is in it");
        drop(second);
        assert!(!dir.exists(), "the last one out takes the folder");

        let alone =
            std::env::temp_dir().join(format!("armsim-scratch-{}.yaml", std::process::id()));
        std::fs::write(&alone, "x").expect("file");
        drop(Scratch::file(&alone));
        assert!(!alone.exists());
        assert!(
            std::env::temp_dir().exists(),
            "the temporary folder itself is left alone"
        );
    }
}
