//! A model's confidence in a suggestion, a number from 0 to 1 inclusive.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Score(f64);

#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[error("a score is a number from 0 to 1; got {0}")]
pub struct ScoreError(pub f64);

impl Score {
    pub fn new(value: f64) -> Result<Score, ScoreError> {
        if value.is_finite() && (0.0..=1.0).contains(&value) {
            Ok(Score(value))
        } else {
            Err(ScoreError(value))
        }
    }

    /// A score known at compile time; out of range fails the build.
    pub const fn constant(value: f64) -> Score {
        assert!(value >= 0.0 && value <= 1.0, "a score is from 0 to 1");
        Score(value)
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Score {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

/// Reports count scores in hundredths (bins: the database's
/// `tagbot_calibration_bin`, 1.00 in the last) and show them in bands
/// 0.05 wide; calibration and agreement share these bands.
pub const SCORE_BINS: usize = 100;
/// Bins per band shown: 0.05 wide.
pub const BINS_PER_BAND: usize = 5;
/// Bands shown: 0.00–0.05, …, 0.95–1.00.
pub const SCORE_BANDS: usize = SCORE_BINS / BINS_PER_BAND;

/// The scores band `n` (0-based) covers, from and to.
pub fn band_range(n: usize) -> (f64, f64) {
    let edge = |bin: usize| bin as f64 / SCORE_BINS as f64;
    (edge(n * BINS_PER_BAND), edge((n + 1) * BINS_PER_BAND))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_inclusive() {
        assert!(Score::new(0.0).is_ok());
        assert!(Score::new(1.0).is_ok());
        assert!(Score::new(-0.0001).is_err());
        assert!(Score::new(1.0001).is_err());
        assert!(Score::new(f64::NAN).is_err());
    }
}
