package watchfloor

import "time"

// Point is one value of a series. For rollups Value is the mean over the step and Min/Max
// its extremes; for raw points all three are equal.
type Point struct {
	Time  time.Time `json:"t"`
	Value float64   `json:"v"`
	Min   float64   `json:"min"`
	Max   float64   `json:"max"`
}

// Series resolutions.
const (
	StepAuto = ""    // let the store choose by the length of the range
	StepRaw  = "raw" // every poll
	Step5m   = "5m"
	Step1h   = "1h"
)

// SeriesQuery selects the points of one series in [From, To].
type SeriesQuery struct {
	Device  string
	IfIndex int32 // 0 for device metrics
	Metric  string
	From    time.Time
	To      time.Time
	Step    string // StepAuto, StepRaw, Step5m or Step1h
}

// Series is the answer to a SeriesQuery; Step says which resolution was read.
type Series struct {
	Device  string  `json:"device"`
	IfIndex int32   `json:"if_index,omitempty"`
	Metric  string  `json:"metric"`
	Step    string  `json:"step"`
	Points  []Point `json:"points"`
}

// EventQuery selects events, oldest first: those after AfterID (when not 0) and at or after
// Since (when not zero), optionally of one device, at most Limit of them (0: a default).
type EventQuery struct {
	Since   time.Time
	AfterID uint64
	Device  string
	Limit   int
}
