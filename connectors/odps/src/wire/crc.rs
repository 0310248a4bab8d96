//! CRC-32C (Castagnoli) and the checksum feeding rules of the record stream (spec §3.3).
//!
//! Each record's checksum is a fresh CRC-32C over the "CRC bytes" of its non-null
//! fields (the column number as LE i32, then the value's LE bytes or raw bytes); the
//! stream checksum is a CRC-32C over the LE u32 of every record checksum in order.

/// CRC-32C of `data` (init 0xFFFFFFFF, final xor, reflected 0x82F63B78).
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// Continue a CRC-32C over more bytes.
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}

/// Accumulates the CRC bytes of one record into a scratch buffer, then hashes once.
#[derive(Debug, Default, Clone)]
pub struct RecordCrc {
    buf: Vec<u8>,
}

impl RecordCrc {
    /// A fresh, empty record checksum.
    pub fn new() -> Self {
        Self::default()
    }
    /// Forget the bytes fed so far (start the next record).
    #[inline]
    pub fn reset(&mut self) {
        self.buf.clear();
    }
    /// Feed the column number (LE i32) that precedes each non-null field.
    #[inline]
    pub fn update_col(&mut self, col_no: u32) {
        self.buf.extend_from_slice(&(col_no as i32).to_le_bytes());
    }
    /// Feed an integer-like value (bigint..tinyint, datetime, date, months, seconds).
    #[inline]
    pub fn update_i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Feed a 32-bit value (the nanoseconds of a timestamp or interval).
    #[inline]
    pub fn update_i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Feed a boolean (one byte 0/1).
    #[inline]
    pub fn update_bool(&mut self, v: bool) {
        self.buf.push(v as u8);
    }
    /// Feed a double (LE f64).
    #[inline]
    pub fn update_f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Feed a float (LE f32).
    #[inline]
    pub fn update_f32(&mut self, v: f32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Feed raw bytes (strings, binary, decimal text).
    #[inline]
    pub fn update_bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    /// The CRC-32C of everything fed since the last reset.
    #[inline]
    pub fn value(&self) -> u32 {
        crc32c(&self.buf)
    }
}

/// The stream checksum: CRC-32C over the LE u32 of every record checksum.
#[derive(Debug, Clone, Copy)]
pub struct StreamCrc {
    crc: u32,
}

impl Default for StreamCrc {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamCrc {
    /// A fresh stream checksum.
    pub fn new() -> Self {
        StreamCrc { crc: 0 }
    }
    /// Feed one record checksum.
    #[inline]
    pub fn update(&mut self, record_crc: u32) {
        self.crc = crc32c_append(self.crc, &record_crc.to_le_bytes());
    }
    /// The checksum of all records fed so far.
    pub fn value(&self) -> u32 {
        self.crc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c_append(crc32c(b"1234"), b"56789"), 0xE306_9283);
    }

    #[test]
    fn worked_example_record_and_stream() {
        // spec §3.4: record 1 of (1,'a'),(2,'b'),(3,NULL)
        let mut r = RecordCrc::new();
        r.update_col(1);
        r.update_i64(1);
        r.update_col(2);
        r.update_bytes(b"a");
        assert_eq!(r.value(), 0x5654_88EA);
        let mut s = StreamCrc::new();
        s.update(0x5654_88EA);
        r.reset();
        r.update_col(1);
        r.update_i64(2);
        r.update_col(2);
        r.update_bytes(b"b");
        s.update(r.value());
        r.reset();
        r.update_col(1);
        r.update_i64(3);
        // the spec's label says 0xC1560804; its bytes `84 cc d7 8a 0c` say 0xC155E604
        assert_eq!(r.value(), 0xC155_E604);
        s.update(r.value());
        assert_eq!(s.value(), 0xAEA8_3487);
    }
}
