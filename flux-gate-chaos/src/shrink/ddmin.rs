//! Delta debugging (Zeller and Hildebrandt, "Simplifying and Isolating Failure-Inducing
//! Input", 2002): the smallest sublist of a failing list that still fails, 1-minimal — taking
//! away any one of its items makes it pass. DEMi (NSDI '16) showed that the fault schedules of
//! real distributed systems reduce this way; here the items are a scenario's faults.
//!
//! The test is asynchronous (each one is a run on a real stack) and may be expensive, so the
//! caller caches it; this file only decides which sublists to ask about.

/// Says whether a candidate sublist still fails the way the original did.
#[async_trait::async_trait(?Send)]
pub trait Test<T: Sync> {
    async fn fails(&mut self, candidate: &[T]) -> bool;
}

/// The 1-minimal failing sublist of `items`, which must fail as a whole (not asked again).
/// Order is kept. The empty list is tried last, once one item is left: a failure that needs
/// no fault at all is worth knowing.
pub async fn ddmin<T: Clone + Sync>(items: &[T], test: &mut dyn Test<T>) -> Vec<T> {
    let mut current = items.to_vec();
    let mut n = 2;
    while current.len() >= 2 {
        let chunks = split(&current, n);
        if let Some(c) = first_failing(test, chunks.iter().cloned()).await {
            current = c;
            n = 2;
            continue;
        }
        let complements = (0..chunks.len()).map(|skip| {
            chunks
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != skip)
                .flat_map(|(_, c)| c.iter().cloned())
                .collect::<Vec<T>>()
        });
        // With two chunks the complements are the chunks again: already asked.
        if n > 2 {
            if let Some(c) = first_failing(test, complements).await {
                current = c;
                n = (n - 1).max(2);
                continue;
            }
        }
        if n >= current.len() {
            break;
        }
        n = (n * 2).min(current.len());
    }
    if current.len() == 1 && test.fails(&[]).await {
        current.clear();
    }
    current
}

async fn first_failing<T: Clone + Sync>(
    test: &mut dyn Test<T>,
    candidates: impl Iterator<Item = Vec<T>>,
) -> Option<Vec<T>> {
    for c in candidates {
        if test.fails(&c).await {
            return Some(c);
        }
    }
    None
}

/// `items` in `n` contiguous chunks as even as can be (the first ones one longer).
fn split<T: Clone>(items: &[T], n: usize) -> Vec<Vec<T>> {
    let n = n.clamp(1, items.len().max(1));
    let (size, extra) = (items.len() / n, items.len() % n);
    let mut out = Vec::with_capacity(n);
    let mut at = 0;
    for i in 0..n {
        let len = size + usize::from(i < extra);
        out.push(items[at..at + len].to_vec());
        at += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Fails when every item of `needed` is in the candidate; keeps the distinct questions
    /// (shrink caches its answers, so a question asked twice costs one run).
    struct Needs {
        needed: BTreeSet<u32>,
        asked: BTreeSet<Vec<u32>>,
    }

    #[async_trait::async_trait(?Send)]
    impl Test<u32> for Needs {
        async fn fails(&mut self, candidate: &[u32]) -> bool {
            self.asked.insert(candidate.to_vec());
            self.needed.iter().all(|n| candidate.contains(n))
        }
    }

    async fn reduce(items: &[u32], needed: &[u32]) -> (Vec<u32>, usize) {
        let mut t = Needs {
            needed: needed.iter().copied().collect(),
            asked: BTreeSet::new(),
        };
        let out = ddmin(items, &mut t).await;
        (out, t.asked.len())
    }

    #[tokio::test]
    async fn two_faults_out_of_ten_are_found_with_few_runs() {
        let all: Vec<u32> = (0..10).collect();
        let (out, asked) = reduce(&all, &[3, 7]).await;
        assert_eq!(out, [3, 7]);
        // Distinct questions, counted by hand in ddmin's order: 2 halves and 4 quarters (none
        // fails), the complement without 0–2; 3 complements of 7 items; 4 chunks and 2
        // complements of 5; 1 complement of 4; 2 chunks and 2 complements of 3 — 21.
        assert_eq!(asked, 21);
    }

    #[tokio::test]
    async fn one_fault_out_of_four_and_none_needed_at_all() {
        let (out, _) = reduce(&[1, 2, 3, 4], &[2]).await;
        assert_eq!(out, [2]);
        let (out, _) = reduce(&[1, 2, 3, 4], &[]).await;
        assert_eq!(out, Vec::<u32>::new());
        let (out, asked) = reduce(&[5], &[5]).await;
        assert_eq!((out, asked), (vec![5], 1));
    }

    #[tokio::test]
    async fn the_result_is_one_minimal_and_keeps_order() {
        let all: Vec<u32> = (0..16).collect();
        let (out, _) = reduce(&all, &[15, 0, 8]).await;
        assert_eq!(out, [0, 8, 15]);
    }

    #[test]
    fn chunks_are_even_and_cover_everything() {
        assert_eq!(split(&[1, 2, 3, 4, 5], 2), [vec![1, 2, 3], vec![4, 5]]);
        assert_eq!(split(&[1, 2], 4), [vec![1], vec![2]]);
    }
}
