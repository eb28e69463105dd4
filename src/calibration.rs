//! Calibration: how often reviewers approved what each model suggested, by
//! score, and the lowest threshold past decisions support.
//!
//! Every decided suggestion is a label: approved (approved, synced, or
//! failed to sync: the reviewer said yes) or rejected. A synced suggestion
//! someone later removed in Airtable (drift) counts as not approved: the
//! people who own the record said no. Scores are counted in bins 0.01
//! wide (the database sums them), shown in bands 0.05 wide, each with a
//! 95% Wilson interval; a threshold is a multiple of 0.01. Rejections are
//! also counted by the reason reviewers gave (DESIGN.md, "Reasons"), so
//! the model team learns what kind of "no" each model and tag gets.
//!
//! No I/O here but [`Calibration::load`]: the figures are pure functions
//! of the bins, checked against hand-computed sets in the tests.

use std::collections::HashMap;
use std::fmt;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use sqlx::PgPool;

use crate::agreement::{Agreement, Agreements};
use crate::domain::{band_range, RejectReason, BINS_PER_BAND, SCORE_BINS};
use crate::storage;
use crate::storage::calibration::{self as rows, BinRow, RemovedRow};
use crate::text::one_line;

/// Score bins summed by the database: 0.00–0.01, …, 0.99–1.00 (1.00 is
/// in the last).
pub const BINS: usize = SCORE_BINS;
/// A threshold is recommended only on at least this many decisions at or
/// above it; a tag gets its own figures from this many decisions.
pub const MIN_DECISIONS: u64 = 30;
/// z for a 95% interval.
const Z95: f64 = 1.959_963_984_540_054;
/// A tag is named for drift when at least this share of its synced
/// suggestions were removed in Airtable (and at least 3 were).
const DRIFT_NAMED_SHARE: f64 = 0.10;
const DRIFT_NAMED_MIN: u64 = 3;

/// Decisions and how many of them count as approved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Share {
    pub decisions: u64,
    /// Approved and not removed in Airtable since.
    pub approved: u64,
}

impl Share {
    pub fn rate(&self) -> Option<f64> {
        (self.decisions > 0).then(|| self.approved as f64 / self.decisions as f64)
    }

    /// The 95% Wilson score interval of the approval rate; [0, 1] with no
    /// decisions (nothing is known).
    pub fn wilson(&self) -> (f64, f64) {
        let Some(p) = self.rate() else {
            return (0.0, 1.0);
        };
        let n = self.decisions as f64;
        let z2 = Z95 * Z95;
        let denominator = 1.0 + z2 / n;
        let center = (p + z2 / (2.0 * n)) / denominator;
        let half = Z95 / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
        ((center - half).max(0.0), (center + half).min(1.0))
    }

    fn add(&mut self, other: Share) {
        self.decisions += other.decisions;
        self.approved += other.approved;
    }
}

/// Rejections by the reason reviewers gave, and those they gave none for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectReasons {
    /// Per reason, in [`RejectReason::ALL`]'s order.
    given: [u64; RejectReason::ALL.len()],
    /// Rejected without a reason (the one-click Reject, or before reasons).
    pub none: u64,
}

impl RejectReasons {
    /// A bin's rejections: those with a reason as counted, and the rest of
    /// its rejected (decisions - approved) without one.
    fn of_row(row: &BinRow<&str>) -> RejectReasons {
        let given = RejectReason::ALL.map(|reason| row.rejected_because(reason));
        let rejected = row.decisions.saturating_sub(row.approved);
        RejectReasons {
            given,
            none: rejected.saturating_sub(given.iter().sum()),
        }
    }

    /// Rejections for `reason`.
    pub fn of(&self, reason: RejectReason) -> u64 {
        self.each()
            .find(|(each, _)| *each == reason)
            .map_or(0, |(_, count)| count)
    }

    /// Every reason with its count, in [`RejectReason::ALL`]'s order.
    pub fn each(&self) -> impl Iterator<Item = (RejectReason, u64)> + '_ {
        RejectReason::ALL.into_iter().zip(self.given)
    }

    /// Every rejection, with a reason or without.
    pub fn rejected(&self) -> u64 {
        self.given.iter().sum::<u64>() + self.none
    }

    fn add(&mut self, other: RejectReasons) {
        for (mine, theirs) in self.given.iter_mut().zip(other.given) {
            *mine += theirs;
        }
        self.none += other.none;
    }

    /// "rejected 40: wrong topic 12 · too broad 9 · no reason 19": the
    /// reasons given (those given at least once), then the rest; `None`
    /// when nothing was rejected.
    pub fn summary(&self) -> Option<String> {
        let rejected = self.rejected();
        if rejected == 0 {
            return None;
        }
        let mut parts: Vec<String> = self
            .each()
            .filter(|(_, count)| *count > 0)
            .map(|(reason, count)| format!("{} {count}", reason.label().to_lowercase()))
            .collect();
        if self.none > 0 {
            parts.push(format!("no reason {}", self.none));
        }
        Some(format!("rejected {rejected}: {}", parts.join(" · ")))
    }
}

/// `{"wrong_topic": 12, …, "other": 0, "none": 19}`: every reason's stored
/// name always present, so a reader needs no defaults.
impl Serialize for RejectReasons {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.given.len() + 1))?;
        for (reason, count) in self.each() {
            map.serialize_entry(reason.as_str(), &count)?;
        }
        map.serialize_entry("none", &self.none)?;
        map.end()
    }
}

/// One score bin's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bin {
    pub decisions: u64,
    /// Approved by a reviewer (whatever happened in Airtable since).
    pub approved: u64,
    /// Of those, synced and later removed in Airtable.
    pub removed: u64,
    /// Of the approved, synced (removed or not).
    pub synced: u64,
}

impl Bin {
    /// A bin's counts as the database keeps them.
    fn of_row(row: &BinRow<&str>) -> Bin {
        Bin {
            decisions: row.decisions,
            approved: row.approved,
            removed: row.removed,
            synced: row.synced,
        }
    }

    fn share(&self) -> Share {
        Share {
            decisions: self.decisions,
            approved: self.approved.saturating_sub(self.removed),
        }
    }
}

/// The bins of one model (or one tag of a model), and its rejections by
/// reason (over every score: reasons are not shown by score, and a bin
/// kept small keeps a thousand curves in cache).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Curve {
    bins: Vec<Bin>,
    reasons: RejectReasons,
}

impl Default for Curve {
    fn default() -> Self {
        Curve {
            bins: vec![Bin::default(); BINS],
            reasons: RejectReasons::default(),
        }
    }
}

/// A band of scores shown.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    pub share: Share,
    /// The 95% interval of its approval rate.
    pub interval: (f64, f64),
}

/// What past decisions say about a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Threshold {
    /// The lowest score at or above which decisions were approved at least
    /// the target share of the time.
    At { score: f64, share: Share },
    /// Fewer decisions than a recommendation needs.
    NotEnough { decisions: u64, needed: u64 },
    /// Enough decisions, but at no score were they approved often enough.
    Unreached { best: Share },
}

impl Curve {
    /// Counts one bin's worth: `bin` is the score's hundredth (0..=99).
    pub fn add(&mut self, bin: usize, counts: Bin, reasons: RejectReasons) {
        let slot = &mut self.bins[bin.min(BINS - 1)];
        slot.decisions += counts.decisions;
        slot.approved += counts.approved;
        slot.removed += counts.removed;
        slot.synced += counts.synced;
        self.reasons.add(reasons);
    }

    /// Counts `removed` synced suggestions of bin `bin` as removed in
    /// Airtable since.
    fn add_removed(&mut self, bin: usize, removed: u64) {
        self.bins[bin.min(BINS - 1)].removed += removed;
    }

    /// Rejections over every score, by reason.
    pub fn reject_reasons(&self) -> RejectReasons {
        self.reasons
    }

    pub fn total(&self) -> Share {
        self.at_or_above(0.0)
    }

    /// Synced suggestions, and how many of them were removed in Airtable.
    pub fn drift(&self) -> (u64, u64) {
        self.bins
            .iter()
            .fold((0, 0), |(s, r), b| (s + b.synced, r + b.removed))
    }

    /// Decisions on suggestions scored at least `score`.
    pub fn at_or_above(&self, score: f64) -> Share {
        let first = bin_of(score);
        let mut share = Share::default();
        for bin in &self.bins[first..] {
            share.add(bin.share());
        }
        share
    }

    /// The bands 0.05 wide; bands without decisions are kept (the chart
    /// and the tests need them), with an interval of [0, 1].
    pub fn bands(&self) -> Vec<Band> {
        self.bins
            .chunks(BINS_PER_BAND)
            .enumerate()
            .map(|(n, bins)| {
                let mut share = Share::default();
                for bin in bins {
                    share.add(bin.share());
                }
                let (from, to) = band_range(n);
                Band {
                    from,
                    to,
                    share,
                    interval: share.wilson(),
                }
            })
            .collect()
    }

    /// The lowest threshold (a multiple of 0.01) with at least
    /// [`MIN_DECISIONS`] decisions at or above it approved at least
    /// `target` of the time.
    pub fn threshold(&self, target: f64) -> Threshold {
        let total = self.total();
        if total.decisions < MIN_DECISIONS {
            return Threshold::NotEnough {
                decisions: total.decisions,
                needed: MIN_DECISIONS,
            };
        }
        // The share at or above each bin, summed once from the top.
        let mut at_or_above = [Share::default(); BINS];
        let mut above = Share::default();
        for bin in (0..BINS).rev() {
            above.add(self.bins[bin].share());
            at_or_above[bin] = above;
        }
        let mut best = Share::default();
        for (bin, &share) in at_or_above.iter().enumerate() {
            let score = bin as f64 / BINS as f64;
            if share.decisions < MIN_DECISIONS {
                break;
            }
            if share.rate().is_some_and(|rate| rate >= target) {
                return Threshold::At { score, share };
            }
            if share.rate() > best.rate() {
                best = share;
            }
        }
        Threshold::Unreached { best }
    }
}

/// The bin a score falls in: its hundredth, 1.00 in the last.
fn bin_of(score: f64) -> usize {
    // A hair over, so that 0.88 (stored as 0.87999…) lands in bin 88.
    let bin = (score * BINS as f64 + 1e-9).floor();
    (bin.max(0.0) as usize).min(BINS - 1)
}

/// A model's curve, and per tag id its name and curve.
type ModelCurves = (Curve, HashMap<String, (String, Curve)>);

/// Every model's curves, built up one bin at a time (as the bins are
/// read: see [`Calibration::load`]).
#[derive(Debug, Default)]
struct Curves {
    models: HashMap<String, ModelCurves>,
}

impl Curves {
    /// Counts one bin; a model or tag seen first is added (its text
    /// copied once, not per bin).
    fn add(&mut self, row: &BinRow<&str>) {
        let counts = Bin::of_row(row);
        let reasons = RejectReasons::of_row(row);
        let bin = usize::try_from(row.bin).unwrap_or(0);
        if !self.models.contains_key(row.model) {
            self.models
                .insert(row.model.to_owned(), ModelCurves::default());
        }
        let Some((curve, tags)) = self.models.get_mut(row.model) else {
            return;
        };
        curve.add(bin, counts, reasons);
        if !tags.contains_key(row.tag_id) {
            tags.insert(
                row.tag_id.to_owned(),
                (row.tag_name.to_owned(), Curve::default()),
            );
        }
        if let Some((_, tag_curve)) = tags.get_mut(row.tag_id) {
            tag_curve.add(bin, counts, reasons);
        }
    }

    /// The figures, with the synced suggestions people removed in
    /// Airtable since (per model, tag and bin; each in a bin the bins
    /// have, as it was decided) and the tags' names where `names` has
    /// them (else as the bins named them); models in name order.
    fn figures(
        mut self,
        removed: &[RemovedRow],
        names: &HashMap<String, String>,
        target: f64,
    ) -> Calibration {
        for (_, tags) in self.models.values_mut() {
            for (tag_id, (tag_name, _)) in tags.iter_mut() {
                if let Some(name) = names.get(tag_id) {
                    tag_name.clone_from(name);
                }
            }
        }
        for row in removed {
            let Some((curve, tags)) = self.models.get_mut(row.model.as_str()) else {
                continue;
            };
            let bin = usize::try_from(row.bin).unwrap_or(0);
            curve.add_removed(bin, row.removed);
            if let Some((_, tag_curve)) = tags.get_mut(row.tag_id.as_str()) {
                tag_curve.add_removed(bin, row.removed);
            }
        }
        let mut models: Vec<ModelCalibration> = self
            .models
            .into_iter()
            .map(|(model, (curve, tags))| model_calibration(model, curve, tags, target))
            .collect();
        models.sort_by(|a, b| a.model.cmp(&b.model));
        Calibration {
            target,
            models,
            agreement: Agreement::none(),
        }
    }
}

/// One tag's figures within a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TagCalibration {
    pub tag_id: String,
    pub tag_name: String,
    pub share: Share,
    /// The tag's own bands, 0.05 wide.
    pub bands: Vec<Band>,
    pub threshold: Threshold,
    /// Synced suggestions of the tag, and how many people removed.
    pub synced: u64,
    pub removed: u64,
    pub reject_reasons: RejectReasons,
}

/// One model's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelCalibration {
    pub model: String,
    pub share: Share,
    pub bands: Vec<Band>,
    pub threshold: Threshold,
    /// Tags with at least [`MIN_DECISIONS`] decisions, most decided first.
    pub tags: Vec<TagCalibration>,
    /// Tags whose synced suggestions people often remove in Airtable.
    pub drifting: Vec<TagCalibration>,
    pub reject_reasons: RejectReasons,
    /// How far reviewers agreed on this model's suggestions that had two
    /// votes (DESIGN.md, "Second opinion"; [`crate::agreement`]).
    pub agreement: Agreement,
    #[serde(skip)]
    curve: Curve,
}

impl ModelCalibration {
    /// "412 decisions, 81% approved; recommended threshold …": the model's
    /// line on every Slack surface (its name, escaped there, goes before).
    pub fn summary(&self) -> String {
        format!(
            "{} decisions, {} approved; recommended threshold {}",
            self.share.decisions,
            percent(self.share.rate().unwrap_or(0.0)),
            self.threshold
        )
    }

    /// Decisions at or above `score`, for "N% approved at this score".
    pub fn at_or_above(&self, score: f64) -> Share {
        self.curve.at_or_above(score)
    }
}

/// One model's figures from its curve and its tags' curves.
fn model_calibration(
    model: String,
    curve: Curve,
    tags: HashMap<String, (String, Curve)>,
    target: f64,
) -> ModelCalibration {
    let tags: Vec<TagCalibration> = tags
        .into_iter()
        .map(|(tag_id, (tag_name, curve))| {
            let (synced, removed) = curve.drift();
            TagCalibration {
                tag_id,
                tag_name,
                share: curve.total(),
                bands: curve.bands(),
                threshold: curve.threshold(target),
                synced,
                removed,
                reject_reasons: curve.reject_reasons(),
            }
        })
        .collect();
    let mut drifting: Vec<TagCalibration> = tags
        .iter()
        .filter(|t| {
            t.removed >= DRIFT_NAMED_MIN && t.removed as f64 >= DRIFT_NAMED_SHARE * t.synced as f64
        })
        .cloned()
        .collect();
    drifting.sort_by(|a, b| b.removed.cmp(&a.removed).then(a.tag_id.cmp(&b.tag_id)));
    let mut decided: Vec<TagCalibration> = tags
        .into_iter()
        .filter(|t| t.share.decisions >= MIN_DECISIONS)
        .collect();
    decided.sort_by(|a, b| {
        b.share
            .decisions
            .cmp(&a.share.decisions)
            .then(a.tag_id.cmp(&b.tag_id))
    });
    ModelCalibration {
        model,
        share: curve.total(),
        bands: curve.bands(),
        threshold: curve.threshold(target),
        tags: decided,
        drifting,
        reject_reasons: curve.reject_reasons(),
        agreement: Agreement::none(),
        curve,
    }
}

/// Every model's calibration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// The share a recommended threshold must reach.
    pub target: f64,
    pub models: Vec<ModelCalibration>,
    /// How far reviewers agreed, over every model.
    pub agreement: Agreement,
}

impl Calibration {
    /// Reads the decided suggestions' bins, the removed ones, the tags'
    /// names and the votes' sums and works the figures out. The bins (the one long read)
    /// are read beside the rest, on a second connection: together they
    /// take the time of the slower.
    pub async fn load(pool: &PgPool, target: f64) -> Result<Calibration, storage::Error> {
        let the_rest = async {
            let removed = rows::removed(pool).await?;
            let names: HashMap<String, String> =
                storage::catalogue::tags(pool).await?.into_iter().collect();
            let units = storage::agreement::units(pool).await?;
            let pairs = storage::agreement::pairs(pool).await?;
            Ok::<_, storage::Error>((removed, names, Agreements::from_rows(&units, &pairs)))
        };
        let mut curves = Curves::default();
        let bins = rows::each_bin(pool, |row| curves.add(&row));
        let ((), (removed, names, agreements)) = tokio::try_join!(bins, the_rest)?;
        Ok(curves
            .figures(&removed, &names, target)
            .with_agreement(agreements))
    }

    /// The figures with reviewers' agreement: the team's, and each
    /// model's in its entry. A model with votes but no decision yet (all
    /// its voted suggestions still disputed) gets no entry of its own:
    /// every surface lists decided models; its votes count in the team's.
    pub fn with_agreement(mut self, agreements: Agreements) -> Calibration {
        let Agreements { team, mut models } = agreements;
        for model in &mut self.models {
            if let Some(agreement) = models.remove(&model.model) {
                model.agreement = agreement;
            }
        }
        self.agreement = team;
        self
    }

    /// The figures from the database's bins (model, tag, bin, counts).
    pub fn from_rows(bins: &[BinRow], target: f64) -> Calibration {
        Calibration::from_counts(bins, &[], target)
    }

    /// The figures from the bins and, apart, the synced suggestions people
    /// removed in Airtable since (per model, tag and bin; each in a bin the
    /// bins have, as it was decided).
    pub fn from_counts(bins: &[BinRow], removed: &[RemovedRow], target: f64) -> Calibration {
        let mut curves = Curves::default();
        for row in bins {
            curves.add(&row.borrowed());
        }
        curves.figures(removed, &HashMap::new(), target)
    }

    /// Each model's recommended threshold, for the models that have one.
    pub fn recommended_thresholds(&self) -> impl Iterator<Item = (&str, f64)> {
        self.models
            .iter()
            .filter_map(|model| match model.threshold {
                Threshold::At { score, .. } => Some((model.model.as_str(), score)),
                Threshold::NotEnough { .. } | Threshold::Unreached { .. } => None,
            })
    }

    /// What reviewers are told beside "Approve all ≥ `score`": how often
    /// decisions at or above it were approved, over every model.
    pub fn beside_threshold(&self, score: f64) -> Option<String> {
        let mut share = Share::default();
        for model in &self.models {
            share.add(model.at_or_above(score));
        }
        let rate = share.rate()?;
        Some(format!(
            "{} approved at this score, {} decision{}",
            percent(rate),
            share.decisions,
            if share.decisions == 1 { "" } else { "s" }
        ))
    }
}

pub use crate::text::percent;

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::At { score, share } => write!(
                f,
                "{score:.2} ({} approved at or above it, {} decisions)",
                percent(share.rate().unwrap_or(0.0)),
                share.decisions
            ),
            Threshold::NotEnough { decisions, needed } => write!(
                f,
                "not enough decisions yet ({decisions} of the {needed} needed)"
            ),
            Threshold::Unreached { best } => write!(
                f,
                "none: at no score were decisions approved often enough (best {} of {} decisions)",
                percent(best.rate().unwrap_or(0.0)),
                best.decisions
            ),
        }
    }
}

/// The bands with decisions in them, highest scores first: the order a
/// report lists them in.
fn decided(bands: &[Band]) -> impl Iterator<Item = &Band> {
    bands.iter().rev().filter(|band| band.share.decisions > 0)
}

impl Band {
    /// The band's figures as a report shows them: its score range, its
    /// decisions, the share approved, and that share's 95% interval.
    fn columns(&self) -> [String; 4] {
        [
            format!("{:.2}–{:.2}", self.from, self.to),
            self.share.decisions.to_string(),
            percent(self.share.rate().unwrap_or(0.0)),
            format!("{}–{}", percent(self.interval.0), percent(self.interval.1)),
        ]
    }
}

impl fmt::Display for Calibration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Calibration: how often reviewers approved each model's suggestions, by score (a synced tag later removed in Airtable counts as not approved). Target for a threshold: {} approved.",
            percent(self.target)
        )?;
        if self.models.is_empty() {
            return writeln!(f, "No decisions yet.");
        }
        for model in &self.models {
            writeln!(f)?;
            writeln!(
                f,
                "Model {}: {} decisions, {} approved",
                one_line(&model.model),
                model.share.decisions,
                percent(model.share.rate().unwrap_or(0.0))
            )?;
            if let Some(reasons) = model.reject_reasons.summary() {
                writeln!(f, "  {reasons}")?;
            }
            writeln!(f, "  score       decisions  approved  95% interval")?;
            for band in decided(&model.bands) {
                let [range, decisions, approved, interval] = band.columns();
                writeln!(f, "  {range}  {decisions:>9}  {approved:>8}  {interval}")?;
            }
            writeln!(f, "  recommended threshold: {}", model.threshold)?;
            for tag in &model.tags {
                writeln!(
                    f,
                    "  tag {} ({}): {} decisions, {} approved; threshold {}",
                    one_line(&tag.tag_name),
                    one_line(&tag.tag_id),
                    tag.share.decisions,
                    percent(tag.share.rate().unwrap_or(0.0)),
                    tag.threshold
                )?;
                let bands: Vec<String> = decided(&tag.bands)
                    .map(|band| {
                        let [range, decisions, approved, interval] = band.columns();
                        format!("{range}: {decisions} ({approved}, {interval})")
                    })
                    .collect();
                writeln!(f, "    by score: {}", bands.join("; "))?;
                if let Some(reasons) = tag.reject_reasons.summary() {
                    writeln!(f, "    {reasons}")?;
                }
            }
            for tag in &model.drifting {
                writeln!(
                    f,
                    "  removed in Airtable: {} ({}): {} of {} synced",
                    one_line(&tag.tag_name),
                    one_line(&tag.tag_id),
                    tag.removed,
                    tag.synced
                )?;
            }
            if model.agreement.items > 0 {
                write!(f, "{:2}", model.agreement)?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "Agreement between reviewers, over every model (suggestions in the second-opinion band that two reviewers voted on; withdrawn votes left out; percent and alpha need {} suggestions, a pair's kappa {} shared):",
            crate::agreement::MIN_ITEMS,
            crate::agreement::MIN_PAIR_ITEMS
        )?;
        write!(f, "{:2}", self.agreement)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(model: &str, tag: &str, bin: i32, decisions: u64, approved: u64) -> BinRow {
        BinRow {
            model: model.into(),
            tag_id: tag.into(),
            tag_name: format!("תגית {tag}"),
            bin,
            decisions,
            approved,
            ..BinRow::default()
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-4
    }

    #[test]
    fn wilson_matches_hand_computed_values() {
        // n = 10, 8 approved, by hand: p = 0.8, z² = 3.84146, 1 + z²/n =
        // 1.384146; center (0.8 + 0.192073) / 1.384146 = 0.716740; half
        // 1.959964 / 1.384146 × √(0.016 + 0.009604) = 0.226577.
        let (low, high) = Share {
            decisions: 10,
            approved: 8,
        }
        .wilson();
        assert!(close(low, 0.4902), "{low}");
        assert!(close(high, 0.9433), "{high}");
        // All approved: the upper end is 1, the lower n/(n+z²).
        let (low, high) = Share {
            decisions: 20,
            approved: 20,
        }
        .wilson();
        assert!(close(low, 20.0 / (20.0 + Z95 * Z95)), "{low}");
        assert!(close(high, 1.0));
        // None approved: the mirror image.
        let (low, high) = Share {
            decisions: 20,
            approved: 0,
        }
        .wilson();
        assert!(close(low, 0.0));
        assert!(close(high, Z95 * Z95 / (20.0 + Z95 * Z95)), "{high}");
        // Nothing known.
        assert_eq!(Share::default().wilson(), (0.0, 1.0));
    }

    #[test]
    fn bands_sum_their_bins_and_keep_empty_ones() {
        let rows = [
            row("m", "a", 90, 4, 3),
            row("m", "a", 94, 6, 6),
            row("m", "b", 95, 5, 1),
            row("m", "b", 99, 1, 1),
        ];
        let calibration = Calibration::from_rows(&rows, 0.95);
        let bands = &calibration.models[0].bands;
        assert_eq!(bands.len(), 20);
        assert_eq!(
            bands[18].share,
            Share {
                decisions: 10,
                approved: 9
            }
        );
        assert_eq!(
            bands[19].share,
            Share {
                decisions: 6,
                approved: 2
            }
        );
        assert!(close(bands[18].from, 0.90) && close(bands[18].to, 0.95));
        assert_eq!(bands[0].share, Share::default(), "an empty band");
        assert_eq!(bands[0].interval, (0.0, 1.0));
        assert_eq!(calibration.models[0].share.decisions, 16);
    }

    #[test]
    fn the_threshold_is_the_lowest_score_reaching_the_target() {
        // 40 decisions at 0.90 all approved; 20 at 0.80 with 10 approved.
        // At or above 0.81: 40/40 = 100%; at or above 0.80: 50/60 = 83%.
        let rows = [row("m", "a", 90, 40, 40), row("m", "a", 80, 20, 10)];
        let calibration = Calibration::from_rows(&rows, 0.95);
        let Threshold::At { score, share } = calibration.models[0].threshold else {
            panic!("{:?}", calibration.models[0].threshold);
        };
        assert!(close(score, 0.81), "{score}");
        assert_eq!(share.decisions, 40);
        // With a target of 0.8, 0.00 already reaches it (50/60 = 83%).
        let lenient = Calibration::from_rows(&rows, 0.8);
        assert!(matches!(lenient.models[0].threshold, Threshold::At { score, .. } if score == 0.0));
    }

    #[test]
    fn a_tie_at_the_target_counts_as_reaching_it() {
        // 38 of 40 approved is exactly 95%.
        let rows = [row("m", "a", 50, 40, 38), row("m", "a", 10, 20, 0)];
        let calibration = Calibration::from_rows(&rows, 0.95);
        assert!(matches!(
            calibration.models[0].threshold,
            Threshold::At { score, .. } if close(score, 0.11)
        ));
    }

    #[test]
    fn too_few_decisions_say_so() {
        let rows = [row("m", "a", 90, 12, 12)];
        let calibration = Calibration::from_rows(&rows, 0.95);
        assert_eq!(
            calibration.models[0].threshold,
            Threshold::NotEnough {
                decisions: 12,
                needed: MIN_DECISIONS
            }
        );
        assert!(calibration
            .to_string()
            .contains("not enough decisions yet (12 of the 30 needed)"));
        assert!(
            calibration.models[0].tags.is_empty(),
            "a tag needs 30 decisions of its own"
        );
    }

    #[test]
    fn an_unreachable_target_is_told_apart_from_too_few() {
        let rows = [row("m", "a", 90, 40, 30), row("m", "a", 95, 10, 10)];
        let calibration = Calibration::from_rows(&rows, 0.95);
        assert!(matches!(
            calibration.models[0].threshold,
            Threshold::Unreached { best } if best.decisions == 50
        ));
    }

    #[test]
    fn a_tag_people_remove_in_airtable_counts_against_precision_and_is_named() {
        let mut drifty = row("m", "a", 92, 40, 40);
        drifty.synced = 40;
        drifty.removed = 8;
        let calibration = Calibration::from_rows(&[drifty, row("m", "b", 92, 40, 40)], 0.95);
        let model = &calibration.models[0];
        let a = model.tags.iter().find(|t| t.tag_id == "a").unwrap();
        assert_eq!(a.share.approved, 32, "removed ones are not approved");
        assert_eq!(
            a.bands[18].share,
            Share {
                decisions: 40,
                approved: 32
            }
        );
        assert_eq!(model.drifting.len(), 1);
        assert_eq!(model.drifting[0].tag_id, "a");
        assert!(calibration
            .to_string()
            .contains("removed in Airtable: תגית a (a): 8 of 40 synced"));
    }

    #[test]
    fn rejections_are_counted_by_reason_per_model_and_tag_the_rest_without_one() {
        // Tag a: 40 decisions at 0.90, 10 rejected: 4 wrong topic, 1
        // duplicate, 5 without a reason. Tag b: 12 decisions at 0.20, all
        // rejected, 2 too broad. Drift takes approvals away, never rejections.
        let mut a = row("m", "a", 90, 40, 30);
        a.wrong_topic = 4;
        a.duplicate = 1;
        a.synced = 30;
        a.removed = 3;
        let mut b = row("m", "b", 20, 12, 0);
        b.too_broad = 2;
        let calibration = Calibration::from_rows(&[a, b], 0.95);
        let model = &calibration.models[0];
        let reasons = model.reject_reasons;
        assert_eq!(reasons.of(RejectReason::WrongTopic), 4);
        assert_eq!(reasons.of(RejectReason::TooBroad), 2);
        assert_eq!(reasons.of(RejectReason::TooNarrow), 0);
        assert_eq!(reasons.of(RejectReason::Duplicate), 1);
        assert_eq!(reasons.none, 5 + 10);
        assert_eq!(reasons.rejected(), 22);
        assert_eq!(
            reasons.summary().as_deref(),
            Some("rejected 22: wrong topic 4 · too broad 2 · duplicate of another tag 1 · no reason 15")
        );
        let tag_a = &model.tags[0];
        assert_eq!(tag_a.tag_id, "a");
        assert_eq!(tag_a.reject_reasons.none, 5);
        assert_eq!(tag_a.reject_reasons.rejected(), 10);

        let json = serde_json::to_value(model).unwrap();
        assert_eq!(
            json["reject_reasons"],
            serde_json::json!({
                "wrong_topic": 4, "too_broad": 2, "too_narrow": 0,
                "duplicate": 1, "other": 0, "none": 15
            })
        );
        assert_eq!(json["tags"][0]["reject_reasons"]["none"], 5);

        let text = calibration.to_string();
        assert!(
            text.contains("\n  rejected 22: wrong topic 4 · too broad 2 · duplicate of another tag 1 · no reason 15\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "\n    rejected 10: wrong topic 4 · duplicate of another tag 1 · no reason 5\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn nothing_rejected_says_nothing_about_reasons() {
        let calibration = Calibration::from_rows(&[row("m", "a", 90, 40, 40)], 0.95);
        let model = &calibration.models[0];
        assert_eq!(model.reject_reasons, RejectReasons::default());
        assert_eq!(model.reject_reasons.summary(), None);
        assert!(!calibration.to_string().contains("rejected"));
        // Only without a reason: said so, with no empty reasons listed.
        let calibration = Calibration::from_rows(&[row("m", "a", 90, 40, 37)], 0.95);
        assert_eq!(
            calibration.models[0].reject_reasons.summary().as_deref(),
            Some("rejected 3: no reason 3")
        );
    }

    #[test]
    fn a_model_with_votes_but_no_decision_counts_for_the_team_only() {
        use crate::storage::agreement::UnitRow;
        let unit = |model: &str| UnitRow {
            model: model.to_owned(),
            bin: 50,
            approve: 1,
            reject: 1,
            items: 10,
        };
        let calibration = Calibration::from_rows(&[row("m1", "a", 50, 40, 30)], 0.95)
            .with_agreement(Agreements::from_rows(&[unit("m1"), unit("m2")], &[]));
        assert_eq!(calibration.models.len(), 1, "m2 has no decision");
        assert_eq!(calibration.models[0].agreement.items, 10);
        assert_eq!(calibration.agreement.items, 20);
    }

    #[test]
    fn beside_the_threshold_reviewers_read_the_share_at_or_above_it() {
        let rows = [
            row("m1", "a", 88, 300, 290),
            row("m2", "a", 95, 112, 106),
            row("m1", "a", 87, 50, 10),
        ];
        let calibration = Calibration::from_rows(&rows, 0.95);
        assert_eq!(
            calibration.beside_threshold(0.88).as_deref(),
            Some("96% approved at this score, 412 decisions")
        );
        assert_eq!(
            Calibration::from_rows(&[], 0.95).beside_threshold(0.88),
            None
        );
    }
}
