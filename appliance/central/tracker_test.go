package central

import (
	"slices"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/watchfloor/watchfloor/appliance/store"
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
				tr.take(s)
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

// TestTrackerJump: a site that jumps far ahead does not make the tracker loop over the
// sequences skipped; they are counted as gaps at once, the ones that came excepted.
func TestTrackerJump(t *testing.T) {
	tr := newTracker(1, 1, 4)
	for _, s := range []uint64{1, 2, 4, 6} {
		tr.take(s)
	}
	tr.take(maxSeq - 1)
	// 3 and 5 never came, nor anything from 7 to maxSeq-5 (a window below maxSeq-1);
	// maxSeq-4 to maxSeq-2 may still.
	if want := uint64(maxSeq-1) - 8; tr.gaps != want {
		t.Errorf("gaps %d, want %d", tr.gaps, want)
	}
	if tr.next != maxSeq-4 || len(tr.ahead) != 1 || tr.missing() != 3 {
		t.Errorf("next %d ahead %v missing %d", tr.next, tr.ahead, tr.missing())
	}
}

// TestTrackerRestore: a tracker saved as a mark and restored judges every later sequence
// as the original would, totals included.
func TestTrackerRestore(t *testing.T) {
	seqs := []uint64{50, 48, 52, 53, 60, 61, 49, 62, 70, 53, 75, 51, 90, 91, 100}
	for cut := range len(seqs) + 1 {
		orig := newTracker(7, seqs[0], 16)
		var restored *tracker
		for i, s := range seqs {
			if i == cut {
				m := orig.mark("north", "alert")
				restored = restoreTracker(&m, 16)
			}
			for _, tr := range []*tracker{orig, restored} {
				if tr == nil {
					continue
				}
				if tr.seen(s) {
					tr.duplicates++
				} else {
					tr.take(s)
				}
			}
		}
		if restored == nil {
			continue
		}
		if restored.next != orig.next || !slices.Equal(restored.ahead, orig.ahead) || restored.gaps != orig.gaps ||
			restored.duplicates != orig.duplicates || restored.received != orig.received || restored.missing() != orig.missing() {
			t.Errorf("cut at %d: restored %+v, original %+v", cut, restored, orig)
		}
	}
	// A smaller window after the restart gives up on what is now too far behind.
	m := store.UplinkMark{Site: "north", Kind: "alert", Epoch: 1, Next: 10, Seen: []uint64{12, 20, 30}}
	tr := restoreTracker(&m, 4)
	// 11 and 13 to 19 and 21 to 26 are gaps; 27 to 29 are still within the window of 30.
	if tr.next != 27 || !slices.Equal(tr.ahead, []uint64{30}) || tr.gaps != 15 || tr.missing() != 3 {
		t.Errorf("narrowed: next %d ahead %v gaps %d", tr.next, tr.ahead, tr.gaps)
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
