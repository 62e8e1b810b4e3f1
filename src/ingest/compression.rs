//! Content sniffing and capped decompression.
//!
//! Every decompressor in spanlens goes through [`decompress`], which stops at a configured size:
//! a decompression bomb is an error naming the input, never an out-of-memory. Formats are told
//! apart by their first bytes, never by file name.

use std::borrow::Cow;
use std::io::Read;

use crate::error::DecodeError;

pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
pub const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];
pub const UTF8_BOM: [u8; 3] = [0xef, 0xbb, 0xbf];

/// Whole-object compression, as sniffed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// Sniff the compression of `bytes` from its magic number.
    pub fn sniff(bytes: &[u8]) -> Compression {
        if bytes.starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else if bytes.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Decompress `bytes` (sniffed as `compression`) into at most `cap` bytes.
///
/// Gzip input may hold several members and zstd input several frames; all are read. A gzip
/// object of one member is inflated in one call ([`super::inflate`]), others are streamed.
pub fn decompress<'a>(
    source: &str,
    bytes: &'a [u8],
    compression: Compression,
    cap: u64,
) -> Result<Cow<'a, [u8]>, DecodeError> {
    match compression {
        Compression::None => return Ok(Cow::Borrowed(bytes)),
        Compression::Gzip => {
            if let Some(whole) = super::inflate::gunzip_whole(bytes, cap) {
                return Ok(Cow::Owned(whole));
            }
        }
        Compression::Zstd => {}
    }
    let reader = decoder(source, compression, bytes)?;
    read_capped(source, reader, compression, cap, bytes.len()).map(Cow::Owned)
}

/// A reader that decompresses `reader` (all gzip members, all zstd frames). Not capped: callers
/// read through `take(cap + 1)` and report [`limit_error`].
pub(crate) fn decoder<'r>(
    source: &str,
    compression: Compression,
    reader: impl Read + Send + 'r,
) -> Result<Box<dyn Read + Send + 'r>, DecodeError> {
    Ok(match compression {
        Compression::None => Box::new(reader),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(reader).map_err(|e| {
            DecodeError::new(source, None, "corrupt_compression", format!("cannot start zstd decoder: {e}"))
        })?),
    })
}

/// A read through a decompressor failed after `decoded` output bytes.
pub(crate) fn read_error(source: &str, compression: Compression, decoded: u64, e: &std::io::Error) -> DecodeError {
    let what = if e.kind() == std::io::ErrorKind::UnexpectedEof { "truncated" } else { "corrupt" };
    let (reason, message) = match compression {
        Compression::None => ("unreadable", format!("read failed after {decoded} bytes: {e}")),
        c => ("corrupt_compression", format!("{what} {} data after {decoded} decompressed bytes: {e}", c.name())),
    };
    DecodeError::new(source, Some(crate::error::Position::Offset(decoded)), reason, message)
}

/// The decompressed size passed `cap`. `compressed` is the input size, when known.
pub(crate) fn limit_error(source: &str, compression: Compression, cap: u64, compressed: Option<usize>) -> DecodeError {
    let from = compressed.map(|n| format!(" (from {n} compressed bytes)")).unwrap_or_default();
    DecodeError::new(
        source,
        None,
        "decompression_limit",
        format!(
            "{} data decompresses to more than {}{from}; raise --max-decompressed-size if this input is genuine",
            compression.name(),
            crate::util::human_bytes(cap)
        ),
    )
}

fn read_capped(
    source: &str,
    reader: impl Read,
    compression: Compression,
    cap: u64,
    compressed_len: usize,
) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::with_capacity(compressed_len.saturating_mul(4).min(64 << 20));
    let mut limited = reader.take(cap.saturating_add(1));
    if let Err(e) = limited.read_to_end(&mut out) {
        return Err(read_error(source, compression, out.len() as u64, &e));
    }
    if out.len() as u64 > cap {
        return Err(limit_error(source, compression, cap, Some(compressed_len)));
    }
    Ok(out)
}

/// Decompress one zstd frame payload (the fileexporter's per-message framing).
pub fn decompress_zstd_payload(source: &str, payload: &[u8], cap: u64, offset: u64) -> Result<Vec<u8>, DecodeError> {
    decompress(source, payload, Compression::Zstd, cap).map(Cow::into_owned).map_err(|mut e| {
        e.position = Some(crate::error::Position::Offset(offset));
        e
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn sniffs_magic_bytes() {
        assert_eq!(Compression::sniff(&gzip(b"x")), Compression::Gzip);
        assert_eq!(Compression::sniff(&zstd::encode_all(&b"x"[..], 1).unwrap()), Compression::Zstd);
        assert_eq!(Compression::sniff(b"{\"resourceSpans\":[]}"), Compression::None);
    }

    #[test]
    fn reads_multi_member_gzip_and_multi_frame_zstd() {
        let mut two = gzip(b"ab");
        two.extend(gzip(b"cd"));
        assert_eq!(decompress("t", &two, Compression::Gzip, 100).unwrap().as_ref(), b"abcd");
        let mut frames = zstd::encode_all(&b"ab"[..], 1).unwrap();
        frames.extend(zstd::encode_all(&b"cd"[..], 1).unwrap());
        assert_eq!(decompress("t", &frames, Compression::Zstd, 100).unwrap().as_ref(), b"abcd");
    }

    #[test]
    fn cap_stops_a_bomb() {
        let bomb = gzip(&vec![b'a'; 1 << 20]);
        let err = decompress("bomb.gz", &bomb, Compression::Gzip, 1000).unwrap_err();
        assert_eq!(err.reason, "decompression_limit");
        assert_eq!(decompress("ok.gz", &bomb, Compression::Gzip, 1 << 20).unwrap().len(), 1 << 20);
    }

    #[test]
    fn truncated_input_is_an_error() {
        let data = gzip(&vec![b'x'; 10_000]);
        let err = decompress("t.gz", &data[..data.len() / 2], Compression::Gzip, 1 << 20).unwrap_err();
        assert_eq!(err.reason, "corrupt_compression");
        let data = zstd::encode_all(&vec![7u8; 100_000][..], 3).unwrap();
        let err = decompress("t.zst", &data[..data.len() - 3], Compression::Zstd, 1 << 20).unwrap_err();
        assert_eq!(err.reason, "corrupt_compression");
    }
}
