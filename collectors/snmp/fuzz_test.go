package snmp

import (
	"testing"

	"github.com/gosnmp/gosnmp"
)

// FuzzReadingPut feeds the decoder varbinds an agent could send: any column, any index, any
// value of the types gosnmp decodes. It must not panic, and the reading must stay consistent.
func FuzzReadingPut(f *testing.F) {
	f.Add(uint8(colIfDescr), "1", []byte("eth0"), uint64(5), uint8(0))
	f.Add(uint8(colLldpRemSysName), "0.5.1", []byte{0, 1, 2}, uint64(0), uint8(1))
	f.Add(uint8(colHrStorageType), "3", []byte(hrStorageRam), uint64(1<<40), uint8(2))
	f.Fuzz(func(t *testing.T, col uint8, idx string, b []byte, u uint64, kind uint8) {
		var r reading
		r.reset(t0)
		var v any
		switch kind % 5 {
		case 0:
			v = b
		case 1:
			v = uint(u)
		case 2:
			v = string(b)
		case 3:
			v = int(int64(u))
		case 4:
			v = u
		}
		c := column(col % uint8(numColumns))
		r.put(c, idx, &gosnmp.SnmpPDU{Name: columnOIDs[c] + "." + idx, Value: v})
		r.put(c, idx, &gosnmp.SnmpPDU{Name: columnOIDs[c] + "." + idx, Value: v})
		r.finish()
		if len(r.ifs) > 1 || len(r.rem) > 1 || len(r.loc) > 1 || len(r.stor) > 1 {
			t.Fatalf("one index made several rows: %d %d %d %d", len(r.ifs), len(r.rem), len(r.loc), len(r.stor))
		}
		for _, f := range r.ifs {
			_ = f.counters()
		}
		_ = r.neighbors()
		_, _ = r.cpu(), r.mem()
	})
}
