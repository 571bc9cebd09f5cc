package snmp

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gosnmp/gosnmp"

	"github.com/watchfloor/watchfloor"
)

// fakeAgent answers GETBULK and GETNEXT from an in-memory MIB, and misbehaves on demand.
type fakeAgent struct {
	mib []gosnmp.SnmpPDU // sorted by OID

	maxVarbinds  int    // tooBig when a request could return more
	timeoutAbove uint32 // time out when max-repetitions is above this
	genErrUnder  string // genErr for a column whose next OID is under this prefix
	loopUnder    string // answer the same OID again under this prefix
	truncate     int    // return at most this many varbinds
	v1           bool   // GETNEXT with noSuchName at the end, as SNMPv1 agents do

	requests int
	maxReps  []uint32
}

func (a *fakeAgent) add(oid string, typ gosnmp.Asn1BER, v any) {
	a.mib = append(a.mib, gosnmp.SnmpPDU{Name: oid, Type: typ, Value: v})
}

func (a *fakeAgent) sort() {
	sort.Slice(a.mib, func(i, j int) bool { return compareOID(a.mib[i].Name, a.mib[j].Name) < 0 })
}

func (a *fakeAgent) next(oid string) (gosnmp.SnmpPDU, bool) {
	if a.loopUnder != "" && strings.HasPrefix(oid, a.loopUnder) {
		return gosnmp.SnmpPDU{Name: oid, Type: gosnmp.Integer, Value: 1}, true
	}
	i := sort.Search(len(a.mib), func(i int) bool { return compareOID(a.mib[i].Name, oid) > 0 })
	if i == len(a.mib) {
		return gosnmp.SnmpPDU{Name: oid, Type: gosnmp.EndOfMibView}, false
	}
	return a.mib[i], true
}

func (a *fakeAgent) GetBulk(oids []string, _ uint8, reps uint32) (*gosnmp.SnmpPacket, error) {
	a.requests++
	a.maxReps = append(a.maxReps, reps)
	if a.timeoutAbove > 0 && reps > a.timeoutAbove {
		return nil, fmt.Errorf("request timeout (after 1 retries): %w", gosnmp.ErrMaxRetriesExceeded)
	}
	if a.maxVarbinds > 0 && len(oids)*int(reps) > a.maxVarbinds {
		return &gosnmp.SnmpPacket{Error: gosnmp.TooBig}, nil
	}
	cur := slices.Clone(oids)
	resp := &gosnmp.SnmpPacket{}
	for range reps {
		for i := range cur {
			v, _ := a.next(cur[i])
			if a.genErrUnder != "" && strings.HasPrefix(v.Name, a.genErrUnder) {
				return &gosnmp.SnmpPacket{Error: gosnmp.GenErr, ErrorIndex: uint8(i + 1)}, nil
			}
			resp.Variables = append(resp.Variables, v)
			cur[i] = v.Name
		}
	}
	if a.truncate > 0 && len(resp.Variables) > a.truncate {
		resp.Variables = resp.Variables[:a.truncate]
	}
	return resp, nil
}

func (a *fakeAgent) GetNext(oids []string) (*gosnmp.SnmpPacket, error) {
	a.requests++
	resp := &gosnmp.SnmpPacket{}
	for i, o := range oids {
		v, ok := a.next(o)
		if !ok && a.v1 {
			return &gosnmp.SnmpPacket{Error: gosnmp.NoSuchName, ErrorIndex: uint8(i + 1)}, nil
		}
		resp.Variables = append(resp.Variables, v)
	}
	return resp, nil
}

// newSwitch is an agent with n interfaces (ifTable, ifXTable), two CPUs, RAM, a disk and
// two LLDP neighbours, plus objects before and after them in the MIB.
func newSwitch(n int) *fakeAgent {
	a := &fakeAgent{}
	a.add(".1.3.6.1.2.1.1.1.0", gosnmp.OctetString, []byte("switch"))
	for i := 1; i <= n; i++ {
		ifc := func(col int) string { return fmt.Sprintf(".1.3.6.1.2.1.2.2.1.%d.%d", col, i) }
		ifx := func(col int) string { return fmt.Sprintf(".1.3.6.1.2.1.31.1.1.1.%d.%d", col, i) }
		a.add(ifc(1), gosnmp.Integer, i)
		a.add(ifc(2), gosnmp.OctetString, []byte(fmt.Sprintf("GigabitEthernet1/0/%d", i)))
		a.add(ifc(3), gosnmp.Integer, 6)
		a.add(ifc(5), gosnmp.Gauge32, uint(1_000_000_000))
		a.add(ifc(7), gosnmp.Integer, 1)
		a.add(ifc(8), gosnmp.Integer, 1+i%2)
		for _, col := range []int{10, 11, 13, 14, 16, 17, 19, 20} {
			a.add(ifc(col), gosnmp.Counter32, uint(col*1000+i))
		}
		a.add(ifx(1), gosnmp.OctetString, []byte(fmt.Sprintf("Gi1/0/%d", i)))
		for _, col := range []int{6, 7, 10, 11} {
			a.add(ifx(col), gosnmp.Counter64, uint64(1<<40+col*1000+i))
		}
		a.add(ifx(15), gosnmp.Gauge32, uint(1000))
		a.add(ifx(18), gosnmp.OctetString, []byte(fmt.Sprintf("uplink %d", i)))
		a.add(ifx(19), gosnmp.TimeTicks, uint32(0))
	}
	a.add(".1.3.6.1.2.1.25.2.3.1.2.1", gosnmp.ObjectIdentifier, ".1.3.6.1.2.1.25.2.1.2") // RAM
	a.add(".1.3.6.1.2.1.25.2.3.1.2.31", gosnmp.ObjectIdentifier, ".1.3.6.1.2.1.25.2.1.4")
	a.add(".1.3.6.1.2.1.25.2.3.1.5.1", gosnmp.Integer, 8000)
	a.add(".1.3.6.1.2.1.25.2.3.1.5.31", gosnmp.Integer, 100000)
	a.add(".1.3.6.1.2.1.25.2.3.1.6.1", gosnmp.Integer, 2000)
	a.add(".1.3.6.1.2.1.25.2.3.1.6.31", gosnmp.Integer, 99000)
	a.add(".1.3.6.1.2.1.25.3.3.1.2.196608", gosnmp.Integer, 10)
	a.add(".1.3.6.1.2.1.25.3.3.1.2.196609", gosnmp.Integer, 30)
	// LLDP: local port 1 is "Gi1/0/1"; local port 2 has a MAC as its ID and no description
	// (falls back to ifName of ifIndex 2).
	a.add(".1.0.8802.1.1.2.1.3.7.1.3.1", gosnmp.OctetString, []byte("Gi1/0/1"))
	a.add(".1.0.8802.1.1.2.1.3.7.1.3.2", gosnmp.OctetString, []byte{0, 0x1b, 0x21, 0xaa, 0xbb, 0xcc})
	a.add(".1.0.8802.1.1.2.1.3.7.1.4.1", gosnmp.OctetString, []byte("GigabitEthernet1/0/1"))
	rem := func(col, port int) string { return fmt.Sprintf(".1.0.8802.1.1.2.1.4.1.1.%d.0.%d.1", col, port) }
	a.add(rem(5, 1), gosnmp.OctetString, []byte{0, 0x1b, 0x21, 1, 2, 3})
	a.add(rem(7, 1), gosnmp.OctetString, []byte("xe-0/0/1"))
	a.add(rem(8, 1), gosnmp.OctetString, []byte("uplink to dist"))
	a.add(rem(9, 1), gosnmp.OctetString, []byte("core-r1.east"))
	a.add(rem(5, 2), gosnmp.OctetString, []byte("chassis-2"))
	a.add(rem(7, 2), gosnmp.OctetString, []byte("517"))
	a.add(rem(8, 2), gosnmp.OctetString, []byte("ge-0/0/7"))
	a.add(rem(9, 2), gosnmp.OctetString, []byte("access-s7"))
	a.add(".1.3.6.1.6.3.1.1.6.1.0", gosnmp.Integer, 1) // after everything we walk
	a.sort()
	return a
}

func walkInto(t *testing.T, a *fakeAgent, w *walker, r *reading) walkResult {
	t.Helper()
	if w.req == nil {
		w.req = a
	}
	r.reset(t0)
	res, err := w.walk(context.Background(), allColumns, r.put)
	if err != nil {
		t.Fatal(err)
	}
	r.finish()
	return res
}

func checkSwitch(t *testing.T, r *reading, n int) {
	t.Helper()
	if len(r.ifs) != n {
		t.Fatalf("%d interfaces, want %d", len(r.ifs), n)
	}
	for i, f := range r.ifs {
		idx := int32(i + 1)
		c := f.counters()
		if f.index != idx || f.name != fmt.Sprintf("Gi1/0/%d", idx) || f.descr != fmt.Sprintf("GigabitEthernet1/0/%d", idx) ||
			f.alias != fmt.Sprintf("uplink %d", idx) || f.speedBps() != 1e9 || f.admin != watchfloor.IfUp ||
			f.oper != watchfloor.IfStatus(1+idx%2) || c.have != 0xff || c.wide != 0x0f ||
			c.v[ctrInOctets] != 1<<40+6000+uint64(idx) || c.v[ctrOutErrors] != 20000+uint64(idx) || c.v[ctrInDiscards] != 13000+uint64(idx) {
			t.Fatalf("interface %d: %+v %+v", idx, f, c)
		}
	}
	if cpu := r.cpu(); cpu == nil || *cpu != 20 {
		t.Errorf("cpu %v", cpu)
	}
	if mem := r.mem(); mem == nil || *mem != 25 {
		t.Errorf("mem %v", mem)
	}
	want := []watchfloor.Neighbor{
		{LocalIfIndex: 1, LocalPort: "Gi1/0/1", ChassisID: "00:1b:21:01:02:03", RemoteSysName: "core-r1.east", RemotePort: "xe-0/0/1"},
		{LocalIfIndex: 2, LocalPort: "Gi1/0/2", ChassisID: "chassis-2", RemoteSysName: "access-s7", RemotePort: "ge-0/0/7"},
	}
	if got := r.neighbors(); !slices.Equal(got, want) {
		t.Errorf("neighbors\n got %+v\nwant %+v", got, want)
	}
}

func TestWalkDecode(t *testing.T) {
	for _, n := range []int{2, 48, 300} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			a := newSwitch(n)
			var r reading
			w := walker{reps: 25}
			res := walkInto(t, a, &w, &r)
			checkSwitch(t, &r, n)
			if res.short != 0 || res.reps != 25 {
				t.Fatalf("%+v", res)
			}
			t.Logf("%d interfaces: %d requests, %d varbinds", n, a.requests, res.varbinds)
			// The same walk again reuses the reading.
			walkInto(t, a, &w, &r)
			checkSwitch(t, &r, n)
		})
	}
}

func TestWalkNoOptionalTables(t *testing.T) {
	a := &fakeAgent{}
	a.add(".1.3.6.1.2.1.2.2.1.2.1", gosnmp.OctetString, []byte("eth0"))
	a.add(".1.3.6.1.2.1.2.2.1.10.1", gosnmp.Counter32, uint(5))
	a.add(".1.3.6.1.2.1.2.2.1.16.1", gosnmp.Counter32, uint(7))
	a.sort()
	var r reading
	res := walkInto(t, a, &walker{reps: 25}, &r)
	if res.short != 0 || len(r.ifs) != 1 || r.cpu() != nil || r.mem() != nil || r.neighbors() != nil {
		t.Fatalf("%+v %+v", res, r.ifs)
	}
	if f := r.ifs[0]; f.displayName() != "eth0" || f.counters().wide != 0 || f.counters().have != 1<<ctrInOctets|1<<ctrOutOctets {
		t.Fatalf("%+v", f)
	}
}

func TestWalkTooBig(t *testing.T) {
	a := newSwitch(30)
	a.maxVarbinds = 20
	var r reading
	res := walkInto(t, a, &walker{reps: 25}, &r)
	checkSwitch(t, &r, 30)
	if res.short != 0 {
		t.Fatalf("short %s", columnList(res.short))
	}
}

func TestWalkTooBigAlways(t *testing.T) {
	a := &fakeAgent{}
	w := &walker{req: tooBig{a}, reps: 25}
	var r reading
	r.reset(t0)
	res, err := w.walk(context.Background(), allColumns, r.put)
	if err != nil || res.short != 1<<numColumns-1 {
		t.Fatalf("%v short %s", err, columnList(res.short))
	}
	if res.requests > 200 {
		t.Fatalf("%d requests", res.requests)
	}
}

type tooBig struct{ *fakeAgent }

func (tooBig) GetBulk([]string, uint8, uint32) (*gosnmp.SnmpPacket, error) {
	return &gosnmp.SnmpPacket{Error: gosnmp.TooBig}, nil
}

func TestWalkLowersRepetitionsOnTimeout(t *testing.T) {
	a := newSwitch(48)
	a.timeoutAbove = 10
	var r reading
	res := walkInto(t, a, &walker{reps: 25}, &r)
	checkSwitch(t, &r, 48)
	if res.reps != 10 {
		t.Fatalf("reps %d, want 10", res.reps)
	}
	// 5 is the floor; below it the walk fails.
	a.timeoutAbove = 1
	r.reset(t0)
	res, err := (&walker{req: a, reps: 25}).walk(context.Background(), allColumns, r.put)
	if err == nil || !isTimeout(err) {
		t.Fatalf("err %v", err)
	}
	if !slices.Equal(a.maxReps[len(a.maxReps)-3:], []uint32{25, 10, 5}) {
		t.Fatalf("max-repetitions tried %v", a.maxReps)
	}
}

func TestWalkGenErr(t *testing.T) {
	a := newSwitch(10)
	a.genErrUnder = ".1.3.6.1.2.1.31.1.1.1.18." // ifAlias
	var r reading
	res := walkInto(t, a, &walker{reps: 25}, &r)
	// ifAlias is broken; ifHighSpeed, the column before it, cannot be told apart: its end
	// is where the error is. Every other column is whole.
	if res.short != 1<<colIfAlias|1<<colIfHighSpeed {
		t.Fatalf("short %s", columnList(res.short))
	}
	for _, f := range r.ifs {
		if f.highSpeed != 1000 || f.counters().have != 0xff {
			t.Fatalf("%+v", f)
		}
	}
	if len(r.ifs) != 10 || r.ifs[3].name != "Gi1/0/4" || r.ifs[3].alias != "" || r.cpu() == nil {
		t.Fatalf("%+v", r.ifs[3])
	}
}

func TestWalkNonIncreasing(t *testing.T) {
	a := newSwitch(5)
	a.loopUnder = ".1.3.6.1.2.1.2.2.1.10." // ifInOctets answers the same OID forever
	var r reading
	res := walkInto(t, a, &walker{reps: 25}, &r)
	if res.short != 1<<colIfInOctets {
		t.Fatalf("short %s", columnList(res.short))
	}
	if a.requests > 20 {
		t.Fatalf("%d requests", a.requests)
	}
}

func TestWalkBound(t *testing.T) {
	a := newSwitch(100)
	var r reading
	r.reset(t0)
	res, err := (&walker{req: a, reps: 25, limit: 500}).walk(context.Background(), allColumns, r.put)
	if !errors.Is(err, errWalkBound) || res.varbinds != 501 || res.short == 0 {
		t.Fatalf("%v %+v", err, res)
	}
}

func TestWalkTruncatedAnswers(t *testing.T) {
	a := newSwitch(20)
	a.truncate = 7 // fewer varbinds than asked, not a multiple of the columns
	var r reading
	res := walkInto(t, a, &walker{reps: 25}, &r)
	checkSwitch(t, &r, 20)
	if res.short != 0 {
		t.Fatalf("short %s", columnList(res.short))
	}
}

func TestWalkV1(t *testing.T) {
	a := newSwitch(3)
	a.v1 = true
	var r reading
	res := walkInto(t, a, &walker{reps: 25, v1: true}, &r)
	checkSwitch(t, &r, 3)
	if res.short != 0 {
		t.Fatalf("short %s", columnList(res.short))
	}
}

func TestCompareOID(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{".1.3.6", ".1.3.6", 0},
		{".1.3.6", ".1.3.6.1", -1},
		{".1.3.10", ".1.3.9", 1},
		{".1.3.9.5", ".1.3.10", -1},
		{"1.3.6", ".1.3.6", 0},
	}
	for _, tt := range tests {
		if got := compareOID(tt.a, tt.b); got != tt.want {
			t.Errorf("compareOID(%s, %s) = %d", tt.a, tt.b, got)
		}
	}
}

func TestParseIndexes(t *testing.T) {
	if n, ok := parseIndex("17"); !ok || n != 17 {
		t.Error("17")
	}
	for _, bad := range []string{"", "1.2", "x", "99999999999", "-1"} {
		if _, ok := parseIndex(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
	if k, ok := parseRemIndex("0.5.1"); !ok || k != (remKey{0, 5, 1}) {
		t.Error("0.5.1")
	}
	for _, bad := range []string{"", "0.5", "0.5.1.2", "a.b.c"} {
		if _, ok := parseRemIndex(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

// BenchmarkDecodeWalk decodes one poll's walk of a 48-port switch into a reused reading
// (the varbinds as gosnmp hands them over, without the network).
func BenchmarkDecodeWalk(b *testing.B) {
	a := newSwitch(48)
	type vb struct {
		col column
		idx string
		pdu gosnmp.SnmpPDU
	}
	var vbs []vb
	var r reading
	r.reset(t0)
	w := walker{req: a, reps: 25}
	if _, err := w.walk(context.Background(), allColumns, func(c column, idx string, v *gosnmp.SnmpPDU) {
		vbs = append(vbs, vb{c, idx, *v})
		r.put(c, idx, v)
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.reset(t0)
		for i := range vbs {
			r.put(vbs[i].col, vbs[i].idx, &vbs[i].pdu)
		}
		r.finish()
	}
	b.ReportMetric(float64(len(vbs)), "varbinds/op")
}

// Text with line breaks is text (Cisco's sysDescr ends its first line with "\r\n"); bytes
// that are not are shown as hex, like a MAC address.
func TestText(t *testing.T) {
	r := reading{strs: map[string]string{}}
	for _, c := range []struct{ in, want string }{
		{"Cisco IOS Software [Cupertino]\r\nTechnical Support: http://www.cisco.com", "Cisco IOS Software [Cupertino]\r\nTechnical Support: http://www.cisco.com"},
		{"ge-0/0/1\tuplink", "ge-0/0/1\tuplink"},
		{"\x00\x1b\x21\x3c\x4d\x5e", "00:1b:21:3c:4d:5e"},
		{"bell\x07", "62:65:6c:6c:07"},
	} {
		if got := r.text([]byte(c.in)); got != c.want {
			t.Errorf("text(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
