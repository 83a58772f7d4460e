//! `send_deadline.rs`'s tests: real loopback sockets where they can stage
//! the case, scripted sockets where they cannot (a trickle, a kernel that
//! takes bytes its client never acknowledges); kept apart so that the
//! writer's file reads as the writer.

use super::*;
use crate::defense::too_slow::tests::rule;
use crate::test_support::within;
use std::io::Read;

#[test]
fn a_fast_reader_gets_every_byte_and_long_writes_come_in_pieces() {
    within(|| {
        let (server, mut client) = crate::test_support::loopback();
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            got
        });
        let rule = rule(1, Duration::from_secs(30));
        let mut writer = DeadlineWriter::new(&server, Duration::from_secs(30), rule);
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        // One call takes at most MAX_WRITE_BYTES, all of them: 64 KiB, the
        // "one write" the kernel's bound counts (ARCHITECTURE.md), which the
        // constant's own name would not pin.
        assert_eq!(writer.write(&data).unwrap(), 64 * 1024);
        writer.write_all(&data[MAX_WRITE_BYTES..]).unwrap();
        drop(server);
        assert!(reader.join().unwrap() == data);
    });
}

/// A vectored write longer than one write's share (a chunk of 100 KB
/// framed as chunked is a size line, the data and a CRLF) is cut at
/// 64 KiB in all, not in each slice: what is written is exactly the
/// first bytes of the slices joined, so the caller's count of them skips
/// the right bytes. Capped slice by slice, the CRLF would follow a piece
/// of the data, and the body would be corrupt past 64 KiB chunks.
#[test]
fn a_long_vectored_write_is_cut_at_one_writes_share_in_all() {
    let data = vec![7u8; 100_000];
    let parts: [&[u8]; 3] = [b"186a0\r\n", &data, b"\r\n"];
    let bufs = parts.map(IoSlice::new);
    let mut storage = [IoSlice::new(&[]); MAX_PARTS];
    let (used, total) = this_writes_share(&bufs, &mut storage);
    assert_eq!(total, MAX_WRITE_BYTES);
    let laid_out: Vec<u8> = storage[..used]
        .iter()
        .flat_map(|s| s.iter().copied())
        .collect();
    assert_eq!(laid_out.len(), total);
    assert!(
        laid_out == parts.concat()[..total],
        "not the joined slices' first bytes"
    );
}

/// A write whose allowance is already spent when it begins (here none
/// at all: no grace, and a rate no write can fall short of) still gets
/// one try, and a socket with room takes it whole: a socket's timeout
/// cannot be zero, and armed with none the write would fail unasked.
#[test]
fn a_write_with_no_time_left_still_gets_one_try() {
    within(|| {
        let (server, mut client) = crate::test_support::loopback();
        let no_time = rule(u64::MAX, Duration::ZERO);
        assert_eq!(no_time.allowance(1000), Duration::ZERO);
        let mut writer = DeadlineWriter::new(&server, Duration::from_secs(30), no_time);
        assert_eq!(writer.write(&[7u8; 1000]).unwrap(), 1000);
        let mut got = [0u8; 1000];
        client.read_exact(&mut got).unwrap();
        assert_eq!(got, [7u8; 1000]);
    });
}

/// The longest limits a `Duration` holds are "never" here, not a
/// panic: the deadline and the stall clock saturate instead of
/// overflowing `Instant`. The flags stop far short of that; the
/// arithmetic is total anyway, as `allowance` is, so that no caller's
/// limit can panic a connection's thread.
#[test]
fn limits_too_long_for_an_instant_mean_no_limit() {
    let reader = Trickle::new(100, Duration::from_millis(1));
    let forever = rule(1, Duration::MAX);
    let mut writer = DeadlineWriter::new(&reader, Duration::MAX, forever);
    assert_eq!(writer.write(&[0u8; 1000]).unwrap(), 1000);
    assert_eq!(reader.accepted.get(), 1000);
}

/// What a [`Trickle`]'s kernel holds unacknowledged: a full queue.
const FULL_QUEUE: u64 = 64;

/// A socket that accepts `bytes` every `every`, in real time, and
/// honours the armed timeout like a kernel would: a call that would
/// wait longer than it fails with `WouldBlock` after the timeout.
struct Trickle {
    bytes: usize,
    every: Duration,
    timeout: std::cell::Cell<Duration>,
    accepted: std::cell::Cell<usize>,
    /// Its `unacknowledged` fails, as where SIOCOUTQ is not supported.
    blind: bool,
}

impl Trickle {
    fn new(bytes: usize, every: Duration) -> Trickle {
        Trickle {
            bytes,
            every,
            timeout: std::cell::Cell::new(Duration::MAX),
            accepted: std::cell::Cell::new(0),
            blind: false,
        }
    }
}

impl TimedWrite for Trickle {
    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        assert!(!timeout.is_zero(), "a socket rejects a zero timeout");
        self.timeout.set(timeout);
        Ok(())
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.every > self.timeout.get() {
            std::thread::sleep(self.timeout.get());
            return Err(io::ErrorKind::WouldBlock.into());
        }
        std::thread::sleep(self.every);
        let n = self.bytes.min(bufs.iter().map(|b| b.len()).sum());
        self.accepted.set(self.accepted.get() + n);
        Ok(n)
    }

    /// The kernel's queue stays full, the client taking a byte for each
    /// byte the kernel takes: a write waits only on a queue the client
    /// has not drained.
    fn unacknowledged(&self) -> io::Result<u64> {
        if self.blind {
            return Err(io::ErrorKind::Unsupported.into());
        }
        Ok(FULL_QUEUE)
    }
}

/// 1000 bytes at a minimum of 1000 B/s: one second, since the grace is
/// shorter. Each call waits at most 200 ms (the send timeout).
fn rule_and_writer(socket: &Trickle) -> DeadlineWriter<'_, Trickle> {
    let rule = rule(1000, Duration::from_millis(300));
    DeadlineWriter::new(socket, Duration::from_millis(200), rule)
}

/// The case a per-call timeout misses: the client takes 10 bytes every
/// 20 ms, so no call ever waits near the send timeout, yet the write as
/// a whole would take two seconds. It is cut when its one second is up:
/// the call returns what the socket took, every byte of it, and the
/// next call fails, taking nothing more. Alike on a socket that cannot
/// say what the client took, whose client is never known to wait on us.
#[test]
fn a_trickle_is_cut_by_the_minimum_rate_though_every_call_makes_progress() {
    for blind in [false, true] {
        let trickle = Trickle {
            blind,
            ..Trickle::new(10, Duration::from_millis(20))
        };
        let mut writer = rule_and_writer(&trickle);
        let started = Instant::now();
        let written = writer.write(&[0u8; 1000]).unwrap();
        let took = started.elapsed();
        let secs = Duration::from_secs;
        assert!((secs(1)..secs(2)).contains(&took), "{took:?}");
        assert!((201..1000).contains(&written), "progress: {written} bytes");
        assert_eq!(written, trickle.accepted.get(), "every byte taken counted");
        let error = writer.write(&[0u8; 1000]).unwrap_err();
        assert_eq!(TooSlow::of(&error), Some(TooSlow::MinRate), "{error}");
        assert_eq!(written, trickle.accepted.get(), "nothing more taken");
    }
}

#[test]
fn a_stall_is_cut_by_the_send_timeout() {
    let stalled = Trickle::new(10, Duration::from_secs(60));
    let started = Instant::now();
    let error = rule_and_writer(&stalled).write(&[0u8; 1000]).unwrap_err();
    assert_eq!(TooSlow::of(&error), Some(TooSlow::SendTimeout), "{error}");
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// A write's last wait is armed with the time it has left, not the
/// longer one armed before it: a stall is cut at its 600 ms, not at
/// the next look at the client (a tenth of the send timeout), 800 ms in.
#[test]
fn the_last_wait_is_armed_with_the_time_left() {
    let stalled = Trickle::new(10, Duration::from_secs(60));
    let rule = rule(1000, Duration::from_millis(300));
    let mut writer = DeadlineWriter::new(&stalled, Duration::from_secs(4), rule);
    let error = writer.write(&[0u8; 600]).unwrap_err();
    assert_eq!(TooSlow::of(&error), Some(TooSlow::MinRate), "{error}");
    let last = stalled.timeout.get();
    assert!(last <= Duration::from_millis(200), "last wait: {last:?}");
}

#[test]
fn a_reader_above_the_minimum_rate_is_not_cut() {
    // 100 bytes every 20 ms: 5000 B/s, five times the minimum.
    let reader = Trickle::new(100, Duration::from_millis(20));
    assert_eq!(rule_and_writer(&reader).write(&[0u8; 1000]).unwrap(), 1000);
    assert_eq!(reader.accepted.get(), 1000);
}

#[test]
fn a_client_that_reads_nothing_fails_the_write_by_the_rule_that_is_nearer() {
    let (server, _client) = crate::test_support::loopback();
    let fill = vec![0u8; MAX_WRITE_BYTES];
    let (short, long) = (Duration::from_millis(200), Duration::from_secs(30));
    for (send_timeout, grace, expected) in [
        (short, long, TooSlow::SendTimeout),
        (long, short, TooSlow::MinRate),
    ] {
        let rule = rule(u64::MAX, grace);
        let mut writer = DeadlineWriter::new(&server, send_timeout, rule);
        // The kernel's buffers take a few MB first; bounded so that a
        // kernel that takes everything fails the test instead of
        // looping on.
        let error = (0..10_000)
            .find_map(|_| writer.write(&fill).err())
            .expect("an unread socket must stop accepting bytes");
        assert_eq!(TooSlow::of(&error), Some(expected), "{error}");
    }
}

/// A socket whose first call returns only after the write's whole
/// allowance, having taken part of it, as a kernel does for a thread
/// that was stopped while it waited: the client meanwhile took all but
/// `unacked` bytes, and the socket has room again.
struct Paused {
    calls: std::cell::Cell<u32>,
    pause: Duration,
    unacked: u64,
}

impl TimedWrite for Paused {
    fn set_write_timeout(&self, _: Duration) -> io::Result<()> {
        Ok(())
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.calls.set(self.calls.get() + 1);
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if self.calls.get() == 1 {
            std::thread::sleep(self.pause);
            return Ok(total / 2);
        }
        Ok(total)
    }

    fn unacknowledged(&self) -> io::Result<u64> {
        Ok(self.unacked)
    }
}

/// Time that ran out while the client had taken everything is not the
/// client's: the write is tried again, and completes, instead of being
/// cut unasked by the minimum rate it passed while this thread was not
/// running. (The send timeout, passed too, runs from the bytes the
/// client acknowledged meanwhile.)
#[test]
fn a_client_that_took_every_byte_is_not_cut_for_time_it_waited_on_us() {
    let pause = Duration::from_millis(300);
    let paused = Paused {
        calls: std::cell::Cell::new(0),
        pause,
        unacked: 0,
    };
    // An allowance of 100 ms, and a send timeout of 200: both passed.
    let rule = rule(u64::MAX, pause / 3);
    let mut writer = DeadlineWriter::new(&paused, pause * 2 / 3, rule);
    assert_eq!(writer.write(&[0u8; 1000]).unwrap(), 1000);
    assert_eq!(paused.calls.get(), 2);
}

/// Only a client that took every byte is waiting for us: one that left
/// a single byte unacknowledged had the time, and is cut by the minimum
/// rate it fell short of (the send timeout restarted with what it took).
#[test]
fn a_client_that_left_one_byte_unacknowledged_is_cut_for_the_time() {
    let pause = Duration::from_millis(300);
    let paused = Paused {
        calls: std::cell::Cell::new(0),
        pause,
        unacked: 1,
    };
    let rule = rule(u64::MAX, pause / 3);
    let mut writer = DeadlineWriter::new(&paused, pause * 2 / 3, rule);
    // The part written is reported first, the cut at the next call.
    assert_eq!(writer.write(&[0u8; 1000]).unwrap(), 500);
    let error = writer.write(&[0u8; 500]).expect_err("the allowance passed");
    assert_eq!(TooSlow::of(&error), Some(TooSlow::MinRate), "{error}");
}

/// A kernel with room to spare for a client that acknowledges nothing,
/// like a send buffer that autotuning keeps growing: every call takes
/// 100 bytes after 20 ms, and all of them stay unacknowledged.
struct RoomyKernel {
    accepted: std::cell::Cell<u64>,
}

impl TimedWrite for RoomyKernel {
    fn set_write_timeout(&self, _: Duration) -> io::Result<()> {
        Ok(())
    }

    fn write_vectored(&self, _: &[IoSlice<'_>]) -> io::Result<usize> {
        std::thread::sleep(Duration::from_millis(20));
        self.accepted.set(self.accepted.get() + 100);
        Ok(100)
    }

    fn unacknowledged(&self) -> io::Result<u64> {
        Ok(self.accepted.get())
    }
}

/// The kernel's progress is not the client's: though every call makes
/// some, a client that acknowledges nothing is cut at the send timeout
/// (a tenth of it more, and a loaded machine's delays), not lent time a
/// few bytes at a time, which would last the write's minute.
#[test]
fn a_kernel_with_room_does_not_lend_a_stalled_client_time() {
    let kernel = RoomyKernel {
        accepted: std::cell::Cell::new(0),
    };
    let send_timeout = Duration::from_millis(400);
    let mut writer = DeadlineWriter::new(&kernel, send_timeout, rule(1, Duration::from_secs(60)));
    let started = Instant::now();
    let written = writer.write(&[0u8; 60_000]).unwrap();
    let took = started.elapsed();
    assert_eq!(written as u64, kernel.accepted.get());
    let error = writer.write(&[0u8; 60_000]).unwrap_err();
    assert_eq!(TooSlow::of(&error), Some(TooSlow::SendTimeout), "{error}");
    assert!((send_timeout..send_timeout * 2).contains(&took), "{took:?}");
    assert!(kernel.accepted.get() > 1000, "the kernel kept taking bytes");
}

/// A kernel that takes every write for `roomy`, then none, while its
/// client acknowledged its first 1000 bytes at once and nothing after.
struct RoomyThenFull {
    started: Instant,
    roomy: Duration,
    accepted: std::cell::Cell<u64>,
    timeout: std::cell::Cell<Duration>,
}

impl TimedWrite for RoomyThenFull {
    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.timeout.set(timeout);
        Ok(())
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.started.elapsed() >= self.roomy {
            std::thread::sleep(self.timeout.get());
            return Err(io::ErrorKind::WouldBlock.into());
        }
        std::thread::sleep(Duration::from_millis(5));
        let n: usize = bufs.iter().map(|b| b.len()).sum();
        self.accepted.set(self.accepted.get() + n as u64);
        Ok(n)
    }

    fn unacknowledged(&self) -> io::Result<u64> {
        Ok(self.accepted.get().saturating_sub(1000))
    }
}

/// Writes that all go through still look at the client now and then:
/// the client's last acknowledgement is dated near when it came, not
/// when the kernel finally ran out of room, so the cut comes a send
/// timeout after it (here 400 ms, not the 600 ms of roomy kernel + 400).
#[test]
fn an_acknowledgement_is_dated_near_when_it_came_though_no_write_waited() {
    // A stall clock that restarts without progress never cuts: the
    // writes would go on for ever.
    within(|| {
        let kernel = RoomyThenFull {
            started: Instant::now(),
            roomy: Duration::from_millis(600),
            accepted: std::cell::Cell::new(0),
            timeout: std::cell::Cell::new(Duration::from_secs(1)),
        };
        let send_timeout = Duration::from_millis(400);
        let mut writer =
            DeadlineWriter::new(&kernel, send_timeout, rule(1, Duration::from_secs(60)));
        let error = loop {
            if let Err(e) = writer.write(&[0u8; 1000]) {
                break e;
            }
        };
        let took = kernel.started.elapsed();
        assert_eq!(TooSlow::of(&error), Some(TooSlow::SendTimeout), "{error}");
        assert!(took < Duration::from_millis(800), "{took:?}");
    });
}

/// A kernel with no room (every call waits out its timeout) until
/// `opens`, while its client keeps acknowledging what it was sent.
struct FullKernel {
    started: Instant,
    opens: Duration,
    timeout: std::cell::Cell<Duration>,
    unacked: std::cell::Cell<u64>,
}

impl TimedWrite for FullKernel {
    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.timeout.set(timeout);
        Ok(())
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let len: usize = bufs.iter().map(|b| b.len()).sum();
        if self.unacked.get() == 0 || self.started.elapsed() >= self.opens {
            self.unacked.set(self.unacked.get() + len as u64);
            return Ok(len);
        }
        std::thread::sleep(self.timeout.get());
        self.unacked.set(self.unacked.get().saturating_sub(10));
        Err(io::ErrorKind::WouldBlock.into())
    }

    fn unacknowledged(&self) -> io::Result<u64> {
        Ok(self.unacked.get())
    }
}

/// And a client that acknowledges bytes is reading, though the kernel
/// has not woken the writer for longer than the send timeout (it wakes
/// a writer only once a good part of its buffer has drained).
#[test]
fn a_client_that_acknowledges_is_not_cut_while_the_kernel_is_full() {
    let kernel = FullKernel {
        started: Instant::now(),
        opens: Duration::from_millis(700),
        timeout: std::cell::Cell::new(Duration::ZERO),
        unacked: std::cell::Cell::new(0),
    };
    let lenient = rule(1, Duration::from_secs(60));
    let mut writer = DeadlineWriter::new(&kernel, Duration::from_millis(200), lenient);
    let mut write = || writer.write(&[0u8; 1000]).unwrap();
    assert_eq!(write(), 1000, "the kernel had room");
    assert_eq!(write(), 1000, "the client kept reading");
    assert!(kernel.started.elapsed() >= kernel.opens);
}

/// A socket like [`Paused`] whose kernel, its queue drained, then has room
/// for only part of the rest: the second call takes a quarter after
/// `then`, which the client has not acknowledged yet at the next look,
/// and the third call takes what is left.
struct PausedThenPartial {
    calls: std::cell::Cell<u32>,
    pause: Duration,
    then: Duration,
    unacked: std::cell::Cell<u64>,
}

impl TimedWrite for PausedThenPartial {
    fn set_write_timeout(&self, _: Duration) -> io::Result<()> {
        Ok(())
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.calls.set(self.calls.get() + 1);
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        let n = match self.calls.get() {
            1 => {
                std::thread::sleep(self.pause);
                return Ok(total / 2);
            }
            2 => {
                std::thread::sleep(self.then);
                total / 2
            }
            _ => total,
        };
        self.unacked.set(self.unacked.get() + n as u64);
        Ok(n)
    }

    fn unacknowledged(&self) -> io::Result<u64> {
        Ok(self.unacked.get())
    }
}

/// The rest of a write whose time ran out while the client had taken
/// every byte gets an allowance of its own, from when that was seen, and
/// for its own size: not the spent one, nor the grace alone, either of
/// which would cut it (minimum rate) when the kernel took part of the
/// rest later than that and the client had yet to acknowledge it.
#[test]
fn the_rest_after_time_the_client_waited_on_us_has_an_allowance_of_its_own() {
    let pause = Duration::from_millis(600);
    let paused = PausedThenPartial {
        calls: std::cell::Cell::new(0),
        pause,
        then: Duration::from_millis(100),
        unacked: std::cell::Cell::new(0),
    };
    // 1000 bytes at 2000 B/s: 500 ms, passed in the first call; the rest,
    // 500 bytes, 250 ms, and the grace 20 ms. A send timeout of 400 ms,
    // from the acknowledgement seen after the first call.
    let rule = rule(2000, Duration::from_millis(20));
    let mut writer = DeadlineWriter::new(&paused, pause * 2 / 3, rule);
    assert_eq!(writer.write(&[0u8; 1000]).unwrap(), 1000);
    assert_eq!(paused.calls.get(), 3);
    assert_eq!(paused.unacked.get(), 500, "the rest, taken by the kernel");
}

/// A kernel like [`RoomyKernel`], taking 100 bytes every 2 ms that its
/// client never acknowledges, which notes how long each call could have
/// waited had it found no room, as a kernel that runs out of it at any
/// moment would: the latest end of an armed wait, and when the writer
/// first looked at the client.
struct RoomyUntilAnyMoment {
    accepted: std::cell::Cell<u64>,
    timeout: std::cell::Cell<Duration>,
    first_look: std::cell::Cell<Option<Instant>>,
    latest_wait_end: std::cell::Cell<Option<Instant>>,
}

impl TimedWrite for RoomyUntilAnyMoment {
    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.timeout.set(timeout);
        Ok(())
    }

    fn write_vectored(&self, _: &[IoSlice<'_>]) -> io::Result<usize> {
        let could_wait_until = Instant::now() + self.timeout.get();
        let latest = self
            .latest_wait_end
            .get()
            .map_or(could_wait_until, |at| at.max(could_wait_until));
        self.latest_wait_end.set(Some(latest));
        std::thread::sleep(Duration::from_millis(2));
        self.accepted.set(self.accepted.get() + 100);
        Ok(100)
    }

    fn unacknowledged(&self) -> io::Result<u64> {
        if self.first_look.get().is_none() {
            self.first_look.set(Some(Instant::now()));
        }
        Ok(self.accepted.get())
    }
}

/// No call is armed to wait past the send timeout of a client that
/// acknowledged nothing since the first look: near its end, a call waits
/// at most the time left, not a whole look (a tenth of the timeout, 60 ms
/// here), so a kernel that runs out of room then cannot hold the cut that
/// long past it. Once it has passed, a call still gets [`MIN_WAIT`]; the
/// margin allowed, three quarters of a look (45 ms), covers that, one
/// call's 2 ms and a busy machine's delays, while a wait armed for a whole
/// look from the last calls before the end is 58 ms past it or more.
#[test]
fn no_wait_is_armed_past_the_send_timeout() {
    within(|| {
        let kernel = RoomyUntilAnyMoment {
            accepted: std::cell::Cell::new(0),
            timeout: std::cell::Cell::new(Duration::MAX),
            first_look: std::cell::Cell::new(None),
            latest_wait_end: std::cell::Cell::new(None),
        };
        let send_timeout = Duration::from_millis(600);
        let lenient = rule(1, Duration::from_secs(60));
        let mut writer = DeadlineWriter::new(&kernel, send_timeout, lenient);
        let error = loop {
            if let Err(e) = writer.write(&[0u8; 1000]) {
                break e;
            }
        };
        assert_eq!(TooSlow::of(&error), Some(TooSlow::SendTimeout), "{error}");
        let stall_ends = kernel.first_look.get().unwrap() + send_timeout;
        let latest = kernel.latest_wait_end.get().unwrap();
        let past = latest.saturating_duration_since(stall_ends);
        let look = send_timeout / CLIENT_CHECKS;
        assert!(past <= look * 3 / 4, "armed to wait {past:?} past it");
    });
}

/// A socket whose first call returns only after the write's whole
/// allowance, having taken 900 bytes its client acknowledged meanwhile;
/// then takes 50 more at once, which stay unacknowledged; then has room
/// for the rest only 200 ms on, failing a call armed to wait less with
/// `WouldBlock` after its timeout, as a kernel does.
struct PausedThenSlow {
    calls: std::cell::Cell<u32>,
    timeout: std::cell::Cell<Duration>,
    unacked: std::cell::Cell<u64>,
}

impl TimedWrite for PausedThenSlow {
    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        self.timeout.set(timeout);
        Ok(())
    }

    fn write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.calls.set(self.calls.get() + 1);
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        match self.calls.get() {
            1 => {
                std::thread::sleep(Duration::from_millis(600));
                Ok(900)
            }
            2 => {
                self.unacked.set(50);
                Ok(50)
            }
            _ if self.timeout.get() < Duration::from_millis(200) => {
                std::thread::sleep(self.timeout.get());
                Err(io::ErrorKind::WouldBlock.into())
            }
            _ => {
                std::thread::sleep(Duration::from_millis(200));
                Ok(total)
            }
        }
    }

    fn unacknowledged(&self) -> io::Result<u64> {
        Ok(self.unacked.get())
    }
}

/// The allowance a write's rest gets, once its time ran out while the
/// client had taken every byte, is for the rest's own size, not the whole
/// write's again: 1000 bytes at 2000 B/s (500 ms, the grace 1 ms); the
/// first call takes 900 in 600 ms, the client acknowledging them all; the
/// rest, 100 bytes, has 50 ms. The kernel takes 50 of them, unacknowledged,
/// and room for the last 50 comes 200 ms later: past the rest's allowance,
/// so the write returns the 950 taken and the next call fails on the
/// minimum rate. With the whole write's 500 ms again, it would complete.
#[test]
fn the_rest_after_time_the_client_waited_on_us_is_allowed_only_its_own_size() {
    let socket = PausedThenSlow {
        calls: std::cell::Cell::new(0),
        timeout: std::cell::Cell::new(Duration::MAX),
        unacked: std::cell::Cell::new(0),
    };
    let rule = rule(2000, Duration::from_millis(1));
    let mut writer = DeadlineWriter::new(&socket, Duration::from_secs(5), rule);
    assert_eq!(writer.write(&[0u8; 1000]).unwrap(), 950);
    let error = writer.write(&[0u8; 50]).unwrap_err();
    assert_eq!(TooSlow::of(&error), Some(TooSlow::MinRate), "{error}");
}

/// A write of nothing is `Ok(0)`, as `io::Write` has it, asked of no
/// socket: not the `WriteZero` a socket's `Ok(0)` means for bytes it
/// would not take, which would fail a response over an empty piece.
#[test]
fn a_write_of_nothing_takes_nothing_and_fails_nothing() {
    let socket = Trickle::new(10, Duration::from_secs(60));
    let rule = rule(1000, Duration::from_millis(300));
    let mut writer = DeadlineWriter::new(&socket, Duration::from_secs(1), rule);
    assert_eq!(writer.write(&[]).unwrap(), 0);
    let empty = [IoSlice::new(&[]), IoSlice::new(&[])];
    assert_eq!(writer.write_vectored(&empty).unwrap(), 0);
    assert_eq!(socket.accepted.get(), 0);
}
