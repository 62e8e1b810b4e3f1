//! Whole-object gzip inflation (libdeflate) against flate2's streaming inflater (zlib-rs): where
//! both inflate, the same bytes, within the cap; where only libdeflate does (it is laxer on a few
//! malformed streams), bytes that match the trailer's CRC-32 and size; never a panic. The first byte
//! chooses between raw input (mutated gzip from the corpus) and input compressed here (one member
//! or two, optionally with one byte flipped), so valid members are reached every run.
#![no_main]

use std::io::{Read, Write};

use libfuzzer_sys::fuzz_target;
use spanlens_fuzz::ingest::inflate::gunzip_whole;

fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    enc.write_all(data).expect("writing to a Vec");
    enc.finish().expect("writing to a Vec")
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let compressed_here = mode & 1 == 1;
    let two_members = mode & 2 == 2;
    let flip = mode & 4 == 4;
    let gz = if compressed_here {
        let half = rest.len() / 2;
        let mut gz = if two_members { gzip(&rest[..half], 1) } else { Vec::new() };
        gz.extend(gzip(if two_members { &rest[half..] } else { rest }, u32::from(mode >> 4) % 10));
        if flip && !gz.is_empty() {
            let at = usize::from(mode) * 7 % gz.len();
            gz[at] ^= 0x10;
        }
        gz
    } else {
        rest.to_vec()
    };
    let cap = if mode & 8 == 8 { rest.len() as u64 / 2 } else { u64::MAX };
    let fast = gunzip_whole(&gz, cap);
    if let Some(fast) = &fast {
        let mut reference = Vec::new();
        let read = flate2::read::MultiGzDecoder::new(&gz[..]).read_to_end(&mut reference);
        if read.is_ok() {
            assert_eq!(fast, &reference);
        } else {
            let mut crc = flate2::Crc::new();
            crc.update(fast);
            let n = gz.len();
            assert_eq!(crc.sum().to_le_bytes(), gz[n - 8..n - 4], "libdeflate's bytes fail the CRC-32");
            assert_eq!((fast.len() as u32).to_le_bytes(), gz[n - 4..], "libdeflate's bytes fail the size");
        }
        assert!(fast.len() as u64 <= cap);
    }
    if compressed_here && !two_members && !flip && cap == u64::MAX && !rest.is_empty() {
        assert_eq!(fast.as_deref(), Some(rest), "a valid single member must take the fast path");
    }
});
