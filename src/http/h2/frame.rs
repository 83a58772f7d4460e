//! HTTP/2 frames (RFC 9113 §4, §6) as bytes: the nine-byte header, and
//! each type's payload checked and parsed (the frames this side writes are
//! `frame_write.rs`'s).
//!
//! Everything on an HTTP/2 connection is a frame: a length, a type, flags
//! and a stream id, then at most `SETTINGS_MAX_FRAME_SIZE` bytes. Checked
//! here are the rules a frame breaks on its own (a PING not 8 bytes, a
//! WINDOW_UPDATE of 0); those that need the connection's state (is this
//! stream open? does this window overflow?) are the connection's.
//!
//! A broken rule is a [`FrameError`]: a *connection* error ends the
//! connection with a GOAWAY carrying its code, a *stream* error ends one
//! stream with a RST_STREAM (RFC 9113 §5.4).

/// What a client sends first on a prior-knowledge HTTP/2 connection
/// (RFC 9113 §3.4). The first 18 bytes look like an HTTP/1 request head
/// on purpose, so that an HTTP/1 server rejects it rather than waits.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The part of [`PREFACE`] an HTTP/1 head reader returns as a head.
pub const PREFACE_HEAD: &[u8] = b"PRI * HTTP/2.0\r\n\r\n";

/// Bytes in a frame header: length (24 bits), type, flags, stream id.
pub const HEADER_BYTES: usize = 9;

/// The largest payload this side accepts and sends: the initial
/// `SETTINGS_MAX_FRAME_SIZE`, which this server never raises. A larger
/// frame would only delay the frames of other streams behind it.
pub const MAX_FRAME_BYTES: usize = 16_384;

/// Every window starts at this (RFC 9113 §6.9.2): 64 KiB less one byte.
pub const DEFAULT_WINDOW: u32 = 65_535;

/// No window may exceed 2^31 − 1 (RFC 9113 §6.9.1).
pub const MAX_WINDOW: i64 = (1 << 31) - 1;

/// Frame types (RFC 9113 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Data = 0,
    Headers = 1,
    Priority = 2,
    RstStream = 3,
    Settings = 4,
    PushPromise = 5,
    Ping = 6,
    GoAway = 7,
    WindowUpdate = 8,
    Continuation = 9,
}

impl Kind {
    /// `None` for a type this side does not know: RFC 9113 §4.1 ignores it.
    fn of(byte: u8) -> Option<Kind> {
        const ALL: [Kind; 10] = [
            Kind::Data,
            Kind::Headers,
            Kind::Priority,
            Kind::RstStream,
            Kind::Settings,
            Kind::PushPromise,
            Kind::Ping,
            Kind::GoAway,
            Kind::WindowUpdate,
            Kind::Continuation,
        ];
        ALL.get(usize::from(byte)).copied()
    }
}

/// Flag bits; each means something only on the types named.
pub mod flag {
    /// DATA, HEADERS: the sender's last frame on this stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: this answers the peer's frame.
    pub const ACK: u8 = 0x1;
    /// HEADERS, CONTINUATION: the header block is complete.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS: a pad length byte comes first, padding last.
    pub const PADDED: u8 = 0x8;
    /// HEADERS: five bytes of priority come before the block.
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS parameters (RFC 9113 §6.5.2) this side reads or sends.
pub mod setting {
    pub const ENABLE_PUSH: u16 = 0x2;
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
}

/// Writes [`ErrorCode`] from one list: each code's variant, number and the
/// name RFC 9113 §7 gives it, so that the three are never out of step.
macro_rules! error_codes {
    ($($variant:ident = $number:literal $name:literal,)*) => {
        /// Error codes (RFC 9113 §7), carried by RST_STREAM and GOAWAY.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum ErrorCode {
            $($variant = $number,)*
        }

        impl ErrorCode {
            /// Every code, in numeric order (so `ALL[c as usize] == c`).
            pub const ALL: [ErrorCode; [$($number),*].len()] = [$(ErrorCode::$variant),*];

            /// The name RFC 9113 gives it, for logs and metrics labels.
            pub fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                }
            }
        }
    };
}

error_codes! {
    NoError = 0x0 "NO_ERROR",
    ProtocolError = 0x1 "PROTOCOL_ERROR",
    InternalError = 0x2 "INTERNAL_ERROR",
    FlowControlError = 0x3 "FLOW_CONTROL_ERROR",
    SettingsTimeout = 0x4 "SETTINGS_TIMEOUT",
    StreamClosed = 0x5 "STREAM_CLOSED",
    FrameSizeError = 0x6 "FRAME_SIZE_ERROR",
    RefusedStream = 0x7 "REFUSED_STREAM",
    Cancel = 0x8 "CANCEL",
    CompressionError = 0x9 "COMPRESSION_ERROR",
    ConnectError = 0xa "CONNECT_ERROR",
    EnhanceYourCalm = 0xb "ENHANCE_YOUR_CALM",
    InadequateSecurity = 0xc "INADEQUATE_SECURITY",
    Http11Required = 0xd "HTTP_1_1_REQUIRED",
}

impl ErrorCode {
    /// A code as a reader of a report wants it: its name, or its number if
    /// unknown, which means nothing special (RFC 9113 §7; a reader may take
    /// it as INTERNAL_ERROR, ours print the number).
    pub fn describe(code: u32) -> String {
        let known = usize::try_from(code).ok().and_then(|i| Self::ALL.get(i));
        known.map_or_else(|| format!("error code {code}"), |c| c.name().into())
    }
}

/// A frame that breaks a rule: what to answer, and to whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameError {
    /// The code of the GOAWAY or RST_STREAM that answers it.
    pub code: ErrorCode,
    /// `Some(id)`: a stream error, that stream ends; `None`: the connection ends.
    pub stream: Option<u32>,
    /// One line for the log and the GOAWAY's debug data.
    pub reason: &'static str,
}

impl FrameError {
    /// An error that ends the connection.
    pub fn connection(code: ErrorCode, reason: &'static str) -> FrameError {
        FrameError {
            code,
            stream: None,
            reason,
        }
    }

    /// An error that ends stream `id` only.
    pub fn stream(id: u32, code: ErrorCode, reason: &'static str) -> FrameError {
        FrameError {
            code,
            stream: Some(id),
            reason,
        }
    }
}

/// A frame header (RFC 9113 §4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Payload bytes after the header.
    pub length: usize,
    /// The type byte, known or not.
    pub kind: u8,
    /// The flag bits.
    pub flags: u8,
    /// The stream, with the reserved bit cleared; 0 is the connection.
    pub stream: u32,
}

impl Header {
    /// Reads a header; every nine bytes are one.
    pub fn parse(bytes: &[u8; HEADER_BYTES]) -> Header {
        let [l0, l1, l2, kind, flags, s0, s1, s2, s3] = *bytes;
        Header {
            length: usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2),
            kind,
            flags,
            stream: u32::from_be_bytes([s0, s1, s2, s3]) & 0x7fff_ffff,
        }
    }

    /// Appends a header for a payload of `length` bytes (at most 2^24 − 1).
    pub fn write(out: &mut Vec<u8>, length: usize, kind: Kind, flags: u8, stream: u32) {
        out.extend_from_slice(&Header::bytes(length, kind as u8, flags, stream));
    }

    /// The nine bytes of a header; `kind` is a byte, so that the tests can
    /// write types this side does not know.
    pub(super) fn bytes(length: usize, kind: u8, flags: u8, stream: u32) -> [u8; HEADER_BYTES] {
        debug_assert!(length < 1 << 24, "a frame length has 24 bits");
        let [_, l0, l1, l2] = (length as u32).to_be_bytes();
        let [s0, s1, s2, s3] = (stream & 0x7fff_ffff).to_be_bytes();
        [l0, l1, l2, kind, flags, s0, s1, s2, s3]
    }

    fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// A frame's payload, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Body bytes (padding removed). `flow` is the whole payload, padding
    /// included: what it costs the receiver's windows.
    Data {
        stream: u32,
        end_stream: bool,
        data: &'a [u8],
        flow: u32,
    },
    /// The first piece of a header block (padding and priority removed).
    Headers {
        stream: u32,
        end_stream: bool,
        end_headers: bool,
        block: &'a [u8],
    },
    /// Priority advice: ignored (RFC 9113 §5.3.2 allows it), opens no stream;
    /// only one not 5 bytes long (§6.3) or naming its own stream is refused.
    Priority,
    /// The peer ends a stream, with a code.
    RstStream { stream: u32, code: u32 },
    /// The peer's settings ([`Settings::iter`] yields only valid values),
    /// or the acknowledgement of ours.
    Settings { ack: bool, params: Settings<'a> },
    /// Server push, which a client must never send.
    PushPromise,
    /// A liveness check to echo, or the echo of ours.
    Ping { ack: bool, data: [u8; 8] },
    /// The peer is going away after `last_stream`.
    GoAway {
        last_stream: u32,
        code: u32,
        debug: &'a [u8],
    },
    /// More room in a window: the connection's (stream 0) or a stream's.
    WindowUpdate { stream: u32, increment: u32 },
    /// The rest of a header block.
    Continuation {
        stream: u32,
        end_headers: bool,
        block: &'a [u8],
    },
    /// A type this side does not know: ignored (RFC 9113 §4.1, §5.5).
    Unknown,
}

/// A SETTINGS payload whose values have been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings<'a>(&'a [u8]);

impl<'a> Settings<'a> {
    /// `(parameter, value)` pairs in the order sent; unknown parameters
    /// are included, for the reader to ignore.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u32)> + 'a {
        self.0
            .chunks_exact(6)
            .map(|p| (u16::from_be_bytes([p[0], p[1]]), be32(&p[2..])))
    }

    fn check(payload: &'a [u8]) -> Result<Settings<'a>, FrameError> {
        use ErrorCode::{FlowControlError, ProtocolError};
        let settings = Settings(payload);
        for (id, value) in settings.iter() {
            let (code, reason) = match id {
                setting::ENABLE_PUSH if value > 1 => {
                    (ProtocolError, "SETTINGS_ENABLE_PUSH is neither 0 nor 1")
                }
                setting::INITIAL_WINDOW_SIZE if i64::from(value) > MAX_WINDOW => (
                    FlowControlError,
                    "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
                ),
                setting::MAX_FRAME_SIZE if !(1 << 14..1 << 24).contains(&value) => (
                    ProtocolError,
                    "SETTINGS_MAX_FRAME_SIZE outside 2^14..2^24-1",
                ),
                _ => continue,
            };
            return Err(FrameError::connection(code, reason));
        }
        Ok(settings)
    }
}

/// A priority naming its own stream as its dependency, which RFC 7540
/// §5.3.1 made a stream error and nginx, Go and hyper still refuse. Any
/// stream error may be a connection error (RFC 9113 §5.4): a client this
/// confused gets a GOAWAY, which needs no state.
fn depends_on_itself(stream: u32, priority: &[u8]) -> Result<(), FrameError> {
    if be32(priority) & 0x7fff_ffff == stream {
        let reason = "a stream cannot depend on itself";
        return Err(FrameError::connection(ErrorCode::ProtocolError, reason));
    }
    Ok(())
}

/// The big-endian number in the first four of `bytes` (checked to be there).
fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// A padded frame's pad length, and the payload after it (RFC 9113 §6.1,
/// §6.2); 0 and the whole payload for a frame not padded.
fn pad_length<'a>(header: &Header, payload: &'a [u8]) -> Result<(u8, &'a [u8]), FrameError> {
    if !header.has(flag::PADDED) {
        return Ok((0, payload));
    }
    let Some((&pad, rest)) = payload.split_first() else {
        let reason = "padded frame without its pad length";
        return Err(FrameError::connection(ErrorCode::FrameSizeError, reason));
    };
    Ok((pad, rest))
}

/// `rest` without its last `pad` bytes: padding longer than what is left
/// of the frame, once its other fields are taken, is a PROTOCOL_ERROR.
fn without_padding(rest: &[u8], pad: u8) -> Result<&[u8], FrameError> {
    let keep = rest.len().checked_sub(usize::from(pad)).ok_or_else(|| {
        let reason = "padding longer than what the frame has left";
        FrameError::connection(ErrorCode::ProtocolError, reason)
    })?;
    Ok(&rest[..keep])
}

/// Checks a frame's payload against the rules of its type and parses it.
/// The caller has checked `header.length` against [`MAX_FRAME_BYTES`] and
/// passes exactly that many bytes.
pub fn parse<'a>(header: &Header, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    use ErrorCode::{FrameSizeError, ProtocolError};
    let Some(kind) = Kind::of(header.kind) else {
        return Ok(Frame::Unknown);
    };
    let (stream, len) = (header.stream, payload.len());
    let protocol = |reason| Err(FrameError::connection(ProtocolError, reason));
    // Which frames belong to the connection (stream 0) and which to a
    // stream (RFC 9113 §6): the wrong one is a PROTOCOL_ERROR.
    let for_connection = matches!(kind, Kind::Settings | Kind::Ping | Kind::GoAway);
    if for_connection && stream != 0 {
        return protocol("SETTINGS, PING or GOAWAY on a stream");
    }
    if !for_connection && kind != Kind::WindowUpdate && stream == 0 {
        return protocol("a stream's frame on stream 0");
    }
    // A payload of the wrong size for its type is a FRAME_SIZE_ERROR (§4.2).
    let size = |ok: bool, reason| match ok {
        true => Ok(()),
        false => Err(FrameError::connection(FrameSizeError, reason)),
    };
    Ok(match kind {
        Kind::Data => {
            let (pad, rest) = pad_length(header, payload)?;
            Frame::Data {
                stream,
                end_stream: header.has(flag::END_STREAM),
                data: without_padding(rest, pad)?,
                flow: len as u32,
            }
        }
        // The pad length, the priority, the block, then the padding (§6.2):
        // a frame too short for the first two lacks what it must carry
        // (FRAME_SIZE_ERROR); padding past what they leave is a
        // PROTOCOL_ERROR, even where it would reach into the priority.
        Kind::Headers => {
            let (pad, mut rest) = pad_length(header, payload)?;
            if header.has(flag::PRIORITY) {
                size(rest.len() >= 5, "HEADERS too short for its priority")?;
                depends_on_itself(stream, rest)?;
                rest = &rest[5..];
            }
            Frame::Headers {
                stream,
                end_stream: header.has(flag::END_STREAM),
                end_headers: header.has(flag::END_HEADERS),
                block: without_padding(rest, pad)?,
            }
        }
        // The one size error that ends only its stream (§6.3).
        Kind::Priority if len != 5 => {
            let reason = "PRIORITY is not 5 bytes";
            return Err(FrameError::stream(stream, FrameSizeError, reason));
        }
        Kind::Priority => {
            depends_on_itself(stream, payload)?;
            Frame::Priority
        }
        Kind::RstStream => {
            size(len == 4, "RST_STREAM is not 4 bytes")?;
            let code = be32(payload);
            Frame::RstStream { stream, code }
        }
        Kind::Settings => {
            let ack = header.has(flag::ACK);
            size(!ack || len == 0, "SETTINGS ACK with a payload")?;
            size(len % 6 == 0, "SETTINGS not a multiple of 6 bytes")?;
            let params = Settings::check(payload)?;
            Frame::Settings { ack, params }
        }
        Kind::PushPromise => Frame::PushPromise,
        Kind::Ping => {
            size(len == 8, "PING is not 8 bytes")?;
            let mut data = [0; 8];
            data.copy_from_slice(payload);
            let ack = header.has(flag::ACK);
            Frame::Ping { ack, data }
        }
        Kind::GoAway => {
            size(len >= 8, "GOAWAY under 8 bytes")?;
            Frame::GoAway {
                last_stream: be32(payload) & 0x7fff_ffff,
                code: be32(&payload[4..]),
                debug: &payload[8..],
            }
        }
        Kind::WindowUpdate => {
            size(len == 4, "WINDOW_UPDATE is not 4 bytes")?;
            // The top bit is reserved.
            let increment = be32(payload) & 0x7fff_ffff;
            if increment == 0 {
                let reason = "WINDOW_UPDATE of 0";
                return Err(match stream {
                    0 => FrameError::connection(ProtocolError, reason),
                    id => FrameError::stream(id, ProtocolError, reason),
                });
            }
            Frame::WindowUpdate { stream, increment }
        }
        Kind::Continuation => Frame::Continuation {
            stream,
            end_headers: header.has(flag::END_HEADERS),
            block: payload,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::h2::frame_write::{raw_frame as frame, settings, window_update};

    fn parsed(bytes: &[u8]) -> Result<Frame<'_>, FrameError> {
        let header = Header::parse(bytes[..9].try_into().unwrap());
        parse(&header, &bytes[9..])
    }

    #[test]
    fn a_header_reads_back_what_was_written() {
        let mut out = Vec::new();
        Header::write(&mut out, 0x01_02_03, Kind::Headers, 0x25, 0x7fff_fffe);
        assert_eq!(out, [1, 2, 3, 1, 0x25, 0x7f, 0xff, 0xff, 0xfe]);
        let header = Header::parse(out[..].try_into().unwrap());
        assert_eq!(header.length, 0x01_02_03);
        assert_eq!((header.kind, header.flags), (1, 0x25));
        // The reserved bit is ignored on reading.
        let mut reserved = out.clone();
        reserved[5] |= 0x80;
        assert_eq!(Header::parse(reserved[..].try_into().unwrap()), header);
    }

    /// Every rule a frame can break on its own, with the code RFC 9113
    /// gives it and whether it ends the stream or the connection. A
    /// PRIORITY is exactly 5 bytes (§6.3): one longer is refused as one
    /// shorter is, not read as its first five.
    #[test]
    fn broken_frames_get_the_right_code() {
        use ErrorCode::{
            FlowControlError as Flow, FrameSizeError as Size, ProtocolError as Protocol,
        };
        let cases: &[(Vec<u8>, ErrorCode, Option<u32>)] = &[
            (frame(4, 0, 1, b""), Protocol, None), // SETTINGS on a stream
            (frame(6, 0, 1, &[0; 8]), Protocol, None), // PING on a stream
            (frame(7, 0, 3, &[0; 8]), Protocol, None), // GOAWAY on a stream
            (frame(0, 0, 0, b"x"), Protocol, None), // DATA on stream 0
            (frame(1, 4, 0, b""), Protocol, None), // HEADERS on stream 0
            (frame(3, 0, 0, &[0; 4]), Protocol, None), // RST_STREAM on stream 0
            (frame(4, 0, 0, &[0; 5]), Size, None), // SETTINGS of 5 bytes
            (frame(4, 0, 0, &[0; 9]), Size, None), // SETTINGS of 9 bytes
            (frame(4, 1, 0, &[0; 6]), Size, None), // SETTINGS ACK with a payload
            (frame(6, 0, 0, &[0; 7]), Size, None), // PING of 7 bytes
            (frame(3, 0, 1, &[0; 3]), Size, None), // RST_STREAM of 3 bytes
            (frame(8, 0, 1, &[0; 5]), Size, None), // WINDOW_UPDATE of 5 bytes
            (frame(7, 0, 0, &[0; 7]), Size, None), // GOAWAY under 8 bytes
            (frame(2, 0, 5, &[0; 4]), Size, Some(5)), // PRIORITY of 4 bytes
            (frame(2, 0, 5, &[0; 6]), Size, Some(5)), // PRIORITY of 6 bytes
            (frame(8, 0, 0, &[0; 4]), Protocol, None), // WINDOW_UPDATE of 0
            (frame(8, 0, 7, &[0x80, 0, 0, 0]), Protocol, Some(7)), // of 0 on a stream
            (frame(0, 8, 1, b"\x05ab"), Protocol, None), // padding past the end
            (frame(0, 8, 1, b"\x03ab"), Protocol, None), // as long as the payload
            (frame(1, 0xc, 1, b"\x03ab"), Protocol, None), // the same on HEADERS
            (frame(0, 8, 1, b""), Size, None),     // padded, no pad length
            (frame(1, 0x20, 1, &[0; 4]), Size, None), // priority cut short
            (frame(1, 0x28, 1, &[0; 5]), Size, None), // padded, the same
            // Padding past the block, reaching into the priority.
            (frame(1, 0x2c, 1, b"\x03\0\0\0\0\x10ab"), Protocol, None),
            (frame(1, 0x24, 3, &[0, 0, 0, 3, 0]), Protocol, None), // HEADERS on itself
            (frame(2, 0, 5, &[0x80, 0, 0, 5, 0]), Protocol, None), // PRIORITY on itself
            (frame(4, 0, 0, &[0, 2, 0, 0, 0, 2]), Protocol, None), // ENABLE_PUSH 2
            (frame(4, 0, 0, &[0, 4, 0x80, 0, 0, 0]), Flow, None),  // window 2^31
            (frame(4, 0, 0, &[0, 5, 0, 0, 0x3f, 0xff]), Protocol, None), // max frame 16383
            (frame(4, 0, 0, &[0, 5, 1, 0, 0, 0]), Protocol, None), // max frame 2^24
        ];
        for (bytes, code, stream) in cases {
            let error = parsed(bytes).expect_err(&format!("{bytes:?}"));
            assert_eq!((error.code, error.stream), (*code, *stream), "{bytes:?}");
        }
    }

    #[test]
    fn error_codes_are_numbered_in_order() {
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(*code as usize, i, "{code:?}");
        }
        assert_eq!(ErrorCode::Http11Required.name(), "HTTP_1_1_REQUIRED");
        assert_eq!(ErrorCode::describe(0xb), "ENHANCE_YOUR_CALM");
        assert_eq!(ErrorCode::describe(0xe), "error code 14");
    }

    /// Padding and priority stripped, unknown parameters and types passed
    /// on to be ignored, a WINDOW_UPDATE read back as written. Each checked
    /// SETTINGS value is taken up to the edges of its range: ENABLE_PUSH
    /// may be 1 as well as 0 (RFC 9113 §6.5.2), and refusing a value the
    /// RFC allows would end a well-behaved client's connection.
    #[test]
    fn good_frames_parse() {
        // PADDED | PRIORITY | END_HEADERS: pad 2, 5 bytes of priority, "abc", 2 pad bytes.
        let bytes = frame(1, 0x2c, 1, b"\x02\0\0\0\0\x10abc\0\0");
        let expected = Frame::Headers {
            stream: 1,
            end_stream: false,
            end_headers: true,
            block: b"abc",
        };
        assert_eq!(parsed(&bytes), Ok(expected));
        let expected = Frame::Data {
            stream: 3,
            end_stream: true,
            data: b"xy",
            flow: 4,
        };
        assert_eq!(parsed(&frame(0, 0x09, 3, b"\x01xy\0")), Ok(expected));
        // Padding may fill the frame after its pad length (an error only
        // at the payload's whole length, §6.1): no data, every byte still
        // counted against the windows. A client may pad an empty END_STREAM.
        let expected = Frame::Data {
            stream: 3,
            end_stream: true,
            data: b"",
            flow: 3,
        };
        assert_eq!(parsed(&frame(0, 0x09, 3, b"\x02\0\0")), Ok(expected));
        // ENABLE_PUSH's two values; MAX_FRAME_SIZE at both ends of its
        // range; 2^31 - 1; unknown.
        let sent = [
            (2, 0),
            (2, 1),
            (5, 1 << 14),
            (5, (1 << 24) - 1),
            (4, (1 << 31) - 1),
            (0x99, 1),
        ];
        let mut bytes = Vec::new();
        settings(&mut bytes, &sent);
        let Ok(Frame::Settings { ack: false, params }) = parsed(&bytes) else {
            panic!("settings");
        };
        assert_eq!(params.iter().collect::<Vec<_>>(), sent);
        // A GOAWAY of 8 bytes, no debug data: the reserved bit is ignored.
        let goaway = frame(7, 0, 0, &[0x80, 0, 0, 3, 0, 0, 0, 0]);
        assert!(matches!(
            parsed(&goaway),
            Ok(Frame::GoAway { last_stream: 3, .. })
        ));
        assert_eq!(parsed(&frame(0xfa, 0xff, 0, b"??")), Ok(Frame::Unknown));
        let mut out = Vec::new();
        window_update(&mut out, 3, 1000);
        let expected = Frame::WindowUpdate {
            stream: 3,
            increment: 1000,
        };
        assert_eq!(parsed(&out), Ok(expected));
    }
}
