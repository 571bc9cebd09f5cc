// Package receiver delivers notify.Notifications: a generic signed webhook, Slack-compatible
// and Microsoft Teams incoming webhooks, PagerDuty Events API v2, e-mail over SMTP, and
// syslog (RFC 5424, plain text or CEF) over UDP, TCP or TLS. Each receiver's Send makes one
// attempt and honours its context; a Deliverer gives every receiver its own bounded queue
// and worker and retries with exponential backoff and jitter, so a receiver that hangs or
// fails never delays the others. Every attempt is reported to a callback for the
// notification log.
//
// # Errors
//
// An error wrapping ErrPermanent (IsPermanent) means retrying cannot help: HTTP 4xx other
// than 408 and 429, an SMTP 5xx reply, a notification with no recipient. Anything else
// (5xx, 408, 429, timeouts, refused connections) is retried by the Deliverer up to its
// max_attempts. Errors never contain secrets: Slack and Teams URLs, PagerDuty routing keys,
// SMTP passwords and webhook HMAC keys are watchfloor.Secret and stay out of messages and logs.
//
// # Generic webhook
//
// POST, Content-Type application/json, body the JSON of notify.Notification:
//
//	{
//	  "id": "…",                 // stable across retries of one notification
//	  "group_key": "…",          // stable for the group's life
//	  "receiver": "…",
//	  "status": "firing" | "resolved" | "acknowledged",
//	  "target": {"name": "…", "email": "…", "phone": "…"},   // optional: the person paged
//	  "escalation_level": 1,     // omitted for the first page
//	  "title": "…", "summary": "…",
//	  "severity": "info" | "low" | "medium" | "high" | "critical",
//	  "alerts": [watchfloor.Alert…],   // root causes first
//	  "group_labels": [{"key": "…", "value": "…"}],
//	  "link": "https://…",       // opens the incident
//	  "ack_link": "https://…",   // optional: acknowledges it
//	  "time": "RFC 3339"
//	}
//
// Headers: X-Watchfloor-Timestamp is the Unix time of the attempt in seconds;
// X-Watchfloor-Signature, sent when a secret is configured, is "sha256=" followed by the
// lower-case hex HMAC-SHA256, keyed with the secret, of the timestamp header's value, a dot
// and the raw body (VerifySignature checks it in constant time, and the timestamp's age, so a
// captured request cannot be replayed later). Any 2xx is success.
//
// # Slack, Teams, PagerDuty
//
// Slack gets SlackMessage ({"text", "blocks"}: a header with status, severity and title,
// fields for severity, status, counts and the person on call, the summary, a link button);
// Teams gets TeamsMessage (a "message" with one Adaptive Card 1.4 attachment: title,
// summary, a FactSet, Action.OpenUrl buttons). PagerDuty gets PagerDutyEvent: event_action
// trigger, acknowledge or resolve from the status, dedup_key the GroupKey (its SHA-256 when
// longer than 255), and for triggers a payload with summary, source (the first alert's
// device or host), severity (critical, error, warning, info), timestamp, component
// (interface), group (site), class (category) and custom_details; success is 202 only.
//
// # Syslog and CEF
//
//	<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [watchfloor@32473 id="…" group_key="…" status="…" alerts="N"] MSG
//
// PRI is facility·8 + severity (critical 2, high 3, medium 4, low 5, info 6; resolved 5).
// MSGID is FIRING, RESOLVED or ACKNOWLEDGED. TCP and TLS use octet counting (RFC 6587 §3.4.1)
// on a kept connection, UDP one datagram per message. With format cef, MSG is
// CEF:0|Watchfloor|Watchfloor|1|<rule>|<title>|<0-10>|rt= act= cnt= cat= dvchost= shost=
// externalId= request= cs1Label=groupKey cs1= duser= msg=, escaped per the CEF spec.
//
// # E-mail
//
// net/smtp with STARTTLS required (default), opportunistic or none; AUTH PLAIN or LOGIN
// when a username is set, never in clear text except to a loopback relay. The message is
// multipart/alternative, text/plain and text/html (quoted-printable), both with the
// incident link; recipients are the Target's e-mail, or the configured to.
package receiver
