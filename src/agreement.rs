//! How far reviewers agree, where the second opinion asked two of them:
//! over suggestions with two or more active votes (withdrawn votes left
//! out), per model and for the team,
//!
//! - **percent agreement**: the share of agreeing pairs of votes, over
//!   each suggestion's pairs;
//! - **Krippendorff's alpha** (nominal): agreement beyond what the votes'
//!   own mix of approve and reject would give by chance, 1 for perfect, 0
//!   for chance, below 0 for systematic disagreement;
//! - **Cohen's kappa** for each pair of reviewers, over the suggestions
//!   both voted on;
//!
//! and percent and alpha by score band (calibration's 0.05 bands).
//!
//! A figure is given only where it means something: percent and alpha on
//! at least [`MIN_ITEMS`] suggestions, kappa for a pair sharing at least
//! [`MIN_PAIR_ITEMS`]; and none where it is undefined (every vote the
//! same leaves chance nothing to be beaten by). Reports say which.
//!
//! No I/O here: the database sums the votes ([`crate::storage::agreement`])
//! and these are pure functions of the sums, checked against hand
//! computations in the tests. Definitions: Cohen (1960),
//! κ = (p_o − p_e) / (1 − p_e), p_e from each rater's own marginals;
//! Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011),
//! α = 1 − D_o / D_e from the coincidence matrix, each suggestion's m
//! votes paired with weight 1 / (m − 1).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::domain::{band_range, BINS_PER_BAND, SCORE_BANDS};
use crate::storage::agreement::{PairRow, UnitRow};
use crate::text::{one_line, percent};

/// Percent agreement and alpha are given over at least this many
/// suggestions: below it one vote moves percent agreement by ten points
/// or more, and alpha swings wider still.
pub const MIN_ITEMS: u64 = 10;
/// A pair of reviewers gets a kappa from this many shared suggestions.
pub const MIN_PAIR_ITEMS: u64 = 20;

/// Suggestions with two or more votes, summed into what percent
/// agreement and alpha need.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Units {
    items: u64,
    /// Pairs of votes within a suggestion, and those that agree.
    pairs: u64,
    agreeing: u64,
    /// The coincidence matrix's off-diagonal cell: Σ approve·reject / (m − 1).
    disagreeing: f64,
    /// Pairable values by verdict: the matrix's marginals.
    approve: u64,
    reject: u64,
}

impl Units {
    /// Counts `items` suggestions with `approve` approving and `reject`
    /// rejecting votes; one with fewer than two votes is not pairable and
    /// counts for nothing.
    pub fn add(&mut self, approve: u64, reject: u64, items: u64) {
        let m = approve + reject;
        if m < 2 {
            return;
        }
        let pairs_of = |n: u64| n * n.saturating_sub(1) / 2;
        self.items += items;
        self.pairs += items * pairs_of(m);
        self.agreeing += items * (pairs_of(approve) + pairs_of(reject));
        self.disagreeing += items as f64 * (approve * reject) as f64 / (m - 1) as f64;
        self.approve += items * approve;
        self.reject += items * reject;
    }

    fn merge(&mut self, other: &Units) {
        self.items += other.items;
        self.pairs += other.pairs;
        self.agreeing += other.agreeing;
        self.disagreeing += other.disagreeing;
        self.approve += other.approve;
        self.reject += other.reject;
    }

    /// Suggestions counted.
    pub fn items(&self) -> u64 {
        self.items
    }

    /// The share of agreeing pairs of votes; `None` without pairs.
    pub fn percent(&self) -> Option<f64> {
        (self.pairs > 0).then(|| self.agreeing as f64 / self.pairs as f64)
    }

    /// Krippendorff's alpha; `None` without pairable votes or when every
    /// vote is the same.
    pub fn alpha(&self) -> Option<f64> {
        let (approve, reject) = (self.approve as f64, self.reject as f64);
        let n = approve + reject;
        if n < 2.0 {
            return None;
        }
        // D_o and D_e, the sum over c ≠ k counting both orders.
        let observed = 2.0 * self.disagreeing / n;
        let expected = 2.0 * approve * reject / (n * (n - 1.0));
        (expected > 0.0).then(|| 1.0 - observed / expected)
    }
}

/// Two reviewers' verdicts over the suggestions both voted on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Crossing {
    both_approve: u64,
    only_a_approves: u64,
    only_b_approves: u64,
    both_reject: u64,
}

impl Crossing {
    /// Counts `items` suggestions on which `a` and `b` voted so.
    pub fn add(&mut self, a_approves: bool, b_approves: bool, items: u64) {
        let cell = match (a_approves, b_approves) {
            (true, true) => &mut self.both_approve,
            (true, false) => &mut self.only_a_approves,
            (false, true) => &mut self.only_b_approves,
            (false, false) => &mut self.both_reject,
        };
        *cell += items;
    }

    fn merge(&mut self, other: &Crossing) {
        self.both_approve += other.both_approve;
        self.only_a_approves += other.only_a_approves;
        self.only_b_approves += other.only_b_approves;
        self.both_reject += other.both_reject;
    }

    /// Suggestions both voted on.
    pub fn items(&self) -> u64 {
        self.both_approve + self.only_a_approves + self.only_b_approves + self.both_reject
    }

    /// Cohen's kappa; `None` with no items, or when chance alone would
    /// agree every time (both gave one and the same verdict throughout).
    pub fn kappa(&self) -> Option<f64> {
        let n = self.items() as f64;
        if n == 0.0 {
            return None;
        }
        let observed = (self.both_approve + self.both_reject) as f64 / n;
        let a_yes = (self.both_approve + self.only_a_approves) as f64 / n;
        let b_yes = (self.both_approve + self.only_b_approves) as f64 / n;
        let expected = a_yes * b_yes + (1.0 - a_yes) * (1.0 - b_yes);
        (expected < 1.0).then(|| (observed - expected) / (1.0 - expected))
    }
}

/// One pair of reviewers' agreement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairAgreement {
    /// The reviewers as `events.actor` (`slack:U…`), `a` < `b`.
    pub a: String,
    pub b: String,
    /// A name each voted under, where one was recorded.
    pub a_name: Option<String>,
    pub b_name: Option<String>,
    /// Suggestions both voted on (at least [`MIN_PAIR_ITEMS`]).
    pub items: u64,
    /// `None` when undefined: both gave the same verdict every time.
    pub kappa: Option<f64>,
}

/// Agreement within one score band.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BandAgreement {
    pub from: f64,
    pub to: f64,
    pub items: u64,
    pub percent: Option<f64>,
    pub alpha: Option<f64>,
}

/// One model's (or the team's) agreement, as reports show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    /// Suggestions with two or more active votes.
    pub items: u64,
    /// The share of agreeing pairs of votes, 0 to 1; `None` on fewer than
    /// [`MIN_ITEMS`] suggestions.
    pub percent: Option<f64>,
    /// Krippendorff's alpha; `None` on fewer than [`MIN_ITEMS`]
    /// suggestions or when every vote was the same.
    pub alpha: Option<f64>,
    /// Pairs sharing at least [`MIN_PAIR_ITEMS`] suggestions, most shared
    /// first.
    pub pairs: Vec<PairAgreement>,
    /// Calibration's score bands, 0.05 wide, all of them (empty ones with
    /// no items).
    pub bands: Vec<BandAgreement>,
}

/// A pair's key: the two voters, `a` < `b`.
type PairKey = (String, String);

/// What one model's (or the team's) votes sum to, before the figures.
#[derive(Debug, Clone, Default)]
struct Tally {
    /// Per score band.
    bands: [Units; SCORE_BANDS],
    /// Per pair: a name for each, and their verdicts.
    pairs: BTreeMap<PairKey, (Option<String>, Option<String>, Crossing)>,
}

impl Tally {
    fn add_unit(&mut self, row: &UnitRow) {
        let band = (usize::try_from(row.bin).unwrap_or(0) / BINS_PER_BAND).min(SCORE_BANDS - 1);
        self.bands[band].add(row.approve, row.reject, row.items);
    }

    fn add_pair(
        &mut self,
        (a, b): (&str, &str),
        (a_name, b_name): (&Option<String>, &Option<String>),
        crossing: &Crossing,
    ) {
        let entry = self
            .pairs
            .entry((a.to_owned(), b.to_owned()))
            .or_insert_with(|| (None, None, Crossing::default()));
        entry.0 = entry.0.take().or_else(|| a_name.clone());
        entry.1 = entry.1.take().or_else(|| b_name.clone());
        entry.2.merge(crossing);
    }

    fn merge(&mut self, other: &Tally) {
        for (mine, theirs) in self.bands.iter_mut().zip(&other.bands) {
            mine.merge(theirs);
        }
        for ((a, b), (a_name, b_name, crossing)) in &other.pairs {
            self.add_pair((a, b), (a_name, b_name), crossing);
        }
    }

    fn figures(&self) -> Agreement {
        let mut all = Units::default();
        for band in &self.bands {
            all.merge(band);
        }
        let (percent, alpha) = given(&all);
        let mut pairs: Vec<PairAgreement> = self
            .pairs
            .iter()
            .filter(|(_, (_, _, crossing))| crossing.items() >= MIN_PAIR_ITEMS)
            .map(|((a, b), (a_name, b_name, crossing))| PairAgreement {
                a: a.clone(),
                b: b.clone(),
                a_name: a_name.clone(),
                b_name: b_name.clone(),
                items: crossing.items(),
                kappa: crossing.kappa(),
            })
            .collect();
        pairs.sort_by(|x, y| {
            y.items
                .cmp(&x.items)
                .then_with(|| (&x.a, &x.b).cmp(&(&y.a, &y.b)))
        });
        let bands = self
            .bands
            .iter()
            .enumerate()
            .map(|(n, units)| {
                let (percent, alpha) = given(units);
                let (from, to) = band_range(n);
                BandAgreement {
                    from,
                    to,
                    items: units.items(),
                    percent,
                    alpha,
                }
            })
            .collect();
        Agreement {
            items: all.items(),
            percent,
            alpha,
            pairs,
            bands,
        }
    }
}

/// Percent and alpha where there are enough items to give them.
fn given(units: &Units) -> (Option<f64>, Option<f64>) {
    if units.items() < MIN_ITEMS {
        return (None, None);
    }
    (units.percent(), units.alpha())
}

/// The team's agreement and each model's.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreements {
    pub team: Agreement,
    pub models: BTreeMap<String, Agreement>,
}

impl Agreements {
    /// The figures from the database's sums ([`crate::storage::agreement`]).
    pub fn from_rows(units: &[UnitRow], pairs: &[PairRow]) -> Agreements {
        let mut models: BTreeMap<&str, Tally> = BTreeMap::new();
        for row in units {
            models.entry(&row.model).or_default().add_unit(row);
        }
        for row in pairs {
            let mut crossing = Crossing::default();
            crossing.add(row.a_approves, row.b_approves, row.items);
            models.entry(&row.model).or_default().add_pair(
                (&row.a, &row.b),
                (&row.a_name, &row.b_name),
                &crossing,
            );
        }
        let mut team = Tally::default();
        for tally in models.values() {
            team.merge(tally);
        }
        Agreements {
            team: team.figures(),
            models: models
                .into_iter()
                .map(|(model, tally)| (model.to_owned(), tally.figures()))
                .collect(),
        }
    }
}

impl Agreement {
    /// No votes at all.
    pub fn none() -> Agreement {
        Tally::default().figures()
    }

    /// "45 suggestions with two votes: 80% of paired votes agree, alpha
    /// 0.62", or why there is no figure: the line every surface shows.
    pub fn summary(&self) -> String {
        if self.items == 0 {
            return "no suggestion has two votes yet".to_owned();
        }
        let items = format!(
            "{} suggestion{} with two or more votes",
            self.items,
            if self.items == 1 { "" } else { "s" }
        );
        match self.percent {
            None => format!("{items}: too few to measure ({MIN_ITEMS} needed)"),
            Some(share) => format!(
                "{items}: {} of paired votes agree, alpha {}",
                percent(share),
                alpha_text(self.alpha)
            ),
        }
    }
}

/// Alpha (or kappa) to two places, or why there is none.
fn alpha_text(figure: Option<f64>) -> String {
    match figure {
        Some(value) => format!("{value:.2}"),
        None => "undefined (every vote the same)".to_owned(),
    }
}

/// A reviewer as a report names them: "name (slack:U…)", or the actor.
fn reviewer(actor: &str, name: &Option<String>) -> String {
    match name {
        Some(name) => format!("{} ({})", one_line(name), one_line(actor)),
        None => one_line(actor),
    }
}

/// The report's lines: the summary, then the bands with votes (highest
/// scores first), then the pairs; each line starts with `indent`.
impl fmt::Display for Agreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let indent = " ".repeat(f.width().unwrap_or(0));
        writeln!(f, "{indent}agreement: {}", self.summary())?;
        if self.items == 0 {
            return Ok(());
        }
        for band in self.bands.iter().rev().filter(|band| band.items > 0) {
            let figures = match band.percent {
                Some(share) => {
                    format!("{} agree, alpha {}", percent(share), alpha_text(band.alpha))
                }
                None => "too few to measure".to_owned(),
            };
            writeln!(
                f,
                "{indent}  {:.2}–{:.2}  {:>6} suggestions  {figures}",
                band.from, band.to, band.items
            )?;
        }
        if self.pairs.is_empty() {
            writeln!(
                f,
                "{indent}  no two reviewers share {MIN_PAIR_ITEMS} suggestions yet (kappa needs that many)"
            )?;
        }
        for pair in &self.pairs {
            let kappa = match pair.kappa {
                Some(value) => format!("{value:.2}"),
                None => "undefined (both gave one verdict throughout)".to_owned(),
            };
            writeln!(
                f,
                "{indent}  {} and {}: {} shared, kappa {kappa}",
                reviewer(&pair.a, &pair.a_name),
                reviewer(&pair.b, &pair.b_name),
                pair.items
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const Y: bool = true;
    const N: bool = false;

    fn close(got: Option<f64>, want: f64) {
        let got = got.expect("a figure");
        assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    }

    fn units(items: &[Vec<bool>]) -> Units {
        let mut units = Units::default();
        for votes in items {
            let approve = votes.iter().filter(|v| **v).count() as u64;
            units.add(approve, votes.len() as u64 - approve, 1);
        }
        units
    }

    fn crossing(pairs: &[(bool, bool)]) -> Crossing {
        let mut crossing = Crossing::default();
        for (a, b) in pairs {
            crossing.add(*a, *b, 1);
        }
        crossing
    }

    /// Ten suggestions, two votes each, worked by hand:
    /// YY ×4, NN ×3, YN ×2, NY ×1.
    fn ten() -> Vec<(bool, bool)> {
        let mut pairs = vec![(Y, Y); 4];
        pairs.extend([(N, N); 3]);
        pairs.extend([(Y, N); 2]);
        pairs.push((N, Y));
        pairs
    }

    fn ten_units() -> Units {
        units(
            &ten()
                .into_iter()
                .map(|(a, b)| vec![a, b])
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn percent_agreement_counts_agreeing_pairs() {
        close(ten_units().percent(), 7.0 / 10.0);
        // Three votes YYN: one agreeing pair of three.
        close(units(&[vec![Y, Y, N]]).percent(), 1.0 / 3.0);
        assert_eq!(units(&[vec![Y]]).percent(), None);
        assert_eq!(units(&[vec![Y]]).items(), 0, "one vote is not an item");
    }

    #[test]
    fn kappa_matches_the_hand_computation() {
        // p_o = 0.7; a says yes 6/10, b 5/10: p_e = 0.6·0.5 + 0.4·0.5 = 0.5;
        // κ = (0.7 − 0.5) / 0.5 = 0.4.
        close(crossing(&ten()).kappa(), 0.4);
        // Never disagreeing, both categories used: κ = 1.
        close(crossing(&[(Y, Y), (N, N), (Y, Y)]).kappa(), 1.0);
        // Always disagreeing, each half and half: p_o = 0, p_e = 0.5, κ = −1.
        close(crossing(&[(Y, N), (N, Y)]).kappa(), -1.0);
        // Both always say yes: chance agrees every time, κ undefined.
        assert_eq!(crossing(&[(Y, Y), (Y, Y)]).kappa(), None);
        assert_eq!(crossing(&[]).kappa(), None);
    }

    #[test]
    fn alpha_matches_the_hand_computation() {
        // Coincidences of the ten: o_YY = 8, o_NN = 6, o_YN = o_NY = 3
        // (each two-vote unit pairs its values with weight 1); n_Y = 11,
        // n_N = 9, n = 20. D_o = 6/20 = 0.3; D_e = 2·11·9 / (20·19) =
        // 198/380; α = 1 − 0.3·380/198 = 1 − 114/198 = 84/198.
        close(ten_units().alpha(), 84.0 / 198.0);
        // Never disagreeing: α = 1.
        close(units(&[vec![Y, Y], vec![N, N]]).alpha(), 1.0);
        // Always disagreeing: o_YN = o_NY = 2, n = 4, D_o = 1,
        // D_e = 2·2·2/(4·3) = 2/3, α = 1 − 3/2 = −0.5.
        close(units(&[vec![Y, N], vec![N, Y]]).alpha(), -0.5);
        // A unit of three, YYN, and one NN: o_YN = 2·1/2 = 1 (both
        // orders: 2), n_Y = 2, n_N = 3, n = 5; D_o = 2/5, D_e =
        // 2·2·3/(5·4) = 0.6; α = 1 − (0.4/0.6) = 1/3.
        close(units(&[vec![Y, Y, N], vec![N, N]]).alpha(), 1.0 / 3.0);
        // Single votes are not pairable; all the same is undefined.
        assert_eq!(units(&[vec![Y], vec![N]]).alpha(), None);
        assert_eq!(units(&[vec![Y, Y], vec![Y, Y]]).alpha(), None);
    }

    fn unit(model: &str, bin: i32, approve: u64, reject: u64, items: u64) -> UnitRow {
        UnitRow {
            model: model.to_owned(),
            bin,
            approve,
            reject,
            items,
        }
    }

    fn pair(model: &str, a: &str, b: &str, verdicts: (bool, bool), items: u64) -> PairRow {
        PairRow {
            model: model.to_owned(),
            a: a.to_owned(),
            b: b.to_owned(),
            a_name: Some(format!("name of {a}")),
            b_name: None,
            a_approves: verdicts.0,
            b_approves: verdicts.1,
            items,
        }
    }

    #[test]
    fn the_team_sums_its_models_and_bands_split_by_score() {
        // Model m1: the ten at bin 52 (band 0.50–0.55). Model m2: 12
        // agreeing approvals at bin 47 (band 0.45–0.50). A pair shares 12
        // in m1 and 12 in m2: 24 for the team, listed there only.
        let units = [
            unit("m1", 52, 2, 0, 4),
            unit("m1", 52, 0, 2, 3),
            unit("m1", 52, 1, 1, 3),
            unit("m2", 47, 2, 0, 12),
        ];
        let pairs = [
            pair("m1", "slack:UA", "slack:UB", (Y, Y), 6),
            pair("m1", "slack:UA", "slack:UB", (N, N), 6),
            pair("m2", "slack:UA", "slack:UB", (Y, Y), 12),
        ];
        let agreements = Agreements::from_rows(&units, &pairs);
        let m1 = &agreements.models["m1"];
        assert_eq!(m1.items, 10);
        close(m1.percent, 0.7);
        close(m1.alpha, 84.0 / 198.0);
        assert!(m1.pairs.is_empty(), "12 shared is too few for kappa");
        assert_eq!(m1.bands.len(), SCORE_BANDS);
        assert_eq!(m1.bands[10].items, 10);
        assert!((m1.bands[10].from - 0.50).abs() < 1e-9);
        let m2 = &agreements.models["m2"];
        close(m2.percent, 1.0);
        assert_eq!(m2.alpha, None, "every vote the same");

        let team = &agreements.team;
        assert_eq!(team.items, 22);
        // 7 + 12 agreeing of 22 pairs.
        close(team.percent, 19.0 / 22.0);
        assert_eq!(team.pairs.len(), 1);
        assert_eq!(team.pairs[0].items, 24);
        // p_o = 1; a and b say yes 18/24: p_e = 0.75² + 0.25² = 0.625; κ = 1.
        close(team.pairs[0].kappa, 1.0);
        assert_eq!(team.pairs[0].a_name.as_deref(), Some("name of slack:UA"));
        assert_eq!(team.bands[9].items, 12);
        assert_eq!(team.bands[10].items, 10);

        let json = serde_json::to_value(team).unwrap();
        assert_eq!(json["pairs"][0]["a"], "slack:UA");
        assert_eq!(json["pairs"][0]["items"], 24);
        assert!(json["bands"][0]["percent"].is_null());
    }

    #[test]
    fn too_few_items_say_so_rather_than_print_a_number() {
        let agreements = Agreements::from_rows(&[unit("m", 50, 1, 1, 9)], &[]);
        let m = &agreements.models["m"];
        assert_eq!((m.items, m.percent, m.alpha), (9, None, None));
        assert_eq!(
            m.summary(),
            "9 suggestions with two or more votes: too few to measure (10 needed)"
        );
        let text = format!("{m:2}");
        assert!(text.contains("  agreement: 9 suggestions"), "{text}");
        assert!(text.contains("too few to measure\n"), "{text}");
        assert!(
            text.contains("no two reviewers share 20 suggestions yet"),
            "{text}"
        );
        assert!(!text.contains('%'), "{text}");
        assert_eq!(
            Agreement::none().summary(),
            "no suggestion has two votes yet"
        );
        assert_eq!(
            format!("{}", Agreement::none()),
            "agreement: no suggestion has two votes yet\n"
        );
    }

    #[test]
    fn a_report_names_each_pair_with_its_kappa() {
        let pairs = [
            pair("m", "slack:UA", "slack:UC", (Y, N), 10),
            pair("m", "slack:UA", "slack:UC", (N, Y), 10),
            pair("m", "slack:UA", "slack:UD", (Y, Y), 20),
        ];
        let agreements =
            Agreements::from_rows(&[unit("m", 50, 1, 1, 20), unit("m", 50, 2, 0, 20)], &pairs);
        let text = agreements.team.to_string();
        assert!(
            text.contains("name of slack:UA (slack:UA) and slack:UC: 20 shared, kappa -1.00"),
            "{text}"
        );
        assert!(
            text.contains(
                "and slack:UD: 20 shared, kappa undefined (both gave one verdict throughout)"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "agreement: 40 suggestions with two or more votes: 50% of paired votes agree"
            ),
            "{text}"
        );
    }
}
