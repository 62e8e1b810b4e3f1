//! Whole-object gzip inflation with libdeflate.
//!
//! The awss3exporter writes each object as one gzip member of about 100 KB that inflates to about
//! 1 MB. Inflating such an object in one call into a buffer of its final size (libdeflate) runs at
//! about 2.5 times the speed of the streaming inflater (docs/performance.md, "Inflating gzip
//! objects"). This is a fast path only: it answers for a single-member object whose trailer's
//! size is believable and within the cap, and otherwise (several members, a size that wrapped
//! past 4 GiB or lies, corrupt data, a header checksum libdeflate would not check) declines, and
//! the caller streams the object through flate2 (zlib-rs), whose answer (the bytes or the error)
//! stands.
//!
//! Where both answer, the bytes are the same. libdeflate is laxer than zlib in one respect,
//! found by the differential fuzz target (`fuzz/fuzz_targets/gzip.rs`): it inflates a few
//! malformed deflate streams that zlib (and GNU gzip) refuse, such as one whose Huffman table
//! has a bit flipped in an entry the data never uses. It answers only when the bytes it made
//! match the trailer's CRC-32 and size, so such an object gives the bytes that were compressed.

use std::cell::RefCell;
use std::ptr::NonNull;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// Header (10 bytes) and trailer (8 bytes) of the smallest gzip member.
const GZIP_MIN_LEN: usize = 18;
/// Deflate cannot expand by more than 1032:1; a trailer claiming more is not believed.
const MAX_RATIO: usize = 1032;
/// FLG bit: a CRC16 of the header follows it (libdeflate skips it; flate2 checks it).
const FHCRC: u8 = 0x02;

/// One libdeflate decompressor (about 10 KB of tables), kept per thread.
struct Decompressor(NonNull<libdeflate_decompressor>);

impl Decompressor {
    fn new() -> Option<Decompressor> {
        // SAFETY: allocating a decompressor has no preconditions; NULL means out of memory.
        NonNull::new(unsafe { libdeflate_alloc_decompressor() }).map(Decompressor)
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: the pointer came from libdeflate_alloc_decompressor and is freed once.
        unsafe { libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

thread_local! {
    static DECOMPRESSOR: RefCell<Option<Decompressor>> = const { RefCell::new(None) };
}

/// The inflated bytes of `gz`, when it is one gzip member whose trailer size is at most `cap`
/// and which libdeflate inflates exactly, to the end of the input. `None`: stream it instead.
pub fn gunzip_whole(gz: &[u8], cap: u64) -> Option<Vec<u8>> {
    if gz.len() < GZIP_MIN_LEN || gz[3] & FHCRC != 0 {
        return None;
    }
    let trailer: [u8; 4] = gz[gz.len() - 4..].try_into().ok()?;
    let size = u32::from_le_bytes(trailer) as usize;
    if size == 0 || size as u64 > cap || size > gz.len().saturating_mul(MAX_RATIO) {
        return None;
    }
    DECOMPRESSOR.with(|cell| {
        let mut cell = cell.try_borrow_mut().ok()?;
        if cell.is_none() {
            *cell = Decompressor::new();
        }
        let decompressor = cell.as_ref()?;
        let mut out: Vec<u8> = Vec::with_capacity(size);
        let (mut read, mut written) = (0usize, 0usize);
        // SAFETY: the input pointer and length describe `gz`; the output pointer has `size` bytes
        // of capacity, of which libdeflate writes at most `size` and reports how many in
        // `written`; the decompressor is this thread's own, used by one call at a time.
        let result = unsafe {
            libdeflate_gzip_decompress_ex(
                decompressor.0.as_ptr(),
                gz.as_ptr().cast(),
                gz.len(),
                out.as_mut_ptr().cast(),
                size,
                &mut read,
                &mut written,
            )
        };
        if result != libdeflate_result_LIBDEFLATE_SUCCESS || read != gz.len() || written != size {
            return None;
        }
        // SAFETY: libdeflate initialised the first `written` (= size, the capacity) bytes.
        unsafe { out.set_len(written) };
        Some(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn gzip(data: &[u8], level: u32) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn flate2(gz: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(gz).read_to_end(&mut out).map(|_| out)
    }

    fn text(n: usize) -> Vec<u8> {
        let line = b"{\"traceId\":\"5b8efff798038103d269b633813fc60c\"}\n";
        line.iter().copied().cycle().take(n).collect()
    }

    #[test]
    fn inflates_one_member_as_flate2_does() {
        for (len, level) in [(1, 1), (1000, 6), (200_000, 1), (1 << 20, 9)] {
            let data = text(len);
            let gz = gzip(&data, level);
            assert_eq!(gunzip_whole(&gz, u64::MAX).as_deref(), Some(&data[..]), "{len} bytes, level {level}");
            assert_eq!(flate2(&gz).unwrap(), data);
        }
    }

    /// Each case is declined (`None`), so the streaming inflater answers for it.
    #[test]
    fn declines_what_it_cannot_answer_for() {
        let data = text(10_000);
        let gz = gzip(&data, 6);
        let mut two = gz.clone();
        two.extend(gzip(&data, 6));
        let mut same_twice = gzip(b"ab", 6);
        same_twice.extend(gzip(b"ab", 6));
        let mut trailing = gz.clone();
        trailing.extend([0u8; 8]);
        let mut lying = gz.clone();
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&5u32.to_le_bytes());
        let mut bomb_claim = gz.clone();
        bomb_claim[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut flipped = gz.clone();
        flipped[n / 2] ^= 0x55;
        let mut header_crc = gzip(&data, 6);
        header_crc[3] |= FHCRC;
        let cases: [(&str, &[u8], u64); 10] = [
            ("two members", &two, u64::MAX),
            ("two equal members", &same_twice, u64::MAX),
            ("trailing zeros", &trailing, u64::MAX),
            ("trailer smaller than the data", &lying, u64::MAX),
            ("trailer past the possible ratio", &bomb_claim, u64::MAX),
            ("corrupt deflate data", &flipped, u64::MAX),
            ("header checksum flag", &header_crc, u64::MAX),
            ("over the cap", &gz, 9_999),
            ("truncated", &gz[..n - 1], u64::MAX),
            ("empty content", &gzip(b"", 6), u64::MAX),
        ];
        for (what, input, cap) in cases {
            assert_eq!(gunzip_whole(input, cap), None, "{what}");
        }
        assert_eq!(gunzip_whole(&gz, 10_000).as_deref(), Some(&data[..]), "exactly at the cap");
        assert_eq!(flate2(&two).unwrap().len(), 20_000);
    }

    /// A stream zlib refuses ("invalid literal/length code", as GNU gzip does) that libdeflate
    /// inflates: the fuzz target's find, kept in its corpus after the mode byte. The bytes match
    /// the trailer's CRC-32 and size.
    #[test]
    fn laxer_than_zlib_only_where_the_trailer_checks_out() {
        let gz = &include_bytes!("../../fuzz/corpus/gzip/zlib-refuses-trailer-matches")[1..];
        assert!(flate2(gz).is_err());
        let out = gunzip_whole(gz, u64::MAX).expect("libdeflate inflates it");
        let mut crc = flate2::Crc::new();
        crc.update(&out);
        let n = gz.len();
        assert_eq!(crc.sum().to_le_bytes(), gz[n - 8..n - 4]);
        assert_eq!((out.len() as u32).to_le_bytes(), gz[n - 4..]);
    }
}
