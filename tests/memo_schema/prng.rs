//! A small seeded generator (SplitMix64): the suite must produce the same messages on every
//! run and machine, and needs nothing a dev-dependency's RNG would add.

pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Prng {
        Prng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        low + self.next_u64() % (high - low + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    /// One of `items`, which are never empty (a const-sized array of at least one).
    pub fn pick<'a, T, const N: usize>(&mut self, items: &'a [T; N]) -> &'a T {
        const { assert!(N > 0, "pick from an empty array") };
        let i = self.range(0, N.saturating_sub(1) as u64) as usize;
        &items[i % N]
    }

    /// One of `items`, or `None` when there are none.
    pub fn pick_from<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let i = self.range(0, items.len().saturating_sub(1) as u64) as usize;
        items.get(i)
    }
}
