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
    /// Builds stopped before their end (the pusher went away), until they are recorded as
    /// abandoned, with a last line saying so for their readers; the last [`STOPPED_KEPT`] only
    /// (dropping one ends its readers' stream).
    stopped: VecDeque<(String, Live)>,
}

impl Table {
    fn get(&mut self, id: &str) -> Option<&mut Live> {
        match self.running.get_mut(id) {
            Some(live) => Some(live),
            None => self
                .stopped
                .iter_mut()
                .find(|(stopped, _)| stopped == id)
                .map(|(_, live)| live),
        }
    }
}

/// How many stopped builds wait to be recorded.
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

    /// Adds a line to the build's output and sends it to its readers.
    pub fn line(&self, id: &str, line: &str) {
        if let Some(live) = self.table().get(id) {
            live.lines.push(line.to_owned());
            let _ = live.tx.send(line.to_owned());
        }
    }

    /// Ends the build's stream (its readers see the channel close) and gives its lines, those of
    /// a build [`stop`](Self::stop)ped before its end too.
    pub fn finish(&self, id: &str) -> Vec<String> {
        let mut table = self.table();
        let live = table.running.remove(id).or_else(|| {
            let at = table
                .stopped
                .iter()
                .position(|(stopped, _)| stopped == id)?;
            table.stopped.remove(at).map(|(_, live)| live)
        });
        live.map(|live| live.lines).unwrap_or_default()
    }

    /// Sets aside a build stopped before its end, its stream still open, for the last
    /// [`line`](Self::line) and [`finish`](Self::finish) of recording it as abandoned.
    pub fn stop(&self, id: &str) {
        let mut table = self.table();
        if let Some(live) = table.running.remove(id) {
            if table.stopped.len() == STOPPED_KEPT {
                table.stopped.pop_front();
            }
            table.stopped.push_back((id.to_owned(), live));
        }
    }

    /// The lines so far and a receiver of the next ones, if the build is not recorded yet.
    pub fn subscribe(&self, id: &str) -> Option<(Vec<String>, broadcast::Receiver<String>)> {
        self.table()
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
    async fn a_stopped_build_keeps_its_lines_and_readers_until_finished() {
        let live = LiveBuilds::default();
        live.start("b");
        live.line("b", "-----> Python app detected");
        let (_, mut rx) = live.subscribe("b").expect("running");
        live.stop("b");
        live.line("b", " !     Build failed: interrupted");
        assert_eq!(
            live.finish("b"),
            vec![
                "-----> Python app detected",
                " !     Build failed: interrupted"
            ]
        );
        assert_eq!(
            rx.recv().await.ok().as_deref(),
            Some(" !     Build failed: interrupted")
        );
        assert!(rx.recv().await.is_err(), "closed once finished");
        assert!(live.subscribe("b").is_none());
        assert!(live.finish("b").is_empty());
        // Only the last few wait; a dropped one's readers see its end.
        live.start("first");
        let (_, mut first) = live.subscribe("first").expect("running");
        live.stop("first");
        for id in 0..STOPPED_KEPT {
            live.start(&id.to_string());
            live.line(&id.to_string(), "line");
            live.stop(&id.to_string());
        }
        assert!(first.recv().await.is_err(), "closed once dropped");
        assert!(live.finish("first").is_empty());
        assert_eq!(live.finish(&(STOPPED_KEPT - 1).to_string()), vec!["line"]);
    }
}
