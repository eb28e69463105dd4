//! How far reviewers agree, without I/O: over suggestions with two or more
//! votes (withdrawn votes left out), the share of agreeing pairs (percent
//! agreement), Cohen's kappa for a pair of reviewers over the suggestions
//! both voted on, and Krippendorff's alpha (nominal) over all of them.
//!
//! Each figure is `None` where it is undefined rather than a number that
//! means nothing: no pairs at all, or every vote the same (no variation to
//! agree beyond chance on: kappa's and alpha's expected disagreement is
//! zero). Callers say when a figure rests on too few items.
//!
//! Definitions: Cohen (1960), κ = (p_o − p_e) / (1 − p_e), p_e from each
//! rater's own marginals; Krippendorff, "Computing Krippendorff's Alpha-
//! Reliability" (2011), α = 1 − D_o / D_e from the coincidence matrix, each
//! unit's m_u values paired with weight 1 / (m_u − 1).

/// A vote's verdict, as the figures count it: one of two categories.
pub type Verdict = bool;

/// The share of agreeing pairs of votes, over each suggestion's pairs;
/// `None` when no suggestion has two votes.
pub fn percent_agreement(items: &[Vec<Verdict>]) -> Option<f64> {
    let (mut agreeing, mut pairs) = (0u64, 0u64);
    for votes in items {
        let yes = votes.iter().filter(|v| **v).count() as u64;
        let no = votes.len() as u64 - yes;
        agreeing += yes * yes.saturating_sub(1) / 2 + no * no.saturating_sub(1) / 2;
        pairs += (votes.len() as u64) * (votes.len() as u64).saturating_sub(1) / 2;
    }
    (pairs > 0).then(|| agreeing as f64 / pairs as f64)
}

/// Cohen's kappa for two reviewers over the suggestions both voted on
/// (`(a's verdict, b's verdict)` each); `None` with no items, or when
/// chance alone would agree every time.
pub fn cohens_kappa(pairs: &[(Verdict, Verdict)]) -> Option<f64> {
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let observed = pairs.iter().filter(|(a, b)| a == b).count() as f64 / n;
    let a_yes = pairs.iter().filter(|(a, _)| *a).count() as f64 / n;
    let b_yes = pairs.iter().filter(|(_, b)| *b).count() as f64 / n;
    let expected = a_yes * b_yes + (1.0 - a_yes) * (1.0 - b_yes);
    (expected < 1.0).then(|| (observed - expected) / (1.0 - expected))
}

/// Krippendorff's alpha (nominal data, two categories) over suggestions
/// with at least two votes; `None` when there are none or every vote is
/// the same.
pub fn krippendorff_alpha(items: &[Vec<Verdict>]) -> Option<f64> {
    // The coincidence matrix's off-diagonal cell o_yn (= o_ny) and the
    // marginals n_y, n_n, over pairable values only.
    let (mut disagreeing, mut n_yes, mut n_no) = (0.0f64, 0.0f64, 0.0f64);
    for votes in items.iter().filter(|votes| votes.len() >= 2) {
        let m = votes.len() as f64;
        let yes = votes.iter().filter(|v| **v).count() as f64;
        let no = m - yes;
        disagreeing += yes * no / (m - 1.0);
        n_yes += yes;
        n_no += no;
    }
    let n = n_yes + n_no;
    if n < 2.0 {
        return None;
    }
    // D_o and D_e with the sum over c ≠ k counting both orders.
    let observed = 2.0 * disagreeing / n;
    let expected = 2.0 * n_yes * n_no / (n * (n - 1.0));
    (expected > 0.0).then(|| 1.0 - observed / expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    const Y: Verdict = true;
    const N: Verdict = false;

    fn close(got: Option<f64>, want: f64) {
        let got = got.expect("a figure");
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    }

    /// Ten suggestions, two votes each, worked by hand:
    /// YY ×4, NN ×3, YN ×2, NY ×1.
    fn ten() -> Vec<(Verdict, Verdict)> {
        let mut pairs = vec![(Y, Y); 4];
        pairs.extend([(N, N); 3]);
        pairs.extend([(Y, N); 2]);
        pairs.push((N, Y));
        pairs
    }

    #[test]
    fn percent_agreement_counts_agreeing_pairs() {
        let items: Vec<Vec<Verdict>> = ten().into_iter().map(|(a, b)| vec![a, b]).collect();
        close(percent_agreement(&items), 7.0 / 10.0);
        // Three votes YYN: one agreeing pair of three.
        close(percent_agreement(&[vec![Y, Y, N]]), 1.0 / 3.0);
        assert_eq!(percent_agreement(&[vec![Y]]), None);
    }

    #[test]
    fn kappa_matches_the_hand_computation() {
        // p_o = 0.7; a says yes 6/10, b 5/10: p_e = 0.6·0.5 + 0.4·0.5 = 0.5;
        // κ = (0.7 − 0.5) / 0.5 = 0.4.
        close(cohens_kappa(&ten()), 0.4);
        // Never disagreeing, both categories used: κ = 1.
        close(cohens_kappa(&[(Y, Y), (N, N), (Y, Y)]), 1.0);
        // Always disagreeing, each half and half: p_o = 0, p_e = 0.5, κ = −1.
        close(cohens_kappa(&[(Y, N), (N, Y)]), -1.0);
        // Both always say yes: chance agrees every time, κ undefined.
        assert_eq!(cohens_kappa(&[(Y, Y), (Y, Y)]), None);
        assert_eq!(cohens_kappa(&[]), None);
    }

    #[test]
    fn alpha_matches_the_hand_computation() {
        // Coincidences of the ten: o_YY = 8, o_NN = 6, o_YN = o_NY = 3
        // (each two-vote unit pairs its values with weight 1); n_Y = 11,
        // n_N = 9, n = 20. D_o = 6/20 = 0.3; D_e = 2·11·9 / (20·19) =
        // 198/380; α = 1 − 0.3·380/198 = 1 − 114/198 = 84/198.
        let items: Vec<Vec<Verdict>> = ten().into_iter().map(|(a, b)| vec![a, b]).collect();
        close(krippendorff_alpha(&items), 84.0 / 198.0);
        // Never disagreeing: α = 1.
        close(krippendorff_alpha(&[vec![Y, Y], vec![N, N]]), 1.0);
        // Always disagreeing: o_YN = o_NY = 2, n = 4, D_o = 1,
        // D_e = 2·2·2/(4·3) = 2/3, α = 1 − 3/2 = −0.5.
        close(krippendorff_alpha(&[vec![Y, N], vec![N, Y]]), -0.5);
        // A unit of three, YYN, and one NN: o_YN = 2·1/2 = 1 (both
        // orders: 2), n_Y = 2, n_N = 3, n = 5; D_o = 2/5, D_e =
        // 2·2·3/(5·4) = 0.6; α = 1 − (0.4/0.6) = 1/3.
        close(krippendorff_alpha(&[vec![Y, Y, N], vec![N, N]]), 1.0 / 3.0);
        // Single votes are not pairable; all the same is undefined.
        assert_eq!(krippendorff_alpha(&[vec![Y], vec![N]]), None);
        assert_eq!(krippendorff_alpha(&[vec![Y, Y], vec![Y, Y]]), None);
    }
}
