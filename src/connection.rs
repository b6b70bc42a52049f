//! Framing: a Kafka connection is a stream of frames, each a big-endian i32 length and that many
//! bytes. This module reads whole frames and writes encoded responses; it knows no APIs.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;

/// Kafka's `socket.request.max.bytes` default: a larger frame is refused and the connection closed.
pub const MAX_FRAME: usize = 100 * 1024 * 1024;

pub struct Connection {
    stream: BufWriter<TcpStream>,
    buffer: BytesMut,
}

#[derive(Debug)]
pub enum FrameError {
    Io(std::io::Error),
    /// The length prefix is negative or beyond `MAX_FRAME`.
    BadLength(i32),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::BadLength(len) => write!(f, "invalid frame length {len}"),
        }
    }
}

impl Connection {
    pub fn new(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        Connection {
            stream: BufWriter::new(stream),
            buffer: BytesMut::with_capacity(64 * 1024),
        }
    }

    /// The next whole frame without its length prefix; `None` when the peer closed cleanly
    /// between frames.
    pub async fn read_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            if self.buffer.len() >= 4 {
                let len = i32::from_be_bytes(self.buffer[..4].try_into().unwrap());
                if len < 0 || len as usize > MAX_FRAME {
                    return Err(FrameError::BadLength(len));
                }
                let total = 4 + len as usize;
                if self.buffer.len() >= total {
                    let mut frame = self.buffer.split_to(total);
                    frame.advance(4);
                    return Ok(Some(frame.freeze()));
                }
                self.buffer.reserve(total - self.buffer.len());
            }
            let read = self
                .stream
                .read_buf(&mut self.buffer)
                .await
                .map_err(FrameError::Io)?;
            if read == 0 {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()))
                };
            }
        }
    }

    pub fn peer_addr(&self) -> Option<std::net::SocketAddr> {
        self.stream.get_ref().peer_addr().ok()
    }

    /// Makes closing this connection reset it (RST), as a crashed broker's connections are.
    pub fn reset_on_close(&self) {
        let _ = self.stream.get_ref().set_zero_linger();
    }

    /// Writes an encoded frame (length prefix included) and flushes it.
    pub async fn write_frame(&mut self, frame: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(frame).await?;
        self.stream.flush().await
    }
}
