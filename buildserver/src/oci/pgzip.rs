//! Parallel, reproducible gzip: the input is cut into fixed 1 MiB blocks, each compressed as raw
//! deflate on a worker thread with the previous block's last 32 KiB as its dictionary (as pigz
//! does), ended by a sync flush so that blocks concatenate; the last block carries the final bit.
//! Block size, dictionary and level depend only on the content, never on the thread count, so
//! the output bytes are the same on every machine. 64 KiB pieces that look incompressible (byte
//! entropy near 8 bits, measured on a quarter of each) are stored instead of compressed:
//! random bytes cost a copy.

use std::io::{self, Write};
use std::sync::mpsc;
use std::thread::JoinHandle;

use flate2::{Compress, Compression, FlushCompress, Status};

const BLOCK: usize = 1 << 20;
const DICTIONARY: usize = 32 * 1024;
const SAMPLE: usize = 64 * 1024;
/// gzip header: magic, deflate, no flags, mtime 0, no extra flags, OS unknown.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

struct Job {
    block: Vec<u8>,
    dictionary: Vec<u8>,
    last: bool,
    level: u32,
    reply: mpsc::Sender<io::Result<Vec<u8>>>,
}

/// A block's compressed bytes, once its worker is done with it.
type Compressed = mpsc::Receiver<io::Result<Vec<u8>>>;

/// Buffers of [`CAPACITY`] bytes, given back once used (a block, or its compressed bytes): a
/// new one costs a page fault and a cleared page per 4 KiB. At most `keep` are kept.
#[derive(Clone)]
struct Buffers {
    kept: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    keep: usize,
}

/// Room for a block, or for one compressed (stored pieces add a few bytes each).
const CAPACITY: usize = BLOCK + BLOCK / 100 + 4096;

impl Buffers {
    fn take(&self) -> Vec<u8> {
        let kept = self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        kept.unwrap_or_else(|| Vec::with_capacity(CAPACITY))
    }

    fn give(&self, mut buffer: Vec<u8>) {
        buffer.clear();
        let mut kept = self
            .kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() < self.keep {
            kept.push(buffer);
        }
    }
}

/// The gzip stream of what is written to it, written to `W` by a thread of its own (in block
/// order, whichever worker ends first): the writer's own work (hashing, writing a file, an
/// upload's copy) then runs alongside the input's (reading, hashing the tar).
pub struct ParallelGzip<W: Write + Send + 'static> {
    level: u32,
    block: Vec<u8>,
    dictionary: Vec<u8>,
    crc: crc32fast::Hasher,
    size: u64,
    jobs: Option<mpsc::Sender<Job>>,
    workers: Vec<JoinHandle<()>>,
    /// The blocks submitted, in order, to the output thread.
    order: Option<mpsc::SyncSender<Compressed>>,
    output: Option<JoinHandle<io::Result<W>>>,
    buffers: Buffers,
}

impl<W: Write + Send + 'static> ParallelGzip<W> {
    pub fn new(mut out: W, level: u32) -> io::Result<Self> {
        out.write_all(&HEADER)?;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        // Blocks queued to the output thread (compressing or compressed): the input waits
        // beyond.
        let queued = threads * 2;
        let buffers = Buffers {
            kept: std::sync::Arc::default(),
            // A block holds one buffer, in or out: those queued, one being written, one waiting
            // to be queued, one filling.
            keep: queued + 3,
        };
        let workers = (0..threads)
            .map(|_| {
                let rx = std::sync::Arc::clone(&rx);
                let buffers = buffers.clone();
                std::thread::spawn(move || {
                    loop {
                        let job = match rx
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .recv()
                        {
                            Ok(job) => job,
                            Err(_) => return,
                        };
                        let compressed = deflate(&job, buffers.take());
                        buffers.give(job.block);
                        let _ = job.reply.send(compressed);
                    }
                })
            })
            .collect();
        let (order, blocks) = mpsc::sync_channel::<Compressed>(queued);
        let given = buffers.clone();
        let output = std::thread::spawn(move || {
            for block in blocks {
                let compressed = block
                    .recv()
                    .map_err(|_| io::Error::other("a gzip worker stopped"))??;
                out.write_all(&compressed)?;
                given.give(compressed);
            }
            Ok(out)
        });
        Ok(Self {
            level,
            block: buffers.take(),
            dictionary: Vec::new(),
            crc: crc32fast::Hasher::new(),
            size: 0,
            jobs: Some(tx),
            workers,
            order: Some(order),
            output: Some(output),
            buffers,
        })
    }

    fn submit(&mut self, last: bool) -> io::Result<()> {
        let block = std::mem::replace(&mut self.block, self.buffers.take());
        let level = self.level;
        let dictionary = std::mem::take(&mut self.dictionary);
        self.dictionary = block[block.len().saturating_sub(DICTIONARY)..].to_vec();
        let (reply, result) = mpsc::channel();
        let job = Job {
            block,
            dictionary,
            last,
            level,
            reply,
        };
        self.jobs
            .as_ref()
            .expect("open until finish")
            .send(job)
            .map_err(|_| io::Error::other("gzip workers stopped"))?;
        self.send(result)
    }

    /// Sends the next bytes to the output thread; its error if it stopped.
    fn send(&mut self, compressed: Compressed) -> io::Result<()> {
        let sent = self
            .order
            .as_ref()
            .expect("open until finish")
            .send(compressed);
        if sent.is_err() {
            return Err(self
                .join_output()
                .err()
                .unwrap_or_else(|| io::Error::other("the gzip output stopped")));
        }
        Ok(())
    }

    fn join_output(&mut self) -> io::Result<W> {
        self.order = None;
        self.output
            .take()
            .expect("joined once")
            .join()
            .map_err(|_| io::Error::other("the gzip output panicked"))?
    }

    /// Compresses what is left, writes the trailer, and returns the output writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.submit(true)?;
        let mut trailer = self.crc.clone().finalize().to_le_bytes().to_vec();
        trailer.extend_from_slice(&(self.size as u32).to_le_bytes());
        let (reply, result) = mpsc::channel();
        let _ = reply.send(Ok(trailer));
        self.send(result)?;
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        self.join_output()
    }
}

impl<W: Write + Send + 'static> Write for ParallelGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(BLOCK - self.block.len());
        self.block.extend_from_slice(&buf[..n]);
        self.crc.update(&buf[..n]);
        self.size += n as u64;
        if self.block.len() == BLOCK {
            self.submit(false)?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Raw deflate of one block in 64 KiB pieces, each stored or compressed by its own entropy.
/// Consecutive compressed pieces go through one compressor, which keeps its history; a
/// compressed piece that begins the block or follows a stored one starts a new compressor
/// with the 32 KiB before it as its dictionary (setting a dictionary costs half as much as
/// compressing the piece: it is done only where the history was broken). Every piece ends
/// with a sync flush, so the pieces concatenate; the block's last piece carries the final bit
/// if the block is the last.
fn deflate(job: &Job, mut out: Vec<u8>) -> io::Result<Vec<u8>> {
    let pieces: Vec<&[u8]> = if job.block.is_empty() {
        vec![&[]]
    } else {
        job.block.chunks(SAMPLE).collect()
    };
    // One compressor per level, reset where a new one is needed: the same bytes as a new
    // one, without its allocation.
    let mut compressors: [Option<Compress>; 2] = [None, None];
    // Whether the compressing one's history runs up to this piece.
    let mut continued = false;
    for (i, piece) in pieces.iter().enumerate() {
        let level = if looks_random(piece) { 0 } else { job.level };
        let compress = match &mut compressors[usize::from(level > 0)] {
            Some(compress) if level > 0 && continued => compress,
            Some(compress) => {
                compress.reset();
                compress
            }
            slot => slot.insert(Compress::new(Compression::new(level), false)),
        };
        if level > 0 && !continued {
            let offset = i * SAMPLE;
            let joined: Vec<u8>;
            let history: &[u8] = if offset >= DICTIONARY {
                &job.block[offset - DICTIONARY..offset]
            } else {
                joined = job
                    .dictionary
                    .iter()
                    .chain(&job.block[..offset])
                    .copied()
                    .collect();
                &joined[joined.len().saturating_sub(DICTIONARY)..]
            };
            if !history.is_empty() {
                compress.set_dictionary(history).map_err(io::Error::other)?;
            }
        }
        continued = level > 0;
        let flush = if job.last && i + 1 == pieces.len() {
            FlushCompress::Finish
        } else {
            FlushCompress::Sync
        };
        feed(compress, piece, &mut out, flush)?;
    }
    Ok(out)
}

fn reserve(out: &mut Vec<u8>, at_least: usize) {
    if out.capacity() - out.len() < at_least {
        out.reserve(at_least.max(out.capacity() / 2));
    }
}

/// Compresses all of `input`; with a flush, until the flush is complete.
fn feed(
    compress: &mut Compress,
    input: &[u8],
    out: &mut Vec<u8>,
    flush: FlushCompress,
) -> io::Result<()> {
    let start = compress.total_in();
    loop {
        reserve(out, 4096);
        let consumed = (compress.total_in() - start) as usize;
        let status = compress
            .compress_vec(&input[consumed..], out, flush)
            .map_err(io::Error::other)?;
        let all_in = (compress.total_in() - start) as usize == input.len();
        let done = match flush {
            FlushCompress::Finish => status == Status::StreamEnd,
            // Output space left over means zlib had nothing more to write.
            _ => all_in && out.capacity() > out.len(),
        };
        if done {
            return Ok(());
        }
    }
}

/// The bytes of a piece whose entropy is measured: [`WINDOWS`] windows of [`WINDOW`] bytes
/// spread over it (a quarter of a full piece, which is enough for the estimate: 16 KiB of
/// random bytes measure 7.99 bits a byte), or all of a small one.
const WINDOW: usize = 4096;
const WINDOWS: usize = 4;

/// Whether a piece has near-maximal byte entropy (random or already compressed).
fn looks_random(piece: &[u8]) -> bool {
    if piece.len() < WINDOW {
        return false;
    }
    let windows: Vec<&[u8]> = if piece.len() <= WINDOW * WINDOWS {
        vec![piece]
    } else {
        let step = piece.len() / WINDOWS;
        (0..WINDOWS)
            .map(|k| &piece[k * step..k * step + WINDOW])
            .collect()
    };
    // Four tables, summed after: a run of one byte value does not wait on its own count.
    let mut tables = [[0u32; 256]; 4];
    for window in &windows {
        let mut quads = window.chunks_exact(4);
        for quad in &mut quads {
            for (table, &b) in tables.iter_mut().zip(quad) {
                table[usize::from(b)] += 1;
            }
        }
        for &b in quads.remainder() {
            tables[0][usize::from(b)] += 1;
        }
    }
    let counts: [u32; 256] = std::array::from_fn(|i| tables.iter().map(|t| t[i]).sum());
    let n = windows.iter().map(|w| w.len()).sum::<usize>() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    entropy > 7.9
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = ParallelGzip::new(Vec::new(), 1).expect("gzip");
        gz.write_all(data).expect("write");
        gz.finish().expect("finish")
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let mut data = b"some text that compresses well. ".repeat(100_000);
        let mut state = 1u64;
        data.extend((0..3_000_000).map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 56) as u8
        }));
        // Text and random bytes taking turns within blocks, off the piece boundaries: a
        // compressed piece after a stored one starts again from its dictionary.
        let mut turns = Vec::new();
        for (i, size) in [100_000, 200_000, 300_000, 70_000, 150_000, 1_500_000]
            .into_iter()
            .enumerate()
        {
            let from = if i % 2 == 0 { 0 } else { 3_300_000 };
            turns.extend_from_slice(&data[from..from + size]);
        }
        for input in [
            &b""[..],
            b"x",
            &data[..],
            &turns[..],
            &data[..BLOCK],
            &data[..2 * BLOCK + 7],
        ] {
            let compressed = gzip(input);
            assert_eq!(compressed, gzip(input), "same input, same bytes");
            let mut back = Vec::new();
            flate2::read::GzDecoder::new(compressed.as_slice())
                .read_to_end(&mut back)
                .expect("valid gzip");
            assert_eq!(back, input);
        }
        // Random bytes are stored, text is compressed.
        assert!(gzip(&data).len() < data.len());
    }
}
