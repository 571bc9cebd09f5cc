package watchfloor

import "time"

// Metric names of the series the SNMP poller writes. Interface metrics carry the ifIndex in
// Sample.IfIndex; device metrics have IfIndex 0.
const (
	MetricInBps         = "in_bps"
	MetricOutBps        = "out_bps"
	MetricInPps         = "in_pps"
	MetricOutPps        = "out_pps"
	MetricInErrorsPS    = "in_errors_ps"
	MetricOutErrorsPS   = "out_errors_ps"
	MetricInDiscardsPS  = "in_discards_ps"
	MetricOutDiscardsPS = "out_discards_ps"
	MetricUtilization   = "utilization"
	MetricCPUPercent    = "cpu_percent"
	MetricMemPercent    = "mem_percent"
	MetricPollSeconds   = "poll_seconds"
)

// Sample is one point of a metric series. A series is identified by (Device, IfIndex, Metric).
type Sample struct {
	Device  string
	IfIndex int32
	Metric  string
	Time    time.Time
	Value   float64
}

// EventKind names what happened. Kinds are dotted, subject first.
type EventKind string

// Event kinds produced by the SNMP collectors.
const (
	EventDeviceUnreachable  EventKind = "device.unreachable"
	EventDeviceReachable    EventKind = "device.reachable"
	EventDeviceRebooted     EventKind = "device.rebooted"
	EventInterfaceDown      EventKind = "interface.down"
	EventInterfaceUp        EventKind = "interface.up"
	EventInterfaceAdminDown EventKind = "interface.admin_down"
	EventInterfaceAdminUp   EventKind = "interface.admin_up"
	EventTrapLinkDown       EventKind = "trap.link_down"
	EventTrapLinkUp         EventKind = "trap.link_up"
	EventTrapColdStart      EventKind = "trap.cold_start"
	EventTrapWarmStart      EventKind = "trap.warm_start"
	EventTrapAuthFailure    EventKind = "trap.authentication_failure"
	EventTrap               EventKind = "trap" // any other trap or inform
)

// EventAlertFired is made at central from an appliance's alert when it first arrives: what
// central's cross-site rules read (rules/central).
const EventAlertFired EventKind = "alert.fired"

// Event is something that happened at a point in time: a state change seen by a poller, a
// trap, and later what the flow and packet collectors observe. ID is assigned by the store
// when the event is committed, and orders events of one appliance.
type Event struct {
	ID        uint64    `json:"id"`
	Time      time.Time `json:"time"`
	Kind      EventKind `json:"kind"`
	Severity  Severity  `json:"severity"`
	Site      string    `json:"site,omitempty"`
	Device    string    `json:"device,omitempty"`    // configured device name, when known
	Interface string    `json:"interface,omitempty"` // interface name, when the event is about one
	IfIndex   int32     `json:"if_index,omitempty"`
	Source    string    `json:"source"` // "snmp.poll", "snmp.trap", …
	Message   string    `json:"message"`
	Attrs     []Attr    `json:"attrs,omitempty"` // trap varbinds and other details
}

// Attr is a named detail of an event, such as one varbind of a trap (OID → value).
type Attr struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}
