//! The Slack app's shared state, passed to every handler: the database,
//! the review operations, the Web API, the settings and the click queue,
//! and how to tell a user something only they see. Who may decide is
//! [`crate::slack::reviewers`]' to say; how clicks queue is [`crate::slack::dispatch`]'.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tracing::Instrument;

use crate::cache::Cache;
use crate::calibration::Calibration;
use crate::config::{ReviewOrder, ReviewSettings, SlackSettings};
use crate::domain::{Actor, LectureId};
use crate::review::Review;
use crate::slack::card::{load_card, LectureCard};
use crate::slack::click_queue::ClickQueue;
use crate::slack::output::api::{SlackApi, SlackApiError};
use crate::slack::reviewers::{self, NotAllowed, Requester, Standing, Workspace};
use crate::storage::review_queue::{QueueOrder, Thresholds};

/// Why a Slack-side step failed, for the operator's log.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error(transparent)]
    Api(#[from] SlackApiError),
    #[error("database error in the Slack app: {0}")]
    Database(#[from] crate::storage::Error),
    /// A review operation refused in a way the click's handling did not
    /// expect (single decisions report their outcome as a `Decision`).
    #[error("review operation refused: {0}")]
    Review(crate::review::ReviewError),
}

#[derive(Debug, Clone)]
pub struct SlackApp {
    pub pool: PgPool,
    pub review: Review,
    pub api: SlackApi,
    pub settings: SlackSettings,
    /// The workspace tagbot is installed in: with `SLACK_REVIEWERS` unset,
    /// its members decide.
    pub workspace: Workspace,
    /// Clicks (and late answers) acknowledged and not yet done.
    pub clicks: ClickQueue,
    /// The sync and review queues' gauges for `/metrics`, read at most
    /// every 5 s.
    pub queue_gauges: crate::metrics::QueueGauges,
    /// The lecture each of tagbot's messages is about, by (channel, ts),
    /// as read once: a message's lecture never changes (never stale), and
    /// every click is checked against it. Not single-flight: a read is one
    /// indexed row.
    message_lectures: Cache<(String, String), LectureId>,
    /// How many lectures wait for review, as last counted: a review
    /// session shows it with every lecture, and counting 10,000 lectures
    /// on every submit would cost more than the decision. A failed count
    /// is the caller's error (nothing stale is shown).
    waiting: Cache<(), i64>,
    /// Who has opened the Home tab (kept by [`crate::slack::handlers::home`]).
    pub(crate) home_users: HomeTabUsers,
    /// Calibration as last worked out: every review message and session
    /// shows it beside "Approve all", and it sums every decision. Worked
    /// out by one task at a time; the others show the old figures
    /// meanwhile, and so does everyone when it cannot be worked out.
    calibration: Cache<(), Arc<Calibration>, ()>,
}

/// The users who have opened the Home tab: asked after every decision, so
/// not asked of Postgres each time.
#[derive(Debug, Clone)]
pub struct HomeTabUsers {
    /// Everyone who has opened it, as `slack_home_tabs` was last read (at
    /// most [`HOME_USERS_FOR`] ago, so a user who opened it through another
    /// process is known here within that time). One entry, the whole set.
    pub(super) read: Cache<(), Arc<HashSet<String>>>,
    pub(super) here: Arc<Mutex<HomeTabsHere>>,
}

/// What this process knows of the Home tab besides the table's reading.
/// Not caches: nothing here goes stale or is read again.
#[derive(Debug, Default)]
pub struct HomeTabsHere {
    /// Users who opened it through this process, known at once rather
    /// than at the next read. Only grows, as the table does (a row per
    /// user who ever opened it): at most the workspace's members.
    pub(super) opened: HashSet<String>,
    /// Users whose tab is being published, and whether another decision
    /// came meanwhile (then it is published once more when done): one
    /// publish in flight per user, however fast they decide, so an older
    /// tab never lands after a newer one. An entry lives as long as its
    /// publishing.
    pub(super) publishing: HashMap<String, bool>,
}

impl Default for HomeTabUsers {
    fn default() -> HomeTabUsers {
        HomeTabUsers {
            read: Cache::new(HOME_USERS_FOR, 1),
            here: Arc::default(),
        }
    }
}

/// How long a reading of who opened the Home tab is used.
const HOME_USERS_FOR: Duration = Duration::from_secs(10);

/// How long calibration figures are shown before they are worked out
/// again: decisions move them slowly.
const CALIBRATION_FOR: Duration = Duration::from_secs(60);

/// How long a count of waiting lectures is shown before it is made again.
const WAITING_COUNT_FOR: Duration = Duration::from_secs(2);

/// Messages whose lecture is remembered; past it the older half is
/// forgotten.
const REMEMBERED_MESSAGES: usize = 100_000;

impl SlackApp {
    /// The app for the workspace `SLACK_BOT_TOKEN` belongs to, as
    /// `auth.test` says: refused (naming the token) when Slack will not say.
    pub async fn connect(
        pool: PgPool,
        review_settings: ReviewSettings,
        settings: SlackSettings,
    ) -> Result<SlackApp, SlackApiError> {
        let api = SlackApi::new(&settings)?;
        let workspace = Workspace::from(api.auth_test().await?);
        Ok(SlackApp::with_api(
            pool,
            review_settings,
            settings,
            api,
            workspace,
        ))
    }

    fn with_api(
        pool: PgPool,
        review_settings: ReviewSettings,
        settings: SlackSettings,
        api: SlackApi,
        workspace: Workspace,
    ) -> SlackApp {
        SlackApp {
            queue_gauges: crate::metrics::QueueGauges::new(settings.review_sla),
            review: Review::new(pool.clone(), review_settings),
            api,
            pool,
            settings,
            workspace,
            clicks: ClickQueue::default(),
            message_lectures: Cache::new(Duration::MAX, REMEMBERED_MESSAGES),
            waiting: Cache::new(WAITING_COUNT_FOR, 1),
            home_users: HomeTabUsers::default(),
            calibration: Cache::new(CALIBRATION_FOR, 1),
        }
    }

    /// Calibration, worked out at most once a minute, by one task at a
    /// time: the others (a card render, say) take the figures as they
    /// were, or none the very first time. None also when the database
    /// cannot say; the surfaces then leave it out.
    pub async fn calibration(&self) -> Option<Arc<Calibration>> {
        let pool = self.pool.clone();
        let target = self.review.settings().target_precision.get();
        // Given up past its freshness, so that one stuck load does not
        // keep the figures from being worked out again.
        let work_out = || async move {
            match tokio::time::timeout(CALIBRATION_FOR, Calibration::load(&pool, target)).await {
                Ok(Ok(figures)) => Ok(Arc::new(figures)),
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "could not work out calibration; showing the last figures, if any");
                    Err(())
                }
                Err(_) => {
                    tracing::warn!("calibration took over a minute to work out; showing the last figures, if any");
                    Err(())
                }
            }
        };
        self.calibration
            .peek_or_look_up((), Duration::MAX, work_out)
            .await
    }

    /// The order the review queue is served in (`TAGBOT_REVIEW_ORDER`),
    /// for the channel's admission and sessions' hand-out alike. The
    /// `uncertain` order measures each model's scores against its
    /// recommended threshold as calibration last worked it out, else
    /// against `TAGBOT_APPROVE_THRESHOLD`.
    pub async fn queue_order(&self) -> QueueOrder {
        match self.settings.review_order {
            ReviewOrder::Oldest => QueueOrder::Oldest,
            ReviewOrder::Score => QueueOrder::Score,
            ReviewOrder::Uncertain => {
                let calibration = self.calibration().await;
                let recommended = calibration
                    .iter()
                    .flat_map(|c| c.recommended_thresholds())
                    .map(|(model, score)| (model.to_owned(), score));
                QueueOrder::Uncertain(Thresholds::new(self.threshold(), recommended))
            }
        }
    }

    /// A lecture's card, with what past decisions say of the threshold.
    pub async fn card(&self, lecture: &str) -> Result<Option<LectureCard>, crate::storage::Error> {
        let Some(mut card) = load_card(&self.pool, lecture, self.threshold()).await? else {
            return Ok(None);
        };
        card.threshold_note = self
            .calibration()
            .await
            .and_then(|c| c.beside_threshold(self.threshold()));
        Ok(Some(card))
    }

    /// Lectures with pending suggestions, counted at most every 2 s.
    pub async fn waiting_lectures(&self) -> Result<i64, crate::storage::Error> {
        let count = crate::storage::suggestions::lectures_in(
            &self.pool,
            crate::domain::SuggestionStatus::Pending,
        );
        self.waiting.get_or_read((), count).await
    }

    pub fn threshold(&self) -> f64 {
        self.review.settings().approve_threshold.get()
    }

    /// The lecture the message at `channel`/`ts` is about (a review
    /// message, or a failure post in the report channel); None for a
    /// message that is not tagbot's.
    pub async fn lecture_of_message(
        &self,
        channel: &str,
        ts: &str,
    ) -> Result<Option<LectureId>, crate::storage::Error> {
        let key = (channel.to_owned(), ts.to_owned());
        if let Some(known) = self.message_lectures.fresh(&key) {
            return Ok(Some(known));
        }
        let Some(lecture) =
            crate::storage::review_messages::lecture_of_message(&self.pool, channel, ts)
                .await?
                .and_then(|raw| LectureId::parse(&raw).ok())
        else {
            return Ok(None);
        };
        self.message_lectures.insert(key, lecture.clone());
        Ok(Some(lecture))
    }

    /// Whether `requester` may decide (see [`crate::slack::reviewers`]).
    pub async fn standing(&self, requester: &Requester<'_>) -> Standing {
        reviewers::standing(
            &self.api,
            &self.settings.reviewers,
            &self.settings.leads,
            &self.workspace,
            requester,
        )
        .await
    }

    /// The requester as the actor of a decision, when they may decide (see
    /// [`crate::slack::reviewers`]).
    pub async fn reviewer(&self, requester: &Requester<'_>) -> Result<Actor, NotAllowed> {
        reviewers::actor(
            &self.api,
            &self.settings.reviewers,
            &self.settings.leads,
            &self.workspace,
            requester,
        )
        .await
    }

    /// Whether the requester is a lead (`SLACK_LEADS`), who may take back
    /// anyone's decision (see [`reviewers::is_lead`]).
    pub async fn is_lead(&self, requester: &Requester<'_>) -> Result<bool, NotAllowed> {
        reviewers::is_lead(&self.api, &self.settings.leads, requester).await
    }

    /// Whether `requester`'s Approve or Reject settles a disputed
    /// suggestion: a lead (`SLACK_LEADS`; none named, Slack is not asked).
    /// Asked whether the band is on or not: votes cast before it was
    /// turned off still need a lead. `Err`: a lead group Slack cannot be
    /// asked about now; they decide as a reviewer, and a dispute they
    /// could not settle says why ([`NotAllowed::LeadUnconfirmed`]).
    pub async fn rules_disputes(&self, requester: &Requester<'_>) -> Result<bool, NotAllowed> {
        if self.settings.leads.is_empty() {
            return Ok(false);
        }
        self.is_lead(requester)
            .await
            .map_err(|_| NotAllowed::LeadUnconfirmed)
    }

    /// [`Self::reviewer`] on a path with a deadline (a modal's trigger, a
    /// submission answered in its acknowledgement): past `limit`, "Slack
    /// is busy", before anything is decided. The lookup goes on and its
    /// answer serves the next try.
    pub async fn reviewer_within(
        &self,
        requester: &Requester<'_>,
        limit: Duration,
    ) -> Result<Actor, NotAllowed> {
        tokio::time::timeout(limit, self.reviewer(requester))
            .await
            .unwrap_or(Err(NotAllowed::SlackBusy))
    }

    /// Whether the requester may see the team's lectures and figures (see
    /// [`reviewers::may_see`]).
    pub async fn may_see(&self, requester: &Requester<'_>) -> Result<(), NotAllowed> {
        reviewers::may_see(
            &self.api,
            &self.settings.reviewers,
            &self.settings.leads,
            &self.workspace,
            requester,
        )
        .await
    }

    /// Tells `user` something only they see. Sent in the background: Slack
    /// may pace it, and the decision it reports is already made.
    pub fn tell(&self, channel: &str, user: &str, text: &str) {
        self.tell_or_respond(channel, user, None, text);
    }

    /// [`Self::tell`], falling back to the interaction's `response_url`
    /// (ephemeral, the original message left as is) when Slack will not
    /// deliver an ephemeral in `channel` to `user`: someone who clicked a
    /// message from a channel they are not in (`user_not_in_channel`), or
    /// a channel the bot cannot post in. The response URL reaches the
    /// clicking user wherever they clicked.
    pub fn tell_or_respond(
        &self,
        channel: &str,
        user: &str,
        response_url: Option<&str>,
        text: &str,
    ) {
        let (api, channel, user, text) = (
            self.api.clone(),
            channel.to_owned(),
            user.to_owned(),
            text.to_owned(),
        );
        let response_url = response_url.map(str::to_owned);
        tokio::spawn(
            async move {
                let err = match api.post_ephemeral(&channel, &user, &text).await {
                    Ok(()) => return,
                    Err(err) => err,
                };
                let undeliverable = matches!(
                    err.code(),
                    Some("user_not_in_channel" | "channel_not_found" | "not_in_channel")
                );
                match response_url.filter(|_| undeliverable) {
                    Some(url) => {
                        if let Err(second) = api.respond_ephemeral(&url, &text).await {
                            tracing::warn!(user, channel, error = %err, fallback_error = %second, "could not tell a user, neither as an ephemeral nor through the response URL");
                        }
                    }
                    None => {
                        tracing::warn!(user, channel, error = %err, "could not send an ephemeral message");
                    }
                }
            }
            .instrument(tracing::Span::current()),
        );
    }
}
