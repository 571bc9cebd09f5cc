package alerts

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchfloor/watchfloor"
)

// Assign and Comment are history entries that do not change the state, written before
// they return, told to subscribers, and kept across a restart.
func TestAssignAndComment(t *testing.T) {
	st := NewMemStore()
	h := newHarness(t, DefaultConfig(), st)
	var told []watchfloor.Alert
	h.Subscribe(func(a watchfloor.Alert) { told = append(told, a) })
	h.Fire(match("scan", "src=1", base))
	h.flush()
	told = nil

	h.clock.Add(time.Minute)
	if err := h.Assign(1, "ana", "bob"); err != nil {
		t.Fatal(err)
	}
	if len(told) != 1 || told[0].Assignee != "bob" || !told[0].UpdatedAt.Equal(base.Add(time.Minute)) {
		t.Fatalf("subscribers told %+v", told)
	}
	writes := st.Writes()
	if err := h.Assign(1, "ana", "bob"); err != nil { // the same: nothing changes
		t.Fatal(err)
	}
	if st.Writes() != writes {
		t.Error("assigning to the assignee again wrote something")
	}
	h.clock.Add(time.Minute)
	if err := h.Ack(1, "bob", "mine"); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Minute)
	if err := h.Comment(1, "bob", "the scanner is the new vulnerability scanner; checking with IT"); err != nil {
		t.Fatal(err)
	}
	h.clock.Add(time.Minute)
	if err := h.Assign(1, "bob", ""); err != nil { // taken back
		t.Fatal(err)
	}
	want := []Transition{
		{Alert: 1, Time: base, To: watchfloor.AlertFiring, By: ByRule},
		{Alert: 1, Time: base.Add(time.Minute), Kind: KindAssign, From: watchfloor.AlertFiring, To: watchfloor.AlertFiring, By: "ana", Assignee: "bob"},
		{Alert: 1, Time: base.Add(2 * time.Minute), From: watchfloor.AlertFiring, To: watchfloor.AlertAcknowledged, By: "bob", Comment: "mine"},
		{Alert: 1, Time: base.Add(3 * time.Minute), Kind: KindComment, From: watchfloor.AlertAcknowledged, To: watchfloor.AlertAcknowledged, By: "bob",
			Comment: "the scanner is the new vulnerability scanner; checking with IT"},
		{Alert: 1, Time: base.Add(4 * time.Minute), Kind: KindAssign, From: watchfloor.AlertAcknowledged, To: watchfloor.AlertAcknowledged, By: "bob"},
	}
	stored, _ := st.AlertHistory(1) // written, not only pending
	if !slices.Equal(stored, want) {
		t.Fatalf("stored history\n%+v\nwant\n%+v", stored, want)
	}
	var changes []bool
	for _, tr := range stored {
		changes = append(changes, tr.IsStateChange())
	}
	if !slices.Equal(changes, []bool{true, false, true, false, false}) {
		t.Errorf("IsStateChange %v", changes)
	}

	// A restart continues the alert with its assignee.
	if err := h.Assign(1, "bob", "carol"); err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, DefaultConfig(), st)
	if a := h2.get(1); a.Assignee != "carol" || a.State != watchfloor.AlertAcknowledged {
		t.Fatalf("after a restart %+v", a)
	}
}

// A resolved alert takes comments (for the record) but no assignment; unknown alerts and
// bad input are refused with the sentinel errors.
func TestAssignCommentRefusals(t *testing.T) {
	st := NewMemStore()
	h := newHarness(t, DefaultConfig(), st)
	h.Fire(match("scan", "src=1", base))
	h.Fire(match("scan", "src=2", base))
	if err := h.Resolve(1, "ana", "done"); err != nil {
		t.Fatal(err)
	}
	h.flush()
	if _, held := h.byID[1]; held {
		t.Fatal("a written resolved alert is still held")
	}
	var told []watchfloor.Alert
	h.Subscribe(func(a watchfloor.Alert) { told = append(told, a) })
	h.clock.Add(time.Hour)
	if err := h.Comment(1, "bob", "post-mortem: a scheduled scan"); err != nil {
		t.Fatalf("comment on a resolved alert: %v", err)
	}
	if _, held := h.byID[1]; held {
		t.Error("the resolved alert stays held after its write")
	}
	if len(told) != 1 || told[0].State != watchfloor.AlertResolved || !told[0].UpdatedAt.Equal(base.Add(time.Hour)) {
		t.Errorf("told %+v", told)
	}
	hist, _ := st.AlertHistory(1)
	if last := hist[len(hist)-1]; last.Kind != KindComment || last.To != watchfloor.AlertResolved || last.By != "bob" {
		t.Errorf("last entry %+v", last)
	}
	if a, _, _ := st.Alert(1); a.State != watchfloor.AlertResolved || !a.UpdatedAt.Equal(base.Add(time.Hour)) {
		t.Errorf("stored %+v", a)
	}

	for _, tc := range []struct {
		name string
		err  error
		do   func() error
	}{
		{"assign resolved", ErrState, func() error { return h.Assign(1, "ana", "bob") }},
		{"assign unknown", ErrNotFound, func() error { return h.Assign(99, "ana", "bob") }},
		{"comment unknown", ErrNotFound, func() error { return h.Comment(99, "ana", "hello") }},
		{"blank comment", ErrInvalid, func() error { return h.Comment(2, "ana", " \n\t") }},
		{"long comment", ErrInvalid, func() error { return h.Comment(2, "ana", strings.Repeat("x", MaxCommentLen+1)) }},
		{"comment not UTF-8", ErrInvalid, func() error { return h.Comment(2, "ana", "bad \xff") }},
		{"no who", ErrInvalid, func() error { return h.Comment(2, "", "hello") }},
		{"long assignee", ErrInvalid, func() error { return h.Assign(2, "ana", strings.Repeat("b", MaxAssigneeLen+1)) }},
		{"assignee with space", ErrInvalid, func() error { return h.Assign(2, "ana", "bob smith") }},
		{"assignee markup", ErrInvalid, func() error { return h.Assign(2, "ana", "<script>") }},
		{"assignee starts with dot", ErrInvalid, func() error { return h.Assign(2, "ana", ".bob") }},
	} {
		if err := tc.do(); !errors.Is(err, tc.err) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
	// The longest comment and a long, valid name pass.
	if err := h.Comment(2, "ana", strings.Repeat("é", MaxCommentLen/2)); err != nil {
		t.Error(err)
	}
	if err := h.Assign(2, "ana", "ana.maría-o_neil+soc@"+strings.Repeat("x", MaxAssigneeLen-22)); err != nil {
		t.Error(err)
	}
}

// A failed write keeps the entries for the next one; the action still holds.
func TestCommentStoreFailure(t *testing.T) {
	st := NewMemStore()
	h := newHarness(t, DefaultConfig(), st)
	h.Fire(match("scan", "src=1", base))
	h.flush()
	st.FailWith(errors.New("disk full"))
	if err := h.Comment(1, "ana", "noted"); err == nil {
		t.Fatal("no error from a failed write")
	}
	if hist, _ := h.History(1); len(hist) != 2 || hist[1].Kind != KindComment {
		t.Fatalf("pending history %+v", hist)
	}
	st.FailWith(nil)
	if err := h.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if hist, _ := st.AlertHistory(1); len(hist) != 2 || hist[1].Comment != "noted" {
		t.Fatalf("stored history %+v", hist)
	}
}
