//! An insert-only order-statistics multiset of finite `f64`s: the per-interval structure the
//! median and truncation policies query for "k-th smallest" and "how many are at most x".
//!
//! It is a sorted list cut into blocks of at most [`MAX_BLOCK`] values. Pools only ever grow
//! (a run joins the pool at interval `s` once, with values that are fixed from then on), so
//! no removal is needed. Costs: insert, rank and select are `O(n / MAX_BLOCK + MAX_BLOCK)`
//! (about 200 comparisons at 10,000 values), done as branch-free counting scans over
//! contiguous arrays rather than binary searches: with one structure per interval the data
//! is mostly out of cache, and a binary search pays one dependent cache miss per step while
//! a scan's loads are independent and overlap. No allocation per query.

/// Largest block before it is split in two: a block is a handful of cache lines, so scanning
/// it whole costs little more than the memory latency of touching it, while the list of
/// blocks stays short (about 100 at 10,000 values).
pub const MAX_BLOCK: usize = 128;

/// A sorted multiset of finite floats supporting insert, select and rank.
#[derive(Debug, Clone, Default)]
pub struct OrdMultiset {
    /// Non-empty sorted blocks; the concatenation is sorted.
    blocks: Vec<Vec<f64>>,
    /// Each block's largest value and length, kept apart from the blocks so that locating a
    /// block reads a few contiguous cache lines instead of one allocation per block.
    maxes: Vec<f64>,
    lens: Vec<u32>,
    len: usize,
}

impl OrdMultiset {
    /// An empty multiset.
    pub fn new() -> OrdMultiset {
        OrdMultiset::default()
    }

    /// Number of values held (with multiplicity).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts `x`, which must be finite (callers filter NaN and ±inf first, because those
    /// never count as metric values and would break the total order).
    pub fn insert(&mut self, x: f64) {
        debug_assert!(x.is_finite(), "OrdMultiset holds finite values only");
        self.len += 1;
        if self.blocks.is_empty() {
            let mut b = Vec::with_capacity(64);
            b.push(x);
            self.blocks.push(b);
            self.maxes.push(x);
            self.lens.push(1);
            return;
        }
        // The first block whose largest value is > x takes it; equal values go after
        // existing copies, so duplicates never straddle blocks out of order.
        let bi = count_where(&self.maxes, |m| m <= x).min(self.blocks.len() - 1);
        let block = &mut self.blocks[bi];
        let at = count_where(block, |y| y <= x);
        block.insert(at, x);
        self.lens[bi] += 1;
        if x > self.maxes[bi] {
            self.maxes[bi] = x;
        }
        if block.len() > MAX_BLOCK {
            let tail = block.split_off(block.len() / 2);
            let head_max = *block.last().expect("split keeps both halves non-empty");
            self.maxes.insert(bi + 1, self.maxes[bi]);
            self.lens.insert(bi + 1, tail.len() as u32);
            self.maxes[bi] = head_max;
            self.lens[bi] = block.len() as u32;
            self.blocks.insert(bi + 1, tail);
        }
    }

    /// Number of values strictly less than `x`.
    pub fn count_less(&self, x: f64) -> usize {
        self.count_by(|y| y < x)
    }

    /// Number of values less than or equal to `x`.
    pub fn count_le(&self, x: f64) -> usize {
        self.count_by(|y| y <= x)
    }

    /// Counts the prefix of the sorted order on which `below` holds (it must be monotone).
    fn count_by(&self, below: impl Fn(f64) -> bool) -> usize {
        // Blocks entirely below are found by binary search on their maxima; the next block
        // holds the boundary.
        let bi = count_where(&self.maxes, &below);
        let whole: usize = self.lens[..bi].iter().map(|&l| l as usize).sum();
        match self.blocks.get(bi) {
            Some(b) => whole + count_where(b, &below),
            None => whole,
        }
    }

    /// The `k`-th smallest value, 0-based, or `None` if `k >= len`.
    pub fn select(&self, mut k: usize) -> Option<f64> {
        for (bi, &l) in self.lens.iter().enumerate() {
            let l = l as usize;
            if k < l {
                return Some(self.blocks[bi][k]);
            }
            k -= l;
        }
        None
    }

    /// The `k`-th smallest value, 0-based, of this multiset with one copy of `removed` taken
    /// out (`removed` must be present). This is how a run is left out of its own pool without
    /// a removal operation: it shifts indices at or after `removed`'s position by one.
    pub fn select_without(&self, k: usize, removed: f64) -> Option<f64> {
        let pos = self.count_less(removed);
        if k < pos {
            self.select(k)
        } else {
            self.select(k + 1)
        }
    }
}

/// How many values of a sorted slice satisfy a monotone predicate (the partition point),
/// by counting: branch-free and vectorisable, with independent loads.
fn count_where(sorted: &[f64], pred: impl Fn(f64) -> bool) -> usize {
    sorted.iter().map(|&y| usize::from(pred(y))).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn agrees_with_a_sorted_vec(xs in proptest::collection::vec(-50i32..50, 0..3000), probe in -60i32..60) {
            let mut set = OrdMultiset::new();
            let mut sorted: Vec<f64> = Vec::new();
            for &x in &xs {
                let x = f64::from(x) / 4.0;
                set.insert(x);
                let at = sorted.partition_point(|&y| y <= x);
                sorted.insert(at, x);
            }
            prop_assert_eq!(set.len(), sorted.len());
            for (k, &v) in sorted.iter().enumerate() {
                prop_assert_eq!(set.select(k), Some(v));
            }
            prop_assert_eq!(set.select(sorted.len()), None);
            let p = f64::from(probe) / 4.0;
            prop_assert_eq!(set.count_less(p), sorted.iter().filter(|&&y| y < p).count());
            prop_assert_eq!(set.count_le(p), sorted.iter().filter(|&&y| y <= p).count());
            if let Some(&removed) = sorted.get(sorted.len() / 3) {
                let mut without = sorted.clone();
                let i = without.iter().position(|&y| y == removed).unwrap();
                without.remove(i);
                for (k, &v) in without.iter().enumerate() {
                    prop_assert_eq!(set.select_without(k, removed), Some(v));
                }
            }
        }
    }

    #[test]
    fn splits_keep_order_with_many_duplicates() {
        let mut set = OrdMultiset::new();
        for i in 0..5000 {
            set.insert(f64::from(i % 3));
        }
        assert!(set.blocks.len() > 1);
        assert_eq!(set.count_less(1.0), 1667);
        assert_eq!(set.count_le(1.0), 3334);
        assert_eq!(set.select(1666), Some(0.0));
        assert_eq!(set.select(1667), Some(1.0));
        assert!(set.blocks.iter().all(|b| b.len() <= MAX_BLOCK));
        for (i, b) in set.blocks.iter().enumerate() {
            assert_eq!(set.maxes[i], *b.last().unwrap());
            assert_eq!(set.lens[i] as usize, b.len());
        }
    }
}
