//! Durable worlds for `armsim serve --data-dir DIR`: the whole world (services, storage, blobs and
//! backups, operations, the clock's virtual now) is one JSON file, replaced atomically.
//!
//! Why a file and not an embedded database: the world is small (kilobytes), it is already a serde type
//! that loads through the same checks as a world file, and a whole-file replace is the simplest thing
//! that is crash-safe on POSIX: write `world.json.tmp`, `fsync` it, `rename` it over `world.json`,
//! `fsync` the directory. After a `kill -9` at any instant the directory holds either the old file or the
//! new one, never a torn one. See `docs/persistence.md` for the measured cost and the clock's rule.
//!
//! The [`crate::Simulator`] calls [`Persist::save`] under its lock after every request, so a
//! response leaves only once what it reports is on disk; [`DirStore`] skips writes that would not change
//! the file.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::clock::ClockMode;
use crate::engine::ids::Position;
use crate::engine::model::World;
use crate::sim::Simulator;

/// The file in the data directory.
pub const FILE: &str = "world.json";
const TMP: &str = "world.json.tmp";
/// The `format` written in the file; a file of another format is refused, not guessed at.
pub const FORMAT: &str = "armsim-state/1";
/// Under a scaled clock, how stale the saved virtual now may get when nothing else changes.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Where a simulator keeps its world between runs.
pub trait Persist: Send + Sync {
    /// Saves `world` (whose `start` is the virtual now) and the id generator's position. Called under the
    /// simulator's lock after every request: it must be cheap when nothing changed.
    fn save(&self, world: &World, ids: Position) -> Result<(), String>;
}

/// The file's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Saved {
    pub format: String,
    /// Wall time of the write, for people reading the file (not used on load).
    pub saved_at: String,
    /// The id generator's position, so a restart hands out no id twice: its state …
    pub ids: u64,
    /// … and the next operation's counter (absent from files saved before it had one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<u32>,
    /// The world at the time of the write; `world.start` is the virtual now the clock resumes from.
    pub world: World,
}

impl Saved {
    /// Where the id generator stood when the world was saved.
    pub fn position(&self) -> Position {
        match self.operations {
            Some(operations) => Position {
                state: self.ids,
                operations,
            },
            None => Position::of_state(self.ids),
        }
    }
}

/// A data directory holding [`FILE`].
pub struct DirStore {
    dir: PathBuf,
    /// Under a scaled clock the virtual now moves on every request; it is then left out of the change
    /// test, and [`CHECKPOINT_EVERY`] bounds how stale it gets on disk.
    scaled: bool,
    last: Mutex<Last>,
}

struct Last {
    /// The world last written, serialized (with `start` zeroed under a scaled clock).
    key: Vec<u8>,
    at: Option<Instant>,
    writes: u64,
}

impl DirStore {
    /// Opens (creating) a data directory and reads the saved world, if there is one. A leftover
    /// temporary file (a crash mid-write) is removed: the previous `world.json` is the truth.
    pub fn open(dir: &Path, clock: ClockMode) -> Result<(Self, Option<Saved>), String> {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let tmp = dir.join(TMP);
        if tmp.exists() {
            fs::remove_file(&tmp).map_err(|e| format!("cannot remove {}: {e}", tmp.display()))?;
        }
        let path = dir.join(FILE);
        let saved = match fs::read(&path) {
            Ok(bytes) => Some(parse(&bytes).map_err(|e| format!("{}: {e}", path.display()))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let store = Self {
            dir: dir.to_path_buf(),
            scaled: matches!(clock, ClockMode::Scaled { .. }),
            last: Mutex::new(Last {
                key: Vec::new(),
                at: None,
                writes: 0,
            }),
        };
        Ok((store, saved))
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    /// Files written since opening (for tests and benchmarks).
    pub fn writes(&self) -> u64 {
        self.lock().writes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Last> {
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn parse(bytes: &[u8]) -> Result<Saved, String> {
    let saved: Saved = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if saved.format != FORMAT {
        return Err(format!(
            "format '{}' is not '{FORMAT}'; move the file away to start afresh",
            saved.format
        ));
    }
    Ok(saved)
}

impl Persist for DirStore {
    fn save(&self, world: &World, ids: Position) -> Result<(), String> {
        let mut last = self.lock();
        let key = if self.scaled {
            let mut w = world.clone();
            w.start = crate::clock::Timestamp::from_millis(0);
            serde_json::to_vec(&w)
        } else {
            serde_json::to_vec(world)
        }
        .map_err(|e| e.to_string())?;
        let fresh = last.at.is_some_and(|at| at.elapsed() < CHECKPOINT_EVERY);
        if key == last.key && (fresh || !self.scaled) {
            return Ok(());
        }
        let saved = Saved {
            format: FORMAT.into(),
            saved_at: jiff::Timestamp::now().to_string(),
            ids: ids.state,
            operations: Some(ids.operations),
            world: world.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&saved).map_err(|e| e.to_string())?;
        write_atomically(&self.dir, &bytes)
            .map_err(|e| format!("cannot write {}: {e}", self.path().display()))?;
        last.key = key;
        last.at = Some(Instant::now());
        last.writes += 1;
        Ok(())
    }
}

/// Write-temp, fsync, rename, fsync the directory: the file is the old one or the new one, whole.
fn write_atomically(dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(TMP);
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, dir.join(FILE))?;
    File::open(dir)?.sync_all()
}

/// Under a scaled clock, saves the virtual now every [`CHECKPOINT_EVERY`] (when it moved), so a crash
/// loses at most that much time; the task ends with the runtime.
pub fn spawn_checkpoints(sim: Arc<Simulator>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = sim.checkpoint() {
                tracing::error!(error = %e, "checkpoint failed");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::default_world;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("armsim-persist-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_saved_world_loads_back_and_unchanged_worlds_are_not_rewritten() {
        let dir = temp_dir("roundtrip");
        let (store, none) = DirStore::open(&dir, ClockMode::Manual).expect("open");
        assert!(none.is_none());
        let world = default_world();
        let at = |state, operations| Position { state, operations };
        store.save(&world, at(42, 7)).expect("save");
        store.save(&world, at(43, 8)).expect("save again");
        assert_eq!(store.writes(), 1, "an unchanged world is not written twice");
        let (_, saved) = DirStore::open(&dir, ClockMode::Manual).expect("reopen");
        let saved = saved.expect("a saved world");
        assert_eq!(saved.position(), at(42, 7));
        assert_eq!(saved.world, world);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_leftover_temporary_file_is_ignored_and_a_foreign_file_refused() {
        let dir = temp_dir("leftover");
        fs::create_dir_all(&dir).expect("dir");
        fs::write(dir.join(TMP), b"{\"torn").expect("tmp");
        let (_, saved) = DirStore::open(&dir, ClockMode::Manual).expect("open");
        assert!(saved.is_none() && !dir.join(TMP).exists());
        fs::write(
            dir.join(FILE),
            b"{\"format\":\"other\",\"savedAt\":\"\",\"ids\":0,\"world\":{}}",
        )
        .expect("write");
        let err = DirStore::open(&dir, ClockMode::Manual)
            .err()
            .expect("refused");
        assert!(err.contains("world.json") && err.contains("other"), "{err}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_saved_before_operations_had_a_counter_resumes_at_the_counter_its_state_gives() {
        let dir = temp_dir("before-counter");
        fs::create_dir_all(&dir).expect("dir");
        fs::write(
            dir.join(FILE),
            format!("{{\"format\":\"{FORMAT}\",\"savedAt\":\"\",\"ids\":42,\"world\":{{}}}}"),
        )
        .expect("write");
        let (_, saved) = DirStore::open(&dir, ClockMode::Manual).expect("open");
        let saved = saved.expect("a saved world");
        assert_eq!(saved.position(), Position::of_state(42));
        let _ = fs::remove_dir_all(&dir);
    }
}
