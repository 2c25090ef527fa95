//! What a running stand-in shares between its handle and its handlers: the configuration, the
//! tasks, the failure injections queued through the handle, the counters and the requests seen,
//! and the signal that it is closing, which ends every answer held on purpose.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;

use crate::tasks::Task;
use crate::video::Render;
use crate::{Call, SeenRequest, StandinConfig};

pub(crate) struct Shared {
    pub(crate) config: StandinConfig,
    /// `http://host:port`, for video URLs.
    pub(crate) origin: String,
    pub(crate) cache_dir: PathBuf,
    pub(crate) state: Mutex<Inner>,
    /// One render per size; every task of that size waits on the same cell. A failed render
    /// stays failed for this stand-in's life: ffmpeg does not fix itself between two tasks.
    pub(crate) renders: Mutex<HashMap<(u32, u32), Arc<Render>>>,
    /// Set once the handle shuts down or is dropped, so that held answers end and the server's
    /// graceful shutdown does not wait for them.
    pub(crate) closing: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain counters behind; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits `delay`, or until the stand-in closes, whichever comes first.
    pub(crate) async fn hold(&self, delay: Duration) {
        let mut closing = self.closing.subscribe();
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = closing.wait_for(|closed| *closed) => {}
        }
    }
}

#[derive(Default)]
pub(crate) struct Inner {
    pub(crate) tasks: HashMap<String, Task>,
    pub(crate) rejections: VecDeque<Rejection>,
    pub(crate) mishaps: VecDeque<(Call, Mishap)>,
    pub(crate) next_failures: VecDeque<Failure>,
    /// `[standin:429-storm]` creates refused so far, by prompt.
    pub(crate) storms: HashMap<String, u32>,
    pub(crate) tasks_created: usize,
    pub(crate) max_in_flight: usize,
    pub(crate) seen: VecDeque<SeenRequest>,
}

pub(crate) struct Rejection {
    pub(crate) status: u16,
    pub(crate) code: String,
    pub(crate) message: String,
}

#[derive(Clone)]
pub(crate) struct Failure {
    pub(crate) code: Option<String>,
    pub(crate) message: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Mishap {
    Hang(Duration),
    Garble,
}
