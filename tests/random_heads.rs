//! Ten thousand seeded random heads against the parser, in-process: made
//! from pieces of valid heads and mutations of them, each must end in a
//! request that keeps the parser's promises or in a typed error.
//!
//! The hostile-heads table (`tests/hostile_heads.rs`) is the contract; the
//! random heads look for what the table did not think of: a panic, or an
//! outcome that is neither a request nor a typed error.

use backpressure::{Method, parse_head};

/// xorshift64*: a few lines, no dependency, and the same sequence for the
/// same seed, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Valid heads to mutate.
const SEEDS: [&[u8]; 6] = [
    b"GET /export.csv?rows=10&mode=bounded HTTP/1.1\r\nHost: localhost:8080\r\nAccept: */*\r\n\r\n",
    b"HEAD / HTTP/1.0\r\n\r\n",
    b"GET http://example.com/metrics HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n",
    b"POST /x HTTP/1.1\r\nHost: [::1]\r\nUser-Agent: curl/8.5.0\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
];

/// Bytes that sit on parsing boundaries.
const INTERESTING: &[u8] = b"\r\n :\t\0\x7f\xff%?/#@[]HTTP1.0";

/// Pieces that random heads are built from.
const PIECES: [&[u8]; 16] = [
    b"GET",
    b"HEAD",
    b"BREW",
    b" ",
    b"/",
    b"/export.csv",
    b"?rows=",
    b"%zz",
    b"HTTP/1.1",
    b"HTTP/2.0",
    b"\r\n",
    b"\n",
    b"Host: a",
    b"Content-Length: 5",
    b": ",
    b"\t",
];

fn mutate(rng: &mut Rng, head: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(head.len() + 1);
        match rng.below(5) {
            0 if at < head.len() => head[at] = *rng.pick(INTERESTING),
            1 => head.insert(at, *rng.pick(INTERESTING)),
            2 if at < head.len() => {
                head.remove(at);
            }
            3 => head.truncate(at),
            _ => {
                let piece = rng.pick(&PIECES);
                head.splice(at..at, piece.iter().copied());
            }
        }
    }
}

fn random_head(rng: &mut Rng) -> Vec<u8> {
    let mut head = Vec::new();
    for _ in 0..rng.below(12) {
        let piece = rng.pick(&PIECES);
        head.extend_from_slice(piece);
    }
    if rng.below(2) == 0 {
        head.extend_from_slice(b"\r\n\r\n");
    }
    head
}

/// Every head either parses into a request that keeps the parser's
/// promises, or is refused with a 4xx/5xx and a one-line reason. A panic
/// fails the test with the seed and the head that caused it.
#[test]
fn ten_thousand_random_heads_end_in_a_request_or_a_typed_error() {
    const SEED: u64 = 0x5eed_0fba_c0ff_ee00;
    const HEADS: usize = 10_000;
    let mut rng = Rng(SEED);
    let (mut parsed, mut refused) = (0, 0);
    for i in 0..HEADS {
        let head = if i % 2 == 0 {
            let mut head = rng.pick(&SEEDS).to_vec();
            mutate(&mut rng, &mut head);
            head
        } else {
            random_head(&mut rng)
        };
        let shown = String::from_utf8_lossy(&head).into_owned();
        let outcome = std::panic::catch_unwind(|| match parse_head(&head) {
            Ok(request) => {
                assert!(head.ends_with(b"\r\n\r\n"), "{shown:?}");
                // A path, or the whole target of the two forms that
                // belong to one method: `OPTIONS *` and CONNECT's host:port.
                let whole_target = request.path == b"*" || head.starts_with(b"CONNECT ");
                assert!(request.path.starts_with(b"/") || whole_target, "{shown:?}");
                assert!(request.method != Method::Unknown || !head.starts_with(b"GET "));
                true
            }
            Err(error) => {
                assert!((400..600).contains(&error.status.code()), "{shown:?}");
                assert!(
                    !error.reason.is_empty() && !error.reason.contains('\n'),
                    "{shown:?}"
                );
                false
            }
        });
        match outcome {
            Ok(true) => parsed += 1,
            Ok(false) => refused += 1,
            Err(_) => panic!("head {i} with seed {SEED:#x} panicked the parser: {shown:?}"),
        }
    }
    // A generator that only ever produced garbage (or only valid heads)
    // would prove little: both outcomes must be well represented.
    assert!(
        parsed > 200 && refused > 5000,
        "parsed {parsed}, refused {refused}"
    );
}
