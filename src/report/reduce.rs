//! Bounded forms of long metric series for the report's plots, each fed one value at a time
//! and holding at most a few buckets of them, so a sweep of millions of values makes a page
//! of a few hundred kilobytes:
//!
//! - [`Lttb`]: a run's learning curve reduced to at most a given number of points by
//!   largest-triangle-three-buckets (Steinarsson, "Downsampling Time Series for Visual
//!   Representation", 2013): the first and last points are kept, the rest split into equal
//!   buckets, and from each bucket the point that makes the largest triangle with the point
//!   kept before it and the mean of the next bucket. Peaks and dips survive; a series no
//!   longer than the budget is kept whole.
//! - [`BestOverTime`]: the best value so far against time, kept per time bucket (the last
//!   improvement in each), which is the exact step function at the plot's resolution.
//!
//! Hand-written: the LTTB crates take the whole series in memory, and these are streamed
//! from the history.

/// A streaming largest-triangle-three-buckets reduction of a series of a known length.
#[derive(Debug)]
pub struct Lttb {
    /// Whether the series is short enough to keep whole.
    whole: bool,
    /// Points kept at most.
    keep: usize,
    /// Middle points (all but the first and last), split into `keep - 2` buckets.
    middle: usize,
    /// Points seen so far.
    seen: usize,
    /// The points kept so far.
    out: Vec<(f64, f64)>,
    /// The most recent point, held back: it is the series' last point if no other comes.
    held: Option<(f64, f64)>,
    /// The bucket to choose from once `next` is complete.
    cur: Vec<(f64, f64)>,
    /// The bucket being filled; its mean is the third corner of `cur`'s triangles.
    next: Vec<(f64, f64)>,
    /// Index of `next`'s bucket, and the index of the first point past it.
    bucket: usize,
    end: usize,
}

impl Lttb {
    /// A reduction of a series of `n` points to at most `keep` (at least 3 are kept when the
    /// series is longer than `keep`).
    pub fn new(n: usize, keep: usize) -> Lttb {
        let keep = keep.max(3);
        let whole = n <= keep;
        let middle = n.saturating_sub(2);
        Lttb {
            whole,
            keep,
            middle,
            seen: 0,
            out: Vec::with_capacity(keep.min(n)),
            held: None,
            cur: Vec::new(),
            next: Vec::new(),
            bucket: 0,
            end: Lttb::bucket_end(middle, keep, 0),
        }
    }

    /// The index of the first point after middle bucket `i`: bucket `i` holds the points
    /// from `1 + i * middle / (keep - 2)` on, in integers (the reference's floating-point
    /// `floor(i * every)` drops the last middle point when `(keep - 2) * every` rounds down).
    fn bucket_end(middle: usize, keep: usize, i: usize) -> usize {
        (i + 1) * middle / (keep - 2) + 1
    }

    /// Adds the next point of the series.
    pub fn push(&mut self, x: f64, y: f64) {
        let k = self.seen;
        self.seen += 1;
        if self.whole || k == 0 {
            self.out.push((x, y));
            return;
        }
        // The point before this one was not the last: it is a middle point, index k - 1.
        if let Some(p) = self.held.replace((x, y)) {
            self.middle(k - 1, p);
        }
    }

    fn middle(&mut self, k: usize, p: (f64, f64)) {
        // A longer series than announced: its extra points join the last bucket.
        while k >= self.end && self.bucket + 1 < self.keep - 2 {
            let third = mean(&self.next);
            self.choose(third);
            self.cur = std::mem::take(&mut self.next);
            self.bucket += 1;
            self.end = Lttb::bucket_end(self.middle, self.keep, self.bucket);
        }
        self.next.push(p);
    }

    /// Keeps the point of `cur` that makes the largest triangle with the last kept point and
    /// `third`.
    fn choose(&mut self, third: Option<(f64, f64)>) {
        let (Some(&a), Some(c)) = (self.out.last(), third) else {
            return;
        };
        let mut best: Option<((f64, f64), f64)> = None;
        for &b in &self.cur {
            let area = ((a.0 - c.0) * (b.1 - a.1) - (a.0 - b.0) * (c.1 - a.1)).abs();
            if best.is_none_or(|(_, m)| area > m) {
                best = Some((b, area));
            }
        }
        if let Some((b, _)) = best {
            self.out.push(b);
        }
    }

    /// The points kept, in series order.
    pub fn finish(mut self) -> Vec<(f64, f64)> {
        if self.whole {
            return self.out;
        }
        let Some(last) = self.held.take() else {
            return self.out;
        };
        let third = mean(&self.next).or(Some(last));
        self.choose(third);
        self.cur = std::mem::take(&mut self.next);
        self.choose(Some(last));
        self.out.push(last);
        self.out
    }
}

fn mean(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    if points.is_empty() {
        return None;
    }
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(sx, sy), p| (sx + p.0, sy + p.1));
    Some((sx / n, sy / n))
}

/// The best value so far against time, kept per time bucket: each bucket holds its best
/// value and the earliest time it was reached, in whatever order the values come.
#[derive(Debug)]
pub struct BestOverTime {
    minimize: bool,
    from: f64,
    width: f64,
    buckets: Vec<Option<(f64, f64)>>,
}

impl BestOverTime {
    /// Best-so-far over the times `from..=to`, in `count` buckets. Times outside go to the
    /// first or last bucket (they keep their own time).
    pub fn new(minimize: bool, from: f64, to: f64, count: usize) -> BestOverTime {
        let count = count.max(1);
        let span = to - from;
        BestOverTime {
            minimize,
            from,
            width: if span.is_finite() && span > 0.0 {
                span / count as f64
            } else {
                1.0
            },
            buckets: vec![None; count],
        }
    }

    fn better(&self, a: f64, b: f64) -> bool {
        if self.minimize {
            a < b
        } else {
            a > b
        }
    }

    /// Adds a value reported at time `t` (non-finite values never count).
    pub fn push(&mut self, t: f64, v: f64) {
        if !v.is_finite() || t.is_nan() {
            return;
        }
        let last = self.buckets.len() - 1;
        let at = ((t - self.from) / self.width).floor();
        let i = if at > 0.0 { (at as usize).min(last) } else { 0 };
        let keep = match self.buckets[i] {
            None => true,
            Some((bt, bv)) => self.better(v, bv) || (v == bv && t < bt),
        };
        if keep {
            self.buckets[i] = Some((t, v));
        }
    }

    /// The improvements, in time order: `(time, value)` where the best so far got better,
    /// at most one per bucket.
    pub fn steps(&self) -> Vec<(f64, f64)> {
        let mut out: Vec<(f64, f64)> = Vec::new();
        for &(t, v) in self.buckets.iter().flatten() {
            if out.last().is_none_or(|&(_, b)| self.better(v, b)) {
                out.push((t, v));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// LTTB as the paper's reference implementation writes it, over a series in memory.
    fn reference(data: &[(f64, f64)], threshold: usize) -> Vec<(f64, f64)> {
        let n = data.len();
        if threshold >= n || threshold < 3 {
            return data.to_vec();
        }
        // The paper's `floor(i * every)`, in integers.
        let at = |i: usize| i * (n - 2) / (threshold - 2) + 1;
        let mut a = 0;
        let mut out = vec![data[0]];
        for i in 0..threshold - 2 {
            let avg_start = at(i + 1);
            let avg_end = at(i + 2).min(n);
            let len = (avg_end - avg_start) as f64;
            let (mut ax, mut ay) = (0.0, 0.0);
            for p in &data[avg_start..avg_end] {
                ax += p.0;
                ay += p.1;
            }
            let (ax, ay) = (ax / len, ay / len);
            let (from, to) = (at(i), at(i + 1));
            let (px, py) = data[a];
            let mut max = -1.0;
            let mut pick = from;
            for (j, p) in data.iter().enumerate().take(to).skip(from) {
                let area = ((px - ax) * (p.1 - py) - (px - p.0) * (ay - py)).abs();
                if area > max {
                    max = area;
                    pick = j;
                }
            }
            out.push(data[pick]);
            a = pick;
        }
        out.push(data[n - 1]);
        out
    }

    fn reduce(data: &[(f64, f64)], keep: usize) -> Vec<(f64, f64)> {
        let mut l = Lttb::new(data.len(), keep);
        for &(x, y) in data {
            l.push(x, y);
        }
        l.finish()
    }

    proptest! {
        /// Fed one point at a time, holding two buckets, it keeps exactly the points the
        /// reference keeps with the whole series in memory.
        #[test]
        fn streaming_lttb_keeps_what_the_reference_keeps(
            ys in proptest::collection::vec(-1e3f64..1e3, 0..400),
            keep in 3usize..60,
        ) {
            let data: Vec<(f64, f64)> = ys.iter().enumerate().map(|(i, y)| ((i + 1) as f64, *y)).collect();
            prop_assert_eq!(reduce(&data, keep), reference(&data, keep));
        }

        /// The best-so-far steps are exactly the improvements of the values sorted by time
        /// whenever no bucket holds two of them, whatever order the values come in.
        #[test]
        fn best_over_time_is_exact_at_its_resolution(
            mut pts in proptest::collection::vec((0u32..1000, -50i32..50), 0..60),
            minimize in any::<bool>(),
        ) {
            let mut b = BestOverTime::new(minimize, 0.0, 1000.0, 1000);
            for &(t, v) in &pts {
                b.push(t as f64 + 0.5, v as f64);
            }
            pts.sort_by_key(|p| p.0);
            let mut exact: Vec<(f64, f64)> = Vec::new();
            for &(t, v) in &pts {
                let v = v as f64;
                if exact.last().is_none_or(|&(_, best)| if minimize { v < best } else { v > best }) {
                    exact.push((t as f64 + 0.5, v));
                }
            }
            let per_bucket = {
                let mut times: Vec<u32> = exact.iter().map(|s| s.0 as u32).collect();
                times.dedup();
                times.len() == exact.len()
            };
            if per_bucket {
                prop_assert_eq!(b.steps(), exact);
            }
        }
    }

    #[test]
    fn a_long_curve_is_cut_to_the_budget_keeping_its_ends_and_its_spike() {
        let n = 1_000_000;
        let mut l = Lttb::new(n, 500);
        for i in 0..n {
            let y = if i == 654_321 {
                100.0
            } else {
                (i as f64 / 1e4).sin()
            };
            l.push(i as f64, y);
        }
        let out = l.finish();
        assert_eq!(out.len(), 500);
        assert_eq!(out[0], (0.0, 0.0));
        assert_eq!(out[499].0, (n - 1) as f64);
        assert!(out.contains(&(654_321.0, 100.0)), "the spike was dropped");
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn a_series_shorter_or_longer_than_announced_is_still_reduced_whole() {
        let data: Vec<(f64, f64)> = (0..50).map(|i| (i as f64, (i % 7) as f64)).collect();
        for announced in [10, 49, 51, 200] {
            let mut l = Lttb::new(announced, 12);
            for &(x, y) in &data {
                l.push(x, y);
            }
            let out = l.finish();
            assert_eq!(out.first(), data.first(), "{announced}");
            assert_eq!(out.last(), data.last(), "{announced}");
            assert!(out.len() <= 50, "{announced}");
        }
    }

    #[test]
    fn best_over_time_keeps_one_step_per_bucket_of_a_steady_improvement() {
        // Five million improvements, one per value: one step per bucket is drawn.
        let mut b = BestOverTime::new(true, 0.0, 5e6, 1000);
        for i in 0..5_000_000u32 {
            b.push(i as f64, -(i as f64));
        }
        let steps = b.steps();
        assert_eq!(steps.len(), 1000);
        assert_eq!(steps.last(), Some(&(4_999_999.0, -4_999_999.0)));
    }
}
