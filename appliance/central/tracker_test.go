package central

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/watchfloor/watchfloor/appliance/uplink"
)

func TestTracker(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		window               uint64
		seqs                 []uint64
		dups, gaps, received uint64
		missing              uint64
	}{
		{"in order", 4, []uint64{1, 2, 3, 4, 5}, 0, 0, 5, 0},
		{"replayed", 4, []uint64{1, 2, 3, 2, 3, 1, 4}, 3, 0, 4, 0},
		{"reordered within the window", 4, []uint64{1, 3, 4, 2, 5}, 0, 0, 5, 0},
		{"hole pending", 4, []uint64{1, 3, 4}, 0, 0, 3, 1},
		{"hole becomes a gap", 4, []uint64{1, 3, 4, 5, 6}, 0, 1, 5, 0},
		{"late arrival after the gap is a duplicate", 4, []uint64{1, 3, 4, 5, 6, 2}, 1, 1, 5, 0},
		{"first seen mid-stream: no gap before it", 4, []uint64{100, 101, 103, 104, 105, 106, 107}, 0, 1, 7, 0},
		{"first seen mid-stream, earlier arrives late", 8, []uint64{100, 99, 101}, 0, 0, 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(1, tc.seqs[0], tc.window)
			var dups uint64
			for _, s := range tc.seqs {
				if tr.seen(s) {
					dups++
					continue
				}
				tr.mark(s)
				if uint64(len(tr.ahead)) > tc.window {
					t.Fatalf("ahead holds %d > window", len(tr.ahead))
				}
			}
			if dups != tc.dups || tr.gaps != tc.gaps || tr.received != tc.received || tr.missing() != tc.missing {
				t.Errorf("dups %d gaps %d received %d missing %d, want %d %d %d %d",
					dups, tr.gaps, tr.received, tr.missing(), tc.dups, tc.gaps, tc.received, tc.missing)
			}
		})
	}
}

// FuzzParseDelivery: the headers come from appliances; nothing in them may panic or be
// accepted unless it is the well-formed numbering of the subject's site and kind.
func FuzzParseDelivery(f *testing.F) {
	f.Add("0123456789abcdef", "1", "1", "2026-03-01T00:00:00Z", "north.alert.0123456789abcdef.1", "id")
	f.Add("", "", "", "", "", "")
	f.Add("zzzzzzzzzzzzzzzz", "-1", "18446744073709551616", "yesterday", "north.alert..1", "")
	f.Fuzz(func(t *testing.T, epoch, seq, siteSeq, tm, msgID, recID string) {
		h := nats.Header{uplink.HeaderEpoch: {epoch}, uplink.HeaderSeq: {seq}, uplink.HeaderSiteSeq: {siteSeq},
			uplink.HeaderTime: {tm}, uplink.HeaderMsgID: {msgID}, uplink.HeaderRecordID: {recID}}
		d, why := parseDelivery("north", uplink.KindAlert, h, nil)
		if why != "" {
			return
		}
		if d.Epoch == 0 || d.Seq == 0 || d.SiteSeq == 0 || len(d.RecordID) > 256 ||
			msgID != uplink.MsgID("north", uplink.KindAlert, d.Epoch, d.Seq) {
			t.Fatalf("accepted %+v from %q", d, h)
		}
	})
}
