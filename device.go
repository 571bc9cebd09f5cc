package watchfloor

import (
	"fmt"
	"time"
)

// DeviceStatus is whether a monitored device answers its poller.
type DeviceStatus uint8

// Device states. A device is Down after several polls in a row went unanswered.
const (
	DeviceUnknown DeviceStatus = iota // not polled yet
	DeviceUp
	DeviceDown
)

var deviceStatusNames = [...]string{"unknown", "up", "down"}

func (s DeviceStatus) String() string {
	if int(s) < len(deviceStatusNames) {
		return deviceStatusNames[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// MarshalText encodes the status by name.
func (s DeviceStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a status name.
func (s *DeviceStatus) UnmarshalText(b []byte) error {
	for i, n := range deviceStatusNames {
		if n == string(b) {
			*s = DeviceStatus(i)
			return nil
		}
	}
	return fmt.Errorf("unknown device status %q", b)
}

// IfStatus is an interface's ifOperStatus or ifAdminStatus, with IF-MIB's numbering
// (up(1), down(2), testing(3), unknown(4), dormant(5), notPresent(6), lowerLayerDown(7)).
// The zero value means the status was never read.
type IfStatus uint8

// Interface states, numbered as in IF-MIB.
const (
	IfUp             IfStatus = 1
	IfDown           IfStatus = 2
	IfTesting        IfStatus = 3
	IfUnknown        IfStatus = 4
	IfDormant        IfStatus = 5
	IfNotPresent     IfStatus = 6
	IfLowerLayerDown IfStatus = 7
)

var ifStatusNames = [...]string{"", "up", "down", "testing", "unknown", "dormant", "notPresent", "lowerLayerDown"}

func (s IfStatus) String() string {
	if s >= 1 && int(s) < len(ifStatusNames) {
		return ifStatusNames[s]
	}
	if s == 0 {
		return "unread"
	}
	return fmt.Sprintf("ifstatus(%d)", uint8(s))
}

// MarshalText encodes the status by its IF-MIB name.
func (s IfStatus) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes an IF-MIB status name.
func (s *IfStatus) UnmarshalText(b []byte) error {
	if string(b) == "unread" {
		*s = 0
		return nil
	}
	for i, n := range ifStatusNames {
		if i > 0 && n == string(b) {
			*s = IfStatus(i)
			return nil
		}
	}
	return fmt.Errorf("unknown interface status %q", b)
}

// Device is the last known state of one monitored device: what it says about itself, whether
// it answers, and its interfaces with their current rates. Credentials are never part of it.
type Device struct {
	Name        string       `json:"name"`    // the configured name, unique in a site
	Address     string       `json:"address"` // host:port the poller talks to
	Site        string       `json:"site"`
	Role        string       `json:"role,omitempty"` // core, distribution, access, firewall, …
	Status      DeviceStatus `json:"status"`
	SysName     string       `json:"sys_name"`
	SysDescr    string       `json:"sys_descr"`
	SysObjectID string       `json:"sys_object_id"`
	UptimeS     int64        `json:"uptime_s"`              // sysUpTime in seconds at LastPoll
	CPUPercent  *float64     `json:"cpu_percent,omitempty"` // HOST-RESOURCES hrProcessorLoad average
	MemPercent  *float64     `json:"mem_percent,omitempty"` // HOST-RESOURCES RAM in use
	LastPoll    time.Time    `json:"last_poll"`             // last answered poll
	LastChange  time.Time    `json:"last_change"`           // when Status last changed
	PollError   string       `json:"poll_error,omitempty"`  // why the last poll failed, if it did
	PollSeconds float64      `json:"poll_seconds"`          // duration of the last poll
	Interfaces  []Interface  `json:"interfaces"`
	Neighbors   []Neighbor   `json:"neighbors,omitempty"` // LLDP remote table
}

// Interface is one row of a device's IF-MIB with its current rates, computed from the last
// two counter readings. Rates are per second; Utilization is a percentage of the speed.
type Interface struct {
	Index       int32    `json:"index"` // ifIndex
	Name        string   `json:"name"`  // ifName, or ifDescr when the agent has no ifName
	Descr       string   `json:"descr"`
	Alias       string   `json:"alias,omitempty"`
	SpeedBps    uint64   `json:"speed_bps"` // ifHighSpeed×10⁶, or ifSpeed
	AdminStatus IfStatus `json:"admin_status"`
	OperStatus  IfStatus `json:"oper_status"`
	HC          bool     `json:"hc"` // rates come from 64-bit counters

	InBps         float64 `json:"in_bps"`
	OutBps        float64 `json:"out_bps"`
	InPps         float64 `json:"in_pps"`
	OutPps        float64 `json:"out_pps"`
	InErrorsPS    float64 `json:"in_errors_ps"`
	OutErrorsPS   float64 `json:"out_errors_ps"`
	InDiscardsPS  float64 `json:"in_discards_ps"`
	OutDiscardsPS float64 `json:"out_discards_ps"`
	Utilization   float64 `json:"utilization"` // max(in, out) / speed × 100; 0 when speed is unknown
}

// Neighbor is one entry of a device's LLDP remote table: on local port LocalPort the device
// sees RemoteSysName's port RemotePort.
type Neighbor struct {
	LocalIfIndex  int32  `json:"local_if_index"`
	LocalPort     string `json:"local_port"`
	ChassisID     string `json:"chassis_id"`
	RemoteSysName string `json:"remote_sys_name"`
	RemotePort    string `json:"remote_port"`
}

// Link is an edge of the site topology: two devices, each by its configured name when it is
// monitored (or by the LLDP system name when it is not), and the ports that join them.
type Link struct {
	A     string `json:"a"`
	APort string `json:"a_port"`
	B     string `json:"b"`
	BPort string `json:"b_port"`
}
