//! Streaming compression of an upload body (the wire layer's [`Compression`] codings,
//! produced incrementally so a block is never held uncompressed and compressed at once).

use std::io::Write;

use ferry_core::{Error, Result};

use crate::wire::compress::Compression;

/// An incremental compressor: feed bytes, take whatever compressed output is ready.
pub enum StreamCompressor {
    /// zlib-wrapped deflate.
    Deflate(flate2::write::ZlibEncoder<Vec<u8>>),
    /// zstd frame.
    Zstd(zstd::stream::write::Encoder<'static, Vec<u8>>),
    /// LZ4 frame.
    Lz4(Box<lz4_flex::frame::FrameEncoder<Vec<u8>>>),
    /// Snappy framing format.
    Snappy(Box<snap::write::FrameEncoder<Vec<u8>>>),
}

impl std::fmt::Debug for StreamCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamCompressor")
    }
}

fn io(c: Compression) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::io(format!("{} compression", c.header_value()), e)
}

impl StreamCompressor {
    /// A compressor for coding `c`.
    pub fn new(c: Compression) -> Result<StreamCompressor> {
        Ok(match c {
            Compression::Deflate => StreamCompressor::Deflate(flate2::write::ZlibEncoder::new(
                Vec::new(),
                flate2::Compression::fast(),
            )),
            Compression::Zstd => StreamCompressor::Zstd(
                zstd::stream::write::Encoder::new(Vec::new(), 1).map_err(io(c))?,
            ),
            Compression::Lz4Frame | Compression::OdpsLz4Frame => {
                StreamCompressor::Lz4(Box::new(lz4_flex::frame::FrameEncoder::new(Vec::new())))
            }
            Compression::SnappyFramed => {
                StreamCompressor::Snappy(Box::new(snap::write::FrameEncoder::new(Vec::new())))
            }
        })
    }

    /// Compress `data`; returns the compressed bytes ready so far (maybe none).
    pub fn write(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        let r = match self {
            StreamCompressor::Deflate(e) => e.write_all(data).map(|_| std::mem::take(e.get_mut())),
            StreamCompressor::Zstd(e) => e.write_all(data).map(|_| std::mem::take(e.get_mut())),
            StreamCompressor::Lz4(e) => e.write_all(data).map(|_| std::mem::take(e.get_mut())),
            StreamCompressor::Snappy(e) => e.write_all(data).map(|_| std::mem::take(e.get_mut())),
        };
        r.map_err(|e| Error::io("upload compression", e))
    }

    /// End the stream; returns the remaining compressed bytes.
    pub fn finish(self) -> Result<Vec<u8>> {
        let ctx = |e: std::io::Error| Error::io("upload compression", e);
        match self {
            StreamCompressor::Deflate(e) => e.finish().map_err(ctx),
            StreamCompressor::Zstd(e) => e.finish().map_err(ctx),
            StreamCompressor::Lz4(e) => (*e)
                .finish()
                .map_err(|e| Error::data(format!("lz4 frame compression: {e}"))),
            StreamCompressor::Snappy(e) => (*e)
                .into_inner()
                .map_err(|e| Error::data(format!("snappy compression: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_output_decodes_with_the_wire_decoder() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for c in Compression::ALL {
            let mut s = StreamCompressor::new(c).unwrap();
            let mut out = Vec::new();
            for piece in data.chunks(10_000) {
                out.extend(s.write(piece).unwrap());
            }
            out.extend(s.finish().unwrap());
            assert_eq!(c.decompress(&out).unwrap(), data, "{c:?}");
        }
    }
}
