//! Request bodies that stop making progress are cut: a client that sends nothing for the
//! configured time (`[limits] body_idle_timeout_secs`) gets its request failed, so a
//! trickle cannot hold a connection, a task and an upload session forever. The clock
//! runs only while the server waits for bytes, never while a handler is busy elsewhere.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// A body whose reads fail once no byte has come for `timeout`.
pub struct IdleTimeout {
    inner: Body,
    timeout: Duration,
    /// Allocated at the first wait, then reset: armed while waiting.
    deadline: Option<Pin<Box<Sleep>>>,
    armed: bool,
}

impl IdleTimeout {
    /// Wraps `inner`.
    pub fn new(inner: Body, timeout: Duration) -> IdleTimeout {
        IdleTimeout { inner, timeout, deadline: None, armed: false }
    }
}

/// The error a stalled body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body sent nothing for {0:?}")]
pub struct Stalled(Duration);

impl http_body::Body for IdleTimeout {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.armed = false;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let at = Instant::now() + this.timeout;
                let deadline = this.deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                if !this.armed {
                    deadline.as_mut().reset(at);
                    this.armed = true;
                }
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(Stalled(this.timeout))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    #[tokio::test]
    async fn a_stalled_body_fails_and_a_flowing_one_does_not() {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
        let body =
            Body::from_stream(futures_util::stream::unfold(receiver, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }));
        let timed = IdleTimeout::new(body, Duration::from_millis(200));
        let reader = tokio::spawn(async move { timed.collect().await.map(|c| c.to_bytes().len()) });
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            sender.send(Ok(Bytes::from_static(b"chunk"))).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let error = reader.await.unwrap().unwrap_err();
        assert!(error.to_string().contains("sent nothing"), "{error}");
    }
}
