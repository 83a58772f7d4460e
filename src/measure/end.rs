//! How a connection or an HTTP/2 stream ended: the one vocabulary the
//! access log's `end=`, the metrics' `reason` labels and the routes share.
//! A leaf: it imports nothing, so that every file here and above can use it.

use std::error::Error;
use std::fmt;
use std::io;

/// How a connection ended: the access log's `end=` and the `reason` label of
/// `backpressure_aborts_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The whole response was sent, whatever its status.
    Complete,
    /// The client closed or reset the connection mid-response.
    ClientAbort,
    /// The client acknowledged nothing for `--send-timeout` while a write
    /// waited.
    SendTimeout,
    /// A write did not complete within `max(grace, bytes / --min-rate)`.
    MinRate,
    /// The head did not arrive within `--header-timeout` (408 sent).
    HeaderTimeout,
    /// Turned away at `--max-connections`, or because no thread could start
    /// (503 sent by the rejecter in `defense/connection_cap.rs`; a GOAWAY
    /// over HTTP/2, by the rejecter or by a connection whose writer could
    /// not start); or answered there by an own endpoint (`/metrics`) whose
    /// answer its socket could not take whole at once, cut with a reset.
    Rejected,
    /// `unbounded`'s queue would have passed `--max-buffered-bytes`.
    BufferCap,
    /// The queue would have passed what is left of `--max-buffered-total`.
    BufferBudget,
    /// The producer thread died mid-body.
    ProducerFailed,
    /// The connection's thread panicked; the server went on.
    Panic,
    /// Still open when a shutdown's `--drain-timeout` passed: cut.
    DrainTimeout,
    /// Written whole, but the client kept sending and had not acknowledged
    /// the tail when the graceful close gave up (500 ms): the close's reset
    /// discarded that tail.
    CloseTimeout,
    /// The client broke HTTP/2's rules: the connection ended with GOAWAY,
    /// or the stream with RST_STREAM, carrying the error's code.
    ProtocolError,
}

impl End {
    /// Every way an export can be cut short after its head was sent: the
    /// series of `backpressure_aborts_total`. An HTTP/2 client's error
    /// while its body was under way is one: the stream was reset, or the
    /// connection ended with GOAWAY, and the body did not arrive whole.
    pub const ABORTS: [End; 9] = [
        End::ClientAbort,
        End::SendTimeout,
        End::MinRate,
        End::BufferCap,
        End::BufferBudget,
        End::ProducerFailed,
        End::DrainTimeout,
        End::CloseTimeout,
        End::ProtocolError,
    ];

    /// The aborts the server itself decides: each leaves a body the client
    /// will never finish, so the socket is closed with a reset, which the
    /// client sees at once and which frees the kernel's send queue.
    pub const RESETS: [End; 7] = [
        End::SendTimeout,
        End::MinRate,
        End::BufferCap,
        End::BufferBudget,
        End::ProducerFailed,
        End::DrainTimeout,
        End::CloseTimeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            End::Complete => "complete",
            End::ClientAbort => "client-abort",
            End::SendTimeout => "send-timeout",
            End::MinRate => "min-rate",
            End::HeaderTimeout => "header-timeout",
            End::Rejected => "rejected",
            End::BufferCap => "buffer-cap",
            End::BufferBudget => "buffer-budget",
            End::ProducerFailed => "producer-failed",
            End::Panic => "panic",
            End::DrainTimeout => "drain-timeout",
            End::CloseTimeout => "close-timeout",
            End::ProtocolError => "protocol-error",
        }
    }
}

/// An [`End`] carried by an `io::Error`: how a write learns that its
/// response was ended by someone else (an HTTP/2 stream reset by the client,
/// or by the connection's own rules), so that the export is logged and
/// counted with that reason rather than as a client's abort.
#[derive(Debug)]
struct Ended(End);

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the response was ended: {}", self.0.as_str())
    }
}

impl Error for Ended {}

impl End {
    /// The error a write fails with when the response was ended this way.
    pub fn into_error(self) -> io::Error {
        io::Error::new(io::ErrorKind::ConnectionAborted, Ended(self))
    }

    /// The end an error made by [`End::into_error`] carries.
    pub fn of(error: &io::Error) -> Option<End> {
        let ended = error.get_ref()?.downcast_ref::<Ended>()?;
        Some(ended.0)
    }
}
