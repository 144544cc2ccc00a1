//! Output of the builds running now, for readers that join late: everything so far, then each new
//! line until the build ends (`GET /apps/{app}/builds/{id}/output`). Finished builds' output is
//! read from the store instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

#[derive(Clone, Default)]
pub struct LiveBuilds {
    running: Arc<Mutex<HashMap<String, Live>>>,
}

struct Live {
    lines: Vec<String>,
    tx: broadcast::Sender<String>,
}

impl LiveBuilds {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Live>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn start(&self, id: &str) {
        let (tx, _) = broadcast::channel(1024);
        self.table().insert(
            id.to_owned(),
            Live {
                lines: Vec::new(),
                tx,
            },
        );
    }

    pub fn line(&self, id: &str, line: &str) {
        if let Some(live) = self.table().get_mut(id) {
            live.lines.push(line.to_owned());
            let _ = live.tx.send(line.to_owned());
        }
    }

    /// Ends the build's stream: subscribers see the channel close.
    pub fn finish(&self, id: &str) {
        self.table().remove(id);
    }

    /// The lines so far and a receiver of the next ones, if the build is running.
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
        live.finish("b");
        assert_eq!(past, vec!["one"]);
        assert_eq!(rx.recv().await.ok().as_deref(), Some("two"));
        assert!(rx.recv().await.is_err(), "closed once finished");
        assert!(live.subscribe("b").is_none());
    }
}
