//! A/B tests of a step's variants (README, *A/B tests*): which variant a
//! lead gets ([`assign`]), how likely each variant is to be the best
//! ([`stats`]), and when a test may declare a winner ([`decide`]). Pure
//! functions of their inputs: the engine, `simulate`, `report` and the
//! calibration tests share them.

pub mod assign;
pub mod decide;
pub mod stats;

/// What a test counts as a success for a lead sent a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// The lead replied (by mail, or recorded by hand) after the email.
    Replied,
    /// A person (not a scanner) clicked a tracked link of the email.
    Clicked,
    /// The lead was handed to a rep after the email.
    Handoff,
    /// The lead entered a `[report] goal` status after the email.
    Converted,
}

impl Metric {
    pub const ALL: [Metric; 4] = [Metric::Replied, Metric::Clicked, Metric::Handoff, Metric::Converted];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Replied => "replied",
            Metric::Clicked => "clicked",
            Metric::Handoff => "handoff",
            Metric::Converted => "converted",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// One variant's figures: leads sent it, and of those, successes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    pub sent: u64,
    pub hits: u64,
}
