//! Rep reminder and digest templates used unless `templates/reminders/`
//! provides `task.{subject,txt,html}.hbs` or `digest.{subject,txt,html}.hbs`.

pub const TASK_SUBJECT: &str = "Task: {{task.text}}";

pub const TASK_TXT: &str = "Hi {{default rep.name rep.email}},

A new task is yours, due {{task.due_at}}:

  {{task.text}}

Lead: {{lead.first_name}} {{lead.last_name}} <{{lead.email}}>
Company: {{lead.company}}
Status: {{lead.status}}{{#if lead.lost_reason}} ({{lead.lost_reason}}){{/if}}, {{days_since_status_change}} days ago
Why: step {{step.id}} of the campaign \"{{campaign.name}}\"
{{#if history}}
Recent contact:
{{#each history}}  {{this.at}}  {{#if this.campaign}}{{this.campaign}}/{{this.step}}  {{/if}}{{this.kind}}  {{this.outcome}}
{{/each}}{{else}}
No earlier contact recorded.
{{/if}}
Mark it done: {{done_url}}
";

pub const TASK_HTML: &str = "<p>Hi {{default rep.name rep.email}},</p>
<p>A new task is yours, due {{task.due_at}}:</p>
<p><strong>{{task.text}}</strong></p>
<table>
<tr><th align=\"left\">Lead</th><td>{{lead.first_name}} {{lead.last_name}} &lt;{{lead.email}}&gt;</td></tr>
<tr><th align=\"left\">Company</th><td>{{lead.company}}</td></tr>
<tr><th align=\"left\">Status</th><td>{{lead.status}}{{#if lead.lost_reason}} ({{lead.lost_reason}}){{/if}}, {{days_since_status_change}} days ago</td></tr>
<tr><th align=\"left\">Why</th><td>step {{step.id}} of the campaign &ldquo;{{campaign.name}}&rdquo;</td></tr>
</table>
{{#if history}}<p>Recent contact:</p>
<ul>{{#each history}}<li>{{this.at}} {{#if this.campaign}}{{this.campaign}}/{{this.step}} {{/if}}{{this.kind}} {{this.outcome}}</li>{{/each}}</ul>
{{else}}<p>No earlier contact recorded.</p>{{/if}}
<p><a href=\"{{done_url}}\">Mark it done</a></p>
";

pub const DIGEST_SUBJECT: &str = "{{count}} open task{{#if plural}}s{{/if}}";

pub const DIGEST_TXT: &str = "Hi {{default rep.name rep.email}},

Your open tasks:
{{#each tasks}}
- {{this.text}} (due {{this.due_at}})
  {{this.lead_name}} <{{this.lead_email}}>, {{this.company}}
{{#if this.latest}}  Latest: {{this.latest}}
{{/if}}  Done: {{this.done_url}}
{{/each}}
";

pub const DIGEST_HTML: &str = "<p>Hi {{default rep.name rep.email}},</p>
<p>Your open tasks:</p>
<ul>
{{#each tasks}}<li><strong>{{this.text}}</strong> (due {{this.due_at}})<br>
{{this.lead_name}} &lt;{{this.lead_email}}&gt;, {{this.company}}<br>
{{#if this.latest}}Latest: {{this.latest}}<br>
{{/if}}<a href=\"{{this.done_url}}\">Mark done</a></li>
{{/each}}</ul>
";

/// (registry name, file suffix under templates/reminders/, is html, source)
pub const ALL: [(&str, &str, bool, &str); 6] = [
    ("reminders/task.subject", "task.subject.hbs", false, TASK_SUBJECT),
    ("reminders/task", "task.txt.hbs", false, TASK_TXT),
    ("reminders/task", "task.html.hbs", true, TASK_HTML),
    ("reminders/digest.subject", "digest.subject.hbs", false, DIGEST_SUBJECT),
    ("reminders/digest", "digest.txt.hbs", false, DIGEST_TXT),
    ("reminders/digest", "digest.html.hbs", true, DIGEST_HTML),
];
