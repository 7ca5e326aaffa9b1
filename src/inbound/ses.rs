//! Amazon SES notifications by email (SNS's "email" and "email-json"
//! subscriptions): a JSON body with `notificationType` (or `eventType`)
//! `Complaint` or `Bounce`, the complained or bounced recipients, and the
//! original message's headers (where our signed Message-ID is found). Not
//! a report in MIME's shapes, so the other readers miss it.

use serde_json::Value;

use super::{Bounce, Severity, Verdict};

/// The verdict of an SES notification in `body`, if it is one.
pub fn verdict(body: &str) -> Option<Verdict> {
    let body = body.trim();
    if !body.starts_with('{') {
        return None;
    }
    let mut json: Value = serde_json::from_str(body).ok()?;
    // "email-json": SNS's envelope, the notification a string inside it.
    if let Some(inner) = json.get("Message").and_then(Value::as_str) {
        json = serde_json::from_str(inner).ok()?;
    }
    let kind = json.get("notificationType").or_else(|| json.get("eventType")).and_then(Value::as_str)?;
    let first = |list: &str, object: &str| {
        json.get(object)?.get(list)?.as_array()?.first()?.get("emailAddress")?.as_str().map(str::to_ascii_lowercase)
    };
    match kind {
        "Complaint" => {
            let complaint = json.get("complaint")?;
            let feedback = complaint.get("complaintFeedbackType").and_then(Value::as_str).unwrap_or("abuse");
            if feedback == "not-spam" {
                return Some(Verdict::Machine("a not-spam report"));
            }
            Some(Verdict::Complaint {
                feedback_type: feedback.to_ascii_lowercase(),
                recipient: first("complainedRecipients", "complaint"),
            })
        }
        "Bounce" => {
            let bounce = json.get("bounce")?;
            let recipient = bounce.get("bouncedRecipients")?.as_array()?.first()?;
            let status = recipient.get("status").and_then(Value::as_str).map(str::to_string);
            let diagnostic = recipient.get("diagnosticCode").and_then(Value::as_str).unwrap_or("").to_string();
            let (reason, severity) = match bounce.get("bounceType").and_then(Value::as_str) {
                Some("Permanent") => match status.as_deref() {
                    Some(s) if s.starts_with('5') => super::bounce::reason_of_status(Some(s)),
                    _ => ("userunknown", Severity::Hard),
                },
                _ => ("undefined", Severity::Soft),
            };
            let diagnostic: String = diagnostic.chars().take(300).collect();
            let recipient = first("bouncedRecipients", "bounce");
            Some(Verdict::Bounce(Bounce { severity, reason, status, recipient, diagnostic }))
        }
        "Delivery" => Some(Verdict::Delivered),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complaint_names_its_recipient_and_a_permanent_bounce_is_hard() {
        let complaint = r#"{"notificationType":"Complaint","complaint":{"complainedRecipients":
            [{"emailAddress":"Ana@Acme.test"}],"complaintFeedbackType":"abuse"},"mail":{"messageId":"x"}}"#;
        assert_eq!(
            verdict(complaint),
            Some(Verdict::Complaint { feedback_type: "abuse".into(), recipient: Some("ana@acme.test".into()) })
        );
        let wrapped = serde_json::json!({ "Type": "Notification", "Message": complaint }).to_string();
        assert!(matches!(verdict(&wrapped), Some(Verdict::Complaint { .. })), "inside SNS's envelope");
        let bounce = r#"{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":
            [{"emailAddress":"ben@x.test","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 User unknown"}]}}"#;
        let Some(Verdict::Bounce(b)) = verdict(bounce) else { panic!("a bounce") };
        assert_eq!((b.severity, b.recipient.as_deref()), (Severity::Hard, Some("ben@x.test")));
        assert_eq!(verdict("{\"hello\": 1}"), None);
        assert_eq!(verdict("Dear Ana, {not json"), None);
    }
}
