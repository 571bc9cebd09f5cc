// Package oncall decides who is paged for an incident, and when: on-call schedules say who is
// on call at an instant, escalation policies say whom to page next while nobody acknowledges.
// Semantics follow Grafana OnCall and PagerDuty.
//
// # Schedules
//
// A Schedule is a stack of Rotations (layers) and Overrides. A rotation hands off from one
// member to the next every Length at its Handoff wall-clock time in its IANA Location, from
// the date of Start on, until End. A Length of whole days rotates on the zone's calendar: a
// weekly Monday 09:00 handoff in Europe/Berlin stays at 09:00 local across the DST changes
// (07:00 UTC in summer, 08:00 UTC in winter). Other lengths (12h shifts) are fixed durations
// from the first handoff. Where several layers are active the last one wins; an override
// (Start inclusive, End exclusive) wins over every layer, the last listed one over earlier
// ones. Schedule.OnCall(t) answers for any instant, so tests and replays use scripted times.
//
// # Escalation
//
// A Policy is a list of Levels, each with targets ("person:NAME", "schedule:NAME",
// "receiver:NAME") and a Delay counted from the previous level (from Start for the first);
// after the last level the whole list runs Repeat more times, each pass beginning RepeatAfter
// plus the first level's delay after the previous pass's last level.
//
// The Escalator holds no clock and no goroutine: Start(key, policy, now) begins an escalation
// for a group key, Ack and Resolve stop it, and Tick(now) returns the pages due, each level of
// each pass exactly once, schedule targets resolved to whoever is on call at now. Next tells
// the caller's timer when to tick again. Active escalations are capped (Options.MaxActive);
// a start beyond the cap fails with ErrFull and is counted. A schedule with nobody on call
// yields a Page marked Unstaffed, counted and logged, never dropped silently.
//
// # Restarts
//
// State returns a JSON/YAML-serialisable snapshot (the next step and its due time per key),
// Restore puts it back. The caller persists State after Tick and before delivering the pages
// Tick returned, so a restart neither repeats a level already paged nor loses a pending one:
// a level that fell due while the process was down is paged on the first Tick after Restore.
//
// # Metrics
//
// On the injected registerer: watchfloor_oncall_escalations_active,
// watchfloor_oncall_escalations_{started,rejected,acknowledged,resolved,exhausted}_total,
// watchfloor_oncall_pages_total{kind} and watchfloor_oncall_unstaffed_pages_total.
package oncall
