//! The Arrow tunnel framing (spec §1.5), both directions.
//!
//! Body: `u32 BE chunk_size`, then the payload cut in `chunk_size` pieces, each full
//! piece followed by `u32 BE crc32c(piece)`; the last (short, maybe empty) piece is
//! followed by `u32 BE crc32c(whole payload)`. The payload is Arrow IPC RecordBatch
//! messages only (no schema message, no end-of-stream marker).

use std::collections::VecDeque;

use arrow::array::RecordBatch;
use arrow::buffer::Buffer;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::StreamDecoder;
use arrow::ipc::writer::StreamWriter;
use ferry_core::{Error, Result};

use super::crc::{crc32c, crc32c_append};

/// The chunk size pyodps uses.
pub const DEFAULT_CHUNK_SIZE: u32 = 65536;

/// Cuts a payload into CRC'd chunks.
#[derive(Debug)]
pub struct FrameWriter {
    chunk_size: usize,
    piece: Vec<u8>,
    total: u32,
    started: bool,
}

impl FrameWriter {
    /// A framer with the given chunk size (pyodps: 65536).
    pub fn new(chunk_size: u32) -> Self {
        FrameWriter {
            chunk_size: chunk_size.max(1) as usize,
            piece: Vec::with_capacity(chunk_size as usize),
            total: 0,
            started: false,
        }
    }

    /// Frame more payload bytes into `out`.
    pub fn write(&mut self, mut data: &[u8], out: &mut Vec<u8>) {
        if !self.started {
            out.extend_from_slice(&(self.chunk_size as u32).to_be_bytes());
            self.started = true;
        }
        self.total = crc32c_append(self.total, data);
        while !data.is_empty() {
            let n = (self.chunk_size - self.piece.len()).min(data.len());
            self.piece.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.piece.len() == self.chunk_size {
                out.extend_from_slice(&self.piece);
                out.extend_from_slice(&crc32c(&self.piece).to_be_bytes());
                self.piece.clear();
            }
        }
    }

    /// Write the last piece and the overall checksum.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if !self.started {
            out.extend_from_slice(&(self.chunk_size as u32).to_be_bytes());
            self.started = true;
        }
        out.extend_from_slice(&self.piece);
        out.extend_from_slice(&self.total.to_be_bytes());
        self.piece.clear();
    }
}

/// Undoes [`FrameWriter`]: push framed bytes in any chunking, get payload bytes.
#[derive(Debug, Default)]
pub struct FrameReader {
    chunk_size: Option<usize>,
    buf: Vec<u8>,
    total: u32,
    offset: u64,
}

impl FrameReader {
    /// A fresh reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed framed bytes; verified payload bytes are appended to `payload`.
    pub fn push(&mut self, data: &[u8], payload: &mut Vec<u8>) -> Result<()> {
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        let cs = match self.chunk_size {
            Some(c) => c,
            None => {
                if self.buf.len() < 4 {
                    return Ok(());
                }
                let c = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]])
                    as usize;
                if c == 0 {
                    return Err(Error::data("arrow tunnel stream: chunk size 0"));
                }
                self.chunk_size = Some(c);
                pos = 4;
                c
            }
        };
        while self.buf.len() - pos >= cs + 4 {
            let piece = &self.buf[pos..pos + cs];
            let want = u32::from_be_bytes([
                self.buf[pos + cs],
                self.buf[pos + cs + 1],
                self.buf[pos + cs + 2],
                self.buf[pos + cs + 3],
            ]);
            if crc32c(piece) != want {
                return Err(Error::data(format!(
                    "arrow tunnel stream: checksum mismatch in the chunk at payload offset {}",
                    self.offset
                )));
            }
            self.total = crc32c_append(self.total, piece);
            payload.extend_from_slice(piece);
            self.offset += cs as u64;
            pos += cs + 4;
        }
        self.buf.drain(..pos);
        Ok(())
    }

    /// End of input: verify the last piece against the overall checksum.
    pub fn finish(&mut self, payload: &mut Vec<u8>) -> Result<()> {
        if self.chunk_size.is_none() {
            if self.buf.is_empty() {
                return Ok(()); // an empty body: no batches
            }
            return Err(Error::data("arrow tunnel stream: truncated header"));
        }
        if self.buf.len() < 4 {
            return Err(Error::data(
                "arrow tunnel stream: truncated (no overall checksum)",
            ));
        }
        let n = self.buf.len() - 4;
        let want = u32::from_be_bytes([
            self.buf[n],
            self.buf[n + 1],
            self.buf[n + 2],
            self.buf[n + 3],
        ]);
        let total = crc32c_append(self.total, &self.buf[..n]);
        if total != want {
            return Err(Error::data(
                "arrow tunnel stream: overall checksum mismatch",
            ));
        }
        payload.extend_from_slice(&self.buf[..n]);
        self.buf.clear();
        Ok(())
    }
}

/// Encodes record batches into a framed Arrow tunnel body.
pub struct ArrowTunnelEncoder {
    ipc: StreamWriter<Vec<u8>>,
    frame: FrameWriter,
}

impl std::fmt::Debug for ArrowTunnelEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowTunnelEncoder").finish_non_exhaustive()
    }
}

impl ArrowTunnelEncoder {
    /// An encoder for batches of `schema` (which must follow the ODPS→Arrow mapping).
    pub fn new(schema: &SchemaRef, chunk_size: u32) -> Result<Self> {
        let mut ipc = StreamWriter::try_new(Vec::new(), schema)?;
        ipc.get_mut().clear(); // drop the schema message: the tunnel sends none
        Ok(ArrowTunnelEncoder {
            ipc,
            frame: FrameWriter::new(chunk_size),
        })
    }

    /// Append one batch to `out`.
    pub fn encode(&mut self, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<()> {
        self.ipc.write(batch)?;
        let bytes = std::mem::take(self.ipc.get_mut());
        self.frame.write(&bytes, out);
        Ok(())
    }

    /// Append the trailer to `out`.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.frame.finish(out);
    }
}

/// Decodes a framed Arrow tunnel body, pushed in any chunking, into batches.
pub struct ArrowTunnelDecoder {
    frame: FrameReader,
    ipc: StreamDecoder,
    payload: Vec<u8>,
    ready: VecDeque<RecordBatch>,
    schema: SchemaRef,
}

impl std::fmt::Debug for ArrowTunnelDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowTunnelDecoder").finish_non_exhaustive()
    }
}

impl ArrowTunnelDecoder {
    /// A decoder for batches of `schema` (the IPC bodies carry no types).
    pub fn new(schema: SchemaRef) -> Result<Self> {
        let w = StreamWriter::try_new(Vec::new(), &schema)?;
        let schema_msg = w.get_ref().clone();
        let mut ipc = StreamDecoder::new();
        let mut b = Buffer::from(schema_msg);
        if ipc.decode(&mut b)?.is_some() {
            return Err(Error::internal("arrow schema message produced a batch"));
        }
        Ok(ArrowTunnelDecoder {
            frame: FrameReader::new(),
            ipc,
            payload: Vec::new(),
            ready: VecDeque::new(),
            schema,
        })
    }

    /// The schema of the produced batches.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn drain_payload(&mut self) -> Result<()> {
        if self.payload.is_empty() {
            return Ok(());
        }
        let mut b = Buffer::from(std::mem::take(&mut self.payload));
        while !b.is_empty() {
            match self.ipc.decode(&mut b)? {
                Some(batch) => self.ready.push_back(self.fix_schema(batch)?),
                None => break,
            }
        }
        Ok(())
    }

    fn fix_schema(&self, batch: RecordBatch) -> Result<RecordBatch> {
        Ok(RecordBatch::try_new(
            self.schema.clone(),
            batch.columns().to_vec(),
        )?)
    }

    /// Feed more framed bytes.
    pub fn push(&mut self, data: &[u8]) -> Result<()> {
        self.frame.push(data, &mut self.payload)?;
        self.drain_payload()
    }

    /// A decoded batch, if one is ready.
    pub fn next_batch(&mut self) -> Option<RecordBatch> {
        self.ready.pop_front()
    }

    /// End of input: verify the trailer and return the remaining batches.
    pub fn finish(&mut self) -> Result<Vec<RecordBatch>> {
        self.frame.finish(&mut self.payload)?;
        // An end-of-stream marker flushes a message whose body is empty (0 rows, no
        // buffers) that the IPC decoder holds until it sees more bytes.
        self.payload
            .extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
        self.drain_payload()?;
        self.ipc
            .finish()
            .map_err(|e| Error::data(format!("arrow tunnel stream: {e}")))?;
        Ok(self.ready.drain(..).collect())
    }
}

/// Encode batches into one framed Arrow tunnel body.
pub fn encode_arrow_body(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    chunk_size: u32,
) -> Result<Vec<u8>> {
    let mut e = ArrowTunnelEncoder::new(schema, chunk_size)?;
    let mut out = Vec::new();
    for b in batches {
        e.encode(b, &mut out)?;
    }
    e.finish(&mut out);
    Ok(out)
}

/// Decode one framed Arrow tunnel body held in memory.
pub fn decode_arrow_body(schema: SchemaRef, data: &[u8]) -> Result<Vec<RecordBatch>> {
    let mut d = ArrowTunnelDecoder::new(schema)?;
    d.push(data)?;
    let mut out = Vec::new();
    while let Some(b) = d.next_batch() {
        out.push(b);
    }
    out.extend(d.finish()?);
    Ok(out)
}
