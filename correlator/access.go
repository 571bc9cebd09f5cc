package correlator

import (
	"net/netip"
	"strconv"
	"unsafe"

	"github.com/watchfloor/watchfloor"
	"github.com/watchfloor/watchfloor/rules"
)

// recType is the Go type of a record: the accessors are compiled per type.
type recType uint8

const (
	tFlow recType = iota
	tObs
	tEvent
	tSample
	nRecTypes
)

// rec points at the one record being evaluated. Exactly the pointer of typ is set.
type rec struct {
	typ recType
	f   *watchfloor.Flow
	o   *watchfloor.Observation
	e   *watchfloor.Event
	s   *watchfloor.Sample
}

// kindIndex numbers the record kinds: flow 0, observations by ObsKind (1..11), event, metric.
const (
	kiFlow   = 0
	kiEvent  = 12
	kiMetric = 13
	nKinds   = 14
)

func kindIndex(k rules.Kind) int {
	switch k {
	case rules.KindFlow:
		return kiFlow
	case rules.KindEvent:
		return kiEvent
	case rules.KindMetric:
		return kiMetric
	}
	for ok := watchfloor.ObsDNSQuery; ok <= watchfloor.ObsHalfOpen; ok++ {
		if ok.String() == string(k) {
			return int(ok)
		}
	}
	return -1
}

func kindName(ki int) string {
	switch ki {
	case kiFlow:
		return string(rules.KindFlow)
	case kiEvent:
		return string(rules.KindEvent)
	case kiMetric:
		return string(rules.KindMetric)
	}
	return watchfloor.ObsKind(ki).String()
}

func recTypeOf(ki int) recType {
	switch ki {
	case kiFlow:
		return tFlow
	case kiEvent:
		return tEvent
	case kiMetric:
		return tSample
	}
	return tObs
}

// bstr views b as a string without copying: valid while b is.
func bstr(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// Typed accessors: the value of a field and whether the record has it (absent or empty
// fields match `null`, and fail `exists`).
type (
	strGet  func(r *rec) (string, bool)
	numGet  func(r *rec) (float64, bool)
	addrGet func(r *rec) (netip.Addr, bool)
)

func addrOK(a netip.Addr) (netip.Addr, bool) { return a, a.IsValid() }
func strOK(s string) (string, bool)          { return s, s != "" }

// strAccessor returns the accessor of a Str field for records of type t, or nil when that
// type lacks it.
func strAccessor(name string, t recType) strGet {
	if key, ok := cutAttr(name); ok {
		if t != tEvent {
			return nil
		}
		return func(r *rec) (string, bool) {
			for i := range r.e.Attrs {
				if r.e.Attrs[i].Key == key {
					return r.e.Attrs[i].Value, true
				}
			}
			return "", false
		}
	}
	switch t {
	case tFlow:
		switch name {
		case "kind":
			return func(*rec) (string, bool) { return "flow", true }
		case "site":
			return func(r *rec) (string, bool) { return strOK(r.f.Site) }
		case "device":
			return func(r *rec) (string, bool) { return strOK(r.f.Device) }
		case "in_if_name":
			return func(r *rec) (string, bool) { return strOK(r.f.InIfName) }
		case "out_if_name":
			return func(r *rec) (string, bool) { return strOK(r.f.OutIfName) }
		case "direction":
			return func(r *rec) (string, bool) { return r.f.Direction.String(), true }
		}
	case tObs:
		switch name {
		case "kind":
			return func(r *rec) (string, bool) { return r.o.Kind.String(), true }
		case "site":
			return func(r *rec) (string, bool) { return strOK(r.o.Site) }
		case "dns.query", "tls.sni", "http.host":
			return func(r *rec) (string, bool) { return strOK(bstr(r.o.Name)) }
		case "tls.alpn", "http.method":
			return func(r *rec) (string, bool) { return strOK(bstr(r.o.Extra)) }
		}
	case tEvent:
		switch name {
		case "kind":
			return func(*rec) (string, bool) { return "event", true }
		case "site":
			return func(r *rec) (string, bool) { return strOK(r.e.Site) }
		case "device":
			return func(r *rec) (string, bool) { return strOK(r.e.Device) }
		case "event.kind":
			return func(r *rec) (string, bool) { return strOK(string(r.e.Kind)) }
		case "severity":
			return func(r *rec) (string, bool) { return r.e.Severity.String(), true }
		case "interface":
			return func(r *rec) (string, bool) { return strOK(r.e.Interface) }
		case "source":
			return func(r *rec) (string, bool) { return strOK(r.e.Source) }
		case "message":
			return func(r *rec) (string, bool) { return strOK(r.e.Message) }
		}
	case tSample:
		switch name {
		case "kind":
			return func(*rec) (string, bool) { return "metric", true }
		case "device":
			return func(r *rec) (string, bool) { return strOK(r.s.Device) }
		case "metric":
			return func(r *rec) (string, bool) { return strOK(r.s.Metric) }
		case "interface":
			return func(*rec) (string, bool) { return "", false } // samples name interfaces by if_index
		case "site":
			return func(*rec) (string, bool) { return "", false }
		}
	}
	return nil
}

func cutAttr(name string) (string, bool) {
	if len(name) > len(rules.AttrPrefix) && name[:len(rules.AttrPrefix)] == rules.AttrPrefix {
		return name[len(rules.AttrPrefix):], true
	}
	return "", false
}

func present(v float64) (float64, bool) { return v, v != 0 }

// numAccessor returns the accessor of a Num field for records of type t, or nil. Numbers are
// present except the ones exporters leave 0 when they do not know them (interfaces, ASes).
func numAccessor(name string, t recType) numGet {
	switch t {
	case tFlow:
		switch name {
		case "src_port":
			return func(r *rec) (float64, bool) { return float64(r.f.SrcPort), true }
		case "dst_port":
			return func(r *rec) (float64, bool) { return float64(r.f.DstPort), true }
		case "proto":
			return func(r *rec) (float64, bool) { return float64(r.f.Proto), true }
		case "tcp_flags":
			return func(r *rec) (float64, bool) { return float64(r.f.TCPFlags), true }
		case "vlan":
			return func(r *rec) (float64, bool) { return float64(r.f.VLAN), true }
		case "bytes":
			return func(r *rec) (float64, bool) { return float64(r.f.Bytes), true }
		case "packets":
			return func(r *rec) (float64, bool) { return float64(r.f.Packets), true }
		case "sampling_rate":
			return func(r *rec) (float64, bool) { return float64(r.f.SamplingRate), true }
		case "in_if":
			return func(r *rec) (float64, bool) { return present(float64(r.f.InIf)) }
		case "out_if":
			return func(r *rec) (float64, bool) { return present(float64(r.f.OutIf)) }
		case "src_as":
			return func(r *rec) (float64, bool) { return present(float64(r.f.SrcAS)) }
		case "dst_as":
			return func(r *rec) (float64, bool) { return present(float64(r.f.DstAS)) }
		case "duration":
			return func(r *rec) (float64, bool) {
				if r.f.Start.IsZero() || r.f.End.IsZero() {
					return 0, false
				}
				return r.f.End.Sub(r.f.Start).Seconds(), true
			}
		}
	case tObs:
		switch name {
		case "src_port":
			return func(r *rec) (float64, bool) { return float64(r.o.SrcPort), true }
		case "dst_port":
			return func(r *rec) (float64, bool) { return float64(r.o.DstPort), true }
		case "proto":
			return func(r *rec) (float64, bool) { return float64(r.o.Proto), true }
		case "tcp_flags":
			return func(r *rec) (float64, bool) { return float64(r.o.TCPFlags), true }
		case "vlan":
			return func(r *rec) (float64, bool) { return float64(r.o.VLAN), true }
		case "bytes":
			return func(r *rec) (float64, bool) { return float64(r.o.Bytes), true }
		case "packets":
			return func(r *rec) (float64, bool) { return float64(r.o.Packets), true }
		case "sampling_rate":
			return func(r *rec) (float64, bool) { return float64(r.o.SamplingRate), true }
		case "dns.type":
			return func(r *rec) (float64, bool) { return float64(r.o.DNSType), true }
		case "dns.rcode":
			return func(r *rec) (float64, bool) { return float64(r.o.DNSRcode), true }
		case "dns.answers":
			return func(r *rec) (float64, bool) { return float64(r.o.DNSAnswers), true }
		case "dns.labels":
			return func(r *rec) (float64, bool) { return float64(r.o.DNSLabels), true }
		case "dns.longest_label":
			return func(r *rec) (float64, bool) { return float64(r.o.DNSLongest), true }
		case "dns.entropy":
			return func(r *rec) (float64, bool) { return float64(r.o.DNSEntropy), true }
		case "dns.length":
			return func(r *rec) (float64, bool) { return float64(r.o.DNSQueryBytes), true }
		case "icmp.type":
			return func(r *rec) (float64, bool) { return float64(r.o.ICMPType), true }
		case "icmp.code":
			return func(r *rec) (float64, bool) { return float64(r.o.ICMPCode), true }
		case "half_open":
			return func(r *rec) (float64, bool) { return float64(r.o.HalfOpen), true }
		}
	case tEvent:
		if name == "if_index" {
			return func(r *rec) (float64, bool) { return present(float64(r.e.IfIndex)) }
		}
	case tSample:
		switch name {
		case "if_index":
			return func(r *rec) (float64, bool) { return float64(r.s.IfIndex), true }
		case "value":
			return func(r *rec) (float64, bool) { return r.s.Value, true }
		}
	}
	return nil
}

// addrAccessor returns the accessor of an Addr field for records of type t, or nil.
func addrAccessor(name string, t recType) addrGet {
	switch t {
	case tFlow:
		switch name {
		case "src_ip":
			return func(r *rec) (netip.Addr, bool) { return addrOK(r.f.SrcAddr) }
		case "dst_ip":
			return func(r *rec) (netip.Addr, bool) { return addrOK(r.f.DstAddr) }
		case "exporter":
			return func(r *rec) (netip.Addr, bool) { return addrOK(r.f.Exporter) }
		}
	case tObs:
		switch name {
		case "src_ip":
			return func(r *rec) (netip.Addr, bool) { return addrOK(r.o.SrcAddr) }
		case "dst_ip":
			return func(r *rec) (netip.Addr, bool) { return addrOK(r.o.DstAddr) }
		}
	}
	return nil
}

// val is a field value off the hot path: group keys, identities, templates.
type val struct {
	typ rules.FieldType // 0: absent
	s   string
	n   float64
	a   netip.Addr
}

func (v val) String() string {
	switch v.typ {
	case rules.Str:
		return v.s
	case rules.Num:
		return strconv.FormatFloat(v.n, 'f', -1, 64)
	case rules.Addr:
		return v.a.String()
	}
	return ""
}

// getter reads any field generically (allocation-free for numbers and addresses; strings of
// observations are views that the caller copies when it keeps them).
type getter func(r *rec) val

// fieldGetter returns the generic getter of field f for records of type t, or nil.
func fieldGetter(f rules.Field, t recType) getter {
	switch f.Type {
	case rules.Str:
		if g := strAccessor(f.Name, t); g != nil {
			return func(r *rec) val {
				s, ok := g(r)
				if !ok {
					return val{}
				}
				return val{typ: rules.Str, s: s}
			}
		}
	case rules.Num:
		if g := numAccessor(f.Name, t); g != nil {
			return func(r *rec) val {
				n, ok := g(r)
				if !ok {
					return val{}
				}
				return val{typ: rules.Num, n: n}
			}
		}
	case rules.Addr:
		if g := addrAccessor(f.Name, t); g != nil {
			return func(r *rec) val {
				a, ok := g(r)
				if !ok {
					return val{}
				}
				return val{typ: rules.Addr, a: a}
			}
		}
	}
	return nil
}

// recTime is a record's event time in ns. Flows use Received: the time the appliance
// learned of them, which moves forward with the exporter's cache timeouts.
func (r *rec) time() int64 {
	switch r.typ {
	case tFlow:
		if !r.f.Received.IsZero() {
			return r.f.Received.UnixNano()
		}
		return r.f.End.UnixNano()
	case tObs:
		return r.o.Time.UnixNano()
	case tEvent:
		return r.e.Time.UnixNano()
	}
	return r.s.Time.UnixNano()
}

func (r *rec) kindIdx() int {
	switch r.typ {
	case tFlow:
		return kiFlow
	case tObs:
		return int(r.o.Kind)
	case tEvent:
		return kiEvent
	}
	return kiMetric
}
