//! When a transiently failed item is tried again: 1, 2, 4, 8, 16 s after
//! its 1st to 5th failure (with the default base), each spread by ±25%
//! jitter so items that failed together do not come back together.

use std::time::Duration;

use rand::Rng;

/// The delay before the try after failure number `failures` (1-based).
pub fn delay(base: Duration, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let nominal = base.saturating_mul(1u32 << exponent);
    let jitter: f64 = rand::rng().random_range(0.75..=1.25);
    nominal.mul_f64(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_within_their_jitter() {
        let base = Duration::from_secs(1);
        for (failures, nominal) in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 16.0)] {
            for _ in 0..50 {
                let d = delay(base, failures).as_secs_f64();
                assert!(
                    d >= nominal * 0.75 && d <= nominal * 1.25,
                    "{failures}: {d}"
                );
            }
        }
    }
}
