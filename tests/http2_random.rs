//! A seeded randomized HTTP/2 client: the net under the hand-written cases
//! of `tests/http2.rs`. Per seed, one connection does a random but legal
//! mix of what clients do: exports in every mode, HEAD, `/healthz`, at
//! times a first flight of 24, past the 16 answered at once; requests left
//! open and ended later, by an empty DATA frame or by trailers; windows
//! opened by WINDOW_UPDATE (stream and connection) and moved by
//! SETTINGS_INITIAL_WINDOW_SIZE, to 0 and back; reads of any size with
//! pauses; RST_STREAM, PING, and a GOAWAY at any moment, read on past.
//! Such a mix reaches what no hand-written case thought of: a connection
//! gone away that ended once its bytes reached the kernel would meet the
//! client's next WINDOW_UPDATE with a closed socket, whose reset throws
//! the unread tail away (`tail_due` in `src/server/h2/connection.rs`).
//!
//! The generator ([`Client`]) draws and sends; the oracle ([`Ledger`])
//! knows only what was sent and what came back, and names what is wrong:
//! DATA beyond a window as the client granted it; a stream neither ended
//! nor reset when the connection ends, or ended on a body that is not the
//! reference's byte for byte; a RST_STREAM that no stream here lives long
//! enough to earn; a GOAWAY with an error. After each seed the server must
//! be back at idle.
//!
//! The seeds are fixed ([`SEEDS`]): a seed draws the same choices each run,
//! though which apply depends on what its reads found, so a failure may
//! take a few runs to replay. It names its seed;
//! `BACKPRESSURE_H2_SEEDS=A..B cargo test --test http2_random` runs seeds
//! A to B-1 instead (`-- --nocapture` shows what each did).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::ops::Range;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::h2::*;
use common::*;

/// The seeds a plain `cargo test` runs: about 9 s in all, in debug.
const SEEDS: Range<u64> = 0..20;
/// The variable that names other seeds, as `A..B`.
const SEEDS_VAR: &str = "BACKPRESSURE_H2_SEEDS";
/// Rows an export asks for: empty, a frame, a few frames, half a megabyte.
const ROWS: [u64; 8] = [0, 1, 7, 300, 2_000, 2_000, 6_000, 10_000];
/// SETTINGS_INITIAL_WINDOW_SIZE values a seed moves the windows to.
const INITIAL_WINDOWS: [u32; 7] = [0, 0, 1, 100, 16_384, 65_535, 1 << 20];
/// WINDOW_UPDATE increments, for a stream or the connection.
const INCREMENTS: [u64; 6] = [1, 100, 1_000, 16_384, 65_535, 1 << 20];
/// Streams one seed opens at most: ids 1 to 47, more than the 16 the
/// server answers at once, so that a seed that keeps many open has some
/// wait their turn; fewer than the 100 it allows, so that none is refused.
const MOST_STREAMS: u32 = 24;
/// The widest the client lets a window be: no increment or SETTINGS then
/// takes one past 2^31 - 1, which would be the client's error.
const WINDOW_CAP: u64 = 1 << 24;
/// A pause in a client's final reading: longer than the close's own wait
/// for the last bytes to be acknowledged (`CLOSE_READ_TIMEOUT`, 500 ms),
/// so that a connection gone away that ended once its bytes reached the
/// kernel would be closed under a paused client; far shorter than what it
/// waits for its tail (`tail_due`: the minimum rate's grace, 5 s, at the
/// least).
const STALL: Duration = Duration::from_millis(600);
/// Longest the final reading of one seed may take.
const DRAIN_LIMIT: Duration = Duration::from_secs(20);
/// The flag of a SETTINGS or PING that answers one: END_STREAM's bit.
const ACK: u8 = 0x1;

/// Bodies as they should be, by rows: an export's from the reference CSV,
/// made once, `/healthz`'s (`None`) over HTTP/1.1.
type Bodies = HashMap<Option<u64>, Vec<u8>>;

// ---------------------------------------------------------------------------
// The oracle
// ---------------------------------------------------------------------------

/// One request, and what came back on its stream.
#[derive(Default)]
struct Sent {
    head: bool,
    /// The export's rows; `None` for `/healthz`.
    rows: Option<u64>,
    /// Our SETTINGS frames sent before its HEADERS: the server had applied
    /// them all when it opened the stream.
    settings_before: usize,
    /// Its WINDOW_UPDATE increments, summed.
    granted: u64,
    /// Its DATA payload bytes.
    received: u64,
    response: Response,
    /// We reset it: what came on it afterwards is not judged.
    reset_by_us: bool,
}

impl Sent {
    /// Neither side has ended it, as far as the client has read.
    fn open(&self) -> bool {
        !self.response.ended && self.response.reset.is_none() && !self.reset_by_us
    }
}

/// What the client sent that binds the server, and every frame the server
/// sent, judged as it comes ([`Ledger::take`]) and at the end.
#[derive(Default)]
struct Ledger {
    /// SETTINGS_INITIAL_WINDOW_SIZE after each of our SETTINGS frames, the
    /// default first: until a frame's ACK comes, the server may be at it or
    /// at any before it since the last acknowledged.
    initial: Vec<u64>,
    /// SETTINGS ACKs received.
    acked: usize,
    /// The connection's window as granted: 65,535 and every increment.
    conn_granted: u64,
    conn_received: u64,
    streams: BTreeMap<u32, Sent>,
    /// PINGs sent and not yet acknowledged, by payload.
    pings: Vec<Vec<u8>>,
    /// The last stream of the server's GOAWAY.
    goaway: Option<u32>,
    /// How the connection ended, once a read saw it: a close or an error.
    ended: Option<String>,
    /// The first write that failed: a reset it consumed reads as a close.
    write_failed: Option<ErrorKind>,
    faults: Vec<String>,
}

impl Ledger {
    /// The most DATA the server may have sent on `id`: its initial window
    /// at the widest the server may be at, and every increment.
    fn stream_bound(&self, id: u32) -> u64 {
        let s = &self.streams[&id];
        let from = self.acked.max(s.settings_before);
        self.initial[from..].iter().max().unwrap_or(&0) + s.granted
    }

    fn take(&mut self, f: &Frame) {
        let fault = match f.kind {
            SETTINGS if f.flags & ACK != 0 => {
                self.acked += 1;
                (self.acked >= self.initial.len()).then(|| "a SETTINGS ACK too many".into())
            }
            PING if f.flags & ACK != 0 => match self.pings.iter().position(|p| *p == f.payload) {
                Some(i) => {
                    self.pings.remove(i);
                    None
                }
                None => Some("a PING ACK for no PING".into()),
            },
            GOAWAY => {
                self.goaway = Some(f.last_stream());
                let code = f.error_code();
                (code != NO_ERROR).then(|| format!("GOAWAY with code {code}"))
            }
            PUSH_PROMISE => Some("PUSH_PROMISE".into()),
            DATA | HEADERS | RST_STREAM => self.take_on_stream(f),
            _ => None,
        };
        self.faults.extend(fault);
    }

    fn take_on_stream(&mut self, f: &Frame) -> Option<String> {
        let (id, n) = (f.stream, f.payload.len() as u64);
        let what = format!("frame type {} on s{id}", f.kind);
        let data = if f.kind == DATA { n } else { 0 };
        self.conn_received += data;
        let (conn, granted) = (self.conn_received, self.conn_granted);
        if data > 0 && conn > granted {
            return Some(format!(
                "{what}: {conn} bytes on a connection granted {granted}"
            ));
        }
        if !self.streams.contains_key(&id) {
            return Some(format!("{what}, a stream never opened"));
        }
        let bound = self.stream_bound(id);
        let s = self.streams.get_mut(&id).expect("opened");
        let r = &mut s.response;
        let fault = if r.ended || r.reset.is_some() {
            Some(format!("{what} after its end"))
        } else if f.kind == HEADERS && !r.fields.is_empty() {
            Some(format!("{what}: a second HEADERS"))
        } else if f.kind == DATA && r.fields.is_empty() {
            Some(format!("{what} before HEADERS"))
        } else if data > 0 && s.received + data > bound {
            let past = s.received + data;
            Some(format!("{what}: {past} bytes on a stream granted {bound}"))
        } else {
            None
        };
        s.received += data;
        r.take(f);
        fault
    }

    /// What is wrong with stream `id`'s answer, once the connection is
    /// over; `expected` is the body of a GET of it.
    fn judge(&self, id: u32, s: &Sent, expected: &[u8]) -> Option<String> {
        let r = &s.response;
        let method = if s.head { "HEAD" } else { "GET" };
        let what = format!("s{id} {method} rows={:?}", s.rows);
        let (got, full) = (r.body.len(), expected.len());
        // A stream is reset for a window shut, or a body unread, for the
        // minimum rate's grace (5 s): far longer than any seed's streams.
        if let Some(code) = r.reset {
            return Some(format!("{what}: reset ({code}) after {got} bytes"));
        }
        if !r.ended {
            // Past the server's GOAWAY's last stream, it was never taken on.
            if self.goaway.is_some_and(|last| id > last) && r.fields.is_empty() {
                return None;
            }
            let (end, write) = (&self.ended, self.write_failed);
            let how = format!("the connection: {end:?}, a write: {write:?}");
            return Some(format!(
                "{what}: neither ended nor reset, {got} of {full} bytes; {how}"
            ));
        }
        let length = r.header("content-length");
        if r.status() != 200 || length.is_some_and(|l| l != full.to_string()) {
            return Some(format!(
                "{what}: status {}, content-length {length:?}",
                r.status()
            ));
        }
        let body = if s.head { &[][..] } else { expected };
        let at = r.body.iter().zip(body).position(|(a, b)| a != b);
        let at = at.unwrap_or(got.min(body.len()));
        (r.body != body).then(|| format!("{what}: {got} bytes, not {}, apart at {at}", body.len()))
    }
}

// ---------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------

/// One seed's client: what it draws, and the connection it draws it on.
struct Client {
    h2: H2,
    rng: Rng,
    ledger: Ledger,
    /// Percent of DATA frames whose bytes it gives back as it reads them,
    /// to the connection and to the stream, until its final reading, which
    /// gives back every one: a client that gives back one window and not
    /// the other leaves the other to hold the server back.
    give_back: [u64; 2],
    /// How many of [`INCREMENTS`] its connection's updates draw from: a
    /// client may open it a little at a time, or wide.
    conn_increments: usize,
    /// Most streams it keeps open at once.
    max_open: usize,
    /// The most it has had open at once: past 16, some waited their turn.
    most_open: usize,
    next_id: u32,
    /// Open-ended requests (HEADERS without END_STREAM or a content-length)
    /// whose end it has yet to send, and whether by trailers (else by an
    /// empty DATA frame): at a later step, or as its final reading starts.
    ends_owed: Vec<(u32, bool)>,
    went_away: bool,
    /// Bytes a second its final reading holds to, if any.
    pace: Option<u64>,
    /// What it sent and read, the last of it shown with a failure.
    trace: Vec<String>,
}

impl Client {
    fn connect(seed: u64, addr: SocketAddr) -> Client {
        let mut rng = Rng(seed);
        // Browsers open their streams' windows wide from the start and give
        // the connection's back as they read: then it holds the server back.
        let initial = rng.pick(&[None, Some(0), Some(65_535), Some(1 << 20), Some(1 << 20)]);
        let settings: Vec<_> = initial
            .map(|v| (INITIAL_WINDOW_SIZE, v))
            .into_iter()
            .collect();
        // A phone's small receive buffer, or the kernel's, which grows.
        let socket = match rng.pick(&[None, Some(4_096), Some(16_384), Some(65_536)]) {
            Some(bytes) => {
                let timeout = Duration::from_secs(10);
                backpressure::connect_with_receive_buffer(addr, bytes, timeout)
            }
            None => TcpStream::connect(addr),
        };
        let h2 = H2::over(socket.expect("connected")).start(&settings);
        let initial = vec![65_535, u64::from(initial.unwrap_or(65_535))];
        let ledger = Ledger {
            initial,
            conn_granted: 65_535,
            ..Ledger::default()
        };
        Client {
            h2,
            give_back: [rng.pick(&[0, 50, 100]), rng.pick(&[0, 50, 100])],
            conn_increments: rng.pick(&[3, 4, 6]),
            max_open: rng.pick(&[1, 2, 3, 4, 5, 6, 24]),
            most_open: 0,
            pace: rng.pick(&[None, None, Some(8 << 20), Some(2 << 20), Some(1 << 20)]),
            rng,
            ledger,
            next_id: 1,
            ends_owed: Vec::new(),
            went_away: false,
            trace: vec![format!("SETTINGS {settings:?}")],
        }
    }

    fn send(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        self.trace.push(format!("send {kind}/{stream} {payload:?}"));
        let mut out = Vec::new();
        frame(&mut out, kind, flags, stream, payload);
        // A write the server has closed on fails; the reads say how it ended.
        if let Err(e) = self.h2.try_send(&out) {
            self.ledger.write_failed.get_or_insert(e.kind());
        }
    }

    fn open_streams(&self) -> Vec<u32> {
        let open = self.ledger.streams.iter().filter(|(_, s)| s.open());
        open.map(|(&id, _)| id).collect()
    }

    /// One step of the random mix.
    fn step(&mut self) {
        let open = self.open_streams();
        let some_open = (!open.is_empty()).then(|| self.rng.pick(&open));
        let increment = self.rng.pick(&INCREMENTS);
        match self.rng.below(100) {
            0..25 if open.len() < self.max_open && !self.went_away => self.request(),
            25..60 => {
                let most = self.rng.pick(&[1, 9, 100, 4_096, 16_384, 65_536]);
                let wait = Duration::from_millis(1 + self.rng.below(5));
                self.read(most, wait);
            }
            60..64 if !self.ends_owed.is_empty() => {
                let i = self.rng.below(self.ends_owed.len() as u64) as usize;
                self.end_request(i);
            }
            60..68 => sleep(Duration::from_millis(self.rng.pick(&[0, 1, 3, 10]))),
            68..78 => some_open
                .into_iter()
                .for_each(|id| self.grant(id, increment)),
            78..86 => {
                let increment = self.rng.pick(&INCREMENTS[..self.conn_increments]);
                self.grant(0, increment);
            }
            86..92 => {
                let value = self.rng.pick(&INITIAL_WINDOWS);
                self.set_initial_window(value);
            }
            92..95 if self.ledger.pings.len() < 3 => {
                let payload = self.rng.next().to_be_bytes().to_vec();
                self.ledger.pings.push(payload.clone());
                self.send(PING, 0, 0, &payload);
            }
            95..98 => {
                let Some(id) = some_open else { return };
                self.ledger.streams.get_mut(&id).expect("open").reset_by_us = true;
                self.ends_owed.retain(|&(owed, _)| owed != id);
                self.send(RST_STREAM, 0, id, &CANCEL.to_be_bytes());
            }
            _ => {}
        }
    }

    fn request(&mut self) {
        if self.next_id >= 2 * MOST_STREAMS {
            return;
        }
        let head = self.rng.chance(15);
        let rows = self.rng.chance(85).then(|| self.rng.pick(&ROWS));
        let path = match rows {
            Some(rows) => format!("/export.csv?rows={rows}&mode={}", self.rng.pick(&MODES)),
            None => "/healthz".to_string(),
        };
        let id = self.next_id;
        self.next_id += 2;
        let settings_before = self.ledger.initial.len() - 1;
        let sent = Sent {
            head,
            rows,
            settings_before,
            ..Sent::default()
        };
        self.ledger.streams.insert(id, sent);
        self.most_open = self.most_open.max(self.open_streams().len());
        let block = request_block(if head { "HEAD" } else { "GET" }, &path);
        // One in five leaves its stream open, as python's h2 may, to end
        // it later: the server answers once that end has come.
        let open_ended = self.rng.chance(20);
        self.trace
            .push(format!("s{id}: {path}, open-ended: {open_ended}"));
        if open_ended {
            self.send(HEADERS, END_HEADERS, id, &block);
            let trailers = self.rng.chance(50);
            self.ends_owed.push((id, trailers));
        } else {
            self.send(HEADERS, END_HEADERS | END_STREAM, id, &block);
        }
    }

    /// Ends the open-ended request `ends_owed[i]`, unless the server has
    /// ended or reset its stream meanwhile (refused it, say, past its
    /// GOAWAY's last stream): a frame on a stream closed is the client's
    /// error.
    fn end_request(&mut self, i: usize) {
        let (id, trailers) = self.ends_owed.swap_remove(i);
        if !self.ledger.streams[&id].open() {
            return;
        }
        if trailers {
            let block = header_block(&[("x-trailer", "v")]);
            self.send(HEADERS, END_HEADERS | END_STREAM, id, &block);
        } else {
            self.send(DATA, END_STREAM, id, b"");
        }
    }

    /// Opens a window (0, the connection's) by `increment`, at most to
    /// [`WINDOW_CAP`] as the server may see it.
    fn grant(&mut self, id: u32, increment: u64) {
        let l = &self.ledger;
        let widest_initial = *l.initial.iter().max().unwrap_or(&0);
        // A window the server overran (the oracle's to say) is taken as shut.
        let wide = match id {
            0 => l.conn_granted.saturating_sub(l.conn_received),
            _ => (widest_initial + l.streams[&id].granted).saturating_sub(l.streams[&id].received),
        };
        let increment = increment.min(WINDOW_CAP.saturating_sub(wide));
        if increment == 0 {
            return;
        }
        match id {
            0 => self.ledger.conn_granted += increment,
            _ => self.ledger.streams.get_mut(&id).expect("opened").granted += increment,
        }
        self.send(WINDOW_UPDATE, 0, id, &(increment as u32).to_be_bytes());
    }

    fn set_initial_window(&mut self, value: u32) {
        self.ledger.initial.push(u64::from(value));
        let payload = settings_payload(&[(INITIAL_WINDOW_SIZE, value)]);
        self.send(SETTINGS, 0, 0, &payload);
    }

    fn go_away(&mut self) {
        self.went_away = true;
        self.send(GOAWAY, 0, 0, &[0; 8]);
    }

    /// Reads once, at most `most` bytes, waiting up to `wait`; each whole
    /// frame goes to the oracle, then is answered as a client answers it.
    /// Returns the bytes read.
    fn read(&mut self, most: usize, wait: Duration) -> usize {
        if self.ledger.ended.is_some() {
            return 0;
        }
        let mut read = 0;
        match self.h2.read_some(most, wait) {
            Ok(0) => self.ledger.ended = Some("closed".into()),
            Ok(n) => read = n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => self.ledger.ended = Some(format!("{:?}", e.kind())),
        }
        while let Some(f) = self.h2.pop_frame() {
            let len = f.payload.len();
            let (kind, stream, flags) = (f.kind, f.stream, f.flags);
            self.trace
                .push(format!("read {kind}/{stream} {len} flags {flags:#x}"));
            self.ledger.take(&f);
            match f.kind {
                SETTINGS | PING if f.flags & ACK == 0 => self.send(f.kind, ACK, 0, &f.payload),
                DATA if len > 0 => {
                    let open = self.ledger.streams.get(&f.stream).is_some_and(Sent::open);
                    for (id, percent) in [(0, self.give_back[0]), (f.stream, self.give_back[1])] {
                        if (id == 0 || open) && self.rng.chance(percent) {
                            self.grant(id, len as u64);
                        }
                    }
                }
                _ => {}
            }
        }
        read
    }

    /// The bytes of body still to come on the streams open.
    fn unread(&self) -> u64 {
        let open = self.ledger.streams.values().filter(|s| s.open() && !s.head);
        let full = |s: &Sent| s.rows.map_or(0, reference_csv_len);
        open.map(|s| full(s).saturating_sub(s.received)).sum()
    }

    /// Opens every window and reads, at the seed's pace, until every
    /// stream is done and every PING and SETTINGS answered; then (one time
    /// in two, or already) goes away and reads until the server closes.
    /// False if that took longer than [`DRAIN_LIMIT`].
    fn finish(&mut self) -> bool {
        while !self.ends_owed.is_empty() {
            self.end_request(0);
        }
        if self.ledger.initial.last() < Some(&65_535) {
            let value = self.rng.pick(&[65_535, 1 << 20]);
            self.set_initial_window(value);
        }
        self.give_back = [100, 100];
        self.grant(0, WINDOW_CAP);
        for id in self.open_streams() {
            self.grant(id, WINDOW_CAP);
        }
        // A stall matters most once the client has gone away, when what is
        // left of its bodies fits the two kernels' buffers: the server, its
        // streams written, then waits for them to be acknowledged before it
        // closes (`tail_due`).
        let stalls = self.rng.chance(if self.went_away { 100 } else { 5 });
        let mut stall_at =
            stalls.then(|| self.rng.pick(&[64 << 10, 128 << 10, 256 << 10, 512 << 10]));
        let deadline = Instant::now() + DRAIN_LIMIT;
        loop {
            let l = &self.ledger;
            if Instant::now() >= deadline || l.ended.is_some() {
                break;
            }
            let answered = l.pings.is_empty() && l.acked + 1 == l.initial.len();
            if answered && self.open_streams().is_empty() && !self.went_away {
                if self.rng.chance(50) {
                    return true;
                }
                self.go_away();
            }
            let read = self.read(1 << 16, Duration::from_millis(10)) as u64;
            if let Some(rate) = self.pace {
                sleep(Duration::from_micros(read * 1_000_000 / rate));
            }
            if stall_at.is_some_and(|at| (1..=at).contains(&self.unread())) {
                self.trace
                    .push(format!("stall {STALL:?} at {stall_at:?} bytes unread"));
                sleep(STALL);
                stall_at = None;
            }
        }
        self.ledger.ended.is_some()
    }
}

/// One seed: its steps, its final reading, the verdict.
fn run(seed: u64, addr: SocketAddr, references: &mut Bodies) -> Vec<String> {
    let mut client = Client::connect(seed, addr);
    let steps = 20 + client.rng.below(100);
    // A quarter of the seeds go away while they still take steps, half as
    // they start their final reading, their bodies under way; the rest may
    // as they leave.
    let goaway_at = match client.rng.below(4) {
        0 => client.rng.below(steps),
        1 | 2 => steps,
        _ => u64::MAX,
    };
    // A seed that keeps many open starts with a flight of them, as h2load
    // does: past the 16 answered at once, the rest wait their turn.
    if client.max_open > 16 {
        (0..client.max_open).for_each(|_| client.request());
    }
    for step in 0..=steps {
        if goaway_at == step {
            client.go_away();
        }
        if step < steps {
            client.step();
        }
    }
    if !client.finish() {
        let open = client.open_streams();
        let fault = format!("not done in {DRAIN_LIMIT:?}: streams {open:?} open");
        client.ledger.faults.push(fault);
    }
    drop(client.h2);
    let (most_open, went_away) = (client.most_open, client.went_away);
    let (mut ledger, trace) = (client.ledger, client.trace);
    let streams = ledger.streams.len();
    let bytes: u64 = ledger.streams.values().map(|s| s.received).sum();
    eprintln!(
        "seed {seed}: {streams} streams, {most_open} open at most, {bytes} bytes, went away: {went_away}"
    );
    let ids: Vec<u32> = ledger.streams.keys().copied().collect();
    for id in ids {
        let s = &ledger.streams[&id];
        if !s.reset_by_us {
            let rows = s.rows.unwrap_or(0);
            let expected = references
                .entry(s.rows)
                .or_insert_with(|| reference_csv(rows));
            let fault = ledger.judge(id, s, expected);
            ledger.faults.extend(fault);
        }
    }
    let mut faults = ledger.faults;
    if went_away && ledger.ended.is_some() && ledger.goaway.is_none() {
        faults.push("gone away, closed, and no GOAWAY came".into());
    }
    if !faults.is_empty() {
        let last = &trace[trace.len().saturating_sub(40)..];
        faults.push(format!("the last of the trace:\n  {}", last.join("\n  ")));
    }
    faults
}

/// Names the seed of a failing run, whatever failed: the verdict, or a
/// helper of `common` that panicked.
struct NameTheSeed(u64);

impl Drop for NameTheSeed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let seed = self.0;
            let next = seed + 1;
            eprintln!("seed {seed} failed: {SEEDS_VAR}={seed}..{next} replays it");
        }
    }
}

fn seeds() -> Range<u64> {
    let Ok(range) = std::env::var(SEEDS_VAR) else {
        return SEEDS;
    };
    let (a, b) = range.split_once("..").unwrap_or_default();
    let parsed = a.parse().and_then(|a| Ok(a..b.parse()?)).ok();
    // An empty range would run nothing and pass.
    let parsed = parsed.filter(|seeds| !seeds.is_empty());
    parsed.unwrap_or_else(|| panic!("{SEEDS_VAR}={range:?} is not A..B with A < B"))
}

#[test]
fn random_legal_clients_get_every_byte_or_a_reason() {
    // Even seeds meet the defaults; odd ones a server whose kernel takes
    // all it will (no --notsent-lowat), so that a stream is written long
    // before its client has read it.
    // Each server's seeds run one after another, the two servers' side by
    // side: a seed mostly waits on its pauses and reads, and one at a time
    // the twenty took 8.5 s.
    let lowat_off = ["--notsent-lowat", "off"];
    let servers = [warmed_server(&[]), warmed_server(&lowat_off)];
    let healthz = get(servers[0].0.addr(), "/healthz").body_decoded();
    std::thread::scope(|scope| {
        for (parity, (server, idle)) in servers.iter().enumerate() {
            let mut references = Bodies::from([(None, healthz.clone())]);
            scope.spawn(move || {
                for seed in seeds().filter(|seed| seed % 2 == parity as u64) {
                    let _named = NameTheSeed(seed);
                    let faults = run(seed, server.addr(), &mut references);
                    assert!(faults.is_empty(), "seed {seed}: {}", faults.join("\n"));
                    back_to_idle(server.addr(), idle, &format!("seed {seed}"));
                }
            });
        }
    });
}
