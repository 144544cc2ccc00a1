//! Output of the builds running now, for readers that join late: everything so far, then each new
//! line until the build ends (`GET /apps/{app}/builds/{id}/output`). Finished builds' output is
//! read from the store instead.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

#[derive(Clone, Default)]
pub struct LiveBuilds {
    table: Arc<Mutex<Table>>,
}

#[derive(Default)]
struct Table {
    running: HashMap<String, Live>,
    /// The lines of builds stopped before their end (the pusher went away), until the build is
    /// recorded as abandoned with them; the last [`STOPPED_KEPT`] only.
    stopped: VecDeque<(String, Vec<String>)>,
}

/// How many stopped builds' lines wait to be recorded.
const STOPPED_KEPT: usize = 16;

struct Live {
    lines: Vec<String>,
    tx: broadcast::Sender<String>,
}

impl LiveBuilds {
    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn start(&self, id: &str) {
        let (tx, _) = broadcast::channel(1024);
        self.table().running.insert(
            id.to_owned(),
            Live {
                lines: Vec::new(),
                tx,
            },
        );
    }

    pub fn line(&self, id: &str, line: &str) {
        if let Some(live) = self.table().running.get_mut(id) {
            live.lines.push(line.to_owned());
            let _ = live.tx.send(line.to_owned());
        }
    }

    /// Ends the build's stream (subscribers see the channel close) and gives its lines, those of
    /// a build [`stop`](Self::stop)ped before its end too.
    pub fn finish(&self, id: &str) -> Vec<String> {
        let mut table = self.table();
        if let Some(live) = table.running.remove(id) {
            return live.lines;
        }
        match table.stopped.iter().position(|(stopped, _)| stopped == id) {
            Some(at) => table
                .stopped
                .remove(at)
                .map(|(_, lines)| lines)
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// Ends the stream of a build stopped before its end, keeping its lines for
    /// [`finish`](Self::finish) (which records it as abandoned).
    pub fn stop(&self, id: &str) {
        let mut table = self.table();
        if let Some(live) = table.running.remove(id) {
            if table.stopped.len() == STOPPED_KEPT {
                table.stopped.pop_front();
            }
            table.stopped.push_back((id.to_owned(), live.lines));
        }
    }

    /// The lines so far and a receiver of the next ones, if the build is running.
    pub fn subscribe(&self, id: &str) -> Option<(Vec<String>, broadcast::Receiver<String>)> {
        self.table()
            .running
            .get(id)
            .map(|live| (live.lines.clone(), live.tx.subscribe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn late_readers_get_the_past_then_the_rest() {
        let live = LiveBuilds::default();
        live.start("b");
        live.line("b", "one");
        let (past, mut rx) = live.subscribe("b").expect("running");
        live.line("b", "two");
        assert_eq!(live.finish("b"), vec!["one", "two"]);
        assert_eq!(past, vec!["one"]);
        assert_eq!(rx.recv().await.ok().as_deref(), Some("two"));
        assert!(rx.recv().await.is_err(), "closed once finished");
        assert!(live.subscribe("b").is_none());
        assert!(live.finish("b").is_empty());
    }

    #[tokio::test]
    async fn a_stopped_build_keeps_its_lines_until_finished() {
        let live = LiveBuilds::default();
        live.start("b");
        live.line("b", "-----> Python app detected");
        let (_, mut rx) = live.subscribe("b").expect("running");
        live.stop("b");
        assert!(rx.recv().await.is_err(), "closed once stopped");
        assert!(live.subscribe("b").is_none());
        assert_eq!(live.finish("b"), vec!["-----> Python app detected"]);
        assert!(live.finish("b").is_empty());
        // Only the last few wait.
        for id in 0..=STOPPED_KEPT {
            live.start(&id.to_string());
            live.line(&id.to_string(), "line");
            live.stop(&id.to_string());
        }
        assert!(live.finish("0").is_empty());
        assert_eq!(live.finish(&STOPPED_KEPT.to_string()), vec!["line"]);
    }
}
