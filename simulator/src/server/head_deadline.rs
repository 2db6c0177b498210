//! The time a client has to send each request's head, kept by one timer per connection.
//!
//! hyper's own `header_read_timeout` boxes a fresh timer for every request, registers it with tokio's
//! timer wheel while the connection waits, and takes it out again when the head arrives: measured at
//! 0.2–0.3 µs of a served backup POST's 4.1–4.5 µs of user time (bench/README.md, "Header-read timer").
//! Here a connection keeps one timer that ticks every half timeout, and the service counts the heads
//! it is handed and the answers it finishes ([`Progress`]). A tick at which no head arrived and no answer
//! finished since the tick before, with none being answered, is idle; at the second idle tick in a row
//! the connection is closed. So a client that sends nothing, or dribbles a head and never finishes it,
//! is cut off between one and one and a half timeouts after it last made progress (hyper's: exactly
//! one), and a slow answer (a fault's delay) never counts against its connection.
//!
//! The ticks are counted where hyper reads: when a read would wait and the timer has fired. A request
//! costs two relaxed atomic increments and one check of the timer's state; the timer itself is reset
//! once a tick, whatever the traffic.
//!
//! The rule holds for HTTP/2 too (hyper's applies to HTTP/1 only): an HTTP/2 connection with no stream
//! open for as long is closed the same way, which frees its slot under the connection limit.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Idle ticks in a row that close a connection; a tick is the timeout divided by this.
const IDLE_TICKS: u32 = 2;

/// What a connection's service has done, counted as it happens (from the stream tasks too, over HTTP/2).
#[derive(Debug, Default)]
pub(super) struct Progress {
    heads: AtomicU64,
    answered: AtomicU64,
}

impl Progress {
    /// Counts a request head handed to the service; the answer is counted when the guard is dropped
    /// (answered, or abandoned with its connection).
    pub(super) fn answering(&self) -> Answering<'_> {
        self.heads.fetch_add(1, Relaxed);
        Answering(self)
    }

    /// Heads received and answers finished, in one number that moves whenever either does, and
    /// whether an answer is being made. The answers are read first: a request begun and finished
    /// between the two loads (another thread's, over HTTP/2) reads as being answered, never as idle.
    fn snapshot(&self) -> (u64, bool) {
        let answered = self.answered.load(Relaxed);
        let heads = self.heads.load(Relaxed);
        (heads.wrapping_add(answered), heads != answered)
    }
}

/// An answer in the making, counted as finished when dropped.
#[derive(Debug)]
pub(super) struct Answering<'a>(&'a Progress);

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.0.answered.fetch_add(1, Relaxed);
    }
}

/// A connection's transport with the head deadline on its reads: once a head is overdue, the read
/// that would wait for it fails with `TimedOut` instead, and hyper closes the connection.
pub(super) struct HeadDeadline<IO, P> {
    io: IO,
    progress: Arc<P>,
    tick: Duration,
    timer: Pin<Box<Sleep>>,
    /// Whether the timer is registered to wake this connection (it is first set when a read waits).
    armed: bool,
    /// [`Progress::snapshot`]'s count at the last tick.
    seen: u64,
    idle_ticks: u32,
}

impl<IO, P: AsRef<Progress>> HeadDeadline<IO, P> {
    pub(super) fn new(io: IO, progress: Arc<P>, timeout: Duration) -> Self {
        let tick = (timeout / IDLE_TICKS).max(Duration::from_millis(1));
        Self {
            io,
            progress,
            tick,
            timer: Box::pin(tokio::time::sleep(tick)),
            armed: false,
            seen: 0,
            idle_ticks: 0,
        }
    }

    /// Called when a read would wait: counts a tick if the timer fired, and (re)arms it.
    fn on_wait(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.armed && !self.timer.is_elapsed() {
            return Ok(());
        }
        if self.armed {
            let (count, answering) = AsRef::<Progress>::as_ref(&*self.progress).snapshot();
            if answering || count != self.seen {
                self.idle_ticks = 0;
            } else {
                self.idle_ticks += 1;
            }
            self.seen = count;
            if self.idle_ticks >= IDLE_TICKS {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no request head within the header read timeout",
                ));
            }
        }
        self.timer.as_mut().reset(Instant::now() + self.tick);
        // Polled once so that it wakes this connection when it fires; a tick is never zero, so this
        // is `Pending`.
        self.armed = self.timer.as_mut().poll(cx).is_pending();
        Ok(())
    }
}

impl<IO: AsyncRead + Unpin, P: AsRef<Progress>> AsyncRead for HeadDeadline<IO, P> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if read.is_pending() {
            this.on_wait(cx)?;
        }
        read
    }
}

impl<IO: AsyncWrite + Unpin, P> AsyncWrite for HeadDeadline<IO, P> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, DuplexStream};

    const TIMEOUT: Duration = Duration::from_millis(200);

    /// A connection's transport whose client end is kept by the test: what the client never writes,
    /// the server waits for.
    fn connection() -> (
        HeadDeadline<DuplexStream, Progress>,
        Arc<Progress>,
        DuplexStream,
    ) {
        let (server, client) = tokio::io::duplex(64);
        let progress = Arc::new(Progress::default());
        (
            HeadDeadline::new(server, progress.clone(), TIMEOUT),
            progress,
            client,
        )
    }

    impl AsRef<Progress> for Progress {
        fn as_ref(&self) -> &Progress {
            self
        }
    }

    async fn read(io: &mut HeadDeadline<DuplexStream, Progress>) -> io::Result<usize> {
        let mut buf = [0u8; 16];
        io.read(&mut buf).await
    }

    /// Reads with nothing sent: the read must fail as timed out, and not before [`TIMEOUT`].
    async fn assert_cut_off_a_timeout_from_now(io: &mut HeadDeadline<DuplexStream, Progress>) {
        let started = Instant::now();
        let err = tokio::time::timeout(20 * TIMEOUT, read(io))
            .await
            .expect("the read was never failed")
            .expect_err("a read with nothing sent succeeded");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(
            started.elapsed() >= TIMEOUT,
            "closed after {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_connection_that_sends_no_head_is_closed_after_the_timeout_and_not_before() {
        let (mut io, _progress, _client) = connection();
        assert_cut_off_a_timeout_from_now(&mut io).await;
    }

    #[tokio::test]
    async fn a_connection_whose_answer_is_being_made_is_not_closed_until_it_is_answered() {
        let (mut io, progress, _client) = connection();
        let answering = progress.answering();
        let waited = tokio::time::timeout(5 * TIMEOUT, read(&mut io)).await;
        assert!(
            waited.is_err(),
            "the read ended while an answer was being made: {waited:?}"
        );
        drop(answering);
        assert_cut_off_a_timeout_from_now(&mut io).await;
    }

    #[tokio::test]
    async fn heads_arriving_more_often_than_the_timeout_keep_the_connection() {
        let (mut io, progress, _client) = connection();
        let requests = async {
            for _ in 0..20 {
                tokio::time::sleep(TIMEOUT / 4).await;
                drop(progress.answering());
            }
        };
        tokio::select! {
            () = requests => {}
            read = read(&mut io) => panic!("the read ended while heads kept arriving: {read:?}"),
        }
    }

    #[tokio::test]
    async fn bytes_that_never_complete_a_head_do_not_keep_the_connection() {
        let (mut io, _progress, mut client) = connection();
        let dribble = async {
            for _ in 0..40 {
                tokio::time::sleep(TIMEOUT / 4).await;
                if tokio::io::AsyncWriteExt::write_all(&mut client, b"G")
                    .await
                    .is_err()
                {
                    return;
                }
            }
        };
        let reads = async {
            loop {
                if let Err(e) = read(&mut io).await {
                    return e;
                }
            }
        };
        tokio::select! {
            () = dribble => panic!("a head dribbled for 10 timeouts was not cut off"),
            err = reads => assert_eq!(err.kind(), io::ErrorKind::TimedOut),
        }
    }
}
