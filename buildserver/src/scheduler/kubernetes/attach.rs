//! The streams of a one-off pod (`paas run`) through a Kubernetes attach, and the small protocol
//! around them (the script is `scheduler::one_off_args(_, true)`). An attach through a 1.20
//! cluster (channel protocol v4) cannot close the pod's stdin, and a quick command's last output
//! can be lost when its container ends before the kubelet has passed it on. So:
//!
//! - the pod's script pings ([`ATTACH_PING`]) until it is let through, once the attach is live;
//! - without a terminal, stdin goes as base64 lines, one per piece the user wrote (each decoded
//!   as it comes: input streams through), and its end as a line `.`, which the script turns
//!   back into bytes and an end of input for the command;
//! - after the command, the script writes [`END`] on stdout (and stderr) and waits for a line
//!   `paas-ack`, which the server sends once it has read every marker: all the output has
//!   arrived before the container ends.
//!
//! The markers are OSC sequences, which a terminal shows as nothing should one reach it; they
//! are taken out of what the user gets.

use std::time::Duration;

use anyhow::bail;
use base64::Engine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio_util::task::AbortOnDropHandle;

use crate::scheduler::{ATTACH_END, ATTACH_PING};

/// Where a one-off's output ends (see the module's docs).
const END: &[u8] = ATTACH_END;

/// The line that ends a framed stdin.
const STDIN_END: &[u8] = b"\n.\n";

/// The line that lets the script end once its output has arrived.
const ACK: &[u8] = b"\npaas-ack\n";

/// Reads a gated one-off's `stdout` until the gate's first ping, for up to `within`: its attach
/// is live both ways then. Returns what was read from the ping on.
pub async fn await_ping(
    stdout: &mut (impl AsyncRead + Unpin),
    within: Duration,
) -> anyhow::Result<Vec<u8>> {
    let mut pending = Vec::new();
    let mut chunk = vec![0u8; 4096];
    let pinged = async {
        loop {
            if let Some(at) = find(&pending, ATTACH_PING) {
                pending.drain(..at);
                return Ok(pending);
            }
            let n = stdout.read(&mut chunk).await?;
            if n == 0 {
                bail!("the attach ended before the pod said it was waiting");
            }
            pending.extend_from_slice(&chunk[..n]);
        }
    };
    match tokio::time::timeout(within, pinged).await {
        Ok(pinged) => pinged,
        Err(_) => bail!("it said nothing within {} s", within.as_secs()),
    }
}

/// What the user's side reads and writes.
pub struct Streams {
    pub stdin: DuplexStream,
    pub stdout: DuplexStream,
    /// Without a terminal.
    pub stderr: Option<DuplexStream>,
    /// The tasks between these and the attach: dropped, they stop, and the user's side ends
    /// (for a pod that ended without its end marker, stopped or deleted, whose attach may never
    /// close). Once the pod has ended after its marker, its output is all in the streams.
    pub tasks: Tasks,
}

/// Tasks stopped when dropped.
pub struct Tasks {
    _running: Vec<AbortOnDropHandle<()>>,
}

impl Streams {
    /// Wraps the attach's streams of a one-off that was just let through: `pending` is what was
    /// read of `stdout` already; `stderr` is there without a terminal (which also means stdin is
    /// framed).
    pub fn new(
        stdin: impl AsyncWrite + Send + Unpin + 'static,
        stdout: impl AsyncRead + Send + Unpin + 'static,
        pending: Vec<u8>,
        stderr: Option<impl AsyncRead + Send + Unpin + 'static>,
    ) -> Self {
        let framed = stderr.is_some();
        let mut tasks = Vec::new();
        let (out_end, out_ended) = tokio::sync::oneshot::channel();
        let (stdout, task) = output(stdout, pending, true, out_end);
        tasks.push(task);
        let (stderr, err_ended) = match stderr {
            Some(stderr) => {
                let (end, ended) = tokio::sync::oneshot::channel();
                let (stderr, task) = output(stderr, Vec::new(), false, end);
                tasks.push(task);
                (Some(stderr), Some(ended))
            }
            None => (None, None),
        };
        let all_ended = async move {
            out_ended.await.is_ok()
                && match err_ended {
                    Some(ended) => ended.await.is_ok(),
                    None => true,
                }
        };
        let (stdin, task) = input(stdin, framed, all_ended);
        tasks.push(task);
        Self {
            stdin,
            stdout,
            stderr,
            tasks: Tasks { _running: tasks },
        }
    }
}

/// Copies what the user writes to the pod's `stdin` (as base64 lines and an end line when
/// `framed`, else as it is) until the output has all arrived (`all_ended` says true), then sends
/// the acknowledgement.
fn input(
    mut stdin: impl AsyncWrite + Send + Unpin + 'static,
    framed: bool,
    all_ended: impl std::future::Future<Output = bool> + Send + 'static,
) -> (DuplexStream, AbortOnDropHandle<()>) {
    let (user, mut from_user) = tokio::io::duplex(64 * 1024);
    let task = tokio::spawn(async move {
        tokio::pin!(all_ended);
        let mut chunk = vec![0u8; 16 * 1024];
        let mut input_open = true;
        let mut ended_sent = !framed;
        loop {
            tokio::select! {
                read = from_user.read(&mut chunk), if input_open => {
                    let bytes = match read {
                        Ok(0) | Err(_) => {
                            input_open = false;
                            if ended_sent {
                                continue;
                            }
                            ended_sent = true;
                            STDIN_END.to_vec()
                        }
                        Ok(n) if framed => base64_line(&chunk[..n]),
                        Ok(n) => chunk[..n].to_vec(),
                    };
                    if stdin.write_all(&bytes).await.is_err() || stdin.flush().await.is_err() {
                        return;
                    }
                }
                complete = &mut all_ended => {
                    if complete {
                        let end = if ended_sent { Vec::new() } else { STDIN_END.to_vec() };
                        let _ = stdin.write_all(&[end, ACK.to_vec()].concat()).await;
                        let _ = stdin.flush().await;
                    }
                    return;
                }
            }
        }
    });
    (user, AbortOnDropHandle::new(task))
}

/// Copies one output stream of the pod to the returned reader: without the gate's pings at its
/// start (`pings`: stdout), up to [`END`]; `ended` is told when the marker came.
fn output(
    mut from: impl AsyncRead + Send + Unpin + 'static,
    mut pending: Vec<u8>,
    pings: bool,
    ended: tokio::sync::oneshot::Sender<()>,
) -> (DuplexStream, AbortOnDropHandle<()>) {
    let (mut to, reader) = tokio::io::duplex(64 * 1024);
    let task = tokio::spawn(async move {
        let mut chunk = vec![0u8; 16 * 1024];
        let mut started = !pings;
        loop {
            if !started {
                let (skip, maybe_more) = leading_pings(&pending);
                pending.drain(..skip);
                started = !maybe_more;
            }
            if started {
                match until_end(&pending) {
                    Until::End(at) => {
                        let _ = to.write_all(&pending[..at]).await;
                        let _ = ended.send(());
                        return;
                    }
                    Until::Pass(upto) => {
                        if to.write_all(&pending[..upto]).await.is_err() {
                            return;
                        }
                        pending.drain(..upto);
                    }
                }
            }
            match from.read(&mut chunk).await {
                Ok(0) | Err(_) => {
                    let _ = to.write_all(&pending).await;
                    return;
                }
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
            }
        }
    });
    (reader, AbortOnDropHandle::new(task))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// How many bytes of whole [`ATTACH_PING`]s `output` starts with, and whether what follows them
/// could still be (the start of) another: nothing yet, or a ping's first bytes.
fn leading_pings(output: &[u8]) -> (usize, bool) {
    let mut at = 0;
    while output[at..].starts_with(ATTACH_PING) {
        at += ATTACH_PING.len();
    }
    (at, ATTACH_PING.starts_with(&output[at..]))
}

#[derive(Debug, PartialEq, Eq)]
enum Until {
    /// The output ends at this offset (the marker starts there).
    End(usize),
    /// The output up to this offset can go; the rest may begin the marker.
    Pass(usize),
}

/// Where `output` reaches [`END`], or how much of it cannot be part of one.
fn until_end(output: &[u8]) -> Until {
    if let Some(at) = find(output, END) {
        return Until::End(at);
    }
    let keep = (1..END.len().min(output.len() + 1))
        .rev()
        .find(|&n| output.ends_with(&END[..n]))
        .unwrap_or(0);
    Until::Pass(output.len() - keep)
}

/// `data` as one base64 line (padded: the script decodes each line by itself).
fn base64_line(data: &[u8]) -> Vec<u8> {
    let mut line = base64::engine::general_purpose::STANDARD
        .encode(data)
        .into_bytes();
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_s_pings_are_read_off_the_start_of_the_output() {
        let ping = ATTACH_PING;
        let twice = [ping, ping].concat();
        assert_eq!(leading_pings(b""), (0, true));
        assert_eq!(leading_pings(&twice), (2 * ping.len(), true));
        assert_eq!(
            leading_pings(&[ping, &ping[..3]].concat()),
            (ping.len(), true),
            "a ping cut in two"
        );
        assert_eq!(
            leading_pings(&[ping, b"hello", ping].concat()),
            (ping.len(), false),
            "the command's output, kept whole"
        );
        assert_eq!(leading_pings(b"\x1b[1mbold"), (0, false));
    }

    #[test]
    fn the_output_ends_at_its_marker_and_a_marker_cut_in_two_is_held_back() {
        assert_eq!(until_end(b"hello\n"), Until::Pass(6));
        assert_eq!(until_end(&[b"hello\n", END].concat()), Until::End(6));
        assert_eq!(
            until_end(&[b"hello\n", &END[..4]].concat()),
            Until::Pass(6),
            "the start of a marker waits for the rest"
        );
        assert_eq!(until_end(b"\x1b[0m"), Until::Pass(4), "other escapes pass");
        assert_eq!(until_end(b""), Until::Pass(0));
    }

    #[test]
    fn stdin_goes_as_base64_lines_none_of_them_an_end() {
        for data in [&b""[..], b"a", b"ab\n", &[0u8, 255, 10, 46, 10]] {
            let line = base64_line(data);
            let text = std::str::from_utf8(&line).expect("ASCII");
            let text = text.strip_suffix('\n').expect("a line");
            assert!(!text.contains('\n') && text != "." && text != "paas-ack");
            assert_eq!(
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .expect("base64"),
                data
            );
        }
    }

    /// The whole protocol against the script itself, run by Debian's dash and by busybox's ash (the
    /// stacks' shells) with the script's stdio as the attach: pings until let through, stdin
    /// framed and ended, output whole, the exit status the command's.
    #[tokio::test]
    async fn a_piped_run_gets_its_input_and_end_and_all_its_output() {
        for shell in [&["/bin/sh"][..], &["busybox", "sh"][..]] {
            let args = crate::scheduler::one_off_args(
                "read first; echo \"got $first\"; tr a-z A-Z; echo done >&2; for i in 1 2 3; do echo $i; done; exit 4",
                true,
            );
            let mut child = tokio::process::Command::new(shell[0])
                .args(&shell[1..])
                .args(&args[1..])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("a shell");
            let mut stdin = child.stdin.take().expect("stdin");
            let mut stdout = child.stdout.take().expect("stdout");
            let pending = await_ping(&mut stdout, Duration::from_secs(10))
                .await
                .expect("a ping");
            stdin
                .write_all(crate::scheduler::ATTACHED)
                .await
                .expect("let through");
            let streams = Streams::new(stdin, stdout, pending, child.stderr.take());
            let (mut user_in, mut user_out, _tasks) =
                (streams.stdin, streams.stdout, streams.tasks);
            let mut user_err = streams.stderr.expect("stderr");
            // A line reaches the command as it is written, before the input ends.
            user_in.write_all(b"first\n").await.expect("write");
            let mut out = vec![0u8; 10];
            tokio::time::timeout(Duration::from_secs(5), user_out.read_exact(&mut out))
                .await
                .expect("the first line streamed through")
                .expect("stdout");
            user_in.write_all(b"piped input\n").await.expect("write");
            user_in.shutdown().await.expect("the end of input");
            let mut err = Vec::new();
            user_out.read_to_end(&mut out).await.expect("stdout");
            user_err.read_to_end(&mut err).await.expect("stderr");
            let status = child.wait().await.expect("ends");
            assert_eq!(
                String::from_utf8_lossy(&out),
                "got first\nPIPED INPUT\n1\n2\n3\n",
                "{shell:?}"
            );
            assert_eq!(String::from_utf8_lossy(&err), "done\n", "{shell:?}");
            assert_eq!(status.code(), Some(4), "{shell:?}");
        }
    }
}
