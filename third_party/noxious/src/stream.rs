use crate::signal::{Interrupt, Stop};
use crate::socket::{ReadStream, WriteStream};
use bytes::{Bytes, BytesMut};
use futures::{Sink, SinkExt, Stream, StreamExt};
use std::io;
use std::pin::Pin;

use tokio_util::codec::{BytesCodec, FramedRead, FramedWrite};

pub(crate) type Read = FramedRead<ReadStream, BytesCodec>;
pub(crate) type Write = FramedWrite<WriteStream, BytesCodec>;

/// Why a forwarding loop returned without an I/O error
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Forwarded {
    /// The input ended, the output closed or the stop signal came
    Ended,
    /// The interrupt signal came: every chunk read has been passed on, nothing is held
    Interrupted,
}

pub(crate) async fn forward(
    reader: &mut Read,
    writer: &mut Write,
    stop: &mut Stop,
    interrupt: &mut Interrupt,
) -> io::Result<Forwarded> {
    while !stop.stop_received() {
        // `FramedRead::next` is cancel-safe: a chunk is either returned or stays buffered.
        let maybe_res: Option<io::Result<BytesMut>> = tokio::select! {
            res = reader.next() => res,
            _ = stop.recv() => None,
            _ = interrupt.recv() => return Ok(Forwarded::Interrupted),
        };
        if let Some(res) = maybe_res {
            match res {
                Ok(chunk) => {
                    if let Err(_err) = writer.send(chunk.into()).await {
                        // writer closed
                        break;
                    }
                }
                Err(err) => {
                    // reader closed
                    return Err(err);
                }
            }
        } else {
            // stop signal received
            break;
        }
    }
    Ok(Forwarded::Ended)
}

pub(crate) async fn forward_read(
    mut reader: Read,
    mut writer: Pin<&mut impl Sink<Bytes>>,
    stop: &mut Stop,
    interrupt: &mut Interrupt,
) -> io::Result<(Read, Forwarded)> {
    while !stop.stop_received() {
        // `FramedRead::next` is cancel-safe: a chunk is either returned or stays buffered.
        let maybe_res: Option<io::Result<BytesMut>> = tokio::select! {
            res = reader.next() => res,
            _ = stop.recv() => None,
            _ = interrupt.recv() => return Ok((reader, Forwarded::Interrupted)),
        };
        if let Some(res) = maybe_res {
            match res {
                Ok(chunk) => {
                    if let Err(_err) = writer.send(chunk.into()).await {
                        // writer channel closed
                        break;
                    }
                }
                Err(err) => {
                    // reader i/o error
                    return Err(err);
                }
            }
        } else {
            // stop signal received
            break;
        }
    }
    Ok((reader, Forwarded::Ended))
}

/// Writes every chunk of `reader` until it ends or the stop signal comes. A failed write is an
/// error: the chunk is lost, so the writer must not be reused.
pub(crate) async fn forward_write(
    mut reader: Pin<&mut impl Stream<Item = Bytes>>,
    mut writer: Write,
    stop: &mut Stop,
) -> io::Result<Write> {
    while !stop.stop_received() {
        let maybe_chunk = tokio::select! {
            res = reader.next() => res,
            _ = stop.recv() => None
        };
        if let Some(chunk) = maybe_chunk {
            writer.send(chunk).await?;
        } else {
            break;
        }
    }
    Ok(writer)
}
