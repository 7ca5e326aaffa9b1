//! Rep reminder, hand-off and digest templates used unless
//! `templates/reminders/` provides `task.{subject,txt,html}.hbs`,
//! `handoff.{subject,txt,html}.hbs` or `digest.{subject,txt,html}.hbs`.

pub const TASK_SUBJECT: &str = "Task: {{task.text}}";

pub const TASK_TXT: &str = "Hi {{default rep.name rep.email}},

{{task.text}}

Who:        {{#if lead.first_name}}{{lead.first_name}}{{#if lead.last_name}} {{lead.last_name}}{{/if}}{{else}}{{lead.email}}{{/if}}{{#if lead.company}}, {{lead.company}}{{/if}}
Email:      {{lead.email}}
{{#if lead.phone}}Phone:      {{lead.phone}}
{{/if}}{{#if lead_clock}}Their time: {{lead_clock}}
{{/if}}Due:        {{task.due}}

Why now: {{default lead.first_name \"this lead\"}} has been {{lead.status}}{{#if lead.lost_reason}} ({{lead.lost_reason}}){{/if}} for {{days_since_status_change}} days, and the campaign \"{{campaign.name}}\" asks for this now.

{{#if history}}What happened before:
{{#each history}}  {{this.when}}  {{this.kind}} {{this.outcome}}{{#if this.campaign}} ({{this.campaign}}){{/if}}
{{/each}}{{else}}Nothing happened before: this is the first contact.
{{/if}}
Done? Mark it here: {{done_url}}
";

pub const TASK_HTML: &str = "<p>Hi {{default rep.name rep.email}},</p>
<p><strong>{{task.text}}</strong></p>
<table>
<tr><th align=\"left\">Who</th><td>{{#if lead.first_name}}{{lead.first_name}}{{#if lead.last_name}} {{lead.last_name}}{{/if}}{{else}}{{lead.email}}{{/if}}{{#if lead.company}}, {{lead.company}}{{/if}}</td></tr>
<tr><th align=\"left\">Email</th><td><a href=\"mailto:{{lead.email}}\">{{lead.email}}</a></td></tr>
{{#if lead.phone}}<tr><th align=\"left\">Phone</th><td><a href=\"tel:{{lead.phone}}\">{{lead.phone}}</a></td></tr>
{{/if}}{{#if lead_clock}}<tr><th align=\"left\">Their time</th><td>{{lead_clock}}</td></tr>
{{/if}}<tr><th align=\"left\">Due</th><td>{{task.due}}</td></tr>
</table>
<p>Why now: {{default lead.first_name \"this lead\"}} has been {{lead.status}}{{#if lead.lost_reason}} ({{lead.lost_reason}}){{/if}} for {{days_since_status_change}} days, and the campaign &ldquo;{{campaign.name}}&rdquo; asks for this now.</p>
{{#if history}}<p>What happened before:</p>
<ul>{{#each history}}<li>{{this.when}}: {{this.kind}} {{this.outcome}}{{#if this.campaign}} ({{this.campaign}}){{/if}}</li>{{/each}}</ul>
{{else}}<p>Nothing happened before: this is the first contact.</p>{{/if}}
<p><a href=\"{{done_url}}\">Done? Mark it here</a></p>
";

pub const HANDOFF_SUBJECT: &str = "Ready now: {{#if lead.first_name}}{{lead.first_name}}{{#if lead.last_name}} {{lead.last_name}}{{/if}}{{else}}{{lead.email}}{{/if}}{{#if lead.company}}, {{lead.company}}{{/if}}";

pub const HANDOFF_TXT: &str = "Hi {{default rep.name rep.email}},

{{task.text}}

Who:        {{#if lead.first_name}}{{lead.first_name}}{{#if lead.last_name}} {{lead.last_name}}{{/if}}{{else}}{{lead.email}}{{/if}}{{#if lead.company}}, {{lead.company}}{{/if}}
Email:      {{lead.email}}
{{#if lead.phone}}Phone:      {{lead.phone}}
{{/if}}{{#if lead_clock}}Their time: {{lead_clock}}
{{/if}}Call by:    {{task.due}}

Why now ({{handoff.why}}):
{{#each handoff.signals}}  {{this.when}}  {{this.what}}{{#if this.email}} (email \"{{this.email}}\"){{/if}}{{#if this.points}}, {{this.points}} points{{/if}}
{{/each}}
{{#if history}}What happened before:
{{#each history}}  {{this.when}}  {{this.kind}} {{this.outcome}}{{#if this.campaign}} ({{this.campaign}}){{/if}}
{{/each}}{{/if}}
Done? Mark it here: {{done_url}}
";

pub const HANDOFF_HTML: &str = "<p>Hi {{default rep.name rep.email}},</p>
<p><strong>{{task.text}}</strong></p>
<table>
<tr><th align=\"left\">Who</th><td>{{#if lead.first_name}}{{lead.first_name}}{{#if lead.last_name}} {{lead.last_name}}{{/if}}{{else}}{{lead.email}}{{/if}}{{#if lead.company}}, {{lead.company}}{{/if}}</td></tr>
<tr><th align=\"left\">Email</th><td><a href=\"mailto:{{lead.email}}\">{{lead.email}}</a></td></tr>
{{#if lead.phone}}<tr><th align=\"left\">Phone</th><td><a href=\"tel:{{lead.phone}}\">{{lead.phone}}</a></td></tr>
{{/if}}{{#if lead_clock}}<tr><th align=\"left\">Their time</th><td>{{lead_clock}}</td></tr>
{{/if}}<tr><th align=\"left\">Call by</th><td>{{task.due}}</td></tr>
</table>
<p>Why now ({{handoff.why}}):</p>
<ul>{{#each handoff.signals}}<li>{{this.when}}: {{this.what}}{{#if this.email}} (email &ldquo;{{this.email}}&rdquo;){{/if}}{{#if this.points}}, {{this.points}} points{{/if}}</li>{{/each}}</ul>
{{#if history}}<p>What happened before:</p>
<ul>{{#each history}}<li>{{this.when}}: {{this.kind}} {{this.outcome}}{{#if this.campaign}} ({{this.campaign}}){{/if}}</li>{{/each}}</ul>
{{/if}}<p><a href=\"{{done_url}}\">Done? Mark it here</a></p>
";

pub const DIGEST_SUBJECT: &str = "{{count}} open task{{#if plural}}s{{/if}}";

pub const DIGEST_TXT: &str = "Hi {{default rep.name rep.email}},

Your open tasks:
{{#each tasks}}
- {{this.text}} (due {{this.due}})
  {{this.lead_name}} <{{this.lead_email}}>, {{this.company}}
{{#if this.latest}}  Latest: {{this.latest}}
{{/if}}  Done: {{this.done_url}}
{{/each}}{{#if more}}
...and {{more}} more, due later.
{{/if}}";

pub const DIGEST_HTML: &str = "<p>Hi {{default rep.name rep.email}},</p>
<p>Your open tasks:</p>
<ul>
{{#each tasks}}<li><strong>{{this.text}}</strong> (due {{this.due}})<br>
{{this.lead_name}} &lt;{{this.lead_email}}&gt;, {{this.company}}<br>
{{#if this.latest}}Latest: {{this.latest}}<br>
{{/if}}<a href=\"{{this.done_url}}\">Mark done</a></li>
{{/each}}</ul>
{{#if more}}<p>...and {{more}} more, due later.</p>{{/if}}
";

/// (registry name, file suffix under templates/reminders/, is html, source)
pub const ALL: [(&str, &str, bool, &str); 9] = [
    ("reminders/task.subject", "task.subject.hbs", false, TASK_SUBJECT),
    ("reminders/task", "task.txt.hbs", false, TASK_TXT),
    ("reminders/task", "task.html.hbs", true, TASK_HTML),
    ("reminders/handoff.subject", "handoff.subject.hbs", false, HANDOFF_SUBJECT),
    ("reminders/handoff", "handoff.txt.hbs", false, HANDOFF_TXT),
    ("reminders/handoff", "handoff.html.hbs", true, HANDOFF_HTML),
    ("reminders/digest.subject", "digest.subject.hbs", false, DIGEST_SUBJECT),
    ("reminders/digest", "digest.txt.hbs", false, DIGEST_TXT),
    ("reminders/digest", "digest.html.hbs", true, DIGEST_HTML),
];
