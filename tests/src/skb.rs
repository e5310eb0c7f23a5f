//! The `struct __sk_buff` that `BPF_PROG_TEST_RUN` takes as context in and out. Only the fields
//! the kernel lets a test set are exposed.
pub const SIZE: usize = 192;
const MARK: usize = 8;
const PRIORITY: usize = 32;
const WIRE_LEN: usize = 160;

#[derive(Clone, Debug)]
pub struct SkbCtx(pub [u8; SIZE]);

impl Default for SkbCtx {
    fn default() -> Self {
        Self([0; SIZE])
    }
}

impl SkbCtx {
    pub fn with_mark(mut self, mark: u32) -> Self {
        self.put(MARK, mark);
        self
    }

    pub fn with_priority(mut self, priority: u32) -> Self {
        self.put(PRIORITY, priority);
        self
    }

    pub fn with_wire_len(mut self, len: u32) -> Self {
        self.put(WIRE_LEN, len);
        self
    }

    pub fn priority(&self) -> u32 {
        self.get(PRIORITY)
    }

    fn put(&mut self, at: usize, v: u32) {
        self.0[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }

    fn get(&self, at: usize) -> u32 {
        u32::from_ne_bytes([self.0[at], self.0[at + 1], self.0[at + 2], self.0[at + 3]])
    }
}
