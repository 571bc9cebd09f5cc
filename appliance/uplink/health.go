package uplink

import "time"

// Health is an appliance's own health, sent to central as a KindHealth record every
// Config.HealthInterval (at most HealthEvery): what central's wall shows of a site besides
// its records.
type Health struct {
	Site      string    `json:"site"`
	Time      time.Time `json:"time"`
	Version   string    `json:"version"` // the binary's (watchfloor version)
	StartedAt time.Time `json:"started_at"`
	// The outbox when the record was made: a link that just returned shows a deep outbox
	// draining.
	OutboxEntries int64 `json:"outbox_entries"`
	OutboxBytes   int64 `json:"outbox_bytes"`
	// Drops since the appliance started: records the outbox refused, evicted or expired;
	// records the ingest queue dropped; records the collectors lost (sockets, kernel).
	UplinkDropped    uint64 `json:"uplink_dropped"`
	IngestDropped    uint64 `json:"ingest_dropped"`
	CollectorDropped uint64 `json:"collector_dropped"`
	// What the appliance watches.
	Devices     int `json:"devices"`
	DevicesDown int `json:"devices_down"`
	OpenAlerts  int `json:"open_alerts"`
	// Applied is what central distributed (rules, lists, silences) as applied here.
	Applied []Applied `json:"applied,omitempty"`
}

// HealthEvery is how often an appliance sends its Health by default, and at most.
const HealthEvery = 30 * time.Second

// Applied is the state of one kind of what central distributes, at an appliance.
type Applied struct {
	Kind      string    `json:"kind"`    // "rules", "lists", "silences"
	Version   uint64    `json:"version"` // the version in force (0: none yet)
	Digest    string    `json:"digest"`  // hex SHA-256 of its content
	AppliedAt time.Time `json:"applied_at"`
	// Refused is the latest version offered that was not applied, and Error why; zero and
	// "" when the latest version offered is the one in force.
	Refused uint64 `json:"refused,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Subjects of central's distribution (rule packs, lists, silences) to appliances, outside
// the record streams: an appliance asks on DistRequestSubject (under its own subjects, which
// it may publish on) and is told of a new version on DistNotifySubject (which it may
// subscribe to).
const distToken = "dist"

// DistRequestSubject is where a site asks central for what it distributes.
func DistRequestSubject(site string) string { return SubjectRoot + "." + site + "." + distToken }

// DistRequestSubjects is central's subscription to every site's requests.
func DistRequestSubjects() string { return SubjectRoot + ".*." + distToken }

// DistNotifySubject is where central tells a site that a new version is there.
func DistNotifySubject(site string) string { return "wfd." + site }
