//! Whole-body compression of tunnel uploads and downloads (spec §1.4), keyed by the
//! HTTP `Content-Encoding` / `Accept-Encoding` values.

use std::io::{Read, Write};

use ferry_core::{Error, Result};

/// A tunnel content coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// zlib-wrapped deflate (`deflate`).
    Deflate,
    /// zstd frame (`zstd`).
    Zstd,
    /// LZ4 frame (`x-lz4-frame`).
    Lz4Frame,
    /// LZ4 frame as sent by Arrow writers (`x-odps-lz4-frame`).
    OdpsLz4Frame,
    /// Snappy framing format (`x-snappy-framed`).
    SnappyFramed,
}

impl Compression {
    /// All codings, in the order a server prefers them.
    pub const ALL: [Compression; 5] = [
        Compression::Zstd,
        Compression::Lz4Frame,
        Compression::OdpsLz4Frame,
        Compression::SnappyFramed,
        Compression::Deflate,
    ];

    /// The coding named by an HTTP header value (case-insensitive), if known.
    pub fn from_header(value: &str) -> Option<Compression> {
        match value.trim().to_ascii_lowercase().as_str() {
            "deflate" => Some(Compression::Deflate),
            "zstd" => Some(Compression::Zstd),
            "x-lz4-frame" => Some(Compression::Lz4Frame),
            "x-odps-lz4-frame" => Some(Compression::OdpsLz4Frame),
            "x-snappy-framed" => Some(Compression::SnappyFramed),
            _ => None,
        }
    }

    /// The first coding of an `Accept-Encoding` list that the tunnel speaks.
    pub fn from_accept(value: &str) -> Option<Compression> {
        value
            .split(',')
            .filter_map(|v| Compression::from_header(v.split(';').next().unwrap_or("")))
            .next()
    }

    /// The coding for a client's `compress_algo`-style name (`zlib`, `zstd`, `lz4`, `snappy`).
    pub fn from_algo(name: &str) -> Option<Compression> {
        match name.trim().to_ascii_lowercase().as_str() {
            "zlib" | "deflate" => Some(Compression::Deflate),
            "zstd" => Some(Compression::Zstd),
            "lz4" => Some(Compression::Lz4Frame),
            "snappy" => Some(Compression::SnappyFramed),
            other => Compression::from_header(other),
        }
    }

    /// The HTTP header value.
    pub fn header_value(self) -> &'static str {
        match self {
            Compression::Deflate => "deflate",
            Compression::Zstd => "zstd",
            Compression::Lz4Frame => "x-lz4-frame",
            Compression::OdpsLz4Frame => "x-odps-lz4-frame",
            Compression::SnappyFramed => "x-snappy-framed",
        }
    }

    /// A reader that decompresses `inner`.
    pub fn decoder<'a, R: Read + 'a>(self, inner: R) -> Box<dyn Read + 'a> {
        match self {
            Compression::Deflate => Box::new(flate2::read::ZlibDecoder::new(inner)),
            Compression::Zstd => match zstd::stream::read::Decoder::new(inner) {
                Ok(d) => Box::new(d),
                Err(e) => Box::new(FailingReader(Some(e))),
            },
            Compression::Lz4Frame | Compression::OdpsLz4Frame => {
                Box::new(lz4_flex::frame::FrameDecoder::new(inner))
            }
            Compression::SnappyFramed => Box::new(snap::read::FrameDecoder::new(inner)),
        }
    }

    /// Compress a whole buffer.
    pub fn compress(self, data: &[u8]) -> Result<Vec<u8>> {
        let io = |e: std::io::Error| Error::io(format!("{} compression", self.header_value()), e);
        match self {
            Compression::Deflate => {
                let mut e = flate2::write::ZlibEncoder::new(
                    Vec::with_capacity(data.len() / 2),
                    flate2::Compression::fast(),
                );
                e.write_all(data).map_err(io)?;
                e.finish().map_err(io)
            }
            Compression::Zstd => zstd::bulk::compress(data, 1).map_err(io),
            Compression::Lz4Frame | Compression::OdpsLz4Frame => {
                let mut e = lz4_flex::frame::FrameEncoder::new(Vec::with_capacity(data.len() / 2));
                e.write_all(data).map_err(io)?;
                e.finish()
                    .map_err(|e| Error::data(format!("lz4 frame compression: {e}")))
            }
            Compression::SnappyFramed => {
                let mut e = snap::write::FrameEncoder::new(Vec::with_capacity(data.len() / 2));
                e.write_all(data).map_err(io)?;
                e.into_inner()
                    .map_err(|e| Error::data(format!("snappy compression: {e}")))
            }
        }
    }

    /// Decompress a whole buffer.
    pub fn decompress(self, data: &[u8]) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(data.len() * 3);
        self.decoder(data)
            .read_to_end(&mut out)
            .map_err(|e| Error::data(format!("{} body: {e}", self.header_value())))?;
        Ok(out)
    }
}

struct FailingReader(Option<std::io::Error>);

impl Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| std::io::Error::other("decoder failed")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_magic() {
        let data: Vec<u8> = (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for c in Compression::ALL {
            let z = c.compress(&data).unwrap();
            assert!(z.len() < data.len(), "{c:?}");
            assert_eq!(c.decompress(&z).unwrap(), data, "{c:?}");
            let magic: &[u8] = match c {
                Compression::Deflate => &[0x78],
                Compression::Zstd => &[0x28, 0xb5, 0x2f, 0xfd],
                Compression::Lz4Frame | Compression::OdpsLz4Frame => &[0x04, 0x22, 0x4d, 0x18],
                Compression::SnappyFramed => {
                    &[0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]
                }
            };
            assert!(z.starts_with(magic), "{c:?}");
            assert_eq!(Compression::from_header(c.header_value()), Some(c));
        }
        assert_eq!(c_empty(), Vec::<u8>::new());
    }

    fn c_empty() -> Vec<u8> {
        let z = Compression::Zstd.compress(&[]).unwrap();
        Compression::Zstd.decompress(&z).unwrap()
    }

    #[test]
    fn accept_lists() {
        assert_eq!(
            Compression::from_accept("gzip, x-lz4-frame"),
            Some(Compression::Lz4Frame)
        );
        assert_eq!(Compression::from_accept("gzip, identity"), None);
        assert!(Compression::Deflate.decompress(b"not zlib").is_err());
    }
}
