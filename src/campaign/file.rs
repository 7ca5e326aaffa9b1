//! A campaign file exactly as written; see [`super::load`] for validation.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

type S = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignFile {
    pub id: Option<S>,
    pub name: Option<S>,
    pub enabled: Option<bool>,
    pub audience: Option<AudienceFile>,
    #[serde(default)]
    pub enrol: EnrolFile,
    #[serde(default)]
    pub window: WindowFile,
    #[serde(default)]
    pub exit: ExitFile,
    #[serde(default)]
    pub tracking: CampaignTrackingFile,
    #[serde(default, rename = "step")]
    pub steps: Vec<Spanned<StepFile>>,
}

/// `[tracking]` in a campaign file: `links = false` sends this campaign's
/// addresses as written whatever the config says.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignTrackingFile {
    pub links: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudienceFile {
    pub status: Option<Spanned<Vec<S>>>,
    pub lost_reason: Option<Vec<S>>,
    pub min_age: Option<S>,
    pub max_age: Option<S>,
    /// Each value a string or a list of strings.
    #[serde(default)]
    pub attributes: BTreeMap<String, Spanned<toml::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolFile {
    pub cron: Option<S>,
    pub timezone: Option<S>,
    pub again_after: Option<S>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowFile {
    pub days: Option<Vec<S>>,
    pub hours: Option<S>,
    pub timezone: Option<S>,
    /// Quoted strings or bare TOML dates.
    pub skip_dates: Option<Vec<Spanned<toml::Value>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExitFile {
    pub when_status: Option<Vec<S>>,
    pub on_reply: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    pub id: Option<S>,
    pub after: Option<S>,
    pub email: Option<S>,
    pub subject: Option<S>,
    pub task: Option<S>,
    pub assign: Option<S>,
    pub due: Option<S>,
    #[serde(default, rename = "variant")]
    pub variants: Vec<Spanned<VariantFile>>,
    pub test: Option<Spanned<TestFile>>,
}

/// `[[step.variant]]`: an email step's alternative; what it leaves out is
/// the step's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantFile {
    pub id: Option<S>,
    pub email: Option<S>,
    pub subject: Option<S>,
    pub weight: Option<Spanned<toml::Value>>,
}

/// `[step.test]`: how the step's variants compete.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    pub metric: Option<S>,
    pub min_sample: Option<Spanned<i64>>,
    pub confidence: Option<Spanned<f64>>,
}
