//! COPY OUT data lifted off the wire, under tokio-postgres.
//!
//! PostgreSQL sends a binary `COPY ... TO STDOUT` as one `CopyData` message per row, and
//! tokio-postgres hands each of them over as its own `Bytes` (parse the message, take a
//! reference, poll the stream, drop the reference): for narrow rows that plumbing cost about
//! a fifth of the reader's CPU (bench/PROFILE.md). A [`TapStream`] sits between the
//! connection's transport (after TLS) and tokio-postgres. While its [`Tap`] is armed it
//! takes the payload of every `CopyData` message out of the byte stream and appends it to
//! one buffer — which is then exactly the binary COPY stream the decoder reads, in large
//! chunks — and passes every other message through unchanged: `CopyOutResponse`,
//! `CopyDone`, `CommandComplete`, `ErrorResponse`, notices. tokio-postgres therefore sees a
//! COPY that sends no rows, and reports its end and its errors as it always does; because
//! the tap handles the bytes in order, everything a `CopyData` carried is in the buffer
//! before tokio-postgres sees the message that ends the COPY.
//!
//! The stream is read in 256 KiB reads; while the consumer has 1 MiB not yet taken, the
//! tap stops reading (the server then blocks on its socket, as it does for a slow client).
//! Dropping the [`Tap`] while it is armed (the reader of a COPY went away: the job was
//! cancelled, or decoding failed) ends the connection: once what is buffered is handed
//! on, its next read from the socket is an error instead, the
//! driver closes the socket, and the server stops sending the rest of the table (it would
//! otherwise stream every remaining row into a connection nobody reads). Dropped while
//! disarmed, it only detaches.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// Bytes held for the consumer before the tap stops reading the socket.
const HIGH_WATER: usize = 1 << 20;
/// Size of one read from the transport.
const READ_SIZE: usize = 256 * 1024;
/// Message tag of `CopyData`.
const COPY_DATA: u8 = b'd';

#[derive(Default)]
struct State {
    armed: bool,
    detached: bool,
    data: Vec<u8>,
    /// The connection's read, parked while `data` is above the high-water mark.
    parked: Option<Waker>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    arrived: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The consumer's end of a tapped connection.
pub struct Tap {
    shared: Arc<Shared>,
}

/// Wrap `inner` (the transport, after TLS) in a tap; `Tap` is the consumer's end.
pub fn tap<S>(inner: S) -> (Tap, TapStream<S>) {
    let shared = Arc::new(Shared::default());
    (
        Tap {
            shared: shared.clone(),
        },
        TapStream {
            inner,
            shared,
            buf: vec![0; READ_SIZE],
            start: 0,
            end: 0,
            pass: 0,
            divert: 0,
            eof: false,
        },
    )
}

impl Tap {
    /// From now on, `CopyData` payloads go to this tap. Call before sending the COPY.
    pub fn arm(&self) {
        let mut st = self.shared.lock();
        st.data.clear();
        st.armed = true;
    }

    /// `CopyData` messages pass through to tokio-postgres again.
    pub fn disarm(&self) {
        let mut st = self.shared.lock();
        st.armed = false;
        st.data.clear();
        if let Some(w) = st.parked.take() {
            w.wake();
        }
    }

    /// Exchange `buf` (cleared first) with everything that has arrived since the last call.
    pub fn take(&self, buf: &mut Vec<u8>) {
        buf.clear();
        let mut st = self.shared.lock();
        std::mem::swap(&mut st.data, buf);
        if let Some(w) = st.parked.take() {
            w.wake();
        }
    }

    /// Wait until more data may have arrived (a wake-up that finds nothing is possible).
    pub async fn arrived(&self) {
        self.shared.arrived.notified().await;
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.detached = true;
        st.data = Vec::new();
        if let Some(w) = st.parked.take() {
            w.wake();
        }
    }
}

/// The transport as tokio-postgres sees it; see the module docs.
pub struct TapStream<S> {
    inner: S,
    shared: Arc<Shared>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes of a message being passed through that are still to hand over.
    pass: usize,
    /// Bytes of a `CopyData` payload being diverted that are still to take.
    divert: usize,
    eof: bool,
}

impl<S: AsyncRead + Unpin> TapStream<S> {
    /// Hand over or divert what is buffered. Returns whether anything was diverted.
    fn drain(&mut self, out: &mut ReadBuf<'_>) -> io::Result<bool> {
        if self.start == self.end {
            return Ok(false);
        }
        let mut diverted = false;
        let mut st = self.shared.lock();
        while self.start < self.end {
            let avail = self.end - self.start;
            if self.pass > 0 {
                let n = self.pass.min(avail).min(out.remaining());
                if n == 0 {
                    break;
                }
                out.put_slice(&self.buf[self.start..self.start + n]);
                self.start += n;
                self.pass -= n;
            } else if self.divert > 0 {
                let n = self.divert.min(avail);
                if !st.detached {
                    st.data
                        .extend_from_slice(&self.buf[self.start..self.start + n]);
                }
                self.start += n;
                self.divert -= n;
                diverted = true;
            } else {
                if avail < 5 {
                    break;
                }
                let h = &self.buf[self.start..self.start + 5];
                let len = u32::from_be_bytes([h[1], h[2], h[3], h[4]]) as usize;
                if len < 4 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("malformed message from the server (length {len})"),
                    ));
                }
                if h[0] == COPY_DATA && st.armed {
                    self.start += 5;
                    self.divert = len - 4;
                    diverted = true;
                } else {
                    self.pass = len + 1;
                }
            }
        }
        Ok(diverted)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TapStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let before = out.filled().len();
            if this.drain(out)? {
                this.shared.arrived.notify_one();
            }
            if out.filled().len() > before || out.remaining() == 0 || this.eof {
                return Poll::Ready(Ok(()));
            }
            {
                let mut st = this.shared.lock();
                if st.armed && st.detached {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the reader of the COPY is gone",
                    )));
                }
                if st.armed && st.data.len() >= HIGH_WATER {
                    st.parked = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
            // Only a partial message header (< 5 bytes) can be left: move it to the front.
            if this.start > 0 {
                this.buf.copy_within(this.start..this.end, 0);
                this.end -= this.start;
                this.start = 0;
            }
            let mut rb = ReadBuf::new(&mut this.buf[this.end..]);
            match Pin::new(&mut this.inner).poll_read(cx, &mut rb) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        this.eof = true;
                        // The consumer waits on `arrived` as well as on the COPY stream.
                        this.shared.arrived.notify_one();
                    }
                    this.end += n;
                }
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TapStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    /// A reader that hands out its bytes `step` at a time.
    struct Trickle {
        bytes: Vec<u8>,
        pos: usize,
        step: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            out: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            let n = this
                .step
                .min(this.bytes.len() - this.pos)
                .min(out.remaining());
            out.put_slice(&this.bytes[this.pos..this.pos + n]);
            this.pos += n;
            Poll::Ready(Ok(()))
        }
    }

    async fn run(step: usize, out_size: usize, armed: bool) -> (Vec<u8>, Vec<u8>) {
        let mut wire = msg(b'H', &[1, 0, 0]);
        let mut copy = Vec::new();
        for i in 0..50u8 {
            let row = vec![i; usize::from(i) * 7];
            copy.extend_from_slice(&row);
            wire.extend(msg(b'd', &row));
            if i % 10 == 0 {
                wire.extend(msg(b'N', b"notice"));
            }
        }
        wire.extend(msg(b'c', b""));
        wire.extend(msg(b'C', b"COPY 50\0"));
        wire.extend(msg(b'Z', b"I"));
        let (tap, mut stream) = tap(Trickle {
            bytes: wire.clone(),
            pos: 0,
            step,
        });
        if armed {
            tap.arm();
        }
        let mut passed = Vec::new();
        let mut chunk = vec![0; out_size];
        loop {
            let n = stream.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            passed.extend_from_slice(&chunk[..n]);
        }
        let mut taken = Vec::new();
        tap.take(&mut taken);
        if armed {
            let mut rest = msg(b'H', &[1, 0, 0]);
            for i in 0..50u8 {
                if i % 10 == 0 {
                    rest.extend(msg(b'N', b"notice"));
                }
            }
            rest.extend(msg(b'c', b""));
            rest.extend(msg(b'C', b"COPY 50\0"));
            rest.extend(msg(b'Z', b"I"));
            assert_eq!(passed, rest);
            assert_eq!(taken, copy);
        } else {
            assert_eq!(passed, wire);
            assert!(taken.is_empty());
        }
        (passed, taken)
    }

    #[tokio::test]
    async fn copy_data_is_lifted_out_and_the_rest_passes_in_order() {
        for step in [1, 2, 3, 5, 7, 64, 4096] {
            for out_size in [1, 3, 16, 8192] {
                run(step, out_size, true).await;
                run(step, out_size, false).await;
            }
        }
    }

    #[tokio::test]
    async fn dropping_an_armed_tap_ends_the_connection() {
        let mut wire = msg(b'H', &[1, 0, 0]);
        wire.extend(msg(b'd', b"row"));
        let (t, mut stream) = tap(Trickle {
            bytes: wire,
            pos: 0,
            step: 4096,
        });
        t.arm();
        drop(t);
        let mut b = [0u8; 64];
        let err = stream.read(&mut b).await.err().map(|e| e.kind());
        assert_eq!(err, Some(io::ErrorKind::ConnectionAborted));

        // Dropped while disarmed: the stream reads on.
        let (t, mut stream) = tap(Trickle {
            bytes: msg(b'Z', b"I"),
            pos: 0,
            step: 4096,
        });
        drop(t);
        assert_eq!(stream.read(&mut b).await.ok(), Some(6));
    }

    #[tokio::test]
    async fn a_bad_length_is_an_error() {
        let (_tap, mut stream) = tap(Trickle {
            bytes: vec![b'd', 0, 0, 0, 2, 0],
            pos: 0,
            step: 100,
        });
        let mut b = [0u8; 16];
        let err = stream.read(&mut b).await.err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("malformed message from the server (length 2)")
        );
    }
}
